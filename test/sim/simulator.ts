/**
 * Deterministic simulation (FoundationDB style): many nodes on a simulated network with
 * seeded loss, delay, duplication, reordering, partitions, process pauses, crashes and
 * restarts, lost links, disk failures, version skew and operator commands. Every node is the
 * node's own EngineDriver (main/node/driver.ts) on simulated ports: a simulated clock, this
 * faulty network as its transport, a simulated runtime and an in-memory state store. The
 * DESIGN.md invariants are checked after every step. Everything is driven by one seed; the
 * same seed replays the same run.
 */
import { DEFAULT_TIMINGS, leaseMs, MAX_AWARENESS, type Timings } from '../../main/defaults';
import { Engine } from '../../main/engine/engine';
import { expiryReason, Lease } from '../../main/guardian/lease';
import type { Command, EngineConfig, Heartbeat, NodeInfo, RuntimeMode, ServerKind } from '../../main/engine/types';
import { ReplayGuard } from '../../main/net/replay';
import { EngineDriver, type DriverPorts, type Pending, type RoleEvent } from '../../main/node/driver';
import { MemoryStateStore } from '../../main/node/state-store';
import type { Logger } from '../../main/util/logger';

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Faults {
  loss: number;
  duplicate: number;
  delayMinMs: number;
  delayMaxMs: number;
  partitions: boolean;
  pauses: boolean;
  crashes: boolean;
  linkLoss: boolean;
  commands: boolean;
  /**
   * Share of state writes that fill the disk: from then on every write of that server fails for
   * 0.1-6 s (it goes on voting within what is on disk; a restart meanwhile cannot start it).
   */
  diskFailures: number;
  /** Runs with a server on other versions for a while (a rolling upgrade). */
  versionSkew: boolean;
  /**
   * Partitions of every shape: two sides, one server cut off, one voter bridging two sides that
   * do not hear each other, one link cut, links cut one way. False: two sides only.
   */
  shapes?: boolean;
  /** Partitions last this long at most (default 5 s). */
  partitionMaxMs?: number;
  /** Domains of this kind only: 3 to 5 voters with quorum on, witnesses among them. */
  quorumOnly?: boolean;
}

/** Crash-loop handovers counted by the simulation. */
interface CrashLoopHandover {
  server: string;
  at: number;
}

/** Faults that can break liveness and produce brief split brains, but never safety. */
export const CHAOS: Faults = {
  loss: 0.05, duplicate: 0.05, delayMinMs: 0, delayMaxMs: 80,
  partitions: true, pauses: true, crashes: true, linkLoss: true, commands: true, diskFailures: 0.002, versionSkew: true,
};

/**
 * A connected network (delay, duplication, reordering, crashes, pauses, commands): two active
 * runtimes must never coexist (a frozen node's guardian fences its runtime in time).
 */
export const CONNECTED: Faults = {
  loss: 0, duplicate: 0.1, delayMinMs: 0, delayMaxMs: 60,
  partitions: false, pauses: true, crashes: true, linkLoss: false, commands: true, diskFailures: 0.002, versionSkew: true,
};

/**
 * Quorum under partitions of every shape, pauses, crashes, loss and commands: with 3 or more
 * voters two active runtimes must never coexist, not even for a moment, on any network.
 */
export const QUORUM: Faults = {
  ...CHAOS, shapes: true, quorumOnly: true,
};

/**
 * Long partitions of every shape and nothing else (no loss, so no stretched timeouts): where
 * the cut leaves two clean sides, the side holding a majority of the voters, with a server
 * that may be Active, has an Active within the failover bound; and never two runtimes.
 */
export const MAJORITY: Faults = {
  loss: 0, duplicate: 0.05, delayMinMs: 0, delayMaxMs: 20,
  partitions: true, pauses: false, crashes: false, linkLoss: false, commands: false, diskFailures: 0, versionSkew: false,
  quorumOnly: true, partitionMaxMs: 8_000, shapes: true,
};

/**
 * The longest a kill by the guardian takes in the simulation (SIGKILL, then waiting until the
 * processes are gone): most of the 200 ms margin between the lease and the failure timeout,
 * which the guardian's late timer (up to 20 ms here) shares.
 */
const KILL_MAX_MS = 150;

/** Loss after the heal: a working LAN. */
export const HEALED_LOSS = 0.005;

export interface SimOptions {
  seed: number;
  faults: Faults;
  chaosMs?: number;
  healMs?: number;
  trace?: boolean;
}

interface SimNode {
  name: string;
  driver: EngineDriver | null; // null while crashed
  engine: Engine | null;
  store: MemoryStateStore;
  incarnation: number;
  seq: number;
  guard: ReplayGuard;
  pausedUntil: number;
  /** Timers that came due while frozen: they run first on waking (Node runs timers before I/O). */
  dueTimers: (() => void)[];
  buffered: (() => void)[];
  linkUp: boolean;
  /** The runtime really running in active mode (from the start request until a stop completes). */
  runtimeActive: boolean;
  runtimeFreeAt: number;
  /** The newest mode asked for: like the supervisor, each queued change converges to it. */
  runtimeWanted: RuntimeMode;
  lastActiveDelivered: number;
  generation: number;
  /** The application version this server runs now. */
  app: string;
  guardian: SimGuardian;
  /** Its disk is full until then: every write fails. */
  diskFullUntil: number;
}

/**
 * The guardian (main/guardian), on the simulated clock: it outlives the node process (not the
 * machine), holds the lease the node renews with every heartbeat (the guardian's own lease
 * rule, main/guardian/lease.ts), and when the lease runs out or the node dies with a Standby
 * ready, kills the runtime at once and multicasts the release.
 */
interface SimGuardian {
  /** The lease and, with quorum, the majority's support (renewals say). */
  lease: Lease;
  notice: Heartbeat | null;
  standbyReady: boolean;
  /** Killed the runtime; refuses active mode until the node renews as a non-Active. */
  fenced: boolean;
  /** The node process is gone (the guardian waits for the lease, then fences). */
  orphaned: boolean;
}

function freshGuardian(leaseMs: number): SimGuardian {
  return { lease: new Lease(leaseMs), notice: null, standbyReady: false, fenced: false, orphaned: false };
}

/** The simulation's stand-in for a Promise: completed synchronously by a scheduled event. */
class SimPending<T> implements Pending<T> {
  private done: ((v: T) => void)[] = [];
  then(onDone: (v: T) => void): void {
    this.done.push(onDone);
  }
  complete(v: T): void {
    for (const f of this.done) f(v);
  }
}

interface Event {
  at: number;
  seq: number;
  run: () => void;
}

export class Violation extends Error {}

export class Simulation {
  readonly r: () => number;
  now = 0;
  private queue: Event[] = [];
  private eventSeq = 0;
  readonly nodes: SimNode[] = [];
  readonly cfgBase: Omit<EngineConfig, 'self'>;
  readonly timings: Timings;
  /** The guardian's lease (main/defaults.ts leaseMs). */
  readonly lease: number;
  readonly log: string[] = [];
  private lastCommandAt = -Infinity;
  private noActiveSince: number | null = null;
  private lastBootAt = -Infinity;
  private healedAt = Infinity;
  readonly chaosMs: number;
  readonly healMs: number;
  /** Version skew: this server runs application version 'B' instead of 'A' until `skewUntil`. */
  readonly skewed: string | null;
  /** An invariant broken inside a port (where throwing would be caught by the driver). */
  private broken: string | null = null;
  readonly skewUntil: number;
  stats = { promotions: 0, failovers: 0, switchovers: 0, commands: 0, events: 0, incompatible: 0, diskFailures: 0, unkeptVotes: 0, unkeptRestarts: 0, fences: 0, releases: 0, resumes: 0, crashLoopHandovers: 0, quorumFences: 0 };
  /** runtime.failureResetMs of this run: how long a server that handed over because of a crash loop is banned. */
  readonly failureResetMs: number;
  /** Every server's runtime crash-loops whenever it runs in active mode (a runtime that cannot start anywhere). */
  readonly allCrashLoop: boolean;
  private readonly crashLoopHandovers: CrashLoopHandover[] = [];
  private lastClearAt = -Infinity;
  /** Draws for what was added later (crash-loop bans), so that older runs keep their random sequence. */
  private readonly r2: () => number;
  /** Links cut, one way each (`from>to`): partitions of every shape. */
  private cut = new Set<string>();
  /** The networks the cut applies to (the domain has 1 or 2; every heartbeat goes out on each). */
  private cutNets: number[] = [0];
  readonly networks: number;
  /** Counts every change of the cuts (a step planned for one partition is dropped after the next). */
  private cuts = 0;
  /** The partition in force, when it is two clean sides (liveness is judged on those). */
  private sides: { since: number; groups: SimNode[][] } | null = null;

  constructor(readonly opts: SimOptions) {
    this.r = rng(opts.seed);
    this.r2 = rng(opts.seed ^ 0x5bd1e995);
    this.failureResetMs = 3_000 + Math.floor(this.r2() * 57_000);
    this.allCrashLoop = opts.faults.commands && this.r2() < 0.15;
    this.chaosMs = opts.chaosMs ?? 30_000;
    this.healMs = opts.healMs ?? 25_000;
    const n = 2 + Math.floor(this.r() * 4);
    const kinds: ServerKind[] = ['main', 'backup'];
    while (kinds.length < n) kinds.push(this.r() < 0.6 ? 'backup' : 'inactive');
    // Witnesses: one in a third of the domains (always one for two servers in the quorum classes).
    if (this.r2() < 0.33 || (opts.faults.quorumOnly && kinds.length < 3)) kinds.push('witness');
    if (kinds.length > 5) kinds.splice(4, 1);
    this.timings = {
      ...DEFAULT_TIMINGS,
      handoverTimeoutMs: 2_000 + Math.floor(this.r() * 8_000),
      failbackDelayMs: 1_000 + Math.floor(this.r() * 5_000),
    };
    this.lease = leaseMs(this.timings);
    this.cfgBase = {
      servers: kinds.map((kind, i) => ({ name: `s${i}`, kind, maintenance: false })),
      failback: this.r() < 0.3 ? 'auto' : 'manual',
      quorum: !opts.faults.quorumOnly && this.r2() < 0.2 ? 'off' : 'auto',
      timings: this.timings,
      failureResetMs: this.failureResetMs,
    };
    // A rolling upgrade: one main or backup server runs another application version for a while.
    const skew = opts.faults.versionSkew && this.r() < 0.3;
    this.skewed = skew ? `s${Math.floor(this.r() * 2)}` : null;
    // Heartbeats over two networks in a third of the quorum domains.
    this.networks = opts.faults.quorumOnly && this.r2() < 0.33 ? 2 : 1;
    this.skewUntil = skew ? 1_000 + this.r() * (this.chaosMs - 3_000) : -Infinity;
    for (const s of this.cfgBase.servers) {
      this.nodes.push({
        name: s.name, driver: null, engine: null, store: new MemoryStateStore(), incarnation: 0, seq: 0,
        guard: new ReplayGuard(), pausedUntil: 0, dueTimers: [], buffered: [], linkUp: true, runtimeActive: false,
        runtimeFreeAt: 0, runtimeWanted: 'stopped', lastActiveDelivered: -Infinity, generation: 0,
        guardian: freshGuardian(this.lease),
        app: s.name === this.skewed ? 'B' : 'A',
        diskFullUntil: -Infinity,
      });
    }
  }

  describe(): string {
    const skew = this.skewed ? `, ${this.skewed} on application version B until ${Math.round(this.skewUntil)} ms` : '';
    const loops = `, failureResetMs ${this.failureResetMs}${this.allCrashLoop ? ', every runtime crash-loops' : ''}`;
    return `${this.nodes.length} servers (${this.cfgBase.servers.map((s) => `${s.name}:${s.kind}`).join(' ')}), ${this.networks} network${this.networks > 1 ? 's' : ''}, quorum ${this.quorumOn ? 'on' : 'off'}, failback ${this.cfgBase.failback}, handover ${this.timings.handoverTimeoutMs} ms${skew}${loops}`;
  }

  // --------------------------------------------------------------- engine

  private schedule(at: number, run: () => void): void {
    const e = { at, seq: this.eventSeq++, run };
    const q = this.queue;
    q.push(e);
    let i = q.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (q[p]!.at < e.at || (q[p]!.at === e.at && q[p]!.seq < e.seq)) break;
      q[i] = q[p]!;
      i = p;
    }
    q[i] = e;
  }

  private pop(): Event | undefined {
    const q = this.queue;
    const top = q[0];
    const last = q.pop();
    if (q.length && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const rr = l + 1;
        let m = i;
        const less = (a: Event, b: Event) => a.at < b.at || (a.at === b.at && a.seq < b.seq);
        if (l < q.length && less(q[l]!, m === i ? last : q[m]!)) m = l;
        if (rr < q.length && less(q[rr]!, m === i ? last : q[m]!)) m = rr;
        if (m === i) break;
        q[i] = q[m]!;
        i = m;
      }
      q[i] = last;
    }
    return top;
  }

  private trace(line: string): void {
    if (this.opts.trace) this.log.push(`${String(Math.round(this.now)).padStart(7)} ${line}`);
  }

  /** Run `fn` on node `n` now, or after its pause if it is frozen. */
  private onNode(n: SimNode, fn: () => void): void {
    if (!n.driver) return;
    if (this.now < n.pausedUntil) n.buffered.push(fn);
    else fn();
  }

  private info(n: SimNode): NodeInfo {
    return { ver: '1.0.0', app: n.app, rev: { n: 1, t: 0, h: '0' }, sync: 'in-sync', port: 1 };
  }

  private boot(n: SimNode): void {
    // A node writes its state first thing: with its disk full it does not start (tried again later).
    if (this.now < n.diskFullUntil) {
      this.trace(`${n.name} cannot start: its disk is full`);
      this.schedule(n.diskFullUntil + 100 + this.r2() * 1_000, () => {
        if (!n.driver) this.boot(n);
      });
      return;
    }
    // Back within the lease: the guardian still runs the node's Active term, which it takes back.
    const g = n.guardian;
    const keep = g.orphaned && !g.fenced && n.runtimeActive && g.notice !== null && g.lease.leftMs(this.now) > 0 ? g.notice.epoch : null;
    if (keep !== null) g.orphaned = false;
    if (n.guardian.orphaned) {
      // Like stopLeftoverRuntimes: a runtime the guardian still holds is stopped before joining.
      if (n.runtimeActive) this.trace(`${n.name} stops the runtime left running under its guardian`);
      n.runtimeActive = false;
      n.runtimeWanted = 'stopped';
      n.guardian = freshGuardian(this.lease);
    }
    n.incarnation += 1;
    n.seq = 0;
    n.generation += 1;
    this.lastBootAt = this.now;
    const gen = n.generation;
    const alive = () => n.generation === gen;
    const engine = new Engine({ ...this.cfgBase, self: n.name, boot: n.incarnation }, { ...n.store.durable }, this.now);
    const say = (level: string) => (event: string, detail: string) => {
      if (event === 'version' && level === 'warn') this.stats.incompatible += 1;
      this.trace(`${n.name} ${level === 'info' ? '' : `${level} `}${event}: ${detail}`);
    };
    const log: Logger = { info: say('info'), warn: say('warn'), error: say('error'), file: null };
    const ports: DriverPorts = {
      clock: {
        now: () => this.now,
        wallMs: () => this.now,
        setTimer: (at, fn) => {
          let live = true;
          // Timers fire a little late; a frozen node runs them when it wakes, before its datagrams.
          this.schedule(Math.max(this.now, at) + this.r() * 2, () => {
            if (!live || !alive()) return;
            live = false;
            if (this.now < n.pausedUntil) n.dueTimers.push(fn);
            else fn();
          });
          return () => {
            live = false;
          };
        },
      },
      transport: { send: (msg) => this.broadcast(n, msg), rejoin: () => undefined },
      runtime: {
        setMode: (mode) => this.runtimeSetMode(n, mode),
        hold: () => undefined,
        dropHold: () => undefined,
        resume: () => {
          const p = new SimPending<boolean>();
          this.schedule(this.now, () => p.complete(false));
          return p;
        },
        held: () => null,
      },
      store: {
        write: (state) => {
          // Like every fault, disks fail only until the chaos ends (the heal must be able to settle).
          if (this.now >= n.diskFullUntil && this.r() < this.opts.faults.diskFailures && this.now < this.chaosMs) {
            n.diskFullUntil = Math.min(this.now + 100 + this.r2() * 5_900, this.chaosMs);
            this.trace(`${n.name}'s disk is full until ${Math.round(n.diskFullUntil)}`);
            // Now and then its node process is restarted meanwhile (by a service manager): it cannot
            // start until the disk is freed, then waits out the promise kept on disk.
            if (this.r2() < 0.3) {
              this.schedule(this.now + this.r2() * (n.diskFullUntil - this.now), () => {
                if (!n.driver || this.now >= n.diskFullUntil) return;
                this.expectPromptFailover(n);
                this.crash(n, 'node process restarted while its disk is full', true);
                this.schedule(this.now + 100 + this.r2() * 500, () => {
                  if (!n.driver) this.boot(n);
                });
              });
            }
          }
          if (this.now < n.diskFullUntil) {
            this.stats.diskFailures += 1;
            throw new Error(`disk full: cannot write ${n.name}'s state file (simulated)`);
          }
          n.store.write(state);
        },
      },
      link: { up: () => n.linkUp, detail: `${n.name}'s card` },
      lease: {
        renew: (notice, standbyReady, quorumMs) => this.renew(n, notice, standbyReady, quorumMs),
        // The guardian answers a fence once nothing runs, whatever it had to kill.
        fence: (why) => this.fence(n, why, true),
      },
      log,
      onFatal: (why) => {
        this.crash(n, `stopped itself: ${why}`);
        this.schedule(this.now + 200 + this.r() * 4_000, () => {
          if (!n.driver) this.boot(n);
        });
      },
    };
    if (keep !== null) {
      if (engine.resumeTerm(keep, this.now, g.lease.leftMs(this.now))) {
        this.stats.resumes += 1;
        this.trace(`${n.name} takes Active term ${keep} back: its guardian kept the runtime running`);
      } else {
        this.trace(`${n.name} cannot take Active term ${keep} back; stops the runtime its guardian kept`);
        n.runtimeActive = false;
        n.runtimeWanted = 'stopped';
      }
    }
    const driver = new EngineDriver(engine, ports, n.name);
    n.engine = engine;
    n.driver = driver;
    driver.onRoleChange((e) => this.onRole(n, e));
    this.trace(`${n.name} boots (incarnation ${n.incarnation}, epoch ${n.store.durable.epoch}, maintenance ${n.store.durable.maintenance}, application ${n.app})`);
    driver.setInfo(this.info(n));
    driver.checkLink();
    driver.start();
  }

  private onRole(n: SimNode, e: RoleEvent): void {
    if (e.to === 'active') this.checkPromotion(n, e.cause ?? 'manual', e.reason);
    if (e.to === 'deactivating' && e.reason.startsWith('runtime crash loop')) this.checkCrashLoopHandover(n, e.reason);
  }

  /**
   * Pacemaker's migration-threshold: a server that handed over because of a crash loop is
   * banned for failureResetMs, so each server hands over for this reason at most once per
   * failureResetMs, never to a banned server, and in any window of failureResetMs there are at
   * most (main and backup servers − 1) such handovers: ≤ 1 with two servers, however every
   * runtime crash-loops. `duplex clear` lifts the ban; handovers before a clear are not counted.
   */
  private checkCrashLoopHandover(n: SimNode, reason: string): void {
    this.stats.crashLoopHandovers += 1;
    this.lastCommandAt = this.now; // the switchover it causes is asked for, like a command
    const to = /handing over to (\S+?);/.exec(reason)?.[1];
    const target = this.nodes.find((x) => x.name === to);
    if (!target) this.fail(`${n.name} handed over because of a crash loop, but the reason names no server: ${reason}`);
    if (target.engine?.runtimeBanned) this.fail(`${n.name} handed over to ${to}, which is banned after its own crash loop`);
    const since = Math.max(this.now - this.failureResetMs, this.lastClearAt);
    const recent = this.crashLoopHandovers.filter((h) => h.at > since);
    const again = recent.find((h) => h.server === n.name);
    if (again) this.fail(`${n.name} handed over because of a crash loop at ${Math.round(again.at)} ms and again now, within failureResetMs (${this.failureResetMs} ms)`);
    const mayMove = this.cfgBase.servers.filter((s) => this.mayBeActive(s.name)).length - 1;
    if (recent.length + 1 > mayMove) {
      this.fail(`${recent.length + 1} crash-loop handovers within failureResetMs (${this.failureResetMs} ms): ${[...recent.map((h) => `${h.server}@${Math.round(h.at)}`), `${n.name}@${Math.round(this.now)}`].join(', ')}; at most ${mayMove}`);
    }
    this.crashLoopHandovers.push({ server: n.name, at: this.now });
  }

  /**
   * The simulated runtime, modelled on the supervisor: changes queue up one after the other
   * (0-300 ms each), and each converges to the newest mode asked for. An active request counts
   * as running active from the moment it is made; only a change that converges to another
   * mode ends it.
   */
  private runtimeSetMode(n: SimNode, mode: RuntimeMode): Pending<void> {
    const done = new SimPending<void>();
    const gen = n.generation;
    n.runtimeWanted = mode;
    // The guardian refuses active mode after a fence until the node has stepped down.
    if (mode === 'active' && !n.guardian.fenced) n.runtimeActive = true;
    const at = Math.max(this.now, n.runtimeFreeAt) + Math.floor(this.r() * 300);
    n.runtimeFreeAt = at;
    this.schedule(at, () => {
      if (n.generation !== gen || !n.driver) return;
      n.runtimeActive = n.runtimeWanted === 'active' && !n.guardian.fenced;
      this.trace(`${n.name} runtime reached ${n.runtimeWanted} (asked: ${mode})`);
      this.onNode(n, () => done.complete());
    });
    return done;
  }

  /** A lease renewal: the guardian fences if no other one comes within the lease (or the majority's support runs out first). */
  private renew(n: SimNode, notice: Heartbeat | null, standbyReady: boolean, quorumMs: number | null): void {
    const g = n.guardian;
    g.lease.renew(this.now, quorumMs);
    g.notice = notice ? structuredClone(notice) : null;
    g.standbyReady = standbyReady;
    if (!notice) g.fenced = false;
    this.scheduleLeaseCheck(n);
  }

  private scheduleLeaseCheck(n: SimNode): void {
    const g = n.guardian;
    const renewedAt = g.lease.renewedAt;
    // The guardian's timer fires a little late too; the margin to the failure timeout covers it.
    // A renewal since arms another check (the guardian's timer moves on).
    this.schedule(g.lease.deadline() + this.r() * 20, () => {
      if (n.guardian !== g || g.lease.renewedAt !== renewedAt || !(n.runtimeActive || g.notice)) return;
      const expiry = g.lease.expiry(this.now);
      if (expiry) this.fence(n, expiryReason(expiry, g.lease.leaseMs, !g.orphaned), false, expiry.cause === 'quorum');
    });
  }

  /**
   * The guardian kills the runtime, which takes up to KILL_MAX_MS (SIGKILL, then waiting until the
   * processes are gone), then multicasts the release (if the node was Active) and tells the
   * node. `answer`: the node asked (a fence request), so it is told even when nothing ran.
   * `quorum`: for the majority's support (the node's own request says so in its reason).
   */
  private fence(n: SimNode, why: string, answer = false, quorum = /majority/.test(why)): void {
    const g = n.guardian;
    if (g.fenced || (!n.runtimeActive && !g.notice)) {
      if (answer) this.onNode(n, () => n.driver?.observe({ kind: 'fenced', reason: why }));
      return;
    }
    g.fenced = true;
    const notice = g.notice;
    g.notice = null;
    this.stats.fences += 1;
    if (quorum) this.stats.quorumFences += 1;
    this.schedule(this.now + this.r2() * KILL_MAX_MS, () => {
      if (n.guardian !== g) return; // the machine went down meanwhile, and the runtime with it
      n.runtimeActive = false;
      this.trace(`${n.name}'s guardian killed the runtime: ${why}${notice ? `; releases Active term ${notice.epoch}` : ''}`);
      if (notice) this.broadcast(n, notice);
      this.onNode(n, () => n.driver?.observe({ kind: 'fenced', reason: why }));
    });
  }

  /**
   * The node's process ends (a crash, or a fail-stop); it boots again later. When only the
   * node process died, the guardian and the runtime live on: the guardian fences at once if a
   * Standby was ready, else when the lease runs out.
   */
  private crash(n: SimNode, why: string, onlyTheNode = false): void {
    if (n.driver && this.now < n.diskFullUntil) this.stats.unkeptRestarts += 1;
    n.driver?.stop();
    n.driver = null;
    n.engine = null;
    n.generation += 1;
    if (onlyTheNode && n.runtimeActive) {
      n.guardian.orphaned = true;
      this.trace(`${n.name} ${why}`);
      if (n.guardian.standbyReady) this.fence(n, 'the node died');
      n.pausedUntil = 0;
      n.dueTimers = [];
      n.buffered = [];
      return;
    }
    n.guardian = freshGuardian(this.lease);
    n.runtimeActive = false; // the server went down with its runtime
    n.runtimeWanted = 'stopped';
    n.runtimeFreeAt = 0;
    n.pausedUntil = 0;
    n.dueTimers = [];
    n.buffered = [];
    this.trace(`${n.name} ${why}`);
  }

  private broadcast(from: SimNode, msg: Heartbeat): void {
    // Persist before send: what a heartbeat announces must survive a crash right after it.
    // Recorded, not thrown: the driver catches what a transport throws.
    const kept = from.store.durable;
    if (msg.maxEpoch > kept.epoch || msg.epoch > kept.epoch) {
      this.broken ??= `${from.name} announced epoch ${Math.max(msg.epoch, msg.maxEpoch)} before persisting it (state kept: epoch ${kept.epoch})`;
    }
    if (msg.role === 'maintenance' && !kept.maintenance) this.broken ??= `${from.name} announced Maintenance before persisting it`;
    // A support promises no more than the promise on disk: a restart waits that one out.
    if (msg.ack && msg.ack.ms > (kept.promiseMs ?? 0)) {
      this.broken ??= `${from.name} promised its support for ${msg.ack.ms} ms with ${kept.promiseMs ?? 0} ms kept on disk`;
    }
    if (msg.ack && this.now < from.diskFullUntil) this.stats.unkeptVotes += 1;
    from.seq += 1;
    const env = { incarnation: from.incarnation, seq: from.seq, msg: structuredClone(msg) };
    const f = this.opts.faults;
    for (const to of this.nodes) {
      if (to === from) continue;
      // One copy per network; the second to arrive is dropped by the replay guard, as the transport drops it.
      for (let net = 0; net < this.networks; net++) {
        const copies = this.r() < f.duplicate ? 2 : 1;
        for (let c = 0; c < copies; c++) {
          // A healed network still loses the odd datagram, but not one in twenty.
          if (this.r() < (this.now >= this.healedAt ? Math.min(f.loss, HEALED_LOSS) : f.loss)) continue;
          const delay = f.delayMinMs + this.r() * (f.delayMaxMs - f.delayMinMs);
          this.schedule(this.now + delay, () => {
            // Connectivity is judged on arrival: a partition or lost link drops what is in flight.
            if (!from.linkUp || !to.linkUp || (this.cutNets.includes(net) && this.cut.has(`${from.name}>${to.name}`)) || !to.driver) return;
            this.onNode(to, () => {
              const driver = to.driver;
              if (!driver || to.guard.check(env.msg.from, env.incarnation, env.seq)) return;
              if (env.msg.role === 'active' || env.msg.role === 'deactivating') to.lastActiveDelivered = this.now;
              if (process.env.SIM_TRACE === '2') this.trace(`${to.name} <- ${env.msg.from} ${env.msg.role} e${env.msg.epoch} seq ${env.seq}`);
              driver.receive(env.msg);
            });
          });
        }
      }
    }
  }

  // --------------------------------------------------------------- invariants

  private fail(what: string): never {
    throw new Violation(`seed ${this.opts.seed} at ${Math.round(this.now)} ms: ${what}\n  ${this.describe()}\n  replay: npm run build && SIM_SEED=${this.opts.seed} node out/test/sim/replay.js`);
  }

  private checkPromotion(n: SimNode, cause: string, reason: string): void {
    this.stats.promotions += 1;
    if (n.engine?.currentIncompatibility) this.fail(`${n.name} promoted itself (${cause}) although incompatible: ${n.engine.currentIncompatibility}`);
    if (!n.linkUp) this.fail(`${n.name} promoted itself (${cause}) while its own network was down`);
    if (cause === 'failover' && /released Active term/.test(reason)) {
      this.stats.releases += 1; // no silence to wait for: the runtime overlap check judges it
    } else if (cause === 'failover') {
      this.stats.failovers += 1;
      const silent = this.now - n.lastActiveDelivered;
      if (silent < this.timings.failureTimeoutMs) {
        this.fail(`${n.name} failed over only ${Math.round(silent)} ms after its last heartbeat from an Active (timeout ${this.timings.failureTimeoutMs} ms)`);
      }
    }
    if (cause === 'failback' && this.cfgBase.failback === 'manual') this.fail(`${n.name} failed back although the domain says failback: manual`);
    if (cause === 'switchover') {
      this.stats.switchovers += 1;
      const ok = this.cfgBase.failback === 'auto' || this.now - this.lastCommandAt <= 3 * this.timings.handoverTimeoutMs;
      if (!ok) this.fail(`${n.name} took over by switchover although nobody asked for one`);
    }
  }

  /** Declared main or backup. */
  private mayBeActive(name: string): boolean {
    const kind = this.cfgBase.servers.find((s) => s.name === name)!.kind;
    return kind === 'main' || kind === 'backup';
  }

  /** 3 or more voters and quorum auto (no server is set to maintenance in the simulated domain files). */
  get quorumOn(): boolean {
    return this.cfgBase.quorum !== 'off' && this.cfgBase.servers.length >= 3;
  }

  private checkStep(): void {
    if (this.broken) this.fail(this.broken);
    // Quorum: never two active runtimes at once, ever (any partition, pause, loss or crash).
    if (this.quorumOn) {
      const running = this.nodes.filter((n) => n.runtimeActive);
      if (running.length > 1) this.fail(`runtimes active at once on ${running.map((n) => n.name).join(' and ')} with quorum on`);
      this.checkMajoritySide();
    }
    // Versions: a server that finds itself incompatible with the Active is neither Active nor
    // Standby, and it is so only while an Active is heard: one gone silent (for the failure
    // timeout, stretched by awareness) or a handover that outlasted the handover timeout leaves
    // no verdict behind (no deadlock). Judged awake.
    for (const n of this.nodes) {
      const why = n.engine?.currentIncompatibility ?? null;
      if (why === null) continue;
      const role = n.engine!.currentRole;
      if (role === 'active' || role === 'standby' || role === 'activating') this.fail(`${n.name} is ${role} although incompatible (${why})`);
      const heardFor = this.now - n.lastActiveDelivered;
      const bound = this.timings.failureTimeoutMs * (1 + MAX_AWARENESS) + this.timings.handoverTimeoutMs + this.timings.heartbeatIntervalMs;
      if (this.now >= n.pausedUntil && heardFor > bound) this.fail(`${n.name} is still incompatible (${why}) although no Active has reached it for ${Math.round(heardFor)} ms`);
    }
    const actives = this.nodes.filter((n) => n.engine && (n.engine.currentRole === 'active' || n.engine.currentRole === 'deactivating'));
    const epochs = new Set<number>();
    for (const a of actives) {
      const e = a.engine!.currentEpoch;
      if (epochs.has(e)) this.fail(`two Actives with epoch ${e}: ${actives.map((x) => `${x.name}@${x.engine!.currentEpoch}`).join(', ')}`);
      epochs.add(e);
    }
    // Liveness on a connected network, at every step: an eligible server never goes without
    // an Active for longer than the failover bound.
    const eligible = this.nodes.some((n) => n.engine && n.engine.currentRole !== 'maintenance' && !n.engine.runtimeBanned && this.mayBeActive(n.name));
    const anyActive = this.nodes.some((n) => n.engine?.currentRole === 'active');
    // Versions are judged only against a live Active: with none, a server on other versions is
    // eligible again, so liveness holds while versions differ too.
    if (anyActive || !eligible) this.noActiveSince = null;
    else if (this.noActiveSince === null) this.noActiveSince = this.now;
    const connected = !this.opts.faults.partitions && !this.opts.faults.linkLoss && this.opts.faults.loss === 0;
    const settled = this.now >= this.healedAt + 3_000;
    if (connected || settled) {
      // Counted whether or not the node process is up: a runtime outliving its node counts.
      const running = this.nodes.filter((n) => n.runtimeActive);
      if (running.length > 1) this.fail(`runtimes active at once on ${running.map((n) => n.name).join(' and ')}${settled ? ' after the network healed' : ' on a connected network'}`);
      // A frozen Active still believes it is Active (its runtime is fenced): roles are judged awake.
      const roleActive = this.nodes.filter((n) => n.engine?.currentRole === 'active' && this.now >= n.pausedUntil);
      if (roleActive.length > 1) this.fail(`${roleActive.map((n) => n.name).join(' and ')} are both Active${settled ? ' after the network healed' : ' on a connected network'}`);
      if (this.noActiveSince !== null && this.now - this.noActiveSince > this.livenessBound()) {
        this.fail(`no Active for ${Math.round(this.now - this.noActiveSince)} ms although eligible servers are up (${this.nodes.map((n) => `${n.name}=${n.engine?.currentRole ?? 'down'}`).join(' ')})`);
      }
    }
  }

  /**
   * Liveness with quorum: while the network is cut in two clean sides, the side holding a
   * majority of the voters, all of them up and awake, with a main or backup server that may be
   * Active, has an Active within the failover bound (the stretched failure timeout, a vote's
   * round trip and a heartbeat).
   */
  private checkMajoritySide(): void {
    const sides = this.sides;
    if (!sides || this.opts.faults.pauses || this.opts.faults.crashes || this.opts.faults.commands) return;
    const majority = Math.floor(this.nodes.length / 2) + 1;
    const side = sides.groups.find((g) => g.length >= majority);
    if (!side || !side.some((n) => this.mayBeActive(n.name))) return;
    if (!side.every((n) => n.engine && n.linkUp && this.now >= n.pausedUntil)) return;
    const bound = this.timings.failureTimeoutMs * (1 + MAX_AWARENESS) + 2 * this.opts.faults.delayMaxMs + this.timings.heartbeatIntervalMs + this.lease;
    if (this.now - sides.since <= bound) return;
    if (!side.some((n) => n.engine!.currentRole === 'active' && n.runtimeActive)) {
      this.fail(`no Active ${Math.round(this.now - sides.since)} ms into a partition on the majority side ${side.map((n) => `${n.name}=${n.engine!.currentRole}`).join(' ')}`);
    }
  }

  /** Liveness: after the heal bound, exactly one Active (if anyone may be Active), and one Standby when two could be. */
  private checkSettled(): void {
    const eligible = this.nodes.filter((n) => {
      return n.engine && this.mayBeActive(n.name) && n.engine.currentRole !== 'maintenance' && !n.engine.runtimeBanned;
    });
    // A crash loop may start a handover at any time (every runtime crash-loops): one under way at
    // the end is no missing Active (the liveness check at every step bounds the gap).
    const handingOver = this.now - (this.crashLoopHandovers.at(-1)?.at ?? -Infinity) < this.timings.handoverTimeoutMs;
    const active = this.nodes.filter((n) => n.engine?.currentRole === 'active' || (handingOver && n.engine?.currentRole === 'deactivating'));
    const roles = this.nodes.map((n) => `${n.name}=${n.engine?.currentRole ?? 'down'}`).join(' ');
    if (eligible.length > 0 && (active.length > 1 || (active.length === 0 && !handingOver))) this.fail(`${active.length} Actives ${this.healMs} ms after the network healed (${roles})`);
    if (active.length === 1 && active[0]!.engine!.currentRole === 'active' && !active[0]!.runtimeActive) this.fail(`${active[0]!.name} is Active but its runtime is not running`);
    const standby = this.nodes.filter((n) => n.engine?.currentRole === 'standby');
    // A server that became Standby within a heartbeat (and the network's delay) has not been heard as one yet.
    const news = this.timings.heartbeatIntervalMs + this.opts.faults.delayMaxMs;
    const heard = standby.filter((n) => n.engine!.status(this.now).roleForMs > news);
    if (eligible.length >= 2 && (standby.length === 0 || heard.length > 1)) this.fail(`${standby.length} Standbys after the network healed (${roles})`);
  }

  // --------------------------------------------------------------- faults

  private scheduleFaults(): void {
    const f = this.opts.faults;
    const end = this.chaosMs;
    const at = () => 1_000 + this.r() * (end - 2_000);
    const dur = (max: number) => 200 + this.r() * max;
    const pick = () => this.nodes[Math.floor(this.r() * this.nodes.length)]!;
    if (f.partitions) {
      for (let i = 0; i < 3; i++) {
        const t = at();
        const d = dur(f.partitionMaxMs ?? 5_000);
        this.schedule(t, () => this.partition());
        this.schedule(Math.min(t + d, end), () => {
          this.cut.clear();
          this.cuts += 1;
          this.sides = null;
          this.trace('partition healed');
        });
      }
    }
    if (f.pauses) {
      for (let i = 0; i < 3; i++) {
        const n = pick();
        const t = at();
        const d = dur(3_000);
        this.schedule(t, () => {
          if (!n.engine || this.now < n.pausedUntil) return;
          n.pausedUntil = this.now + d;
          this.trace(`${n.name} paused for ${Math.round(d)} ms`);
          this.schedule(this.now + d, () => {
            this.trace(`${n.name} resumes`);
            // Node's event loop order: the overdue timers (the driver's late tick looks at the
            // link first) run before the datagrams that arrived meanwhile.
            const timers = n.dueTimers;
            const work = n.buffered;
            n.dueTimers = [];
            n.buffered = [];
            for (const t of timers) if (n.driver) t();
            for (const w of work) w();
          });
        });
      }
    }
    if (f.crashes) {
      for (let i = 0; i < 3; i++) {
        const n = pick();
        const t = at();
        // Half the crashes are the node process alone (its guardian and runtime live on).
        const onlyTheNode = this.r() < 0.5;
        this.schedule(t, () => {
          if (!n.driver) return;
          this.expectPromptFailover(n);
          this.crash(n, onlyTheNode ? 'node process died (the machine and the guardian live on)' : 'crashed (the machine)', onlyTheNode);
          // A node process restarted at once (by a service manager) may be back within its lease.
          const back = onlyTheNode && this.r() < 0.5 ? 100 + this.r() * 500 : dur(4_000);
          this.schedule(this.now + back, () => {
            if (!n.driver) this.boot(n);
          });
        });
      }
    }
    if (f.linkLoss) {
      for (let i = 0; i < 2; i++) {
        const n = pick();
        const t = at();
        const d = dur(3_000);
        this.schedule(t, () => {
          if (!n.linkUp) return;
          n.linkUp = false;
          this.trace(`${n.name} lost its network`);
          this.onNode(n, () => n.driver?.checkLink());
          this.schedule(Math.min(this.now + d, end), () => {
            n.linkUp = true;
            this.trace(`${n.name} network back`);
            this.onNode(n, () => n.driver?.checkLink());
          });
        });
      }
    }
    if (this.skewed) {
      const n = this.nodes.find((x) => x.name === this.skewed)!;
      this.schedule(this.skewUntil, () => {
        n.app = 'A';
        this.trace(`${n.name} now runs application version A like the others`);
        this.onNode(n, () => n.driver?.setInfo(this.info(n)));
      });
    }
    if (f.commands) {
      // A runtime crash loop somewhere: the Active hands over if it can.
      for (let i = 0; i < 2; i++) {
        const n = pick();
        this.schedule(at(), () => this.onNode(n, () => {
          if (!n.driver) return;
          this.trace(`${n.name} runtime crash loop`);
          n.driver.observe({ kind: 'runtime-failed', reason: 'simulated crash loop' });
        }));
      }
      if (this.allCrashLoop) for (const n of this.nodes) this.crashLoopForever(n, 2_000);
      // Now and then a technician clears a server's crash loops.
      if (this.r2() < 0.3) {
        const n = this.nodes[Math.floor(this.r2() * this.nodes.length)]!;
        this.schedule(1_000 + this.r2() * (end - 2_000), () => {
          this.lastClearAt = this.now;
          this.command(n, { kind: 'clear' });
        });
      }
      for (let i = 0; i < 6; i++) {
        const n = pick();
        const x = this.r();
        const cmd: Command = x < 0.4 ? { kind: 'activate' } : x < 0.7 ? { kind: 'deactivate' } : { kind: 'maintenance', on: this.r() < 0.6, force: this.r() < 0.3 };
        this.schedule(at(), () => this.command(n, cmd));
      }
    }
  }

  /** Cuts the network: two sides, or (with `shapes`) one server alone, a bridge, one link, or links one way. */
  private partition(): void {
    const cut = (a: SimNode, b: SimNode) => this.cut.add(`${a.name}>${b.name}`);
    const split = (groups: SimNode[][]) => {
      for (const g of groups) for (const h of groups) if (g !== h) for (const a of g) for (const b of h) cut(a, b);
    };
    this.cut.clear();
    this.cuts += 1;
    this.sides = null;
    // With two networks: both cut alike, or only one of them (the other still carries everything).
    const both = this.networks === 1 || this.r2() < 0.6;
    this.cutNets = both ? [...Array(this.networks).keys()] : [this.r2() < 0.5 ? 0 : 1];
    const shape = this.opts.faults.shapes ? Math.floor(this.r2() * 6) : 0;
    const nodes = this.nodes;
    const one = nodes[Math.floor(this.r2() * nodes.length)]!;
    const others = nodes.filter((x) => x !== one);
    let what: string;
    if (shape === 0) {
      const side = nodes.map(() => this.r() < 0.5);
      const groups = [nodes.filter((_, i) => side[i]), nodes.filter((_, i) => !side[i])];
      split(groups);
      if (both) this.sides = { since: this.now, groups };
      what = groups.map((g) => g.map((x) => x.name).join(',')).join(' | ');
    } else if (shape === 1) {
      split([[one], others]);
      if (both) this.sides = { since: this.now, groups: [[one], others] };
      what = `${one.name} cut off from all`;
    } else if (shape === 2) {
      // A voter that bridges two sides which do not hear each other.
      const side = others.map(() => this.r2() < 0.5);
      split([others.filter((_, i) => side[i]), others.filter((_, i) => !side[i])]);
      what = `${others.filter((_, i) => side[i]).map((x) => x.name).join(',')} | ${others.filter((_, i) => !side[i]).map((x) => x.name).join(',')}, bridged by ${one.name}`;
    } else if (shape === 3) {
      const other = others[Math.floor(this.r2() * others.length)]!;
      split([[one], [other]]);
      what = `link ${one.name}-${other.name} cut`;
    } else if (shape === 5) {
      // In two steps: one link cut (one side stops hearing the other and may ask the voters),
      // then a third server stops reaching the first one way (it still hears it).
      const other = others[Math.floor(this.r2() * others.length)]!;
      split([[one], [other]]);
      const third = others.find((x) => x !== other);
      if (third) {
        const seq = this.cuts;
        this.schedule(this.now + 500 + this.r2() * 1_500, () => {
          if (this.cuts !== seq) return; // healed or cut otherwise meanwhile
          this.cut.add(`${third.name}>${one.name}`);
          this.trace(`partition: ${third.name} no longer reaches ${one.name} (one way)`);
        });
      }
      what = `link ${one.name}-${other.name} cut, then ${third?.name ?? 'nobody'} to ${one.name} one way`;
    } else {
      const pairs: string[] = [];
      for (const a of nodes) for (const b of nodes) if (a !== b && this.r2() < 0.3) {
        cut(a, b);
        pairs.push(`${a.name}>${b.name}`);
      }
      what = `one way: ${pairs.join(' ') || 'none'}`;
    }
    this.trace(`partition: ${what}${this.networks > 1 ? ` on network ${this.cutNets.map((k) => k + 1).join(' and ')}` : ''}`);
  }

  /**
   * A runtime that cannot start anywhere: while it is meant to run in active mode, the
   * supervisor reports a crash loop at every exit (1-4 s apart with its backoff).
   */
  private crashLoopForever(n: SimNode, at: number): void {
    this.schedule(at, () => {
      if (n.driver && n.runtimeActive && n.runtimeWanted === 'active') {
        this.onNode(n, () => {
          if (!n.driver) return;
          this.trace(`${n.name} runtime crash loop (it cannot start)`);
          n.driver.observe({ kind: 'runtime-failed', reason: 'simulated runtime that cannot start' });
        });
      }
      this.crashLoopForever(n, this.now + 1_000 + this.r2() * 3_000);
    });
  }

  /**
   * Failover speed on a connected network: when a settled Active crashes with a Standby ready
   * and no switchover under way, a new Active exists within the failure timeout plus the
   * network delay (and a heartbeat of slack).
   */
  private expectPromptFailover(victim: SimNode): void {
    const f = this.opts.faults;
    if (f.partitions || f.pauses || f.linkLoss || f.loss > 0) return;
    if (victim.engine?.currentRole !== 'active') return;
    if (this.now - this.lastCommandAt < 2 * this.timings.handoverTimeoutMs) return;
    const standby = this.nodes.find((n) => n.engine?.currentRole === 'standby' && n.engine.status(this.now).awareness === 0);
    if (!standby) return;
    const bound = this.timings.failureTimeoutMs + f.delayMaxMs + this.timings.heartbeatIntervalMs;
    const crashedAt = this.now;
    this.schedule(this.now + bound, () => {
      // A victim back within the bound may claim first (a restarted main); that is not a slow failover.
      // Servers that booted meanwhile may rightly claim first (a starting main goes ahead).
      if (!standby.engine || victim.engine || this.lastBootAt > crashedAt || this.now - this.lastCommandAt < bound) return;
      if (!this.nodes.some((n) => n.engine?.currentRole === 'active')) {
        this.fail(`no Active ${Math.round(this.now - crashedAt)} ms after ${victim.name} crashed, although ${standby.name} was a ready Standby`);
      }
    });
  }

  command(n: SimNode, cmd: Command): void {
    this.onNode(n, () => {
      if (!n.driver) return;
      this.stats.commands += 1;
      const r = n.driver.submit(cmd);
      this.trace(`${n.name} command ${JSON.stringify(cmd)}: ${r.accepted ? 'accepted' : 'refused'}: ${r.message}`);
      if (r.accepted) this.lastCommandAt = this.now;
    });
  }

  /** Longest time without an Active we accept: discovery, the stretched failure timeout, a handover that is never picked up. */
  livenessBound(): number {
    return this.timings.discoveryMs + this.timings.failureTimeoutMs * (1 + MAX_AWARENESS) + this.timings.handoverTimeoutMs + 2_000;
  }

  run(): void {
    for (const n of this.nodes) this.schedule(this.r() * 2_000, () => this.boot(n));
    this.scheduleFaults();
    // The heal: every fault has ended by chaosMs; crashed servers are back soon after and
    // maintenance is switched off, so an Active must exist again within the bound.
    this.schedule(this.chaosMs + 5_000, () => {
      this.healedAt = this.now;
      this.trace('healed');
      for (const n of this.nodes) {
        if (!n.driver) this.boot(n);
        this.command(n, { kind: 'maintenance', on: false });
      }
    });
    const end = this.chaosMs + 5_000 + this.healMs;
    const bound = this.livenessBound();
    if (this.healMs < bound) throw new Error(`healMs ${this.healMs} is below the liveness bound ${bound}`);
    for (;;) {
      const e = this.pop();
      if (!e || e.at > end) break;
      this.now = e.at;
      this.stats.events += 1;
      e.run();
      this.checkStep();
    }
    this.now = end;
    this.checkSettled();
  }
}

/** Runs `count` seeds from `first`: the invariants broken, and what the runs exercised. */
export function sweep(faults: Faults, count: number, first: number) {
  const failures: string[] = [];
  const totals = { promotions: 0, failovers: 0, switchovers: 0, commands: 0, incompatible: 0, diskFailures: 0, unkeptVotes: 0, unkeptRestarts: 0, fences: 0, releases: 0, resumes: 0, crashLoopHandovers: 0, quorumFences: 0 };
  for (let seed = first; seed < first + count; seed++) {
    const sim = new Simulation({ seed, faults });
    try {
      sim.run();
    } catch (e) {
      failures.push((e as Error).message);
    }
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += sim.stats[k];
  }
  return { failures, totals };
}
