/**
 * Deterministic simulation (FoundationDB style): many nodes on a simulated network with
 * seeded loss, delay, duplication, reordering, partitions, process pauses, crashes and
 * restarts, lost links, disk failures, version skew and operator commands. Every node is the
 * node's own EngineDriver (main/node/driver.ts) on simulated ports: a simulated clock, this
 * faulty network as its transport, a simulated runtime, the guardian's own lease rule and an
 * in-memory state store. The DESIGN.md invariants are checked after every step. Everything is
 * driven by one seed; the same seed replays the same run.
 *
 * This file draws the domain from the seed and wires the parts: the clock and its events
 * (clock.ts), the network (network.ts), the runtime and guardian stand-ins (standins.ts), the
 * faults (faults.ts) and the invariants (invariants.ts).
 */
import { DEFAULT_TIMINGS, leaseMs, type Timings } from '../../main/defaults';
import { Engine } from '../../main/engine/engine';
import type { Command, EngineConfig, Heartbeat, NodeInfo, ServerKind } from '../../main/engine/types';
import { ReplayGuard } from '../../main/net/replay';
import { EngineDriver, type DriverPorts } from '../../main/node/driver';
import { MemoryStateStore } from '../../main/node/state-store';
import type { Logger } from '../../main/util/logger';
import { VipRuntime } from '../../main/vip/follow';
import { SimClock } from './clock';
import { FaultSchedule, type Faults } from './faults';
import { Invariants, newStats } from './invariants';
import { SimNetwork } from './network';
import { rng } from './random';
import { freshGuardian, SimPending, StandIns, type SimNode } from './standins';

export { CHAOS, CONNECTED, MAJORITY, QUORUM, type Faults } from './faults';
export { Violation } from './invariants';

/** The simulated domains' virtual IP. */
const SIM_VIP = { vip: { address: '10.20.0.100', prefix: 24 }, card: 'eth0' };

export interface SimOptions {
  seed: number;
  faults: Faults;
  chaosMs?: number;
  healMs?: number;
  trace?: boolean;
}

export class Simulation {
  readonly r: () => number;
  /** Draws for what was added later (crash-loop bans), so that older runs keep their random sequence. */
  readonly r2: () => number;
  /** Draws for the virtual IP (issue 24), likewise. */
  readonly r3: () => number;
  readonly clock = new SimClock();
  readonly nodes: SimNode[] = [];
  readonly cfgBase: Omit<EngineConfig, 'self'>;
  readonly timings: Timings;
  /** The guardian's lease (main/defaults.ts leaseMs). */
  readonly lease: number;
  readonly log: string[] = [];
  /** When the network healed (Infinity before). */
  healedAt = Infinity;
  readonly chaosMs: number;
  readonly healMs: number;
  /** Version skew: this server runs application version 'B' instead of 'A' until `skewUntil`. */
  readonly skewed: string | null;
  readonly skewUntil: number;
  stats = newStats();
  /** runtime.failureResetMs of this run: how long a server that handed over because of a crash loop is banned. */
  readonly failureResetMs: number;
  /** Every server's runtime crash-loops whenever it runs in active mode (a runtime that cannot start anywhere). */
  readonly allCrashLoop: boolean;
  readonly networks: number;
  readonly network: SimNetwork;
  readonly invariants = new Invariants(this);
  readonly faults = new FaultSchedule(this);
  readonly standIns = new StandIns(this);

  constructor(readonly opts: SimOptions) {
    this.r = rng(opts.seed);
    this.r2 = rng(opts.seed ^ 0x5bd1e995);
    this.r3 = rng(opts.seed ^ 0x27d4eb2f);
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
    this.network = new SimNetwork(this, this.networks);
    this.skewUntil = skew ? 1_000 + this.r() * (this.chaosMs - 3_000) : -Infinity;
    for (const s of this.cfgBase.servers) {
      this.nodes.push({
        name: s.name, driver: null, engine: null, store: new MemoryStateStore(), incarnation: 0, seq: 0,
        guard: new ReplayGuard(), pausedUntil: 0, dueTimers: [], buffered: [], linkUp: true, runtimeActive: false,
        runtimeFreeAt: 0, runtimeWanted: 'stopped', lastActiveDelivered: -Infinity, generation: 0,
        guardian: freshGuardian(this.lease),
        app: s.name === this.skewed ? 'B' : 'A',
        diskFullUntil: -Infinity, vipHeld: false,
      });
    }
  }

  /** The simulated time, in ms. */
  get now(): number {
    return this.clock.now;
  }

  describe(): string {
    const skew = this.skewed ? `, ${this.skewed} on application version B until ${Math.round(this.skewUntil)} ms` : '';
    const loops = `, failureResetMs ${this.failureResetMs}${this.allCrashLoop ? ', every runtime crash-loops' : ''}`;
    return `${this.nodes.length} servers (${this.cfgBase.servers.map((s) => `${s.name}:${s.kind}`).join(' ')}), ${this.networks} network${this.networks > 1 ? 's' : ''}, quorum ${this.quorumOn ? 'on' : 'off'}, failback ${this.cfgBase.failback}, handover ${this.timings.handoverTimeoutMs} ms${skew}${loops}`;
  }

  /** 3 or more voters and quorum auto (no server is set to maintenance in the simulated domain files). */
  get quorumOn(): boolean {
    return this.cfgBase.quorum !== 'off' && this.cfgBase.servers.length >= 3;
  }

  trace(line: string): void {
    if (this.opts.trace) this.log.push(`${String(Math.round(this.now)).padStart(7)} ${line}`);
  }

  /** Run `fn` on node `n` now, or after its pause if it is frozen. */
  onNode(n: SimNode, fn: () => void): void {
    if (!n.driver) return;
    if (this.now < n.pausedUntil) n.buffered.push(fn);
    else fn();
  }

  info(n: SimNode): NodeInfo {
    return { ver: '1.0.0', app: n.app, rev: { n: 1, t: 0, h: '0' }, sync: 'in-sync', port: 1 };
  }

  /** Starts the node process of `n`: its own EngineDriver on the simulated ports. */
  boot(n: SimNode): void {
    // A node writes its state first thing: with its disk full it does not start (tried again later).
    if (this.now < n.diskFullUntil) {
      this.trace(`${n.name} cannot start: its disk is full`);
      this.clock.schedule(n.diskFullUntil + 100 + this.r2() * 1_000, () => {
        if (!n.driver) this.boot(n);
      });
      return;
    }
    // Back within the lease: the guardian still runs the node's Active term, which it takes back.
    const keep = this.standIns.rejoin(n, this.lease);
    n.incarnation += 1;
    n.seq = 0;
    n.generation += 1;
    this.invariants.booted();
    const gen = n.generation;
    const alive = () => n.generation === gen;
    const engine = new Engine({ ...this.cfgBase, self: n.name, boot: n.incarnation }, { ...n.store.durable }, this.now);
    const say = (level: string) => (event: string, detail: string) => {
      if (event === 'version' && level === 'warn') this.stats.incompatible += 1;
      this.trace(`${n.name} ${level === 'info' ? '' : `${level} `}${event}: ${detail}`);
    };
    const log: Logger = { info: say('info'), warn: say('warn'), error: say('error'), file: null };
    // Every simulated domain has a virtual IP: the node's own VipRuntime moves it with the runtime.
    const runtime = new VipRuntime({
      setMode: (mode) => this.standIns.setMode(n, mode),
      hold: () => undefined,
      dropHold: () => undefined,
      resume: () => {
        const p = new SimPending<boolean>();
        this.clock.schedule(this.now, () => p.complete(false));
        return p;
      },
      held: () => null,
    }, { holdVip: (on) => this.standIns.holdVip(n, on) }, SIM_VIP, `${SIM_VIP.vip.address}/${SIM_VIP.vip.prefix}`, log, () => null);
    const ports: DriverPorts = {
      clock: {
        now: () => this.now,
        wallMs: () => this.now,
        setTimer: (at, fn) => {
          let live = true;
          // Timers fire a little late; a frozen node runs them when it wakes, before its datagrams.
          this.clock.schedule(Math.max(this.now, at) + this.r() * 2, () => {
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
      runtime,
      store: {
        write: (state) => {
          this.faults.writeState(n);
          n.store.write(state);
        },
      },
      link: { up: () => n.linkUp, detail: `${n.name}'s card` },
      lease: {
        renew: (notice, standbyReady, quorumMs) => this.standIns.renew(n, notice, standbyReady, quorumMs),
        // The guardian answers a fence once nothing runs, whatever it had to kill.
        fence: (why) => this.standIns.fence(n, why, true),
      },
      log,
      onFatal: (why) => {
        this.crash(n, `stopped itself: ${why}`);
        this.clock.schedule(this.now + 200 + this.r() * 4_000, () => {
          if (!n.driver) this.boot(n);
        });
      },
    };
    if (keep !== null) {
      if (engine.resumeTerm(keep, this.now, n.guardian.lease.leftMs(this.now))) {
        this.stats.resumes += 1;
        this.trace(`${n.name} takes Active term ${keep} back: its guardian kept the runtime running`);
        runtime.setMode('active').then(() => undefined, () => undefined); // as heart.ts does: the VIP is held (and announced) again
      } else {
        this.trace(`${n.name} cannot take Active term ${keep} back; stops the runtime its guardian kept, and removes the virtual IP`);
        n.runtimeActive = false;
        n.runtimeWanted = 'stopped';
        n.vipHeld = false;
      }
    }
    const driver = new EngineDriver(engine, ports, n.name);
    n.engine = engine;
    n.driver = driver;
    driver.onRoleChange((e) => this.invariants.roleChanged(n, e));
    this.trace(`${n.name} boots (incarnation ${n.incarnation}, epoch ${n.store.durable.maxEpoch}, maintenance ${n.store.durable.maintenance}, application ${n.app})`);
    driver.setInfo(this.info(n));
    driver.checkLink();
    driver.start();
  }

  /**
   * The node's process ends (a crash, or a fail-stop); it boots again later. When only the
   * node process died, the guardian and the runtime live on: the guardian fences at once if a
   * Standby was ready, else when the lease runs out.
   */
  crash(n: SimNode, why: string, onlyTheNode = false): void {
    if (n.driver && this.now < n.diskFullUntil) this.stats.unkeptRestarts += 1;
    n.driver?.stop();
    n.driver = null;
    n.engine = null;
    n.generation += 1;
    if (onlyTheNode && n.runtimeActive) {
      this.trace(`${n.name} ${why}`);
      this.standIns.orphan(n);
      n.pausedUntil = 0;
      n.dueTimers = [];
      n.buffered = [];
      return;
    }
    n.guardian = freshGuardian(this.lease);
    n.runtimeActive = false; // the server went down with its runtime
    n.vipHeld = false; // and its addresses (a machine that boots again has only its own)
    n.runtimeWanted = 'stopped';
    n.runtimeFreeAt = 0;
    n.pausedUntil = 0;
    n.dueTimers = [];
    n.buffered = [];
    this.trace(`${n.name} ${why}`);
  }

  /** What `from` sends goes out on the network, once the invariants have seen it. */
  broadcast(from: SimNode, msg: Heartbeat): void {
    this.invariants.sending(from, msg);
    this.network.send(from, msg);
  }

  command(n: SimNode, cmd: Command): void {
    this.onNode(n, () => {
      if (!n.driver) return;
      this.stats.commands += 1;
      const r = n.driver.submit(cmd);
      this.trace(`${n.name} command ${JSON.stringify(cmd)}: ${r.accepted ? 'accepted' : 'refused'}: ${r.message}`);
      if (r.accepted) this.invariants.commanded();
    });
  }

  /** Longest time without an Active we accept: discovery, the stretched failure timeout, a handover that is never picked up. */
  livenessBound(): number {
    return this.invariants.livenessBound();
  }

  run(): void {
    for (const n of this.nodes) this.clock.schedule(this.r() * 2_000, () => this.boot(n));
    this.faults.start();
    // The heal: every fault has ended by chaosMs; crashed servers are back soon after and
    // maintenance is switched off, so an Active must exist again within the bound.
    this.clock.schedule(this.chaosMs + 5_000, () => {
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
    for (let e = this.clock.next(end); e; e = this.clock.next(end)) {
      this.stats.events += 1;
      e.run();
      this.invariants.checkStep();
    }
    this.clock.now = end;
    this.invariants.checkSettled();
  }
}

/** Runs `count` seeds from `first`: the invariants broken, and what the runs exercised. */
export function sweep(faults: Faults, count: number, first: number) {
  const failures: string[] = [];
  const totals = newStats();
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
