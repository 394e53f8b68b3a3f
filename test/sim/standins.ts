/**
 * The simulated servers, and the stand-ins for what runs beside the node's EngineDriver: the
 * runtime (modelled on the supervisor) and the guardian (main/guardian), which runs the
 * guardian's own lease rule (main/guardian/lease.ts) on the simulated clock and holds the
 * virtual IP (modelled on main/vip/holder.ts; the node's side, main/vip/follow.ts, runs as is).
 */
import type { Engine } from '../../main/engine/engine';
import type { Heartbeat, RuntimeMode } from '../../main/engine/types';
import { expiryReason, Lease } from '../../main/guardian/lease';
import type { ReplayGuard } from '../../main/net/replay';
import type { EngineDriver } from '../../main/node/driver';
import type { Pending } from '../../main/node/ports';
import type { VipResult } from '../../main/vip/holder';
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
  /** The virtual IP is on this server's card (from the moment an add completes until a removal does). */
  vipHeld: boolean;
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
  /** Its virtual IP changes run one at a time, in order (main/vip/holder.ts): the last one asked ends then. */
  vipFreeAt: number;
  /** The fence under way ends then (its kill, its VIP removal and its release done); -Infinity: none. */
  fenceDoneAt: number;
}

export function freshGuardian(leaseMs: number): SimGuardian {
  return { lease: new Lease(leaseMs), notice: null, standbyReady: false, fenced: false, orphaned: false, vipFreeAt: 0, fenceDoneAt: -Infinity };
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

/** The longest one `ip address add|del` takes in the simulation (about 7 ms on an idle machine, 30 under load). */
export const VIP_COMMAND_MAX_MS = 30;

/** What the stand-ins use of the simulation. */
export interface StandInHost {
  readonly clock: SimClock;
  readonly r: () => number;
  readonly r2: () => number;
  /** Draws for the virtual IP. */
  readonly r3: () => number;
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

  /**
   * The guardian's side of the virtual IP: each change is one command, run after the ones
   * asked before it; an add is refused while the runtime is fenced (until the node steps down).
   */
  holdVip(n: SimNode, on: boolean): Pending<VipResult> {
    const sim = this.sim;
    const g = n.guardian;
    const done = new SimPending<VipResult>();
    const answer = (r: VipResult) => sim.onNode(n, () => done.complete(r));
    if (on && g.fenced) {
      sim.clock.schedule(sim.clock.now, () => answer({ ok: false, message: 'not adding the virtual IP: the guardian killed the runtime' }));
      return done;
    }
    sim.clock.schedule(this.vipTurn(g), () => {
      if (n.guardian !== g) return; // the machine went down meanwhile, and the VIP with it
      if (on) sim.stats.vipAdds += 1;
      n.vipHeld = on;
      sim.trace(`${n.name}'s guardian ${on ? 'added' : 'removed'} the virtual IP`);
      answer({ ok: true, message: on ? 'added' : 'removed' });
    });
    return done;
  }

  /** When a VIP change asked for now ends: after the ones before it, one command later. */
  private vipTurn(g: SimGuardian): number {
    g.vipFreeAt = Math.max(this.sim.clock.now, g.vipFreeAt) + this.sim.r3() * VIP_COMMAND_MAX_MS;
    return g.vipFreeAt;
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
      // Asked while a fence is under way, the guardian answers once it is done (guardian.ts fence()).
      if (answer) sim.clock.schedule(Math.max(sim.clock.now, g.fenceDoneAt), () => sim.onNode(n, () => n.driver?.observe({ kind: 'fenced', reason: why })));
      return;
    }
    g.fenced = true;
    const notice = g.notice;
    g.notice = null;
    sim.stats.fences += 1;
    if (quorum) sim.stats.quorumFences += 1;
    // The kill and the VIP's removal (in turn after any change under way) run side by side; the release waits for both.
    const killedAt = sim.clock.now + sim.r2() * KILL_MAX_MS;
    const vipGoneAt = this.vipTurn(g);
    g.fenceDoneAt = Math.max(killedAt, vipGoneAt);
    sim.clock.schedule(vipGoneAt, () => {
      if (n.guardian !== g) return;
      if (n.vipHeld) sim.trace(`${n.name}'s guardian removed the virtual IP: ${why}`);
      n.vipHeld = false;
    });
    sim.clock.schedule(killedAt, () => {
      if (n.guardian !== g) return; // the machine went down meanwhile, and the runtime with it
      n.runtimeActive = false;
      sim.trace(`${n.name}'s guardian killed the runtime: ${why}`);
    });
    sim.clock.schedule(Math.max(killedAt, vipGoneAt), () => {
      if (n.guardian !== g) return;
      if (notice) sim.trace(`${n.name}'s guardian releases Active term ${notice.epoch}`);
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
    // At start-up a node removes a VIP left on its card, unless it takes its Active term back (heart.ts).
    if (keep === null) n.vipHeld = false;
    return keep;
  }
}
