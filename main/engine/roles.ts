/**
 * The decisions, one function per role. `prepare` runs first on every input (crash loops that
 * ran out, the versions' verdict), then `decide`: quorum first (a lost majority fences, a claim
 * goes on), then the domain file (conform), then the rules of the role this server is in.
 */
import type { Core } from './core';
import type { Peer } from './peers';
import {
  canPromote, claimantAhead, declEligible, follow, loseQuorum, mayServe, persist, progressClaim, promote, silenceBase,
  startHandover, unverifiedSilence,
} from './transitions';
import { ACTIVE_ROLES, type PromotionCause } from './types';

/** OPC UA ServiceLevel: 200 and above is healthy; 1 is "no data". */
export const HEALTHY = 200;
const NO_DATA = 1;

/** What each input looks at once before anything is decided: crash loops that ran out, and the versions' verdict. */
export function prepare(c: Core, now: number): void {
  expireLoops(c, now);
  checkVersions(c, now);
}

/** The crash-loop count (and a ban) ends failureResetMs after the last crash loop. */
export function expireLoops(c: Core, now: number): void {
  const ended = c.loops.expire(now);
  if (!ended) return;
  // Like a server freed of an incompatibility: a Standby that was eligible all along fails over first.
  if (ended.unbanned) c.local.freedAt = now;
  c.out.changed();
  persist(c);
}

/** The versions' verdict against the Active's (compatibility.ts); true when it changed. */
export function checkVersions(c: Core, now: number): boolean {
  const verdict = c.compat.check(now, c.local.info, c.local.holdsTerm);
  if (!verdict) return false;
  // The Standby that was compatible all along goes first: this server's failover counts from now.
  if (verdict.activeGone) c.local.freedAt = now;
  c.out.changed();
  c.out.push(verdict);
  return true;
}

export function decide(c: Core, now: number): void {
  const { local, votes } = c;
  if (c.servers.quorum) {
    votes.update(now, local.term, local.maxEpoch);
    if (local.holdsTerm && votes.fencing === null && votes.leaseEnd(local.term) <= now) return loseQuorum(c, now);
    if (progressClaim(c, now)) return;
  } else {
    votes.off();
  }
  if (conform(c, now)) return;
  switch (local.role) {
    case 'maintenance':
      return;
    case 'starting':
      return starting(c, now);
    case 'active':
      return active(c, now);
    case 'deactivating':
      return deactivating(c, now);
    default:
      return follower(c, now);
  }
}

/**
 * Keeps the role in line with the domain file after a reconfiguration: an Active that may no
 * longer be Active hands over (or steps down); maintenance set or cleared in the file is
 * entered or left. True when it changed something this step.
 */
function conform(c: Core, now: number): boolean {
  const { local, servers } = c;
  const self = c.cfg.self;
  const fileMaintenance = servers.decl(self).maintenance;
  if (local.role === 'active' && !mayServe(c)) {
    const standby = c.peers.liveStandby(now);
    const why = servers.removed ? 'removed from the domain file' : fileMaintenance ? 'maintenance set in the domain file' : `declared "${servers.decl(self).kind}" in the domain file`;
    local.noFailback = true;
    startHandover(c, now, standby?.name ?? null, 'follower', null, `${why}: ${standby ? `handing over to ${standby.name}` : 'stepping down (no Standby to hand over to)'}`);
    return true;
  }
  if (fileMaintenance && local.role !== 'maintenance' && local.role !== 'deactivating') {
    c.switchover.endActivation({ ok: false, message: 'activation cancelled: maintenance was set in the domain file' });
    local.setRole(now, 'maintenance', 'maintenance is set for this server in the domain file');
    return true;
  }
  if (!fileMaintenance && local.role === 'maintenance' && !local.maintenance) {
    local.listeningSince = now;
    local.setRole(now, 'starting', 'maintenance cleared in the domain file: listening for peers');
    return true;
  }
  return false;
}

function starting(c: Core, now: number): void {
  const { local } = c;
  const t = c.cfg.timings;
  const activeNow = c.peers.liveActive(now);
  if (activeNow) return follow(c, now, activeNow);
  // Listening counts only while this process ran: a freeze inside the window restarts it.
  if (now - Math.max(local.roleSince, c.awareness.resumedAt) < t.discoveryMs) return;
  const unverified = unverifiedSilence(c, now);
  const main = c.servers.decl(c.cfg.self).kind === 'main';
  if (main && canPromote(c, now) && !claimantAhead(c, now) && !unverified) {
    return promote(c, now, 'startup', `no Active found in the domain within ${t.discoveryMs} ms`);
  }
  follow(c, now, null);
  if (unverified && main) local.reason = unverified;
}

function active(c: Core, now: number): void {
  const { local, servers, peers } = c;
  const self = c.cfg.self;
  for (const p of peers.live(now)) {
    if (p.hb.role === 'active' && servers.beats(p.name, p.hb.epoch, self, local.epoch)) {
      c.switchover.handOver(null, 'follower', null);
      local.setRole(now, 'deactivating', `${p.name} is also Active with a higher epoch (${p.hb.epoch} > ${local.epoch}): stepping down`);
      local.wantRuntime(mayServe(c) ? 'standby' : 'stopped');
      return;
    }
  }
  const wanting = peers.live(now)
    .filter((p) => p.hb.role === 'activating' && p.hb.wantId !== undefined && p.hb.wantFrom === self)
    .sort((a, b) => servers.prec(a.name) - servers.prec(b.name));
  if (local.role === 'active' && wanting.length === 0) rating(c, now);
  for (const w of wanting) {
    if (local.role !== 'active') {
      c.switchover.refuse(now, w, `${self} is already handing over to ${c.switchover.stopping?.to ?? 'another server'}`);
    } else if (!declEligible(c, w.name)) {
      c.switchover.refuse(now, w, `${w.name} is not a main or backup server in ${self}'s domain file`);
    } else if (!w.hb.eligible) {
      c.switchover.refuse(now, w, `${w.name} cannot take over (incompatible, or its network card is down)`);
    } else {
      local.noFailback = true;
      startHandover(c, now, w.name, 'follower', null, `${w.name} asked to take over: handing over`);
    }
  }
}

/**
 * Rated failover (zenon's rated redundancy): hand over when this Active's health stays
 * `marginPoints` below a live Standby's for `holdMs`. A dip shorter than that resets the
 * clock, so a flapping probe never moves the role.
 */
function rating(c: Core, now: number): void {
  const { local } = c;
  const rated = c.cfg.rated;
  const standby = c.peers.liveStandby(now);
  const theirs = standby?.hb.health;
  // Score 1 is "no data" (the probes have not answered yet, e.g. just started): unknown, not bad.
  if (!rated || !standby || theirs === undefined || local.health === NO_DATA || theirs - local.health < rated.marginPoints) {
    local.worseSince = null;
    return;
  }
  local.worseSince ??= now;
  if (now - local.worseSince < rated.holdMs) return;
  local.worseSince = null;
  local.noFailback = true; // no failback onto a server that just lost its health
  startHandover(c, now, standby.name, 'follower', null,
    `rated failover: health ${local.health} here${local.healthWhy ? ` (${local.healthWhy})` : ''}, ${theirs} on ${standby.name}, for ${rated.holdMs} ms: handing over to ${standby.name}`);
}

function deactivating(c: Core, now: number): void {
  const { local } = c;
  // Fenced for a lost majority: the term ends only when the guardian says the runtime is dead.
  if (!local.runtimeReached || c.votes.fencing !== null) return;
  const d = c.switchover.stopped(now, local.epoch);
  c.peers.silentFrom(now);
  if (!d.to && d.request) c.out.done(d.request, true, `${c.cfg.self} stopped its runtime`);
  if (d.then === 'maintenance') {
    local.maintenance = true;
    persist(c);
    local.setRole(now, 'maintenance', d.to ? `handed over to ${d.to}; in Maintenance` : 'in Maintenance (forced; no Standby)');
    return;
  }
  follow(c, now, c.peers.liveActive(now), d.to ? `handed over to ${d.to}; ` : 'stepped down; ');
}

/** Standby, Inactive or activating: take a grant or a release, go on with an activation, fail over on silence, fail back. */
function follower(c: Core, now: number): void {
  const { local, switchover } = c;
  const self = c.cfg.self;
  const t = c.cfg.timings;
  const activeNow = c.peers.liveActive(now);
  if (takeGrantOrRelease(c, now, activeNow)) return;
  const a = switchover.asking;
  if (local.role === 'activating' && a) {
    if (c.compat.incompatible) return failActivation(c, now, activeNow, `incompatible: ${c.compat.incompatible}`);
    if (a.from === null) {
      if (!activeNow) {
        // Not on waking from a freeze: an Active may have appeared meanwhile, its heartbeats not read yet.
        if (now - a.since >= t.handoverTimeoutMs && c.votes.claim) {
          return failActivation(c, now, null, `no majority of the voters supported ${self} within ${t.handoverTimeoutMs} ms`);
        }
        if (now - a.since >= 2 * t.heartbeatIntervalMs && canPromote(c, now) && !claimantAhead(c, now) && !c.awareness.justResumed(now)) {
          promote(c, now, 'manual', 'activated by command; no Active was reachable');
        }
        return;
      }
      switchover.askAlso(activeNow.name); // an Active showed up after all: ask it to hand over
    }
    const refusal = c.peers.live(now).find((p) => p.hb.refuseTo === self && p.hb.refuseId === a.wantId);
    if (refusal) return failActivation(c, now, activeNow, `${refusal.name} refused: ${refusal.hb.refuseReason ?? 'no reason given'}`);
    if (activeNow && activeNow.name !== a.from && activeNow.hb.role === 'active') return failActivation(c, now, activeNow, `${activeNow.name} became Active instead`);
    if (now - a.since >= t.handoverTimeoutMs && (activeNow || !c.awareness.justResumed(now))) {
      // Unheard as well: the request ends here, else the Active would hand over whenever it next heard it (a healed cut, minutes later).
      return failActivation(c, now, activeNow, `${a.from} did not hand over within ${t.handoverTimeoutMs} ms${activeNow ? '' : ` (${a.from} is not heard)`}`);
    }
  } else {
    follow(c, now, activeNow);
  }
  if ((local.role === 'standby' || local.role === 'activating') && !activeNow && canPromote(c, now) && !switchover.grantedTo && !claimantAhead(c, now)) {
    const silent = now - silenceBase(c);
    const timeout = c.awareness.timeout();
    const unverified = silent >= timeout ? unverifiedSilence(c, now) : null;
    if (unverified) {
      local.reason = unverified;
    } else if (silent >= timeout) {
      const last = c.peers.lastActiveAt === -Infinity ? 'no Active heard since start' : `no heartbeat from the Active for ${Math.round(now - c.peers.lastActiveAt)} ms`;
      return promote(c, now, 'failover', `failover: ${last}`);
    }
  }
  // Failback: the main returns to Active only when the domain asks for it.
  if (
    c.cfg.failback === 'auto' && local.role === 'standby' && activeNow && activeNow.hb.role === 'active' &&
    c.servers.decl(self).kind === 'main' && !local.noFailback && canPromote(c, now) &&
    local.standbySince !== null && now - local.standbySince >= t.failbackDelayMs
  ) {
    switchover.ask(now, activeNow.name, 'failback', null);
    local.setRole(now, 'activating', `failback: main has been a healthy Standby for ${t.failbackDelayMs} ms; asking ${activeNow.name} to hand over`);
  }
}

/**
 * A former Active that stopped its runtime for this server (its grant), or the Active's
 * guardian that killed its runtime and released its term: take over without waiting for the
 * failure timeout. True when this step promoted (or claimed).
 */
function takeGrantOrRelease(c: Core, now: number, activeNow: Peer | null): boolean {
  const { local } = c;
  // A grant older than the newest epoch we know of is stale (reordered, or overtaken by a later promotion).
  if (!activeNow && canPromote(c, now) && !c.awareness.justResumed(now)) {
    const granter = c.peers.live(now).find((p) =>
      p.hb.grantTo === c.cfg.self && !ACTIVE_ROLES.has(p.hb.role) && (p.hb.grantEpoch ?? -1) >= local.maxEpoch);
    if (granter) {
      const cause: PromotionCause = c.switchover.asking?.cause ?? 'switchover';
      promote(c, now, cause, `${granter.name} stopped its runtime and handed over`, granter.hb.grantEpoch ?? 0);
      return true;
    }
  }
  const released = c.peers.released;
  if (released && released.epoch < local.maxEpoch) c.peers.forgetRelease();
  else if (released && !activeNow && (local.role === 'standby' || local.role === 'activating') && canPromote(c, now) && !c.switchover.grantedTo && !claimantAhead(c, now)) {
    promote(c, now, 'failover', `failover: ${released.from}'s guardian killed its runtime and released Active term ${released.epoch} (its node died or froze)`);
    // With quorum the release is kept until the claim could start (not while restarted a moment ago).
    if (!c.servers.quorum || c.votes.claim) c.peers.forgetRelease();
    return true;
  }
  return false;
}

function failActivation(c: Core, now: number, activeNow: Peer | null, why: string): void {
  const a = c.switchover.endActivation({ ok: false, message: why });
  if (a?.cause === 'failback') c.local.noFailback = true; // do not ask again and again
  follow(c, now, activeNow, `${why}; `);
}

