/**
 * The role engine: a pure, deterministic state machine (etcd raft is the model).
 *
 * Inputs: `tick(now)`, `receive(message, now)`, `command(cmd, now)`, `observe(fact, now)`.
 * Each returns an Output: heartbeats to multicast and effects for the node to perform
 * (persist state, move the runtime, report a role change or a finished command).
 * Time comes in as a number from a monotonic clock; the engine never reads a clock,
 * never does IO and never starts a timer.
 */
import { AWARENESS_DECAY_MS, DEFAULT_FAILURE_RESET_MS, leaseMs, MAX_AWARENESS } from '../defaults';
import type { DomainConfig } from '../domain/schema';
import { majorityEnd, majorityOf, noQuorumWarning, quorumInForce, supportEnd, votersOf } from './quorum';
import type {
  Command, CommandName, CommandResult, EngineConfig, EngineStatus, Effect, Heartbeat, NodeInfo, Observation,
  Output, PeerStatus, PersistedState, PromotionCause, QuorumStatus, Request, Role, RuntimeFailures, RuntimeMode, ServerDecl, Support,
} from './types';

interface PeerView {
  name: string;
  hb: Heartbeat;
  lastHeard: number;
}

interface Activation {
  since: number;
  wantId: number;
  /** The Active we asked to hand over; null: none was reachable, we announce and then take over. */
  from: string | null;
  cause: 'switchover' | 'failback';
  /** The activate command that asked for it; null for a failback. */
  request: Request | null;
}

interface Deactivation {
  /** Hand over to this server once the runtime has left active mode; null: just step down. */
  to: string | null;
  then: 'follower' | 'maintenance';
  request: Request | null;
}

interface Grant {
  to: string;
  epoch: number;
  until: number;
  request: Request | null;
}

/** Whom this server supports (quorum), and what it promised. */
interface Backing extends Support {
  /** When it heard heartbeat `n`. */
  heardAt: number;
  /** It supports no one else before this (the promise its acknowledgements carry). */
  lockUntil: number;
  /** When the support began: a later heartbeat of `to` that no longer holds `epoch` releases it. */
  since: number;
}

/** This server asks the voters for Active term `epoch` (quorum); it promotes once a majority supports it. */
interface Claim {
  epoch: number;
  cause: PromotionCause;
  reason: string;
  since: number;
}

interface Refusal {
  to: string;
  id: number;
  reason: string;
  until: number;
}

/** OPC UA ServiceLevel: 200 and above is healthy; 1 is "no data". */
const HEALTHY = 200;
const NO_DATA = 1;

const ACTIVE_ROLES: ReadonlySet<Role> = new Set<Role>(['active', 'deactivating']);

/** What a promotion changes of the engine's own state, kept until its write is known to have worked. */
interface Promoted {
  role: Role;
  reason: string;
  roleSince: number;
  standbySince: number | null;
  epoch: number;
  runtimeWanted: RuntimeMode;
  runtimeReached: boolean;
  holding: boolean;
}

/** Smallest epoch above `base` that belongs to server slot `slot` of `n`: two servers never pick the same epoch. */
export function nextEpoch(base: number, slot: number, n: number): number {
  const e = base + 1;
  return e + ((((slot - e) % n) + n) % n);
}

/** What status, log and tray say about an address whose datagrams fail authentication. */
export function unverifiableText(address: string): string {
  return `cannot verify ${address}: is the secret file the same on every server?`;
}

/** What status, log and tray say while another process runs with this server's name. */
export function nameConflictText(self: string, address: string): string {
  return `another Duplex node also runs as server ${self} at ${address} (a cloned machine or a copied tray.json?); give every server its own name`;
}

/** `major.minor` of a version (1.2.3 → 1.2); the whole text when it has no such form. */
function minorOf(version: string): string {
  const m = /^v?(\d+)\.(\d+)(?!\d)/.exec(version.trim());
  return m ? `${Number(m[1])}.${Number(m[2])}` : version;
}

/**
 * Duplex versions that may run side by side: the same major.minor. A patch release changes
 * neither the engine's rules nor the heartbeat (the wire version, PROTOCOL_VERSION, is checked
 * on every datagram: a peer heard at all speaks this server's wire version).
 */
export function duplexCompatible(a: string, b: string): boolean {
  return minorOf(a) === minorOf(b);
}

/** The engine's configuration from a domain file, for server `self` in boot `boot`. */
export function engineConfigOf(cfg: DomainConfig, self: string, boot: number): EngineConfig {
  return {
    self,
    servers: cfg.servers.map((s) => ({ name: s.name, kind: s.role, maintenance: s.maintenance })),
    failback: cfg.failback,
    quorum: cfg.quorum,
    boot,
    timings: cfg.timings,
    rated: cfg.health,
    confirmResume: cfg.runtime?.confirmResume ?? false,
    failureResetMs: cfg.runtime?.failureResetMs,
  };
}

/** The name a command's request goes by in logs and `done` effects. */
export function commandName(cmd: Command): CommandName {
  return cmd.kind === 'maintenance' ? (cmd.on ? 'maintenance-on' : 'maintenance-off') : cmd.kind;
}

export class Engine {
  private cfg: EngineConfig;
  private readonly decls = new Map<string, ServerDecl>();
  private readonly precedence = new Map<string, number>();
  /** The voters of the configuration in force (worked out once per configuration: quorum is asked on every input). */
  private voterList: string[] = [];
  private slot: number;
  /** This server is no longer in the domain file (live reconfiguration): it takes part in nothing. */
  private removed = false;
  /** Why this server's versions do not match the Active's; null when they do. */
  private incompatible: string | null = null;
  private info: NodeInfo | undefined;
  /** What the last Active heard said about its versions (E3's rule: others must match it). */
  private activeInfo: { server: string; info: NodeInfo | undefined; at: number } | null = null;
  /** A hold of the active runtime was asked for in this term (confirmResume). */
  private holding = false;
  private health = 255;
  private healthWhy: string | null = null;
  /** Why this server's own network or witness checks fail; it does not promote itself meanwhile. */
  private isolated: string | null = null;
  /** Since when the Active's health has been below the Standby's by the margin (rated failover). */
  private worseSince: number | null = null;
  /** Runtime crash loops counted here, and whether they banned this server from the Active role. */
  private failures: RuntimeFailures | null = null;

  /** Another process with this server's name (a clone): where, and when last heard. */
  private nameConflict: { address: string; at: number } | null = null;
  /** Addresses whose datagrams fail authentication: the servers that may be sending them, and when last. */
  private readonly unverifiable = new Map<string, { suspects: string[]; at: number }>();
  /** The server last heard in an Active role: a failover acts on its silence. null: none heard since start. */
  private lastActiveName: string | null = null;
  /** This process has changed its role at least once (it has left its first role). */
  private roleChanged = false;
  private readonly startedAt: number;

  private role: Role = 'starting';
  private reason = 'listening for peers';
  private roleSince: number;
  private listeningSince: number;
  private epoch = 0;
  private maxEpoch: number;
  private maintenance: boolean;
  private readonly peers = new Map<string, PeerView>();
  private linkUp = true;
  private awareness = 0;
  private lastAwarenessChange: number;
  /** When the engine asked to be ticked next (the node sets one timer for it). */
  private wakeAt: number;
  private resumedAt = -Infinity;
  /** When an incompatibility ended because no Active was heard any more: failover counts its silence from then. */
  private freedAt = -Infinity;
  private lastActiveHeardAt = -Infinity;
  /** The Active term its guardian released (its runtime was killed): the Standby takes over at once. */
  private releasedTerm: { from: string; epoch: number } | null = null;
  private lastSent = -Infinity;
  private dirty = true;
  private runtimeWanted: RuntimeMode = 'stopped';
  private runtimeReached = true;
  private activation: Activation | null = null;
  private deactivation: Deactivation | null = null;
  private grant: Grant | null = null;
  private refusal: Refusal | null = null;
  private nextWantId = 1;
  private standbySince: number | null = null;
  /** Set when this server gave up the Active role by a person's or peer's request: no failback after that. */
  private manualHold = false;
  private out: Output = { send: [], effects: [] };

  // Quorum (3 or more voters): supports given and received, and the claim of a candidate.
  private readonly boot: number;
  /** Number of the last heartbeat built, and when each recent one was built (the lease counts from there). */
  private sentN = 0;
  private readonly sentAt = new Map<number, number>();
  private support: Backing | null = null;
  /** The supports naming this server and boot, by voter, with the awareness each was sent with. */
  private readonly acks = new Map<string, { epoch: number; n: number; ms: number }>();
  private claiming: Claim | null = null;
  /** The first heartbeat of this server's current claim and term: supports of earlier ones count for nothing. */
  private termFirstN = 1;
  /** The majority's support ran out: the runtime is being killed, the term held until the guardian says it is dead. */
  private fencing: string | null = null;
  /** A lease the guardian still held for a term taken back after a restart (until acks arrive). */
  private carriedLease = -Infinity;
  /** After a restart this server supports no one until its forgotten promises have run out. */
  private readonly blackoutUntil: number;
  /** The promise length last persisted, and when (see PersistedState.promiseMs). */
  private promised: number;
  private promisedAt: number;
  /** The last heartbeat number heard from each peer (lost heartbeats raise awareness). */
  private readonly lastN = new Map<string, { boot: number; n: number; at: number }>();
  /**
   * What is on disk (the driver says so after each write: `stored`), and why writing fails
   * now (null: it works). A voter that cannot write keeps voting within what is on disk: its
   * supports promise no longer than the promise kept there (a restart waits that one out), it
   * announces no epoch it has not kept, and it takes neither the Active role nor Maintenance
   * (neither would survive a restart) until a write succeeds again.
   */
  private durable: PersistedState;
  private storeFault: string | null = null;
  /** What a promotion of this output changed, to be put back unseen if its write fails (see storeFailed); and the last output's. */
  private promotedFrom: Promoted | null = null;
  private lastPromotedFrom: Promoted | null = null;

  constructor(cfg: EngineConfig, persisted: PersistedState, now: number) {
    this.cfg = cfg;
    this.slot = cfg.servers.findIndex((s) => s.name === cfg.self);
    if (this.slot < 0) throw new Error(`server "${cfg.self}" is not declared in the domain's server list`);
    this.index(cfg);
    this.durable = { ...persisted };
    this.maxEpoch = persisted.epoch;
    this.epoch = Math.min(persisted.term ?? 0, persisted.epoch);
    this.maintenance = persisted.maintenance;
    this.boot = cfg.boot ?? 0;
    this.promised = persisted.promiseMs ?? 0;
    this.promisedAt = now;
    // The previous process died after its last promise: from now, the longest one it made is over.
    this.blackoutUntil = this.promised > 0 ? now + this.promised : -Infinity;
    // A reset time read back from the state file is at most failureResetMs away (the wall clock may have jumped).
    if (persisted.failures) this.failures = { ...persisted.failures, resetAt: Math.min(persisted.failures.resetAt, now + this.failureResetMs()) };
    this.roleSince = now;
    this.startedAt = now;
    this.listeningSince = now;
    this.lastAwarenessChange = now;
    this.wakeAt = Infinity; // the first tick is never late: start-up work is not local trouble
    const decl = this.decl(cfg.self);
    if (decl.maintenance) {
      this.role = 'maintenance';
      this.reason = 'maintenance is set for this server in the domain file';
    } else if (this.maintenance) {
      this.role = 'maintenance';
      this.reason = 'maintenance was switched on (duplex maintenance off to leave it)';
    }
  }

  /** Server list, precedence and declarations from a configuration. */
  private index(cfg: EngineConfig): void {
    this.precedence.clear();
    this.decls.clear();
    const mains = cfg.servers.filter((s) => s.kind === 'main');
    const backups = cfg.servers.filter((s) => s.kind === 'backup');
    const rest = cfg.servers.filter((s) => s.kind === 'inactive' || s.kind === 'witness');
    [...mains, ...backups, ...rest].forEach((s, i) => this.precedence.set(s.name, i));
    cfg.servers.forEach((s) => this.decls.set(s.name, s));
    this.removed = !this.decls.has(cfg.self);
    this.voterList = votersOf(cfg.servers);
    // A server removed from the domain stays known to itself as one that takes part in nothing.
    if (this.removed) this.decls.set(cfg.self, { name: cfg.self, kind: 'inactive', maintenance: false });
  }

  /**
   * Right after construction: the guardian kept this server's runtime running in active mode
   * while the node restarted (it came back within its lease), so the node takes its Active
   * term back instead of starting afresh and the plant does not stop. Only the last term this
   * server knows of (its persisted epoch), and only when it may be Active.
   */
  resumeTerm(epoch: number, now: number, leaseLeftMs = Infinity): boolean {
    if (this.role !== 'starting' || epoch === 0 || epoch !== this.maxEpoch || !this.canPromote(now)) return false;
    // With quorum the term goes on only under the lease the guardian still holds, until the voters' acknowledgements arrive.
    if (this.quorumOn() && !(leaseLeftMs > 0)) return false;
    this.carriedLease = now + leaseLeftMs;
    this.setSupport({ to: this.cfg.self, epoch, boot: this.boot, n: 0, ms: 0, heardAt: now, lockUntil: Infinity, since: now });
    this.epoch = epoch;
    this.role = 'active';
    this.roleSince = now;
    this.reason = `took Active term ${epoch} back after a restart of the node: its guardian kept the runtime running`;
    this.runtimeWanted = 'active';
    this.runtimeReached = true;
    this.dirty = true;
    return true;
  }

  // ---------------------------------------------------------------- inputs

  /**
   * A new revision of the domain file, applied without a restart: servers added or removed,
   * main/backup changed, maintenance flags, failback, timings. What it means for this
   * server's role is worked out by the same rules as everything else (evaluate).
   */
  reconfigure(cfg: EngineConfig, now: number): Output {
    this.begin();
    const quorumBefore = this.quorumOn();
    this.cfg = cfg;
    this.index(cfg);
    const slot = cfg.servers.findIndex((s) => s.name === cfg.self);
    if (slot >= 0) this.slot = slot;
    for (const name of [...this.peers.keys()]) if (!this.decls.has(name) || name === cfg.self) this.peers.delete(name);
    if (!quorumBefore && this.quorumOn() && ACTIVE_ROLES.has(this.role)) {
      // Quorum just came into force (a witness added, quorum: off removed): the Active keeps its
      // runtime for one lease while the voters' first acknowledgements come in.
      this.termFirstN = this.sentN + 1;
      this.acks.clear();
      this.carriedLease = now + leaseMs(cfg.timings);
      this.setSupport({ to: cfg.self, epoch: this.epoch, boot: this.boot, n: 0, ms: 0, heardAt: now, lockUntil: Infinity, since: now });
    }
    this.dirty = true;
    this.evaluate(now);
    return this.finish(now);
  }

  /** What this node says about itself in its heartbeats; a change is announced at once. */
  setInfo(info: NodeInfo, now: number): Output {
    this.begin();
    if (JSON.stringify(info) !== JSON.stringify(this.info)) {
      this.info = info;
      this.dirty = true;
      if (this.checkCompatible(now)) this.evaluate(now);
    }
    return this.finish(now);
  }

  tick(now: number): Output {
    this.begin();
    const late = now - this.wakeAt;
    if (!this.noticeFreeze(now) && late > this.cfg.timings.lateTickMs) this.raiseAwareness(now);
    if (this.awareness > 0 && now - this.lastAwarenessChange >= AWARENESS_DECAY_MS) {
      this.awareness -= 1;
      this.lastAwarenessChange = now;
    }
    this.expire(now);
    this.expireFaults(now);
    this.evaluate(now);
    return this.finish(now);
  }

  receive(msg: Heartbeat, now: number): Output {
    this.begin();
    if (msg.from === this.cfg.self || !this.decls.has(msg.from)) return this.out;
    const before = this.peers.get(msg.from)?.hb;
    this.countLost(msg, now);
    this.noteSupport(msg, now);
    // A release counts only from the Active we heard in that very term, and not when it is
    // among what piled up while this process was frozen (others may have moved on meanwhile).
    if (msg.released === this.cfg.self && before && ACTIVE_ROLES.has(before.role) && before.epoch === msg.epoch && !this.justResumed(now)) {
      this.releasedTerm = { from: msg.from, epoch: msg.epoch };
    }
    this.peers.set(msg.from, { name: msg.from, hb: msg, lastHeard: now });
    if (ACTIVE_ROLES.has(msg.role)) {
      this.lastActiveHeardAt = now;
      this.lastActiveName = msg.from;
    }
    if (msg.maxEpoch > this.maxEpoch) {
      this.maxEpoch = msg.maxEpoch;
      this.persist();
    }
    if (msg.role === 'active') {
      this.activeInfo = { server: msg.from, info: msg.info, at: now };
    } else if (msg.role === 'deactivating' && this.activeInfo?.server === msg.from) {
      this.activeInfo.at = now; // still the Active, handing over
    }
    this.expire(now);
    this.evaluate(now); // judges compatibility against what was just heard
    return this.finish(now);
  }

  observe(fact: Observation, now: number): Output {
    this.begin();
    switch (fact.kind) {
      case 'runtime':
        if (fact.mode === this.runtimeWanted) this.runtimeReached = true;
        break;
      case 'link':
        // The link is looked at first thing after a freeze: the freeze must not go unnoticed
        // because this observation came before the late tick.
        this.noticeFreeze(now);
        if (this.linkUp !== fact.up) {
          this.linkUp = fact.up;
          this.dirty = true;
          if (!fact.up) this.raiseAwareness(now);
        }
        break;
      case 'send-failed':
        this.raiseAwareness(now);
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
        this.nameConflicted(now, fact.address);
        break;
      case 'unverifiable':
        if (!this.unverifiable.has(fact.address)) this.out.effects.push({ kind: 'fault', fault: unverifiableText(fact.address), on: true });
        this.unverifiable.set(fact.address, { suspects: [...fact.suspects], at: now });
        break;
      case 'health':
        if (fact.score !== this.health || fact.isolated !== this.isolated) this.dirty = true;
        this.health = Math.max(0, Math.min(255, Math.round(fact.score)));
        this.healthWhy = fact.failing;
        this.isolated = fact.isolated;
        break;
    }
    this.evaluate(now);
    return this.finish(now);
  }

  /** `id` names the request in the `done` effect that finishes it (0 when nobody waits for it). */
  command(cmd: Command, now: number, id = 0): CommandResult {
    this.begin();
    this.expireFailures(now);
    this.checkCompatible(now);
    const verdict = this.apply(cmd, now, { name: commandName(cmd), id });
    this.evaluate(now);
    const out = this.finish(now);
    return { ...out, accepted: verdict.accepted, message: verdict.message };
  }

  // ---------------------------------------------------------------- queries

  status(now: number): EngineStatus {
    const timeout = this.effectiveTimeout();
    const peers: PeerStatus[] = this.cfg.servers
      .filter((s) => s.name !== this.cfg.self)
      .map((s) => {
        const p = this.peers.get(s.name);
        if (!p) {
          return { server: s.name, role: 'unknown', lastRole: null, epoch: 0, eligible: false, awareness: 0, lastHeardMs: null, health: null, info: null, ended: null };
        }
        return {
          server: s.name,
          role: this.isLive(p, now) ? p.hb.role : 'unreachable',
          lastRole: p.hb.role,
          epoch: p.hb.epoch,
          eligible: p.hb.eligible,
          awareness: p.hb.awareness,
          lastHeardMs: Math.round(now - p.lastHeard),
          health: p.hb.health ?? null,
          info: p.hb.info ?? null,
          ended: p.hb.ended ?? null,
        };
      });
    return {
      server: this.cfg.self,
      role: this.role,
      reason: this.reason,
      roleForMs: Math.round(now - this.roleSince),
      epoch: this.epoch,
      maxEpoch: this.maxEpoch,
      awareness: this.awareness,
      effectiveTimeoutMs: timeout,
      linkUp: this.linkUp,
      incompatible: this.incompatible,
      failures: this.failures
        ? { count: this.failures.count, last: this.failures.last, resetInMs: Math.max(0, Math.round(this.failures.resetAt - now)), banned: this.failures.banned }
        : { count: 0, last: null, resetInMs: null, banned: false },
      health: { score: this.health, failing: this.healthWhy, isolated: this.isolated },
      runtime: { wanted: this.runtimeWanted, reached: this.runtimeReached },
      pending: this.describePending(),
      faults: this.faults(now),
      quorum: this.quorumStatus(now),
      peers,
    };
  }

  /**
   * When the engine next needs tick(): the earliest moment a heartbeat is due or a deadline
   * (a peer falling silent, the failure timeout, discovery, a handover, failback) passes.
   * Never later than one heartbeat interval from the last output.
   */
  get nextTickAt(): number {
    return this.wakeAt;
  }

  /**
   * What the guardian holds for this node, renewed with every heartbeat sent: the release
   * notice it multicasts if it has to kill this server's runtime (null unless this server may
   * run its runtime in active mode), and whether a Standby is ready to take over at once.
   */
  lease(now: number): { notice: Heartbeat | null; standbyReady: boolean; quorumMs: number | null } {
    if (!ACTIVE_ROLES.has(this.role)) return { notice: null, standbyReady: false, quorumMs: null };
    // Multicast only once the runtime is gone: by the guardian after it killed it (a clean stop says `stopped` instead).
    const notice: Heartbeat = {
      kind: 'heartbeat', from: this.cfg.self, role: 'inactive', epoch: this.epoch, maxEpoch: this.maxEpoch,
      eligible: false, awareness: this.awareness, ended: 'fenced',
    };
    // Without a Standby the notice still says the term is over; the others wait out the silence.
    const standby = this.liveStandby(now);
    if (standby) notice.released = standby.name;
    if (this.info) notice.info = this.info;
    // With quorum the guardian also kills when the majority's support runs out (the node may be frozen then).
    const quorumMs = this.quorumOn() ? Math.max(0, Math.floor(this.leaseEnd() - now)) : null;
    return { notice, standbyReady: standby !== null, quorumMs };
  }

  /** Whether a tick at `now` comes so late that this process must have been frozen meanwhile. */
  wasFrozen(now: number): boolean {
    return now - this.wakeAt >= this.cfg.timings.failureTimeoutMs / 2;
  }

  get config(): Readonly<EngineConfig> {
    return this.cfg;
  }

  get currentRole(): Role {
    return this.role;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  get currentHealth(): number {
    return this.health;
  }

  /** Why this server's versions do not match the Active's; null when they do. */
  get currentIncompatibility(): string | null {
    return this.incompatible;
  }

  /** Banned from the Active role after handing over because of a runtime crash loop. */
  get runtimeBanned(): boolean {
    return this.failures?.banned ?? false;
  }

  /** The driver kept `state` on disk (it came from a persist effect of this engine). */
  stored(state: PersistedState): void {
    this.durable = { ...state };
    if (this.storeFault === null) return;
    this.storeFault = null;
    this.dirty = true; // eligible again: said at once
  }

  /**
   * A write failed: the output that needed it was not sent, and its authority-taking effects
   * not carried out (driver.ts). What is not on disk is given up now: an Active term begun in
   * that output ends before it was ever announced, Maintenance is as kept, no claim goes on.
   */
  private storeFailed(now: number, error: string): void {
    this.storeFault = error;
    this.dirty = true;
    const self = this.cfg.self;
    const why = `cannot write its state (${error})`;
    this.claiming = null;
    const before = this.lastPromotedFrom;
    if (ACTIVE_ROLES.has(this.role) && this.epoch > (this.durable.term ?? 0) && before) {
      // Promoted in the output that was not sent: none of it was seen (the driver carried out no
      // part of it that takes authority, and logged no role change to Active), so it is undone unseen.
      this.role = before.role;
      this.roleSince = before.roleSince;
      this.standbySince = before.standbySince;
      this.epoch = before.epoch;
      this.runtimeWanted = before.runtimeWanted;
      this.runtimeReached = before.runtimeReached;
      this.holding = before.holding;
      this.grant = null;
      this.activation = null; // its request was answered: not done
      this.reason = `${before.reason}; ${why}: not taking the Active role`;
      if (this.role === 'activating') this.follow(now, this.liveActive(now), `${why}: not taking the Active role; `);
      return;
    }
    // A term on disk keeps its runtime: the active mode the driver did not ask for is asked again.
    if (ACTIVE_ROLES.has(this.role) && this.runtimeWanted === 'active' && !this.runtimeReached) this.out.effects.push({ kind: 'runtime', mode: 'active' });
    if (this.maintenance === this.durable.maintenance) return;
    this.maintenance = this.durable.maintenance;
    if (this.maintenance && this.role !== 'maintenance') {
      this.setRole(now, 'maintenance', `${why}: Maintenance stays on, as kept on disk`);
    } else if (!this.maintenance && this.role === 'maintenance' && !this.decl(self).maintenance) {
      this.listeningSince = now;
      this.setRole(now, 'starting', `${why}: Maintenance not switched on (it would not survive a restart); listening for peers`);
    }
  }

  /** The fault a technician sees while writes fail. */
  private storeFaultText(): string {
    const self = this.cfg.self;
    return `cannot write state on ${self}: ${this.storeFault}; ${self} keeps voting but takes neither the Active role nor Maintenance until its state can be written again (free space on that disk, or fix its permissions)`;
  }

  // ---------------------------------------------------------------- commands

  /**
   * What would become of `cmd` now, without changing anything: refused (and why), already done
   * (and what is so), or null when it can be carried out. The status window enables its
   * buttons by this, and `apply` carries commands out by it: one set of rules for both.
   */
  private verdict(cmd: Command, now: number): { refused: string } | { already: string } | null {
    const self = this.cfg.self;
    const refused = (message: string) => ({ refused: message });
    const unkept = this.storeFault === null ? null : `${self} cannot write its state (${this.storeFault}); it would not survive a restart. Free space on that disk (or fix its permissions) first`;
    switch (cmd.kind) {
      case 'clear':
        if (this.failures && unkept) return refused(unkept);
        return this.failures ? null : { already: `${self} has no runtime crash loops counted; nothing to clear` };
      case 'activate': {
        if (this.role === 'active') return { already: `${self} is already Active (epoch ${this.epoch})` };
        if (this.role === 'maintenance') return refused(`${self} is in Maintenance; leave it first (duplex maintenance off)`);
        if (this.removed) return refused(`${self} is not in the domain file any more`);
        if (!this.declEligible(self)) {
          return refused(`${self} is declared "${this.decl(self).kind}" in the domain file; only the main and backup servers can be Active`);
        }
        if (!this.linkUp) return refused(`${self} has lost its own network interface; it must not take over`);
        if (this.failures?.banned) return refused(this.banText());
        if (this.incompatible) return refused(`${self} is incompatible with the Active: ${this.incompatible}`);
        if (unkept) return refused(unkept);
        if (this.role === 'starting') {
          const left = Math.max(0, this.cfg.timings.discoveryMs - (now - this.roleSince));
          return refused(`${self} is still discovering its peers; try again in ${Math.ceil(left)} ms`);
        }
        if (this.role === 'activating' || this.role === 'deactivating' || this.grant) {
          return refused('a switchover is already in progress; wait for it to finish');
        }
        const active = this.liveActive(now);
        const minority = this.minorityText(now);
        if (!active && minority) return refused(minority);
        if (!active && this.claimantAhead(now)) return refused('another server is starting or taking over right now; try again in a second');
        if (active?.hb.role === 'deactivating') return refused(`${active.name} is already handing over; wait for it to finish`);
        return null;
      }
      case 'report-failure':
      case 'deactivate': {
        if (this.role !== 'active') {
          return refused(cmd.kind === 'deactivate' ? `only the Active can be deactivated; ${self} is ${this.role}` : `only the Active hands over on a reported failure; ${self} is ${this.role}`);
        }
        const standby = this.liveStandby(now);
        if (!standby) return refused(`no Standby is ready to take over from ${self}; the runtime keeps running here`);
        if (cmd.kind === 'report-failure' && standby.hb.health !== undefined && standby.hb.health < HEALTHY) {
          return refused(`the Standby ${standby.name} is not healthy (health ${standby.hb.health}); the runtime keeps running here`);
        }
        return null;
      }
      case 'maintenance':
        if (cmd.on) {
          if (this.role === 'maintenance') return { already: `${self} is already in Maintenance` };
          if (unkept) return refused(unkept);
          if (this.role === 'deactivating' || this.grant) return refused('a switchover is in progress; try again when it has finished');
          if (this.role === 'active' && !this.liveStandby(now) && !cmd.force) {
            return refused(`${self} is the Active and no Standby can take over: Maintenance would stop the plant's runtime. Use --force to do it anyway`);
          }
          return null;
        }
        if (this.role !== 'maintenance') return { already: `${self} is not in Maintenance` };
        if (this.decl(self).maintenance) return refused(`maintenance is set for ${self} in the domain file; change it there`);
        if (unkept) return refused(unkept);
        return null;
    }
  }

  /** Why each command would be refused now, or that it is already done; null where it can be carried out (the status window's buttons). */
  commandVerdicts(now: number): Record<CommandName, string | null> {
    const say = (cmd: Command) => {
      const v = this.verdict(cmd, now);
      return v === null ? null : 'refused' in v ? v.refused : v.already;
    };
    return {
      activate: say({ kind: 'activate' }),
      deactivate: say({ kind: 'deactivate' }),
      'maintenance-on': say({ kind: 'maintenance', on: true }),
      'maintenance-off': say({ kind: 'maintenance', on: false }),
      'report-failure': say({ kind: 'report-failure', reason: '-' }),
      clear: say({ kind: 'clear' }),
    };
  }

  private apply(cmd: Command, now: number, request: Request): { accepted: boolean; message: string } {
    const self = this.cfg.self;
    const v = this.verdict(cmd, now);
    if (v && 'refused' in v) return { accepted: false, message: v.refused };
    if (v) {
      this.done(request, true, v.already);
      return { accepted: true, message: v.already };
    }
    if (cmd.kind === 'clear') return this.clearFailures(request);
    if (cmd.kind === 'activate') {
      const active = this.liveActive(now);
      // Just after a freeze nobody has been heard yet: that is not the same as nobody being there.
      if (!active && !this.quorumOn() && !this.livePeers(now).some((p) => p.hb.eligible) && !this.justResumed(now)) {
        this.promote(now, 'manual', 'activated by command; no Active was reachable');
        this.done(request, true, `${self} is Active (epoch ${this.epoch})`);
        return { accepted: true, message: `no Active reachable: ${self} took over at once` };
      }
      if (!active) {
        // Others could be taking over at this very moment (a Standby's timer): announce first,
        // so they defer to us, and take over after two heartbeat intervals unless an Active shows up.
        this.activation = { since: now, wantId: this.nextWantId++, from: null, cause: 'switchover', request };
        this.setRole(now, 'activating', 'activated by command; no Active reachable: announcing, then taking over');
        return { accepted: true, message: `no Active reachable: ${self} takes over` };
      }
      this.activation = { since: now, wantId: this.nextWantId++, from: active.name, cause: 'switchover', request };
      this.setRole(now, 'activating', `asked ${active.name} to hand over`);
      return { accepted: true, message: `asked ${active.name} to hand over to ${self}` };
    }
    if (cmd.kind === 'report-failure' || cmd.kind === 'deactivate') {
      const standby = this.liveStandby(now)!;
      this.manualHold = true;
      const why = cmd.kind === 'deactivate' ? 'deactivated by command' : `the application reported a failure (${cmd.reason})`;
      this.startHandover(now, standby.name, 'follower', request, `${why}: handing over to ${standby.name}`);
      return { accepted: true, message: `handing over to ${standby.name}` };
    }
    // maintenance
    if (cmd.on) {
      if (this.role === 'active') {
        const standby = this.liveStandby(now);
        this.manualHold = true;
        if (standby) {
          this.startHandover(now, standby.name, 'maintenance', request, `maintenance requested: handing over to ${standby.name} first`);
          return { accepted: true, message: `handing over to ${standby.name}, then entering Maintenance` };
        }
        this.startHandover(now, null, 'maintenance', request, 'maintenance forced with no Standby: stopping the runtime');
        return { accepted: true, message: 'stopping the runtime, then entering Maintenance (forced, no Standby)' };
      }
      if (this.activation) {
        if (this.activation.request) this.done(this.activation.request, false, 'activation cancelled: maintenance was switched on');
        this.activation = null;
      }
      this.maintenance = true;
      this.persist();
      this.setRole(now, 'maintenance', 'maintenance switched on by command');
      this.done(request, true, `${self} is in Maintenance`);
      return { accepted: true, message: `${self} is in Maintenance` };
    }
    this.maintenance = false;
    this.persist();
    this.listeningSince = now;
    this.setRole(now, 'starting', 'maintenance switched off: listening for peers');
    this.done(request, true, `${self} left Maintenance`);
    return { accepted: true, message: `${self} left Maintenance` };
  }

  /**
   * A crash loop of the local runtime (Pacemaker's migration-threshold of 1): the Active hands
   * over to a ready Standby and is then banned from the Active role for failureResetMs after
   * its last crash loop; with no Standby (a banned server is none) it keeps restarting here.
   */
  private runtimeFailed(now: number, why: string): void {
    if (this.role !== 'active') return;
    const count = (this.failures?.count ?? 0) + 1;
    this.failures = { count, last: why, resetAt: now + this.failureResetMs(), banned: false };
    // Just after a freeze what is known of the peers is stale: keep the runtime until heard again.
    const standby = this.justResumed(now) ? null : this.liveStandby(now);
    if (!standby) {
      this.persist();
      this.reason = `runtime crash loop (${why}); no Standby to hand over to, so it keeps restarting here (crash loop ${count} here)`;
      return;
    }
    this.failures.banned = true;
    this.persist();
    this.dirty = true; // peers hear at once that this server is not eligible
    this.manualHold = true; // no failback onto a server whose runtime just failed
    this.startHandover(now, standby.name, 'follower', null,
      `runtime crash loop (${why}): handing over to ${standby.name}; ${this.cfg.self} is not eligible for ${this.seconds(this.failureResetMs())} (or until duplex clear)`);
  }

  /** `duplex clear`: forget the crash loops and lift the ban. */
  private clearFailures(request: Request): { accepted: boolean; message: string } {
    const self = this.cfg.self;
    const f = this.failures;
    const message = f
      ? `${self}: ${f.count} runtime crash loop${f.count === 1 ? '' : 's'} forgotten (the last: ${f.last})${f.banned ? `; ${self} may be Active or Standby again` : ''}`
      : `${self} has no runtime crash loops counted; nothing to clear`;
    if (f) {
      this.failures = null;
      this.dirty = true;
      this.persist();
    }
    this.done(request, true, message);
    return { accepted: true, message };
  }

  /** The count (and a ban) ends failureResetMs after the last crash loop. */
  private expireFailures(now: number): void {
    if (!this.failures || now < this.failures.resetAt) return;
    // Like a server freed of an incompatibility: a Standby that was eligible all along fails over first.
    if (this.failures.banned) this.freedAt = now;
    this.failures = null;
    this.dirty = true;
    this.persist();
  }

  private failureResetMs(): number {
    return this.cfg.failureResetMs ?? DEFAULT_FAILURE_RESET_MS;
  }

  private seconds(ms: number): string {
    return `${Math.ceil(ms / 1000)} s`;
  }

  private banText(): string {
    const f = this.failures!;
    return `${this.cfg.self} handed the Active role over because of a runtime crash loop (${f.last}); it is not eligible for ${this.seconds(this.failureResetMs())} after its last crash loop, or until duplex clear --server ${this.cfg.self}`;
  }

  /**
   * The guardian killed the runtime: this node stopped renewing its lease in time (it froze),
   * so its Active term is over whatever it believed meanwhile. It becomes a follower; the
   * failure timeout passes before it may claim again (the Standby was told at once).
   */
  private fenced(now: number, why: string): void {
    if (!ACTIVE_ROLES.has(this.role)) return;
    const lost = this.fencing;
    this.endTerm(now, why, lost ? `Active term ${this.epoch} ended: ${lost}; the guardian killed the runtime; ` : `Active term ${this.epoch} ended: the guardian killed the runtime (${why}); `);
  }

  /** The runtime was killed, or is being killed: the Active term is over and this server follows. */
  private endTerm(now: number, why: string, reason: string): void {
    this.fencing = null;
    this.acks.clear();
    const d = this.deactivation;
    if (d?.request) this.done(d.request, false, `the runtime was fenced: ${why}`);
    this.deactivation = null;
    this.grant = null;
    this.manualHold = true; // no failback onto a server that just froze or was cut off
    this.lastActiveHeardAt = now;
    this.follow(now, this.liveActive(now), reason);
  }

  // ---------------------------------------------------------------- clones and wrong secrets

  /**
   * Another process uses this server's name. A node that has not left its first role yet (it
   * is starting, or has been in Maintenance since its start for less than discoveryMs) has
   * claimed nothing: it yields, so the server that was there first keeps running. Any other
   * node keeps its role, shows the fault, and takes the Active role on nothing while it lasts.
   */
  private nameConflicted(now: number, address: string): void {
    const self = this.cfg.self;
    if (!this.roleChanged && (this.role === 'starting' || now - this.startedAt < this.cfg.timings.discoveryMs)) {
      this.out.effects.push({
        kind: 'yield',
        reason: `another Duplex node is already running as server ${self} at ${address} (a cloned machine or a copied tray.json?); this node stops. Give every server its own name`,
      });
    } else if (!this.nameConflict) {
      this.out.effects.push({ kind: 'fault', fault: nameConflictText(self, address), on: true });
    }
    this.nameConflict = { address, at: now };
  }

  /** A fault counts while it was seen within the (awareness-stretched) failure timeout. */
  private recent(at: number, now: number): boolean {
    return now - at < this.effectiveTimeout();
  }

  private conflicted(now: number): boolean {
    return this.nameConflict !== null && this.recent(this.nameConflict.at, now);
  }

  /** Faults not seen for the failure timeout are over; each end is logged. */
  private expireFaults(now: number): void {
    if (this.nameConflict && !this.recent(this.nameConflict.at, now)) {
      this.out.effects.push({ kind: 'fault', fault: nameConflictText(this.cfg.self, this.nameConflict.address), on: false });
      this.nameConflict = null;
    }
    for (const [address, u] of this.unverifiable) {
      if (this.recent(u.at, now)) continue;
      this.out.effects.push({ kind: 'fault', fault: unverifiableText(address), on: false });
      this.unverifiable.delete(address);
    }
  }

  private faults(now: number): string[] {
    const out: string[] = [];
    if (this.storeFault !== null) out.push(this.storeFaultText());
    if (this.conflicted(now)) out.push(nameConflictText(this.cfg.self, this.nameConflict!.address));
    for (const [address, u] of this.unverifiable) if (this.recent(u.at, now)) out.push(unverifiableText(address));
    return out;
  }

  /**
   * Why this server must not take the Active role on silence (start-up or failover), null when
   * it may: a recent unverifiable address may hide the server whose silence it would act on —
   * the Active it last heard, or, when it has heard none since start, any server not heard now.
   */
  private unverifiedSilence(now: number): string | null {
    const live = new Set(this.livePeers(now).map((p) => p.name));
    for (const [address, u] of this.unverifiable) {
      if (!this.recent(u.at, now)) continue;
      const silent = this.lastActiveName !== null ? u.suspects.filter((s) => s === this.lastActiveName) : u.suspects.filter((s) => !live.has(s));
      if (silent.length) {
        return `${unverifiableText(address)} Not taking over on the silence of ${silent.join(', ')}, which may be sending from there (duplex activate overrides)`;
      }
    }
    return null;
  }

  // ---------------------------------------------------------------- decisions

  private evaluate(now: number): void {
    this.expireFailures(now);
    this.checkCompatible(now);
    if (this.quorumOn()) {
      this.updateSupport(now);
      if (ACTIVE_ROLES.has(this.role) && this.fencing === null && this.leaseEnd() <= now) return this.loseQuorum(now);
      if (this.progressClaim(now)) return;
    } else {
      this.claiming = null;
      this.setSupport(null);
    }
    if (this.conform(now)) return;
    switch (this.role) {
      case 'maintenance':
        return;
      case 'starting':
        return this.evaluateStarting(now);
      case 'active':
        return this.evaluateActive(now);
      case 'deactivating':
        return this.evaluateDeactivating(now);
      default:
        return this.evaluateFollower(now);
    }
  }

  /**
   * Keeps the role in line with the domain file after a reconfiguration: an Active that may no
   * longer be Active hands over (or steps down); maintenance set or cleared in the file is
   * entered or left. True when it changed something this step.
   */
  private conform(now: number): boolean {
    const self = this.cfg.self;
    const fileMaintenance = this.decl(self).maintenance;
    if (this.role === 'active' && !this.declEligible(self)) {
      const standby = this.liveStandby(now);
      const why = this.removed ? 'removed from the domain file' : fileMaintenance ? 'maintenance set in the domain file' : `declared "${this.decl(self).kind}" in the domain file`;
      this.manualHold = true;
      this.startHandover(now, standby?.name ?? null, 'follower', null, `${why}: ${standby ? `handing over to ${standby.name}` : 'stepping down (no Standby to hand over to)'}`);
      return true;
    }
    if (fileMaintenance && this.role !== 'maintenance' && this.role !== 'deactivating') {
      if (this.activation?.request) this.done(this.activation.request, false, 'activation cancelled: maintenance was set in the domain file');
      this.activation = null;
      this.setRole(now, 'maintenance', 'maintenance is set for this server in the domain file');
      return true;
    }
    if (!fileMaintenance && this.role === 'maintenance' && !this.maintenance) {
      this.listeningSince = now;
      this.setRole(now, 'starting', 'maintenance cleared in the domain file: listening for peers');
      return true;
    }
    return false;
  }

  private evaluateStarting(now: number): void {
    const active = this.liveActive(now);
    if (active) return this.follow(now, active);
    // Listening counts only while this process ran: a freeze inside the window restarts it.
    if (now - Math.max(this.roleSince, this.resumedAt) < this.cfg.timings.discoveryMs) return;
    const unverified = this.unverifiedSilence(now);
    if (this.decl(this.cfg.self).kind === 'main' && this.canPromote(now) && !this.claimantAhead(now) && !unverified) {
      return this.promote(now, 'startup', `no Active found in the domain within ${this.cfg.timings.discoveryMs} ms`);
    }
    this.follow(now, null);
    if (unverified && this.decl(this.cfg.self).kind === 'main') this.reason = unverified;
  }

  private evaluateActive(now: number): void {
    for (const p of this.livePeers(now)) {
      if (p.hb.role === 'active' && this.beats(p.name, p.hb.epoch, this.cfg.self, this.epoch)) {
        this.deactivation = { to: null, then: 'follower', request: null };
        this.setRole(now, 'deactivating', `${p.name} is also Active with a higher epoch (${p.hb.epoch} > ${this.epoch}): stepping down`);
        this.wantRuntime(this.declEligible(this.cfg.self) ? 'standby' : 'stopped');
        return;
      }
    }
    const wanting = this.livePeers(now)
      .filter((p) => p.hb.role === 'activating' && p.hb.wantId !== undefined && p.hb.wantFrom === this.cfg.self)
      .sort((a, b) => this.prec(a.name) - this.prec(b.name));
    if (this.role === 'active' && wanting.length === 0) this.evaluateRating(now);
    for (const w of wanting) {
      if (this.role !== 'active') {
        this.refuse(now, w, `${this.cfg.self} is already handing over to ${this.deactivation?.to ?? 'another server'}`);
      } else if (!this.declEligible(w.name)) {
        this.refuse(now, w, `${w.name} is not a main or backup server in ${this.cfg.self}'s domain file`);
      } else if (!w.hb.eligible) {
        this.refuse(now, w, `${w.name} cannot take over (incompatible, or its network card is down)`);
      } else {
        this.manualHold = true;
        this.startHandover(now, w.name, 'follower', null, `${w.name} asked to take over: handing over`);
      }
    }
  }

  /**
   * Rated failover (zenon's rated redundancy): hand over when this Active's health stays
   * `marginPoints` below a live Standby's for `holdMs`. A dip shorter than that resets the
   * clock, so a flapping probe never moves the role.
   */
  private evaluateRating(now: number): void {
    const rated = this.cfg.rated;
    const standby = this.liveStandby(now);
    const theirs = standby?.hb.health;
    // Score 1 is "no data" (the probes have not answered yet, e.g. just started): unknown, not bad.
    if (!rated || !standby || theirs === undefined || this.health === NO_DATA || theirs - this.health < rated.marginPoints) {
      this.worseSince = null;
      return;
    }
    this.worseSince ??= now;
    if (now - this.worseSince < rated.holdMs) return;
    this.worseSince = null;
    this.manualHold = true; // no failback onto a server that just lost its health
    this.startHandover(now, standby.name, 'follower', null,
      `rated failover: health ${this.health} here${this.healthWhy ? ` (${this.healthWhy})` : ''}, ${theirs} on ${standby.name}, for ${rated.holdMs} ms: handing over to ${standby.name}`);
  }

  private evaluateDeactivating(now: number): void {
    // Fenced for a lost majority: the term ends only when the guardian says the runtime is dead.
    if (!this.runtimeReached || this.fencing !== null) return;
    const d = this.deactivation ?? { to: null, then: 'follower' as const, request: null };
    this.deactivation = null;
    this.lastActiveHeardAt = Math.max(this.lastActiveHeardAt, now);
    if (d.to) {
      this.grant = { to: d.to, epoch: this.epoch, until: now + this.cfg.timings.handoverTimeoutMs, request: d.request };
    } else if (d.request) {
      this.done(d.request, true, `${this.cfg.self} stopped its runtime`);
    }
    if (d.then === 'maintenance') {
      this.maintenance = true;
      this.persist();
      this.setRole(now, 'maintenance', d.to ? `handed over to ${d.to}; in Maintenance` : 'in Maintenance (forced; no Standby)');
      return;
    }
    this.follow(now, this.liveActive(now), d.to ? `handed over to ${d.to}; ` : 'stepped down; ');
  }

  private evaluateFollower(now: number): void {
    const active = this.liveActive(now);
    // A former Active that stopped its runtime for us: take over. A grant older than the
    // newest epoch we know of is stale (reordered, or overtaken by a later promotion).
    if (!active && this.canPromote(now) && !this.justResumed(now)) {
      const granter = this.livePeers(now).find((p) =>
        p.hb.grantTo === this.cfg.self && !ACTIVE_ROLES.has(p.hb.role) && (p.hb.grantEpoch ?? -1) >= this.maxEpoch);
      if (granter) {
        const cause: PromotionCause = this.activation?.cause ?? 'switchover';
        return this.promote(now, cause, `${granter.name} stopped its runtime and handed over`, granter.hb.grantEpoch ?? 0);
      }
    }
    // The Active's guardian killed its runtime and released the term: no need to wait for silence.
    const released = this.releasedTerm;
    if (released && released.epoch < this.maxEpoch) this.releasedTerm = null;
    else if (released && !active && (this.role === 'standby' || this.role === 'activating') && this.canPromote(now) && !this.grant && !this.claimantAhead(now)) {
      this.promote(now, 'failover', `failover: ${released.from}'s guardian killed its runtime and released Active term ${released.epoch} (its node died or froze)`);
      // With quorum the release is kept until the claim could start (not while restarted a moment ago).
      if (!this.quorumOn() || this.claiming) this.releasedTerm = null;
      return;
    }
    if (this.role === 'activating' && this.activation && this.incompatible) {
      return this.failActivation(now, active, `incompatible: ${this.incompatible}`);
    }
    if (this.role === 'activating' && this.activation) {
      const a = this.activation;
      if (a.from === null) {
        if (active) {
          a.from = active.name; // an Active showed up after all: ask it to hand over
          this.dirty = true;
        } else {
          // Not on waking from a freeze: an Active may have appeared meanwhile, its heartbeats not read yet.
          if (now - a.since >= this.cfg.timings.handoverTimeoutMs && this.claiming) {
            return this.failActivation(now, null, `no majority of the voters supported ${this.cfg.self} within ${this.cfg.timings.handoverTimeoutMs} ms`);
          }
          if (now - a.since >= 2 * this.cfg.timings.heartbeatIntervalMs && this.canPromote(now) && !this.claimantAhead(now) && !this.justResumed(now)) {
            this.promote(now, 'manual', 'activated by command; no Active was reachable');
          }
          return;
        }
      }
      const refusal = this.livePeers(now).find((p) => p.hb.refuseTo === this.cfg.self && p.hb.refuseId === a.wantId);
      if (refusal) return this.failActivation(now, active, `${refusal.name} refused: ${refusal.hb.refuseReason ?? 'no reason given'}`);
      if (active && active.name !== a.from && active.hb.role === 'active') {
        return this.failActivation(now, active, `${active.name} became Active instead`);
      }
      if (active && now - a.since >= this.cfg.timings.handoverTimeoutMs) {
        return this.failActivation(now, active, `${a.from} did not hand over within ${this.cfg.timings.handoverTimeoutMs} ms`);
      }
    } else {
      this.follow(now, active);
    }
    if ((this.role === 'standby' || this.role === 'activating') && !active && this.canPromote(now) && !this.grant && !this.claimantAhead(now)) {
      const silent = now - this.silenceBase();
      const unverified = silent >= this.effectiveTimeout() ? this.unverifiedSilence(now) : null;
      if (unverified) {
        this.reason = unverified;
      } else if (silent >= this.effectiveTimeout()) {
        const last = this.lastActiveHeardAt === -Infinity ? 'no Active heard since start' : `no heartbeat from the Active for ${Math.round(now - this.lastActiveHeardAt)} ms`;
        return this.promote(now, 'failover', `failover: ${last}`);
      }
    }
    // Failback: the main returns to Active only when the domain asks for it.
    if (
      this.cfg.failback === 'auto' && this.role === 'standby' && active && active.hb.role === 'active' &&
      this.decl(this.cfg.self).kind === 'main' && !this.manualHold && this.canPromote(now) &&
      this.standbySince !== null && now - this.standbySince >= this.cfg.timings.failbackDelayMs
    ) {
      this.activation = { since: now, wantId: this.nextWantId++, from: active.name, cause: 'failback', request: null };
      this.setRole(now, 'activating', `failback: main has been a healthy Standby for ${this.cfg.timings.failbackDelayMs} ms; asking ${active.name} to hand over`);
    }
  }

  private failActivation(now: number, active: PeerView | null, why: string): void {
    const a = this.activation;
    this.activation = null;
    if (a?.request) this.done(a.request, false, why);
    if (a?.cause === 'failback') this.manualHold = true; // do not ask again and again
    this.follow(now, active, `${why}; `);
  }

  /** Standby or Inactive, by precedence among the eligible servers that are not Active. */
  private follow(now: number, active: PeerView | null, why = ''): void {
    const self = this.cfg.self;
    if (this.removed) return this.setRole(now, 'inactive', `${why}not in the domain file any more`);
    if (!this.declEligible(self)) {
      return this.setRole(now, 'inactive', `${why}declared "${this.decl(self).kind}" in the domain file`);
    }
    if (this.incompatible) return this.setRole(now, 'inactive', `${why}incompatible: ${this.incompatible}`);
    if (this.failures?.banned) return this.setRole(now, 'inactive', `${why}${this.banText()}`);
    let best = self;
    for (const p of this.livePeers(now)) {
      if (active && p.name === active.name) continue;
      // The server this one just handed over to is taking the Active role: not the one to wait behind
      // (an old Active goes straight to Standby, with one role change and one notification).
      if (this.grant?.to === p.name) continue;
      if (!p.hb.eligible || !this.declEligible(p.name)) continue;
      if (p.hb.role !== 'standby' && p.hb.role !== 'inactive' && p.hb.role !== 'activating') continue;
      if (p.hb.claim !== undefined) continue; // asking the voters for the Active role: not the one to wait behind
      if (this.prec(p.name) < this.prec(best)) best = p.name;
    }
    if (best === self) {
      return this.setRole(now, 'standby', why + (active ? `ready to take over from ${active.name}` : 'no Active reachable'));
    }
    this.setRole(now, 'inactive', `${why}${best} is the Standby; waiting next in line`);
  }

  /** Takes the Active role: at once without quorum; with quorum, by asking the voters first (claim). */
  private promote(now: number, cause: PromotionCause, reason: string, floor = 0): void {
    if (this.quorumOn()) return this.claim(now, cause, reason, floor);
    this.becomeActive(now, cause, reason, nextEpoch(Math.max(this.maxEpoch, floor), this.slot, this.cfg.servers.length));
  }

  private becomeActive(now: number, cause: PromotionCause, reason: string, e: number): void {
    this.promotedFrom = {
      role: this.role, reason: this.reason, roleSince: this.roleSince, standbySince: this.standbySince, epoch: this.epoch,
      runtimeWanted: this.runtimeWanted, runtimeReached: this.runtimeReached, holding: this.holding,
    };
    this.claiming = null;
    this.epoch = e;
    this.maxEpoch = e;
    this.persist();
    const a = this.activation;
    this.activation = null;
    if (a?.request) this.done(a.request, true, `${this.cfg.self} is Active (epoch ${e})`);
    this.manualHold = false;
    this.grant = null;
    this.setRole(now, 'active', reason, cause);
    if (cause === 'failover' && this.cfg.confirmResume) {
      // The runtime waits for a technician: the plant is checked before it runs here.
      this.holding = true;
      this.out.effects.push({ kind: 'hold', reason: `took over after a failover (${reason}); confirmResume is set in the domain file` });
    }
    this.wantRuntime('active');
  }

  private startHandover(now: number, to: string | null, then: Deactivation['then'], request: Request | null, reason: string): void {
    this.deactivation = { to, then, request };
    this.setRole(now, 'deactivating', reason);
    this.wantRuntime(then === 'maintenance' ? 'stopped' : 'standby');
  }

  private refuse(now: number, peer: PeerView, reason: string): void {
    const id = peer.hb.wantId ?? 0;
    if (this.refusal && this.refusal.to === peer.name && this.refusal.id === id) return;
    this.refusal = { to: peer.name, id, reason, until: now + this.cfg.timings.handoverTimeoutMs };
    this.dirty = true;
  }

  /** Grants and refusals live for the handover timeout; a grant ends early when its target is seen Active. */
  private expire(now: number): void {
    if (this.refusal && now >= this.refusal.until) this.refusal = null;
    const g = this.grant;
    if (!g) return;
    const target = this.peers.get(g.to);
    if (target && this.isLive(target, now) && target.hb.role === 'active' && target.hb.epoch > g.epoch) {
      if (g.request) this.done(g.request, true, `${g.to} is Active (epoch ${target.hb.epoch})`);
      this.grant = null;
      this.dirty = true;
    } else if (now >= g.until) {
      if (g.request) this.done(g.request, false, `${g.to} did not take over within ${this.cfg.timings.handoverTimeoutMs} ms`);
      this.grant = null;
      this.lastActiveHeardAt = Math.max(this.lastActiveHeardAt, now);
      this.dirty = true;
    }
  }

  // ---------------------------------------------------------------- quorum

  private quorumOn(): boolean {
    return quorumInForce(this.cfg.quorum, this.voters().length);
  }

  private voters(): string[] {
    return this.voterList;
  }

  /** The voters heard within the failure timeout, this server included. */
  private votersHeard(now: number): string[] {
    const live = new Set(this.livePeers(now).map((p) => p.name));
    return this.voters().filter((v) => v === this.cfg.self || live.has(v));
  }

  /** Why this server may not take over (it hears no majority of the voters); null when it may, or without quorum. */
  private minorityText(now: number): string | null {
    if (!this.quorumOn()) return null;
    const voters = this.voters();
    const heard = this.votersHeard(now);
    if (heard.length >= majorityOf(voters.length)) return null;
    return `${this.cfg.self} hears ${heard.length} of ${voters.length} voters (${heard.join(', ')}); ${majorityOf(voters.length)} are needed: a server in the minority never becomes Active`;
  }

  /** A heartbeat holds Active term `epoch`: it is Active (or handing over) in it, or asks the voters for it. */
  private holdsTerm(hb: Heartbeat, epoch: number): boolean {
    return (ACTIVE_ROLES.has(hb.role) && hb.epoch === epoch) || hb.claim === epoch;
  }

  private setSupport(s: Backing | null): void {
    if (s === null && this.support === null) return;
    this.support = s;
    this.dirty = true;
  }

  /**
   * Keeps the promise length on disk before an acknowledgement that needs it goes out: at once
   * when it grows; when it shrinks, only once the longer promises have run out.
   */
  private keepPromise(ms: number, now: number): void {
    if (ms === this.promised || (ms < this.promised && now - this.promisedAt < this.promised)) return;
    this.promised = ms;
    this.promisedAt = now;
    this.persist();
  }

  /**
   * Awareness counts lost heartbeats too (Lifeguard): two or more missing in a row from a peer
   * heard within the failure timeout raise it. A peer back after a longer silence was cut off or
   * restarted; its gap is no sign of a lossy network.
   */
  private countLost(msg: Heartbeat, now: number): void {
    if (msg.n === undefined || msg.boot === undefined) return;
    const last = this.lastN.get(msg.from);
    this.lastN.set(msg.from, { boot: msg.boot, n: msg.n, at: now });
    if (last && last.boot === msg.boot && msg.n - last.n >= 3 && now - last.at < this.cfg.timings.failureTimeoutMs) this.raiseAwareness(now);
  }

  /** What a heartbeat says about supports: one naming this server counts for it; the supported Active's renews ours. */
  private noteSupport(msg: Heartbeat, now: number): void {
    if (!this.quorumOn()) return;
    const a = msg.ack;
    if (a && a.to === this.cfg.self && a.boot === this.boot && a.n >= this.termFirstN && this.voters().includes(msg.from)) {
      this.acks.set(msg.from, { epoch: a.epoch, n: a.n, ms: a.ms });
    } else {
      this.acks.delete(msg.from);
    }
    const s = this.support;
    if (s && s.to === msg.from && ACTIVE_ROLES.has(msg.role) && msg.epoch === s.epoch) {
      s.boot = msg.boot ?? 0;
      s.n = msg.n ?? 0;
      s.heardAt = now;
      s.lockUntil = Math.max(s.lockUntil, now + this.effectiveTimeout());
      this.dirty = true; // acknowledged at once: the Active's lease counts from the heartbeat acknowledged
    }
  }

  /**
   * A voter supports one server at a time: the Active it hears, or one candidate (its vote). It
   * moves its support only when the supported server gave the term up (heard without it), when
   * it has not heard it for its failure timeout (the promise ran out), or to a live Active of a
   * higher term (which a majority elected after this promise ran out elsewhere).
   */
  private updateSupport(now: number): void {
    const self = this.cfg.self;
    const s = this.support;
    const active = this.liveActive(now);
    if (s && s.to === self) {
      const holds = this.claiming ? this.claiming.epoch === s.epoch : ACTIVE_ROLES.has(this.role) && this.epoch === s.epoch;
      if (!holds) this.setSupport(null);
    } else if (s) {
      const p = this.peers.get(s.to);
      const released = p !== undefined && p.lastHeard >= s.since && !this.holdsTerm(p.hb, s.epoch);
      const overtaken = active !== null && active.name !== s.to && active.hb.epoch > s.epoch;
      if (released || overtaken || now >= s.lockUntil) this.setSupport(null);
    }
    if (this.support || this.claiming || now < this.blackoutUntil) return;
    if (active) {
      if (!ACTIVE_ROLES.has(active.hb.role)) return;
      this.setSupport({ to: active.name, epoch: active.hb.epoch, boot: active.hb.boot ?? 0, n: active.hb.n ?? 0, ms: 0, heardAt: active.lastHeard, lockUntil: active.lastHeard + this.effectiveTimeout(), since: now });
      return;
    }
    // A vote: the first candidate in precedence whose term is newer than any this server knows of.
    const candidate = this.livePeers(now)
      .filter((p) => p.hb.claim !== undefined && p.hb.claim > this.maxEpoch && p.hb.eligible && this.declEligible(p.name))
      .sort((a, b) => this.prec(a.name) - this.prec(b.name))[0];
    if (candidate) {
      const c = candidate.hb;
      this.setSupport({ to: candidate.name, epoch: c.claim!, boot: c.boot ?? 0, n: c.n ?? 0, ms: 0, heardAt: candidate.lastHeard, lockUntil: candidate.lastHeard + this.effectiveTimeout(), since: now });
    }
  }

  /** Asks the voters for an Active term (this server counts itself); promotes once a majority supports it. */
  private claim(now: number, cause: PromotionCause, reason: string, floor: number): void {
    const s = this.support;
    if (s && s.to !== this.cfg.self) {
      this.reason = `${reason}; waiting: ${this.cfg.self} still supports ${s.to} in term ${s.epoch} for ${Math.ceil(s.lockUntil - now)} ms`;
      return;
    }
    if (now < this.blackoutUntil) {
      this.reason = `${reason}; waiting: restarted ${Math.round(now - this.startedAt)} ms ago, ${this.cfg.self} supports no one for ${Math.ceil(this.blackoutUntil - now)} ms more (it may have promised its support before the restart)`;
      return;
    }
    if (!this.claiming || this.claiming.epoch <= Math.max(this.maxEpoch, floor)) {
      const epoch = nextEpoch(Math.max(this.maxEpoch, floor), this.slot, this.cfg.servers.length);
      this.claiming = { epoch, cause, reason, since: now };
      // Supports given to an earlier claim (maybe with this same epoch) count for nothing now.
      this.termFirstN = this.sentN + 1;
      this.acks.clear();
      this.setSupport({ to: this.cfg.self, epoch, boot: this.boot, n: 0, ms: 0, heardAt: now, lockUntil: Infinity, since: now });
    } else {
      this.claiming.cause = cause;
      this.claiming.reason = reason;
    }
    this.progressClaim(now);
  }

  /**
   * A claim goes on while nothing better turns up: it ends when an Active is heard, when this
   * server may no longer be Active, or when a candidate ahead of it in precedence asks too (it
   * then gets this server's vote). It wins once a majority supports it. True when it promoted.
   */
  private progressClaim(now: number): boolean {
    const c = this.claiming;
    if (!c) return false;
    const self = this.cfg.self;
    const ahead = this.livePeers(now).some((p) => p.hb.claim !== undefined && p.hb.claim > this.maxEpoch && p.hb.eligible && this.declEligible(p.name) && this.prec(p.name) < this.prec(self));
    if (this.liveActive(now) || ahead || !this.canPromote(now) || ACTIVE_ROLES.has(this.role) || this.role === 'maintenance' || c.epoch <= this.maxEpoch) {
      this.claiming = null;
      if (this.support?.to === self) this.setSupport(null);
      return false;
    }
    // A main that finds no majority at start-up waits as a follower (one role change when it wins).
    if (this.role === 'starting' && now - c.since >= this.cfg.timings.failureTimeoutMs) this.follow(now, null);
    const need = majorityOf(this.voters().length);
    const supporters = 1 + [...this.acks.values()].filter((a) => a.epoch === c.epoch).length;
    this.reason = `${c.reason}; asking the voters for Active term ${c.epoch} (${supporters} of the ${need} needed support it)`;
    if (this.leaseEnd() <= now) return false;
    this.becomeActive(now, c.cause, `${c.reason} (supported by a majority of the voters)`, c.epoch);
    return true;
  }

  /**
   * Until when a majority of the voters supports this server's term (Raft's leader lease): each
   * voter's support counts from when this server built the heartbeat the voter acknowledged;
   * this server counts itself. -Infinity when it holds no term and asks for none.
   */
  private leaseEnd(): number {
    const epoch = this.claiming?.epoch ?? (ACTIVE_ROLES.has(this.role) ? this.epoch : null);
    if (epoch === null) return -Infinity;
    const ends: number[] = [];
    for (const v of this.voters()) {
      if (v === this.cfg.self) {
        ends.push(Infinity);
        continue;
      }
      const a = this.acks.get(v);
      const sent = a && a.epoch === epoch ? this.sentAt.get(a.n) : undefined;
      if (a && sent !== undefined) ends.push(supportEnd(sent, a.ms, this.cfg.timings));
    }
    const end = majorityEnd(ends, majorityOf(this.voters().length));
    return this.claiming ? end : Math.max(end, this.carriedLease);
  }

  /** Voter `v` supports this server's term now (its acknowledgement's lease has not run out). */
  private supportsNow(v: string, now: number): boolean {
    const a = this.acks.get(v);
    const sent = a && a.epoch === (this.claiming?.epoch ?? this.epoch) ? this.sentAt.get(a.n) : undefined;
    return sent !== undefined && supportEnd(sent, a!.ms, this.cfg.timings) > now;
  }

  /**
   * The majority's support ran out: the runtime is killed at once (fence). The term is held (the
   * server is deactivating, its heartbeats still claim the term, it votes for no one) until the
   * guardian says the runtime is dead; only then does it follow and release its voters.
   */
  private loseQuorum(now: number): void {
    const voters = this.voters();
    const silent = voters.filter((v) => v !== this.cfg.self && !this.supportsNow(v, now));
    const why = `lost the majority's support: ${silent.join(', ')} acknowledged none of its recent heartbeats (${majorityOf(voters.length)} of ${voters.length} voters needed, itself included)`;
    this.carriedLease = -Infinity;
    this.fencing = why;
    this.out.effects.push({ kind: 'fence', reason: why });
    if (this.role === 'active') {
      this.manualHold = true;
      this.deactivation = { to: null, then: 'follower', request: null };
      this.setRole(now, 'deactivating', `${why}: killing the runtime`);
      this.wantRuntime(this.declEligible(this.cfg.self) ? 'standby' : 'stopped');
    } else {
      this.reason = `${why}: killing the runtime`;
    }
  }

  private quorumStatus(now: number): QuorumStatus {
    const voters = this.voters();
    const on = this.quorumOn();
    const heard = this.votersHeard(now);
    const s = this.support;
    const lease = on && ACTIVE_ROLES.has(this.role) ? Math.max(0, Math.round(this.leaseEnd() - now)) : null;
    return {
      mode: this.cfg.quorum ?? 'auto',
      on,
      voters: [...voters],
      majority: majorityOf(voters.length),
      heard,
      has: !on || heard.length >= majorityOf(voters.length),
      supports: s ? `${s.to} (term ${s.epoch}${s.to === this.cfg.self ? '' : ', acknowledged'})` : null,
      leaseMs: lease === null || Number.isFinite(lease) ? lease : null,
      warning: on ? null : noQuorumWarning(this.cfg.quorum, voters),
    };
  }

  // ---------------------------------------------------------------- helpers

  private decl(name: string): ServerDecl {
    const d = this.decls.get(name);
    if (!d) throw new Error(`unknown server ${name}`);
    return d;
  }

  private declEligible(name: string): boolean {
    const d = this.decls.get(name);
    if (!d || (d.kind !== 'main' && d.kind !== 'backup') || d.maintenance) return false;
    return name === this.cfg.self ? !this.maintenance : true;
  }

  /**
   * A server whose own witness or network checks fail and that hears no peer may be the one
   * cut off: it does not promote itself. Hearing a peer proves it is not alone.
   */
  private canPromote(now: number): boolean {
    if (this.conflicted(now)) return false; // another process runs under this name: it may be the Active
    if (this.isolated !== null && this.livePeers(now).length === 0) return false;
    return this.linkUp && this.incompatible === null && !this.failures?.banned && this.storeFault === null && this.role !== 'maintenance' && this.declEligible(this.cfg.self);
  }

  private prec(name: string): number {
    return this.precedence.get(name) ?? Number.MAX_SAFE_INTEGER;
  }

  /** true when (epochA, serverA) wins over (epochB, serverB): higher epoch, then domain precedence. */
  private beats(a: string, epochA: number, b: string, epochB: number): boolean {
    if (epochA !== epochB) return epochA > epochB;
    return this.prec(a) < this.prec(b);
  }

  private effectiveTimeout(): number {
    return this.cfg.timings.failureTimeoutMs * (1 + this.awareness);
  }

  /** Heard within the (awareness-stretched) failure timeout. */
  private isLive(p: PeerView, now: number): boolean {
    return now - p.lastHeard < this.effectiveTimeout();
  }

  private livePeers(now: number): PeerView[] {
    const live: PeerView[] = [];
    for (const p of this.peers.values()) if (this.isLive(p, now)) live.push(p);
    return live;
  }

  /** The reachable Active (or Active still stopping its runtime) that wins by epoch and precedence. */
  private liveActive(now: number): PeerView | null {
    let best: PeerView | null = null;
    for (const p of this.livePeers(now)) {
      if (!ACTIVE_ROLES.has(p.hb.role)) continue;
      if (!best || this.beats(p.name, p.hb.epoch, best.name, best.hb.epoch)) best = p;
    }
    return best;
  }

  private liveStandby(now: number): PeerView | null {
    const s = this.livePeers(now)
      .filter((p) => p.hb.role === 'standby' && p.hb.eligible && this.declEligible(p.name))
      .sort((a, b) => this.prec(a.name) - this.prec(b.name));
    return s[0] ?? null;
  }

  /**
   * A reachable server is about to claim and should go first: the main while it starts, or one
   * a technician activated (among several activating, the first in precedence).
   */
  private claimantAhead(now: number): boolean {
    const mine = this.prec(this.cfg.self);
    return this.livePeers(now).some((p) => {
      if (!p.hb.eligible || !this.declEligible(p.name)) return false;
      if (p.hb.role === 'starting') return this.decl(p.name).kind === 'main' && this.prec(p.name) < mine; // only the main claims at start-up
      if (p.hb.role === 'activating') return this.role !== 'activating' || this.prec(p.name) < mine;
      return false;
    });
  }

  /**
   * Since when the Active has been silent: its last heartbeat, or — when none was heard since
   * this node began listening — the end of the discovery window. A freeze restarts the count.
   */
  private silenceBase(): number {
    const heard = this.lastActiveHeardAt >= this.listeningSince;
    return Math.max(heard ? this.lastActiveHeardAt : this.listeningSince + this.cfg.timings.discoveryMs, this.resumedAt, this.freedAt);
  }

  /**
   * Within a heartbeat interval of waking from a freeze: what piled up meanwhile (a grant, a
   * release) may be overtaken by what others did since, and silence proves nothing yet.
   */
  private justResumed(now: number): boolean {
    return now - this.resumedAt < this.cfg.timings.heartbeatIntervalMs;
  }

  private raiseAwareness(now: number): void {
    if (this.awareness < MAX_AWARENESS) {
      this.awareness += 1;
      this.dirty = true;
    }
    this.lastAwarenessChange = now;
  }

  private setRole(now: number, to: Role, reason: string, cause?: PromotionCause): void {
    this.reason = reason;
    if (to === this.role) return;
    const from = this.role;
    this.role = to;
    this.roleChanged = true;
    this.roleSince = now;
    this.dirty = true;
    this.standbySince = to === 'standby' ? now : null;
    const effect: Effect = { kind: 'role', from, to, reason, epoch: this.epoch };
    if (cause) effect.cause = cause;
    this.out.effects.push(effect);
    if (from === 'active' && this.holding) {
      this.holding = false;
      this.out.effects.push({ kind: 'hold', reason: null });
    }
    if (to === 'standby') this.wantRuntime('standby');
    else if (to === 'inactive' || to === 'maintenance' || to === 'starting') this.wantRuntime('stopped');
  }

  private wantRuntime(mode: RuntimeMode): void {
    if (mode === this.runtimeWanted) return; // reached, or asked for and on its way
    this.runtimeWanted = mode;
    this.runtimeReached = false;
    this.out.effects.push({ kind: 'runtime', mode });
  }

  private persist(): void {
    const state: PersistedState = { epoch: this.maxEpoch, maintenance: this.maintenance };
    if (this.epoch > 0) state.term = this.epoch;
    if (this.failures) state.failures = { ...this.failures };
    if (this.promised > 0) state.promiseMs = this.promised;
    // Once writes are known to fail, outputs are built within what is on disk: a failed retry changes nothing.
    this.out.effects.push({ kind: 'persist', state, critical: this.storeFault === null });
  }

  private done(request: Request, ok: boolean, message: string): void {
    this.out.effects.push({ kind: 'done', id: request.id, command: request.name, ok, message });
  }

  /**
   * Whether this process was frozen (paused, swapped, suspended) since its last output. What
   * peers did meanwhile is unknown: they are judged only on what arrives from now on.
   */
  private noticeFreeze(now: number): boolean {
    if (!this.wasFrozen(now)) return false;
    this.resumedAt = now;
    this.raiseAwareness(now);
    return true;
  }

  /**
   * E3's rule, judged only against a live Active: a server whose Duplex major.minor or
   * application version differs from the Active's is neither Active nor Standby. Compared with
   * the last Active heard while an Active (or a handover) is heard within the failure timeout
   * and this server is not Active itself. With no Active reachable the verdict ends, so a
   * server left alone with other versions can take over (and be activated): nothing else runs
   * the plant. True when the verdict changed.
   */
  private checkCompatible(now: number): boolean {
    const a = this.activeInfo;
    const mine = this.info;
    if (!a || !mine || ACTIVE_ROLES.has(this.role)) return false;
    // Gone: that Active not heard (as Active or handing over) for the failure timeout. While it
    // hands over (its grant) a verdict is kept until the new Active is heard, never made anew.
    const handingOver = this.livePeers(now).some((p) => p.name === a.server && p.hb.grantTo !== undefined);
    const gone = now - a.at >= this.effectiveTimeout() && !(handingOver && this.incompatible !== null);
    let why: string | null = null;
    if (gone) why = null;
    else if (!a.info) why = `the Active ${a.server} does not say which Duplex version it runs (older than ${mine.ver}?)`;
    else if (!duplexCompatible(a.info.ver, mine.ver)) {
      why = `Duplex ${mine.ver} here, ${a.info.ver} on the Active ${a.server}: servers must run the same Duplex major.minor (patch releases may differ); install ${minorOf(a.info.ver)}.x here or upgrade every server`;
    } else if (a.info.app !== mine.app) why = `application version ${mine.app || '(none)'} here, ${a.info.app || '(none)'} on the Active ${a.server}`;
    if (why === this.incompatible) return false;
    // The Standby that was compatible all along goes first: this server's failover counts from now.
    if (why === null && gone) this.freedAt = now;
    this.incompatible = why;
    this.dirty = true;
    const effect: Effect = { kind: 'compatibility', active: a.server, incompatible: why };
    if (why === null && gone) effect.activeGone = true;
    this.out.effects.push(effect);
    return true;
  }

  private describePending(): string | null {
    if (this.activation) {
      return this.activation.from ? `waiting for ${this.activation.from} to hand over (${this.activation.cause})` : 'about to take over (activated by command)';
    }
    if (this.deactivation) {
      return this.deactivation.to ? `stopping the runtime before handing over to ${this.deactivation.to}` : 'stopping the runtime';
    }
    if (this.grant) return `handed over to ${this.grant.to}; waiting for it to report Active`;
    return null;
  }

  private begin(): void {
    this.out = { send: [], effects: [] };
    this.lastPromotedFrom = this.promotedFrom;
    this.promotedFrom = null;
  }

  private finish(now: number): Output {
    if (this.dirty || now - this.lastSent >= this.sendEvery(now)) {
      this.out.send.push(this.heartbeat(now));
      this.lastSent = now;
      this.dirty = false;
    }
    this.wakeAt = this.computeWakeAt(now);
    return this.out;
  }

  /**
   * The heartbeat interval; a quarter of it while the Active's lease has less than half of its
   * length left (acknowledgements were lost): each heartbeat is one more chance for a voter to
   * acknowledge, so random loss on the network does not end the lease.
   */
  private sendEvery(now: number): number {
    const t = this.cfg.timings;
    const short = this.quorumOn() && ACTIVE_ROLES.has(this.role) && this.leaseEnd() - now < leaseMs(t) / 2;
    return short ? t.heartbeatIntervalMs / 4 : t.heartbeatIntervalMs;
  }

  private computeWakeAt(now: number): number {
    const t = this.cfg.timings;
    const timeout = this.effectiveTimeout();
    let at = this.lastSent + this.sendEvery(now);
    const consider = (deadline: number) => {
      if (deadline > now && deadline < at) at = deadline;
    };
    for (const p of this.peers.values()) consider(p.lastHeard + timeout);
    consider(this.silenceBase() + timeout);
    if (this.role === 'starting') consider(Math.max(this.roleSince, this.resumedAt) + t.discoveryMs);
    if (this.activation) {
      consider(this.activation.since + 2 * t.heartbeatIntervalMs);
      consider(this.activation.since + t.handoverTimeoutMs);
    }
    if (this.grant) consider(this.grant.until);
    if (this.refusal) consider(this.refusal.until);
    if (this.standbySince !== null) consider(this.standbySince + t.failbackDelayMs);
    if (this.awareness > 0) consider(this.lastAwarenessChange + AWARENESS_DECAY_MS);
    if (this.worseSince !== null && this.cfg.rated) consider(this.worseSince + this.cfg.rated.holdMs);
    if (this.failures) consider(this.failures.resetAt);
    if (this.quorumOn()) {
      if (this.support && this.support.to !== this.cfg.self) consider(this.support.lockUntil);
      consider(this.blackoutUntil);
      if (ACTIVE_ROLES.has(this.role) || this.claiming) consider(this.leaseEnd());
      if (ACTIVE_ROLES.has(this.role)) consider(this.leaseEnd() - leaseMs(t) / 2);
      if (this.claiming && this.role === 'starting') consider(this.claiming.since + t.failureTimeoutMs);
    }
    return at;
  }

  private heartbeat(now: number): Heartbeat {
    const hb: Heartbeat = {
      kind: 'heartbeat',
      from: this.cfg.self,
      role: this.role,
      epoch: this.epoch,
      // An epoch is announced only once kept: while writes fail, the one on disk.
      maxEpoch: this.storeFault === null ? this.maxEpoch : Math.min(this.maxEpoch, this.durable.epoch),
      eligible: this.declEligible(this.cfg.self) && this.linkUp && this.incompatible === null && this.isolated === null && !this.failures?.banned && this.storeFault === null,
      awareness: this.awareness,
      health: this.health,
      boot: this.boot,
      n: ++this.sentN,
    };
    this.sentAt.set(hb.n!, now);
    // Only heartbeats within the longest possible support are worth remembering.
    const horizon = now - this.cfg.timings.failureTimeoutMs * (1 + MAX_AWARENESS);
    for (const [n, at] of this.sentAt) {
      if (at >= horizon) break;
      this.sentAt.delete(n);
    }
    const s = this.support;
    if (s && s.to !== this.cfg.self) {
      // What this acknowledgement promises, with the awareness it carries: no other support before then.
      s.lockUntil = Math.max(s.lockUntil, s.heardAt + this.effectiveTimeout());
      // While writes fail, a support promises no more than the promise kept on disk (a restart
      // waits that one out); it keeps its own lock for longer, which only errs on the safe side.
      const ms = Math.floor(s.lockUntil - s.heardAt);
      const kept = this.storeFault === null ? ms : Math.min(ms, this.durable.promiseMs ?? 0);
      if (kept > 0) hb.ack = { to: s.to, epoch: s.epoch, boot: s.boot, n: s.n, ms: kept };
      this.keepPromise(Math.max(ms, this.effectiveTimeout()), now);
    }
    if (this.claiming) hb.claim = this.claiming.epoch;
    if (this.info) hb.info = this.info;
    // While writes fail, every heartbeat tries again: the first that succeeds ends the fault.
    if (this.storeFault !== null) this.persist();
    if (this.role === 'activating' && this.activation) {
      hb.wantId = this.activation.wantId;
      if (this.activation.from) hb.wantFrom = this.activation.from;
    }
    if (this.grant && now < this.grant.until) {
      hb.grantTo = this.grant.to;
      hb.grantEpoch = this.grant.epoch;
    }
    if (this.refusal) {
      hb.refuseTo = this.refusal.to;
      hb.refuseId = this.refusal.id;
      hb.refuseReason = this.refusal.reason;
    }
    return hb;
  }
}
