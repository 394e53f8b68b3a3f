/**
 * The simulated servers, and the stand-ins for what runs beside the node's EngineDriver: the
 * runtime (modelled on the supervisor) and the guardian (main/guardian), which runs the
 * guardian's own lease rule (main/guardian/lease.ts) on the simulated clock.
 */
import type { Engine } from '../../main/engine/engine';
import type { Heartbeat, RuntimeMode } from '../../main/engine/types';
import { expiryReason, Lease } from '../../main/guardian/lease';
import type { ReplayGuard } from '../../main/net/replay';
import type { EngineDriver } from '../../main/node/driver';
import type { Pending } from '../../main/node/ports';
import type { MemoryStateStore } from '../../main/node/state-store';
import type { SimClock } from './clock';
import type { SimStats } from './invariants';

/** One server: its node process (null while down), its disk, network card, runtime and guardian. */
export interface SimNode {
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
export interface SimGuardian {
  /** The lease and, with quorum, the majority's support (renewals say). */
  lease: Lease;
  notice: Heartbeat | null;
  standbyReady: boolean;
  /** Killed the runtime; refuses active mode until the node renews as a non-Active. */
  fenced: boolean;
  /** The node process is gone (the guardian waits for the lease, then fences). */
  orphaned: boolean;
}

export function freshGuardian(leaseMs: number): SimGuardian {
  return { lease: new Lease(leaseMs), notice: null, standbyReady: false, fenced: false, orphaned: false };
}

/** The simulation's stand-in for a Promise: completed synchronously by a scheduled event. */
export class SimPending<T> implements Pending<T> {
  private done: ((v: T) => void)[] = [];
  then(onDone: (v: T) => void): void {
    this.done.push(onDone);
  }
  complete(v: T): void {
    for (const f of this.done) f(v);
  }
}

/**
 * The longest a kill by the guardian takes in the simulation (SIGKILL, then waiting until the
 * processes are gone): most of the 200 ms margin between the lease and the failure timeout,
 * which the guardian's late timer (up to 20 ms here) shares.
 */
const KILL_MAX_MS = 150;

/** What the stand-ins use of the simulation. */
export interface StandInHost {
  readonly clock: SimClock;
  readonly r: () => number;
  readonly r2: () => number;
  readonly stats: SimStats;
  trace(line: string): void;
  /** Runs `fn` on node `n` now, or after its pause if it is frozen. */
  onNode(n: SimNode, fn: () => void): void;
  /** Sends `msg` from `n` on the simulated network (the guardian multicasts releases so). */
  broadcast(from: SimNode, msg: Heartbeat): void;
}

export class StandIns {
  constructor(private readonly sim: StandInHost) {}

  /**
   * The simulated runtime, modelled on the supervisor: changes queue up one after the other
   * (0-300 ms each), and each converges to the newest mode asked for. An active request counts
   * as running active from the moment it is made; only a change that converges to another
   * mode ends it.
   */
  setMode(n: SimNode, mode: RuntimeMode): Pending<void> {
    const sim = this.sim;
    const done = new SimPending<void>();
    const gen = n.generation;
    n.runtimeWanted = mode;
    // The guardian refuses active mode after a fence until the node has stepped down.
    if (mode === 'active' && !n.guardian.fenced) n.runtimeActive = true;
    const at = Math.max(sim.clock.now, n.runtimeFreeAt) + Math.floor(sim.r() * 300);
    n.runtimeFreeAt = at;
    sim.clock.schedule(at, () => {
      if (n.generation !== gen || !n.driver) return;
      n.runtimeActive = n.runtimeWanted === 'active' && !n.guardian.fenced;
      sim.trace(`${n.name} runtime reached ${n.runtimeWanted} (asked: ${mode})`);
      sim.onNode(n, () => done.complete());
    });
    return done;
  }

  /** A lease renewal: the guardian fences if no other one comes within the lease (or the majority's support runs out first). */
  renew(n: SimNode, notice: Heartbeat | null, standbyReady: boolean, quorumMs: number | null): void {
    const g = n.guardian;
    g.lease.renew(this.sim.clock.now, quorumMs);
    g.notice = notice ? structuredClone(notice) : null;
    g.standbyReady = standbyReady;
    if (!notice) g.fenced = false;
    this.scheduleLeaseCheck(n);
  }

  private scheduleLeaseCheck(n: SimNode): void {
    const sim = this.sim;
    const g = n.guardian;
    const renewedAt = g.lease.renewedAt;
    // The guardian's timer fires a little late too; the margin to the failure timeout covers it.
    // A renewal since arms another check (the guardian's timer moves on).
    sim.clock.schedule(g.lease.deadline() + sim.r() * 20, () => {
      if (n.guardian !== g || g.lease.renewedAt !== renewedAt || !(n.runtimeActive || g.notice)) return;
      const expiry = g.lease.expiry(sim.clock.now);
      if (expiry) this.fence(n, expiryReason(expiry, g.lease.leaseMs, !g.orphaned), false, expiry.cause === 'quorum');
    });
  }

  /**
   * The guardian kills the runtime, which takes up to KILL_MAX_MS (SIGKILL, then waiting until the
   * processes are gone), then multicasts the release (if the node was Active) and tells the
   * node. `answer`: the node asked (a fence request), so it is told even when nothing ran.
   * `quorum`: for the majority's support (the node's own request says so in its reason).
   */
  fence(n: SimNode, why: string, answer = false, quorum = /majority/.test(why)): void {
    const sim = this.sim;
    const g = n.guardian;
    if (g.fenced || (!n.runtimeActive && !g.notice)) {
      if (answer) sim.onNode(n, () => n.driver?.observe({ kind: 'fenced', reason: why }));
      return;
    }
    g.fenced = true;
    const notice = g.notice;
    g.notice = null;
    sim.stats.fences += 1;
    if (quorum) sim.stats.quorumFences += 1;
    sim.clock.schedule(sim.clock.now + sim.r2() * KILL_MAX_MS, () => {
      if (n.guardian !== g) return; // the machine went down meanwhile, and the runtime with it
      n.runtimeActive = false;
      sim.trace(`${n.name}'s guardian killed the runtime: ${why}${notice ? `; releases Active term ${notice.epoch}` : ''}`);
      if (notice) sim.broadcast(n, notice);
      sim.onNode(n, () => n.driver?.observe({ kind: 'fenced', reason: why }));
    });
  }

  /** Only the node process died, its runtime active: the guardian fences at once if a Standby was ready, else when the lease runs out. */
  orphan(n: SimNode): void {
    n.guardian.orphaned = true;
    if (n.guardian.standbyReady) this.fence(n, 'the node died');
  }

  /**
   * The node process boots again. Back within the lease, the guardian still runs its Active
   * term, which the node takes back: its epoch (the lease left is the guardian's). Otherwise,
   * like stopLeftoverRuntimes, a runtime the guardian still holds is stopped before joining.
   */
  rejoin(n: SimNode, leaseMs: number): number | null {
    const g = n.guardian;
    const now = this.sim.clock.now;
    const keep = g.orphaned && !g.fenced && n.runtimeActive && g.notice !== null && g.lease.leftMs(now) > 0 ? g.notice.epoch : null;
    if (keep !== null) g.orphaned = false;
    if (n.guardian.orphaned) {
      if (n.runtimeActive) this.sim.trace(`${n.name} stops the runtime left running under its guardian`);
      n.runtimeActive = false;
      n.runtimeWanted = 'stopped';
      n.guardian = freshGuardian(leaseMs);
    }
    return keep;
  }
}
