/**
 * The role engine: a pure, deterministic state machine (etcd raft is the model).
 *
 * Inputs: `tick(now)`, `receive(message, now)`, `command(cmd, now)`, `observe(fact, now)`,
 * `setInfo`, `reconfigure`. Each returns one Output with everything the caller needs:
 * heartbeats to multicast, effects to perform (persist state, move the runtime, report a role
 * change or a finished command), the guardian's lease and when to tick next. Time comes in as
 * a number from a monotonic clock; the engine never reads a clock, never does IO and never
 * starts a timer.
 *
 * This file only routes: each input updates the part it concerns, then `prepare` and `decide`
 * (roles.ts) run once, then the output is assembled. The parts own their state: servers
 * (the domain file), peers (the live table), awareness, votes (quorum), switchover, crash
 * loops, faults, compatibility, and local (this server's own role and epochs).
 */
import { leaseMs, type Timings } from './timings';
import { Awareness } from './awareness';
import { apply, commandName, commandVerdicts } from './commands';
import { Compatibility } from './compatibility';
import type { Core } from './core';
import { CrashLoops } from './crash-loops';
import { Faults } from './faults';
import { buildHeartbeat, leaseOf, sendEvery, wakeAt } from './heartbeat';
import { Local } from './local';
import { Out } from './out';
import { Peers } from './peers';
import { checkVersions, decide, expireLoops, prepare } from './roles';
import { Servers } from './servers';
import { Switchover } from './switchover';
import { canPromote, endTerm, follow, persist, startHandover, votersHeard } from './transitions';
import type { Command, CommandName, CommandResult, EngineConfig, EngineStatus, Heartbeat, NodeInfo, Observation, Output, PersistedState } from './types';
import { Votes } from './votes';

export class Engine {
  private readonly c: Core;
  private lastSent = -Infinity;
  /** When the engine asked to be ticked next. */
  private wake = Infinity; // the first tick is never late: start-up work is not local trouble

  constructor(cfg: EngineConfig, persisted: PersistedState, now: number) {
    const slot = cfg.servers.findIndex((s) => s.name === cfg.self);
    if (slot < 0) throw new Error(`server "${cfg.self}" is not declared in the domain's server list`);
    const out = new Out();
    const timings = (): Timings => c.cfg.timings;
    const servers = () => c.servers;
    const awareness = new Awareness(timings, () => out.changed(), now);
    const timeout = () => awareness.timeout();
    const peers = new Peers(awareness, servers);
    const c: Core = {
      cfg,
      servers: new Servers(cfg, slot),
      boot: cfg.boot ?? 0,
      local: new Local(out, persisted, now),
      awareness,
      peers,
      votes: new Votes({ self: cfg.self, boot: cfg.boot ?? 0, servers, peers, timings, timeout, persist: () => persist(c), changed: () => out.changed() }, persisted.promiseMs ?? 0, now),
      switchover: new Switchover(out, () => c.cfg.timings.handoverTimeoutMs),
      loops: new CrashLoops(() => (this.c?.cfg ?? cfg).failureResetMs, persisted.failures, now),
      faults: new Faults(cfg.self, timeout, (e) => out.push(e)),
      compat: new Compatibility(peers, timeout),
      out,
    };
    this.c = c;
    const decl = c.servers.decl(cfg.self);
    if (decl.maintenance) {
      c.local.role = 'maintenance';
      c.local.reason = 'maintenance is set for this server in the domain file';
    } else if (c.local.maintenance) {
      c.local.role = 'maintenance';
      c.local.reason = 'maintenance was switched on (duplex maintenance off to leave it)';
    }
  }

  /**
   * Right after construction: the guardian kept this server's runtime running in active mode
   * while the node restarted (it came back within its lease), so the node takes its Active
   * term back instead of starting afresh and the plant does not stop. Only the last term this
   * server knows of (its persisted epoch), and only when it may be Active.
   */
  resumeTerm(epoch: number, now: number, leaseLeftMs = Infinity): boolean {
    const { local, servers } = this.c;
    if (local.role !== 'starting' || epoch === 0 || epoch !== local.maxEpoch || !canPromote(this.c, now)) return false;
    // With quorum the term goes on only under the lease the guardian still holds, until the voters' acknowledgements arrive.
    if (servers.quorum && !(leaseLeftMs > 0)) return false;
    this.c.votes.carry(epoch, now + leaseLeftMs, now);
    local.epoch = epoch;
    local.role = 'active';
    local.roleSince = now;
    local.reason = `took Active term ${epoch} back after a restart of the node: its guardian kept the runtime running`;
    local.runtimeWanted = 'active';
    local.runtimeReached = true;
    this.c.out.changed();
    return true;
  }

  // ---------------------------------------------------------------- inputs

  /**
   * A new revision of the domain file, applied without a restart: servers added or removed,
   * main/backup changed, maintenance flags, failback, timings. What it means for this
   * server's role is worked out by the same rules as everything else.
   */
  reconfigure(cfg: EngineConfig, now: number): Output {
    const c = this.begin();
    const quorumBefore = c.servers.quorum;
    c.cfg = cfg;
    c.servers = new Servers(cfg, c.servers.ownSlot);
    c.peers.prune();
    if (!quorumBefore && c.servers.quorum && c.local.holdsTerm) {
      // Quorum just came into force (a witness added, quorum: off removed): the Active keeps its
      // runtime for one lease while the voters' first acknowledgements come in.
      c.votes.carry(c.local.epoch, now + leaseMs(cfg.timings), now);
    }
    c.out.changed();
    return this.step(now);
  }

  /** What this node says about itself in its heartbeats; a change is announced at once. */
  setInfo(info: NodeInfo, now: number): Output {
    const c = this.begin();
    if (JSON.stringify(info) !== JSON.stringify(c.local.info)) {
      c.local.info = info;
      c.out.changed();
      if (checkVersions(c, now)) {
        expireLoops(c, now);
        decide(c, now);
      }
    }
    return this.finish(now);
  }

  tick(now: number): Output {
    const c = this.begin();
    c.awareness.tick(now, this.wake);
    this.expire(now);
    c.faults.expire(now);
    return this.step(now);
  }

  receive(msg: Heartbeat, now: number): Output {
    const c = this.begin();
    if (msg.from === c.cfg.self || !c.servers.has(msg.from)) return this.finish(now, false);
    c.awareness.countLost(msg, now);
    if (c.servers.quorum) c.votes.note(msg, now);
    c.peers.heard(msg, now);
    if (msg.maxEpoch > c.local.maxEpoch) {
      c.local.maxEpoch = msg.maxEpoch;
      persist(c);
    }
    c.compat.heard(msg, now);
    this.expire(now);
    return this.step(now); // judges compatibility against what was just heard
  }

  observe(fact: Observation, now: number): Output {
    const c = this.begin();
    const { local } = c;
    switch (fact.kind) {
      case 'runtime':
        if (fact.mode === local.runtimeWanted) local.runtimeReached = true;
        break;
      case 'link':
        // The link is looked at first thing after a freeze: the freeze must not go unnoticed
        // because this observation came before the late tick.
        c.awareness.noticeFreeze(now, this.wake);
        if (local.linkUp !== fact.up) {
          local.linkUp = fact.up;
          c.out.changed();
          if (!fact.up) c.awareness.raise(now);
        }
        break;
      case 'send-failed':
        c.awareness.raise(now);
        break;
      case 'store-failed':
        this.storeFailed(now, fact.error);
        break;
      case 'runtime-failed':
        this.runtimeFailed(now, fact.reason);
        break;
      case 'fenced':
        this.fenced(now, fact.reason);
        break;
      case 'name-conflict':
        // A node that has not left its first role yet (starting, or in Maintenance since its
        // start for less than discoveryMs) has claimed nothing: it yields.
        c.faults.nameConflicted(now, fact.address, !local.roleChanged && (local.role === 'starting' || now - local.startedAt < c.cfg.timings.discoveryMs));
        break;
      case 'unverifiable':
        c.faults.unverified(now, fact.address, fact.suspects);
        break;
      case 'health':
        if (fact.score !== local.health || fact.isolated !== local.isolated) c.out.changed();
        local.health = Math.max(0, Math.min(255, Math.round(fact.score)));
        local.healthWhy = fact.failing;
        local.isolated = fact.isolated;
        break;
    }
    return this.step(now);
  }

  /** `id` names the request in the `done` effect that finishes it (0 when nobody waits for it). */
  command(cmd: Command, now: number, id = 0): CommandResult {
    const c = this.begin();
    prepare(c, now);
    const verdict = apply(c, cmd, now, { name: commandName(cmd), id });
    decide(c, now);
    return { ...this.finish(now), accepted: verdict.accepted, message: verdict.message };
  }

  /** The driver kept `state` on disk (it came from a persist effect of this engine). */
  stored(state: PersistedState): void {
    const { local } = this.c;
    local.durable = { ...state };
    if (local.storeFault === null) return;
    local.storeFault = null;
    this.c.out.changed(); // eligible again: said at once
  }

  // ---------------------------------------------------------------- queries

  status(now: number): EngineStatus {
    const c = this.c;
    const { local } = c;
    const self = c.cfg.self;
    const faults = c.faults.list(now);
    if (local.storeFault !== null) {
      faults.unshift(`cannot write state on ${self}: ${local.storeFault}; ${self} keeps voting but takes neither the Active role nor Maintenance until its state can be written again (free space on that disk, or fix its permissions)`);
    }
    return {
      server: self,
      role: local.role,
      reason: local.reason,
      roleForMs: Math.round(now - local.roleSince),
      epoch: local.epoch,
      maxEpoch: local.maxEpoch,
      awareness: c.awareness.value,
      effectiveTimeoutMs: c.awareness.timeout(),
      linkUp: local.linkUp,
      incompatible: c.compat.incompatible,
      failures: c.loops.status(now),
      health: { score: local.health, failing: local.healthWhy, isolated: local.isolated },
      runtime: { wanted: local.runtimeWanted, reached: local.runtimeReached },
      pending: c.switchover.pending(),
      faults,
      quorum: c.votes.status(now, c.cfg.quorum, votersHeard(c, now), local.holdsTerm ? c.votes.leaseEnd(local.term) : null),
      peers: c.peers.status(now, c.cfg.servers.filter((s) => s.name !== self).map((s) => s.name)),
    };
  }

  /** Why each command would be refused now, or that it is already done; null where it can be carried out (the status window's buttons). */
  commandVerdicts(now: number): Record<CommandName, string | null> {
    return commandVerdicts(this.c, now);
  }

  get config(): Readonly<EngineConfig> {
    return this.c.cfg;
  }

  get currentRole(): EngineStatus['role'] {
    return this.c.local.role;
  }

  get currentEpoch(): number {
    return this.c.local.epoch;
  }

  /** Why this server's versions do not match the Active's; null when they do. */
  get currentIncompatibility(): string | null {
    return this.c.compat.incompatible;
  }

  /** Banned from the Active role after handing over because of a runtime crash loop. */
  get runtimeBanned(): boolean {
    return this.c.loops.banned;
  }

  // ---------------------------------------------------------------- observations that decide

  /**
   * A write failed: the output that needed it was not sent, and its authority-taking effects
   * not carried out (driver.ts). What is not on disk is given up now: an Active term begun in
   * that output ends before it was ever announced, Maintenance is as kept, no claim goes on.
   */
  private storeFailed(now: number, error: string): void {
    const c = this.c;
    const { local } = c;
    local.storeFault = error;
    c.out.changed();
    const why = `cannot write its state (${error})`;
    c.votes.endClaim(true);
    const before = local.lastPromotedFrom;
    if (local.holdsTerm && local.epoch > (local.durable.epoch ?? 0) && before) {
      // Promoted in the output that was not sent: none of it was seen (the driver carried out no
      // part of it that takes authority, and logged no role change to Active), so it is undone unseen.
      local.undo(before);
      c.switchover.dropGrant();
      c.switchover.endActivation(null); // its request was answered: not done
      local.reason = `${before.reason}; ${why}: not taking the Active role`;
      if (local.role === 'activating') follow(c, now, c.peers.liveActive(now), `${why}: not taking the Active role; `);
      return;
    }
    // A term on disk keeps its runtime: the active mode the driver did not ask for is asked again.
    if (local.holdsTerm && local.runtimeWanted === 'active' && !local.runtimeReached) c.out.push({ kind: 'runtime', mode: 'active' });
    if (local.maintenance === local.durable.maintenance) return;
    local.maintenance = local.durable.maintenance;
    if (local.maintenance && local.role !== 'maintenance') {
      local.setRole(now, 'maintenance', `${why}: Maintenance stays on, as kept on disk`);
    } else if (!local.maintenance && local.role === 'maintenance' && !c.servers.decl(c.cfg.self).maintenance) {
      local.listeningSince = now;
      local.setRole(now, 'starting', `${why}: Maintenance not switched on (it would not survive a restart); listening for peers`);
    }
  }

  /**
   * A crash loop of the local runtime (Pacemaker's migration-threshold of 1): the Active hands
   * over to a ready Standby and is then banned from the Active role for failureResetMs after
   * its last crash loop; with no Standby (a banned server is none) it keeps restarting here.
   */
  private runtimeFailed(now: number, why: string): void {
    const c = this.c;
    if (c.local.role !== 'active') return;
    const count = c.loops.record(now, why);
    // Just after a freeze what is known of the peers is stale: keep the runtime until heard again.
    const standby = c.awareness.justResumed(now) ? null : c.peers.liveStandby(now);
    if (!standby) {
      persist(c);
      c.local.reason = `runtime crash loop (${why}); no Standby to hand over to, so it keeps restarting here (crash loop ${count} here)`;
      return;
    }
    c.loops.ban();
    persist(c);
    c.out.changed(); // peers hear at once that this server is not eligible
    c.local.noFailback = true; // no failback onto a server whose runtime just failed
    startHandover(c, now, standby.name, 'follower', null, c.loops.handoverText(c.cfg.self, why, standby.name));
  }

  /**
   * The guardian killed the runtime: this node stopped renewing its lease in time (it froze),
   * so its Active term is over whatever it believed meanwhile. It becomes a follower; the
   * failure timeout passes before it may claim again (the Standby was told at once).
   */
  private fenced(now: number, why: string): void {
    const c = this.c;
    if (!c.local.holdsTerm) return;
    const lost = c.votes.fencing;
    const term = c.local.epoch;
    endTerm(c, now, why, lost ? `Active term ${term} ended: ${lost}; the guardian killed the runtime; ` : `Active term ${term} ended: the guardian killed the runtime (${why}); `);
  }

  // ---------------------------------------------------------------- the output

  private begin(): Core {
    this.c.out.begin();
    this.c.local.begin();
    return this.c;
  }

  /** Grants and refusals that ran out; a grant unanswered makes the silence count from now. */
  private expire(now: number): void {
    if (this.c.switchover.expire(now, this.c.peers)) this.c.peers.silentFrom(now);
  }

  /** The decisions, once, then the output. */
  private step(now: number): Output {
    prepare(this.c, now);
    decide(this.c, now);
    return this.finish(now);
  }

  private finish(now: number, send = true): Output {
    const c = this.c;
    const { local, out } = c;
    // The majority's support, worked out once for this output.
    const lease = c.servers.quorum && (local.holdsTerm || c.votes.claim) ? c.votes.leaseEnd(local.term) : -Infinity;
    const beats: Heartbeat[] = [];
    if (send && (out.dirty || now - this.lastSent >= sendEvery(c, now, lease))) {
      beats.push(buildHeartbeat(c, now));
      this.lastSent = now;
      out.dirty = false;
    }
    if (send) this.wake = wakeAt(c, now, this.lastSent, lease);
    const result: Output = { send: beats, effects: out.effects, lease: leaseOf(c, now, lease), wakeAt: this.wake };
    if (out.effects.length) result.status = this.status(now);
    return result;
  }
}
