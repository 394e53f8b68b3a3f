/**
 * What an output tells the world: the heartbeat (this server's state as a snapshot), the
 * guardian's lease, and `wakeAt`, the earliest of every part's next deadline (the node sets
 * exactly one timer for it).
 */
import { leaseMs } from './timings';
import type { Core } from './core';
import { mayServe, persist, silenceBase } from './transitions';
import type { Heartbeat, Lease, NodeInfo } from './types';

/** The heartbeat built at `now`: it numbers it, and keeps what it promises (the support in it) on disk. */
export function buildHeartbeat(c: Core, now: number): Heartbeat {
  const { local } = c;
  const durable = local.storeFault === null ? null : local.durable;
  const hb: Heartbeat = {
    kind: 'heartbeat',
    from: c.cfg.self,
    role: local.role,
    epoch: local.epoch,
    // An epoch is announced only once kept: while writes fail, the one on disk.
    maxEpoch: durable ? Math.min(local.maxEpoch, durable.maxEpoch) : local.maxEpoch,
    eligible: mayServe(c) && local.linkUp && c.compat.incompatible === null && local.isolated === null && !c.loops.banned && local.storeFault === null,
    awareness: c.awareness.value,
    health: local.health,
    boot: c.boot,
    n: 0,
  };
  // While writes fail, a support promises no more than the promise kept on disk.
  c.votes.stamp(hb, now, durable ? durable.promiseMs ?? 0 : null);
  const info = infoOf(c);
  if (info) hb.info = info;
  // While writes fail, every heartbeat tries again: the first that succeeds ends the fault.
  if (local.storeFault !== null) persist(c);
  c.switchover.stamp(hb, local.role, now);
  return hb;
}

/** What this node says about itself, with the crash loops counted here (absent: none). */
function infoOf(c: Core): NodeInfo | undefined {
  const { info } = c.local;
  return info && c.loops.count > 0 ? { ...info, fails: c.loops.count } : info;
}

/**
 * The heartbeat interval; a quarter of it while the Active's lease has less than half of its
 * length left (acknowledgements were lost): each heartbeat is one more chance for a voter to
 * acknowledge, so random loss on the network does not end the lease. `lease`: leaseEnd of the
 * term held.
 */
export function sendEvery(c: Core, now: number, lease: number): number {
  const t = c.cfg.timings;
  const short = c.servers.quorum && c.local.holdsTerm && lease - now < leaseMs(t) / 2;
  return short ? t.heartbeatIntervalMs / 4 : t.heartbeatIntervalMs;
}

/** The earliest moment the engine must look again: a heartbeat due, or any part's next deadline. */
export function wakeAt(c: Core, now: number, lastSent: number, lease: number): number {
  const { local, cfg } = c;
  const t = cfg.timings;
  const timeout = c.awareness.timeout();
  let at = lastSent + sendEvery(c, now, lease);
  const consider = (deadline: number) => {
    if (deadline > now && deadline < at) at = deadline;
  };
  consider(c.peers.nextSilence(now));
  consider(silenceBase(c) + timeout);
  if (local.role === 'starting') consider(Math.max(local.roleSince, c.awareness.resumedAt) + t.discoveryMs);
  c.switchover.deadlines(consider, t.heartbeatIntervalMs);
  if (local.standbySince !== null) consider(local.standbySince + t.failbackDelayMs);
  consider(c.awareness.nextAt());
  if (local.worseSince !== null && cfg.rated) consider(local.worseSince + cfg.rated.holdMs);
  consider(c.loops.nextAt());
  if (c.servers.quorum) c.votes.deadlines(consider, lease, local.holdsTerm, local.role === 'starting');
  return at;
}

/**
 * What the guardian holds for this node, renewed with every heartbeat sent: the release
 * notice it multicasts if it has to kill this server's runtime (null unless this server may
 * run its runtime in active mode), and whether a Standby is ready to take over at once.
 */
export function leaseOf(c: Core, now: number, lease: number): Lease {
  const { local } = c;
  if (!local.holdsTerm) return { notice: null, standbyReady: false, quorumUntil: null };
  // Multicast only once the runtime is gone: by the guardian after it killed it (a clean stop says `stopped` instead).
  const notice: Heartbeat = {
    kind: 'heartbeat', from: c.cfg.self, role: 'inactive', epoch: local.epoch, maxEpoch: local.maxEpoch,
    eligible: false, awareness: c.awareness.value, ended: 'fenced',
  };
  // Without a Standby the notice still says the term is over; the others wait out the silence.
  const standby = c.peers.liveStandby(now);
  if (standby) notice.released = standby.name;
  const info = infoOf(c);
  if (info) notice.info = info;
  // With quorum the guardian also kills when the majority's support runs out (the node may be frozen then).
  return { notice, standbyReady: standby !== null, quorumUntil: c.servers.quorum ? lease : null };
}
