/**
 * The moves between roles that several decisions share: follow, promote (or claim, with
 * quorum), become Active, hand over, end a term; and the predicates they rest on (may this
 * server promote, is someone ahead of it, since when is the Active silent).
 */
import type { Core } from './core';
import type { Peer } from './peers';
import type { Deactivation } from './switchover';
import type { PersistedState, PromotionCause, Request } from './types';

/** Keep the state before anything of this output is sent or done. */
export function persist(c: Core): void {
  const { local } = c;
  const state: PersistedState = { maxEpoch: local.maxEpoch, maintenance: local.maintenance };
  if (local.epoch > 0) state.epoch = local.epoch;
  const failures = c.loops.persisted;
  if (failures) state.failures = failures;
  if (c.votes.promised > 0) state.promiseMs = c.votes.promised;
  // Once writes are known to fail, outputs are built within what is on disk: a failed retry changes nothing.
  c.out.push({ kind: 'persist', state, critical: local.storeFault === null });
}

/** This server may be Active or Standby by the domain file and its own maintenance. */
export function mayServe(c: Core): boolean {
  return c.servers.mayServe(c.cfg.self) && !c.local.maintenance;
}

/** Whether peer `name` may be Active or Standby by the domain file (this server: also its own maintenance). */
export function declEligible(c: Core, name: string): boolean {
  return name === c.cfg.self ? mayServe(c) : c.servers.mayServe(name);
}

/**
 * Whether this server may take the Active role now. A server whose own witness or network
 * checks fail and that hears no peer may be the one cut off: it does not promote itself.
 * Hearing a peer proves it is not alone.
 */
export function canPromote(c: Core, now: number): boolean {
  const { local } = c;
  if (c.faults.conflicted(now)) return false; // another process runs under this name: it may be the Active
  if (local.isolated !== null && c.peers.live(now).length === 0) return false;
  return local.linkUp && c.compat.incompatible === null && !c.loops.banned && local.storeFault === null && local.role !== 'maintenance' && mayServe(c);
}

/**
 * A reachable server is about to claim and should go first: the main while it starts, or one
 * a technician activated (among several activating, the first in precedence).
 */
export function claimantAhead(c: Core, now: number): boolean {
  const { servers } = c;
  const mine = servers.prec(c.cfg.self);
  return c.peers.live(now).some((p) => {
    if (!p.hb.eligible || !servers.mayServe(p.name)) return false;
    if (p.hb.role === 'starting') return servers.decl(p.name).kind === 'main' && servers.prec(p.name) < mine; // only the main claims at start-up
    if (p.hb.role === 'activating') return c.local.role !== 'activating' || servers.prec(p.name) < mine;
    return false;
  });
}

/**
 * Since when the Active has been silent: its last heartbeat, or — when none was heard since
 * this node began listening — the end of the discovery window. A freeze restarts the count.
 */
export function silenceBase(c: Core): number {
  const { local } = c;
  const last = c.peers.lastActiveAt;
  const heard = last >= local.listeningSince;
  return Math.max(heard ? last : local.listeningSince + c.cfg.timings.discoveryMs, c.awareness.resumedAt, local.freedAt);
}

/** Why this server must not take over on silence (a secret it cannot verify may hide the Active); null when it may. */
export function unverifiedSilence(c: Core, now: number): string | null {
  return c.faults.unverifiedSilence(now, c.peers.lastActiveName, new Set(c.peers.live(now).map((p) => p.name)));
}

/** The voters heard within the failure timeout, this server included. */
export function votersHeard(c: Core, now: number): string[] {
  const live = new Set(c.peers.live(now).map((p) => p.name));
  return c.servers.voters.filter((v) => v === c.cfg.self || live.has(v));
}

/** Why this server may not take over (it hears no majority of the voters); null when it may, or without quorum. */
export function minorityText(c: Core, now: number): string | null {
  const { servers } = c;
  if (!servers.quorum) return null;
  const heard = votersHeard(c, now);
  if (heard.length >= servers.majority) return null;
  return `${c.cfg.self} hears ${heard.length} of ${servers.voters.length} voters (${heard.join(', ')}); ${servers.majority} are needed: a server in the minority never becomes Active`;
}

/** Standby or Inactive, by precedence among the eligible servers that are not Active. */
export function follow(c: Core, now: number, active: Peer | null, why = ''): void {
  const { local, servers } = c;
  const self = c.cfg.self;
  if (servers.removed) return local.setRole(now, 'inactive', `${why}not in the domain file any more`);
  if (!mayServe(c)) return local.setRole(now, 'inactive', `${why}declared "${servers.decl(self).kind}" in the domain file`);
  if (c.compat.incompatible) return local.setRole(now, 'inactive', `${why}incompatible: ${c.compat.incompatible}`);
  if (c.loops.banned) return local.setRole(now, 'inactive', `${why}${c.loops.banText(self)}`);
  let best = self;
  const granted = c.switchover.grantedTo;
  for (const p of c.peers.live(now)) {
    if (active && p.name === active.name) continue;
    // The server this one just handed over to is taking the Active role: not the one to wait behind
    // (an old Active goes straight to Standby, with one role change and one notification).
    if (granted === p.name) continue;
    if (!p.hb.eligible || !servers.mayServe(p.name)) continue;
    if (p.hb.role !== 'standby' && p.hb.role !== 'inactive' && p.hb.role !== 'activating') continue;
    if (p.hb.claim !== undefined) continue; // asking the voters for the Active role: not the one to wait behind
    if (servers.prec(p.name) < servers.prec(best)) best = p.name;
  }
  if (best === self) return local.setRole(now, 'standby', why + (active ? `ready to take over from ${active.name}` : 'no Active reachable'));
  local.setRole(now, 'inactive', `${why}${best} is the Standby; waiting next in line`);
}

/** Takes the Active role: at once without quorum; with quorum, by asking the voters first (claim). */
export function promote(c: Core, now: number, cause: PromotionCause, reason: string, floor = 0): void {
  if (c.servers.quorum) return claim(c, now, cause, reason, floor);
  becomeActive(c, now, cause, reason, c.servers.nextEpoch(Math.max(c.local.maxEpoch, floor)));
}

export function becomeActive(c: Core, now: number, cause: PromotionCause, reason: string, e: number): void {
  const { local } = c;
  local.promoting();
  c.votes.endClaim(true);
  local.epoch = e;
  local.maxEpoch = e;
  persist(c);
  c.switchover.endActivation({ ok: true, message: `${c.cfg.self} is Active (epoch ${e})` });
  local.noFailback = false;
  c.switchover.dropGrant();
  local.setRole(now, 'active', reason, cause);
  if (cause === 'failover' && c.cfg.confirmResume) {
    // The runtime waits for a technician: the plant is checked before it runs here.
    local.holding = true;
    c.out.push({ kind: 'hold', reason: `took over after a failover (${reason}); confirmResume is set in the domain file` });
  }
  local.wantRuntime('active');
}

export function startHandover(c: Core, now: number, to: string | null, then: Deactivation['then'], request: Request | null, reason: string): void {
  c.switchover.handOver(to, then, request);
  c.local.setRole(now, 'deactivating', reason);
  c.local.wantRuntime(then === 'maintenance' ? 'stopped' : 'standby');
}

/** Asks the voters for an Active term (this server counts itself); promotes once a majority supports it. */
function claim(c: Core, now: number, cause: PromotionCause, reason: string, floor: number): void {
  const { votes, local } = c;
  const blocked = votes.blocked(now, local.startedAt);
  if (blocked) {
    local.reason = `${reason}; ${blocked}`;
    return;
  }
  const base = Math.max(local.maxEpoch, floor);
  if (!votes.claim || votes.claim.epoch <= base) votes.startClaim(c.servers.nextEpoch(base), cause, reason, now);
  else votes.restate(cause, reason);
  progressClaim(c, now);
}

/**
 * A claim goes on while nothing better turns up: it ends when an Active is heard, when this
 * server may no longer be Active, or when a candidate ahead of it in precedence asks too (it
 * then gets this server's vote). It wins once a majority supports it. True when it promoted.
 */
export function progressClaim(c: Core, now: number): boolean {
  const { votes, local, servers } = c;
  const claimed = votes.claim;
  if (!claimed) return false;
  const ahead = votes.candidates(now, local.maxEpoch).some((p) => servers.prec(p.name) < servers.prec(c.cfg.self));
  if (c.peers.liveActive(now) || ahead || !canPromote(c, now) || local.holdsTerm || local.role === 'maintenance' || claimed.epoch <= local.maxEpoch) {
    votes.endClaim();
    return false;
  }
  // A main that finds no majority at start-up waits as a follower (one role change when it wins).
  if (local.role === 'starting' && now - claimed.since >= c.cfg.timings.failureTimeoutMs) follow(c, now, null);
  local.reason = `${claimed.reason}; asking the voters for Active term ${claimed.epoch} (${votes.claimSupport()} of the ${servers.majority} needed support it)`;
  if (votes.leaseEnd(null) <= now) return false;
  becomeActive(c, now, claimed.cause, `${claimed.reason} (supported by a majority of the voters)`, claimed.epoch);
  return true;
}

/**
 * The majority's support ran out: the runtime is killed at once (fence). The term is held (the
 * server is deactivating, its heartbeats still claim the term, it votes for no one) until the
 * guardian says the runtime is dead; only then does it follow and release its voters.
 */
export function loseQuorum(c: Core, now: number): void {
  const { local, servers } = c;
  const silent = c.votes.silentVoters(now, local.epoch);
  const why = `lost the majority's support: ${silent.join(', ')} acknowledged none of its recent heartbeats (${servers.majority} of ${servers.voters.length} voters needed, itself included)`;
  c.votes.fence(why);
  c.out.push({ kind: 'fence', reason: why });
  if (local.role === 'active') {
    local.noFailback = true;
    c.switchover.handOver(null, 'follower', null);
    local.setRole(now, 'deactivating', `${why}: killing the runtime`);
    local.wantRuntime(mayServe(c) ? 'standby' : 'stopped');
  } else {
    local.reason = `${why}: killing the runtime`;
  }
}

/** The runtime was killed, or is being killed: the Active term is over and this server follows. */
export function endTerm(c: Core, now: number, why: string, reason: string): void {
  c.votes.termEnded();
  c.switchover.cancelHandover(`the runtime was fenced: ${why}`);
  c.local.noFailback = true; // no failback onto a server that just froze or was cut off
  c.peers.silentFrom(now);
  follow(c, now, c.peers.liveActive(now), reason);
}
