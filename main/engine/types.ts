/**
 * The engine's vocabulary: inputs, outputs and the one wire message.
 * Pure data; no IO anywhere in engine/.
 */
import type { Timings } from './timings';

/** Roles a server shows. `starting`, `activating` and `deactivating` are transitional. */
export type Role =
  | 'starting' // listening for peers before claiming anything
  | 'active'
  | 'standby'
  | 'inactive'
  | 'maintenance'
  | 'activating' // asked the Active to hand over; waits for it to stop its runtime
  | 'deactivating'; // stopping the active runtime (handover or step-down) before anyone may take over

export const ROLES: readonly Role[] = ['starting', 'active', 'standby', 'inactive', 'maintenance', 'activating', 'deactivating'];

/** The roles in which a server holds an Active term (its runtime may run in active mode). */
export const ACTIVE_ROLES: ReadonlySet<Role> = new Set<Role>(['active', 'deactivating']);

/** How a server is declared in the domain file. A witness only votes: it is never Active or Standby and runs no runtime. */
export type ServerKind = 'main' | 'backup' | 'inactive' | 'witness';

/** `auto`: quorum with 3 or more voters; `off`: never (today's behaviour for any number of servers). */
export type QuorumMode = 'auto' | 'off';

export interface ServerDecl {
  name: string;
  kind: ServerKind;
  /** Set in the domain file: the server takes part in nothing. */
  maintenance: boolean;
}

/** Rated failover: the Active hands over when its health stays this far below the Standby's for this long. */
export interface RatedConfig {
  marginPoints: number;
  holdMs: number;
}

export interface EngineConfig {
  self: string;
  /** Absent: health never moves the Active role (but still shows in heartbeats). */
  rated?: RatedConfig;
  /** In domain-file order; precedence is main first, then backups in this order. */
  servers: ServerDecl[];
  failback: 'manual' | 'auto';
  timings: Timings;
  /** After a failover the new Active holds its runtime until a technician resumes it (`runtime.confirmResume`). */
  confirmResume?: boolean;
  /** Quorum with 3 or more voters (default `auto`). */
  quorum?: QuorumMode;
  /**
   * This process's boot id (any number that differs between two runs of the node): the
   * heartbeats it numbers are told apart from those of an earlier run with the same numbers.
   */
  boot?: number;
  /** `runtime.failureResetMs`: how long runtime crash loops are counted, and a server that handed over because of one is banned from the Active role. Default DEFAULT_FAILURE_RESET_MS. */
  failureResetMs?: number;
}

/**
 * Crash loops of this server's runtime (Pacemaker's fail-count and migration-threshold of 1):
 * counted until `failureResetMs` after the last one, or until `duplex clear`.
 */
export interface RuntimeFailures {
  /** Crash loops reported while this server was Active. */
  count: number;
  /** The supervisor's description of the last one. */
  last: string;
  /** When the count resets and a ban ends, on the engine's clock (the state file stores it as wall time). */
  resetAt: number;
  /** This server handed the Active role over because of a crash loop: it is neither Active nor Standby until the reset. */
  banned: boolean;
}

/**
 * What survives a restart (written atomically by the node). The state file names two of these
 * fields differently, as older versions wrote them (node/state-store.ts maps them).
 */
export interface PersistedState {
  /** Highest epoch this server has held or seen (the state file's `epoch`). */
  maxEpoch: number;
  /** Maintenance switched on from the CLI or tray. */
  maintenance: boolean;
  /** The epoch of this server's last Active term (absent: never Active; the state file's `term`): a restarted node still names it, as before the restart. */
  epoch?: number;
  /** Runtime crash loops still counted (absent: none; state files of older versions have none). */
  failures?: RuntimeFailures;
  /**
   * The longest promise this server's acknowledgements may still be bound by (quorum, ms):
   * after a restart it supports nobody for this long (it has forgotten whom it promised).
   * Written when its promises grow, and when they shrink once the longer ones have run out.
   */
  promiseMs?: number;
}

/**
 * A voter's support, carried in its heartbeats (quorum): it has heard heartbeat `n` of boot
 * `boot` of server `to`, which holds (or asks the voters for) Active term `epoch`. The voter
 * promises to support no one else for `ms` milliseconds after it heard `n` (its failure
 * timeout, stretched by its awareness): the promise travels with the support, so servers on
 * different timings never disagree about it.
 */
export interface Support {
  to: string;
  epoch: number;
  boot: number;
  n: number;
  ms: number;
}

/** The only message: a snapshot of the sender's state, multicast every heartbeat interval and on every change. */
export interface Heartbeat {
  kind: 'heartbeat';
  from: string;
  role: Role;
  /** Epoch of the sender's current (or last) term as Active; 0 if never Active. */
  epoch: number;
  /** Highest epoch the sender knows of. */
  maxEpoch: number;
  /** The sender may be Active or Standby (main/backup, not in maintenance, link up). */
  eligible: boolean;
  /** Lifeguard awareness of the sender (0 = healthy). */
  awareness: number;
  /** Set while `activating`: the sender asks the Active `wantFrom` to hand over to it (request `wantId`). */
  wantId?: number;
  wantFrom?: string;
  /** Set by a former Active that has stopped its active runtime: `grantTo` may promote. */
  grantTo?: string;
  grantEpoch?: number;
  /** The Active refuses request `refuseId` of `refuseTo`. */
  refuseTo?: string;
  refuseId?: number;
  refuseReason?: string;
  /** Health score 0–255 (OPC UA ServiceLevel meaning); absent from nodes that have none. */
  health?: number;
  /** What the node says about itself beyond roles (versions, domain revision, sync); the engine only carries it. */
  info?: NodeInfo;
  /**
   * The fast release, multicast by the sender's guardian after it killed the sender's runtime
   * (the node died or froze), or by a node that stopped cleanly: the Active term `epoch` is
   * over and no runtime of the sender runs in active mode. The Standby it names takes over at
   * once instead of waiting for the failure timeout (only that one: two servers may both
   * believe for a moment that they are the Standby).
   */
  released?: string;
  /**
   * Set in a release notice: how the sender's runtime ended before it was multicast — killed
   * (`fenced`: by its guardian, or by its node when the guardian was gone) or stopped as its
   * node stopped cleanly (`stopped`). An older node ignores it.
   */
  ended?: 'fenced' | 'stopped';
  /** The sender's boot id and the number of this heartbeat within it (quorum: what a voter's support names). */
  boot?: number;
  n?: number;
  /** Quorum: whom the sender supports (a voter's acknowledgement of an Active, or its vote for a candidate). */
  ack?: Support;
  /** Quorum: the sender asks the voters for Active term `claim` (it would take over and needs a majority). */
  claim?: number;
}

/** A domain revision as advertised: number, edit time (ms since 1970) and the first 16 hex digits of its hash. */
export interface RevisionAdvert {
  n: number;
  t: number;
  h: string;
}

export type SyncState = 'in-sync' | 'syncing' | 'conflict' | 'error';
/** Every sync state (the codec's shape check, the metrics' state set). */
export const SYNC_STATES = Object.keys({ 'in-sync': 1, syncing: 1, conflict: 1, error: 1 } satisfies Record<SyncState, 1>) as readonly SyncState[];

export interface NodeInfo {
  /** Duplex version. */
  ver: string;
  /** Application version (domain file `appVersion`), '' when none is configured. */
  app: string;
  /** The domain revision in force on the sender. */
  rev: RevisionAdvert;
  /** The sender's sync state, and its progress in % while syncing. */
  sync: SyncState;
  pct?: number;
  /** TCP port of the sender's sync service. */
  port: number;
  /** The sender's runtime: the mode it runs in and its state in one word (absent from nodes before 0.3). */
  rt?: { mode: RuntimeMode; state: RuntimeState };
  /** Runtime crash loops counted on the sender (absent: none, or a node before 0.3). */
  fails?: number;
  /** The sender's probes and their verdicts (at most MAX_INFO_PROBES; absent: none, or a node before 0.3). */
  probes?: { name: string; ok: boolean }[];
}

/** Probes carried in a heartbeat at most (the datagram stays under one Ethernet MTU). */
export const MAX_INFO_PROBES = 8;

export type RuntimeMode = 'active' | 'standby' | 'stopped';

/** A server's runtime in one word: every process running, starting, stopping, stopped, waiting to restart after a crash, held after a failover (waiting for Resume), or none declared. */
export type RuntimeState = 'running' | 'starting' | 'stopping' | 'stopped' | 'restarting' | 'held' | 'none';

export type PromotionCause = 'startup' | 'failover' | 'switchover' | 'failback' | 'manual';

export type CommandName = 'activate' | 'deactivate' | 'maintenance-on' | 'maintenance-off' | 'report-failure' | 'clear';

/** The engine's commands (the node adds `resume`, which its supervisor answers: ui/contract.ts). */
export type Command =
  | { kind: 'activate' }
  | { kind: 'deactivate' }
  | { kind: 'maintenance'; on: boolean; force?: boolean }
  /** The application asks for a switchover (E3's ReportFailure). */
  | { kind: 'report-failure'; reason: string }
  /** Forget this server's runtime crash loops and lift its ban from the Active role (Pacemaker's `crm_resource --cleanup`). */
  | { kind: 'clear' };

/** A command being carried out: its name and the id its caller waits on (0: nobody waits). */
export interface Request {
  name: CommandName;
  id: number;
}

/** Facts the node observes and feeds in. */
export type Observation =
  /** The runtime reached the mode the engine asked for. */
  | { kind: 'runtime'; mode: RuntimeMode }
  /** The server's own network interface (link and address) is up or down. */
  | { kind: 'link'; up: boolean; detail?: string }
  /** Sending a datagram failed (counts as local trouble). */
  | { kind: 'send-failed' }
  /**
   * The state could not be written (disk full, broken, read-only): the output that needed it
   * was not sent (engine.ts: a voter that cannot write keeps voting within what is on disk).
   */
  | { kind: 'store-failed'; error: string }
  /** The local runtime keeps dying (a crash loop): the Active hands over if it can. */
  | { kind: 'runtime-failed'; reason: string }
  /** The guardian killed the runtime (this node's lease ran out): an Active term is over. */
  | { kind: 'fenced'; reason: string }
  /**
   * The probes' verdict: the score, the failing probe, and whether this server's own network
   * or witness checks fail (it may be the isolated one: it must not promote itself).
   */
  | { kind: 'health'; score: number; failing: string | null; isolated: string | null }
  /**
   * An authenticated heartbeat with this server's own name came from another process at
   * `address` (a cloned machine, a copied tray.json). A node that has not yet left its first
   * role (starting, or Maintenance within discoveryMs of its start) yields; any other keeps its
   * role but does not take the Active role while it lasts.
   */
  | { kind: 'name-conflict'; address: string }
  /**
   * A datagram from `address` failed authentication (another domain secret). `suspects`: the
   * servers that may be sending it (declared at that address; or, without a declared address,
   * last heard from there or never heard). No take-over on the silence of a suspect while it lasts.
   */
  | { kind: 'unverifiable'; address: string; suspects: string[] };

export type Effect =
  | { kind: 'role'; from: Role; to: Role; reason: string; epoch: number; cause?: PromotionCause }
  | { kind: 'runtime'; mode: RuntimeMode }
  /**
   * Keep `state` before anything of this output is sent or done. `critical`: this output was
   * built on the write succeeding (its heartbeats and effects must not go out if it fails);
   * false when the engine already knows writes fail and built it within what is on disk.
   */
  | { kind: 'persist'; state: PersistedState; critical: boolean }
  /** Command request `id` has finished (or failed). */
  | { kind: 'done'; id: number; command: CommandName; ok: boolean; message: string }
  /** Hold the active runtime until a technician resumes it (reason), or forget a hold (null). Comes before the runtime effect it concerns. */
  | { kind: 'hold'; reason: string | null }
  /** Kill the active runtime now (not a graceful stop): this server lost the majority's support (quorum). Comes before the role and runtime effects that follow it. */
  | { kind: 'fence'; reason: string }
  /** This server's versions stopped or started matching those of the Active `active` (null: they match). */
  /** `activeGone`: the verdict ended because `active` is no longer heard (versions are judged only against a live Active). */
  | { kind: 'compatibility'; active: string; incompatible: string | null; activeGone?: boolean }
  | FaultEffect;

export type FaultEffect =
  /** A fault appeared (`on`) or has not been seen for the failure timeout; `fault` says what and what to do. */
  | { kind: 'fault'; fault: string; on: boolean }
  /** Another process runs as this server and this node has claimed nothing yet: it stops (fail-stop) with `reason`. */
  | { kind: 'yield'; reason: string };

/**
 * What the guardian holds for this node, renewed with every heartbeat sent (driver.ts): the
 * release it multicasts if it has to kill this server's runtime (null unless this server holds
 * an Active term), whether a Standby is ready to take over at once, and with quorum until when
 * a majority supports the term, on the engine's clock (the guardian kills when it runs out;
 * null: no quorum). An absolute time: the driver tells the guardian how much of it is left at
 * the moment it renews, however long the write and the sends before took.
 */
export interface Lease {
  notice: Heartbeat | null;
  standbyReady: boolean;
  quorumUntil: number | null;
}

/** Everything the caller needs after one input (raft's Ready): it never asks the engine again. */
export interface Output {
  /** Heartbeats to multicast, after the persist effects are on disk. */
  send: Heartbeat[];
  /** In the order they happened. */
  effects: Effect[];
  lease: Lease;
  /** When the engine must be ticked next (the node sets one timer for it). */
  wakeAt: number;
  /** The engine's status, when this input produced effects (a role change, a command's answer…); absent otherwise. */
  status?: EngineStatus;
}

export interface CommandResult extends Output {
  /** false: refused at once, `message` says why. true: accepted; a `done` effect follows (maybe in this output). */
  accepted: boolean;
  message: string;
}

export interface PeerStatus {
  server: string;
  /** Last role heard, or `unreachable` when silent for the failure timeout, `unknown` when never heard. */
  role: Role | 'unreachable' | 'unknown';
  lastRole: Role | null;
  epoch: number;
  eligible: boolean;
  awareness: number;
  /** Milliseconds since the last valid heartbeat, null when never heard. */
  lastHeardMs: number | null;
  /** The peer's health score, null when it sends none. */
  health: number | null;
  /** What the peer last said about itself (versions, revision, sync), null when never heard. */
  info: NodeInfo | null;
  /** The last thing heard from the peer was its release: how its runtime ended (fenced, stopped); null otherwise. */
  ended: 'fenced' | 'stopped' | null;
}

export interface EngineStatus {
  server: string;
  role: Role;
  reason: string;
  /** Milliseconds in the current role. */
  roleForMs: number;
  epoch: number;
  maxEpoch: number;
  awareness: number;
  /** Failure timeout in force after awareness scaling. */
  effectiveTimeoutMs: number;
  linkUp: boolean;
  /** Why this server may be neither Active nor Standby (versions differ from the Active's), null when compatible. */
  incompatible: string | null;
  /** Runtime crash loops counted here; `resetInMs`: when the count (and a ban) ends, null when nothing is counted. */
  failures: { count: number; last: string | null; resetInMs: number | null; banned: boolean };
  health: { score: number; failing: string | null; isolated: string | null };
  runtime: { wanted: RuntimeMode; reached: boolean };
  pending: string | null;
  /** Faults seen within the failure timeout: another process with this server's name, addresses whose datagrams fail authentication. */
  faults: string[];
  quorum: QuorumStatus;
  peers: PeerStatus[];
}

/**
 * Quorum: with 3 or more voters (every server not set to maintenance in the domain file, and
 * every witness) a server takes over, and an Active keeps its runtime, only while a majority
 * supports it.
 */
export interface QuorumStatus {
  mode: QuorumMode;
  on: boolean;
  voters: string[];
  majority: number;
  /** The voters this server hears now, itself included. */
  heard: string[];
  /** This server hears a majority of the voters (true when quorum is not in force). */
  has: boolean;
  /** Whom this server supports, e.g. "a (term 4, acknowledged)"; null: nobody. */
  supports: string | null;
  /** The Active: how much longer the majority's support holds; null otherwise. */
  leaseMs: number | null;
  /** Without quorum: what a cut redundancy network does and how a witness prevents it. */
  warning: string | null;
}
