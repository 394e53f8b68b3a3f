/**
 * The one public contract of a node: the status it shows (`StatusView`, which is also
 * `duplex status --json` and the admin API's `GET /status`) and the commands it takes
 * (`Command`, the same for the CLI, the admin API, the WebSocket and Electron's IPC).
 *
 * Self-contained on purpose: the view types are written out here, not derived from internal
 * types, so an internal change cannot silently change the documented JSON (the status builder,
 * node/status.ts, copies field by field and stops compiling instead). The only runtime code is
 * the command parser and the table of calls that every transport of the contract dispatches by.
 */

export type Role = 'starting' | 'active' | 'standby' | 'inactive' | 'maintenance' | 'activating' | 'deactivating';
export type RuntimeMode = 'active' | 'standby' | 'stopped';
export type SyncState = 'in-sync' | 'syncing' | 'conflict' | 'error';

// ------------------------------------------------------------------ commands

/** Every command a node takes: the engine's commands, plus `resume` (the supervisor's). */
export type Command =
  | { kind: 'activate' }
  | { kind: 'deactivate' }
  | { kind: 'maintenance'; on: boolean; force?: boolean }
  /** The application asks for a switchover (E3's ReportFailure). */
  | { kind: 'report-failure'; reason: string }
  /** Start a runtime held after a failover (confirmResume). */
  | { kind: 'resume' }
  /** Forget this server's runtime crash loops and lift its ban from the Active role (Pacemaker's `crm_resource --cleanup`). */
  | { kind: 'clear' };

export type CommandKind = Command['kind'];

export interface CommandOutcome {
  ok: boolean;
  message: string;
}

/** What `parseCommand` accepts, for error messages. */
export const COMMAND_SHAPE = '{"kind": "activate" | "deactivate" | "resume" | "clear"}, {"kind": "maintenance", "on": true | false, "force"?: true | false} or {"kind": "report-failure", "reason": text}';

/** A reported failure's reason is kept to this many characters (it travels in logs and role reasons). */
const MAX_REASON_CHARS = 200;

/** The one parser of commands from outside (HTTP body, WebSocket, IPC): anything else is null. */
export function parseCommand(x: unknown): Command | null {
  if (typeof x !== 'object' || x === null) return null;
  const o = x as Record<string, unknown>;
  switch (o.kind) {
    case 'activate':
    case 'deactivate':
    case 'resume':
    case 'clear':
      return { kind: o.kind };
    case 'maintenance':
      if (typeof o.on !== 'boolean' || (o.force !== undefined && typeof o.force !== 'boolean')) return null;
      return { kind: 'maintenance', on: o.on, force: o.force === true };
    case 'report-failure': {
      const reason = typeof o.reason === 'string' ? o.reason.trim().slice(0, MAX_REASON_CHARS) : '';
      return reason ? { kind: 'report-failure', reason } : null;
    }
    default:
      return null;
  }
}

// ------------------------------------------------------------------ status

export interface ProcessView {
  name: string;
  runOn: 'active' | 'standby' | 'both';
  state: 'stopped' | 'starting' | 'running' | 'stopping' | 'waiting to restart';
  /** The mode it runs in, null when not running. */
  mode: 'active' | 'standby' | null;
  pid: number | null;
  uptimeMs: number | null;
  restarts: number;
  /** How it last ended: `code N` or `signal SIG…`; null if it never ended. */
  lastExit: string | null;
}

export interface ProbeView {
  name: string;
  kind: 'system' | 'witness' | 'opcua' | 'mssql';
  weight: number;
  ok: boolean;
  detail: string;
  /** ISO time of the last reading, null before the first. */
  at: string | null;
  isolating: boolean;
}

export interface SyncView {
  file: string;
  revision: { n: number; t: number; by: string; hash: string };
  state: SyncState;
  message: string | null;
  progress: number | null;
  conflicts: string[];
  appVersion: string;
  port: number;
}

export interface PeerView {
  server: string;
  /** Last role heard; `unreachable` when silent for the failure timeout, `unknown` when never heard. */
  role: Role | 'unreachable' | 'unknown';
  lastRole: Role | null;
  epoch: number;
  eligible: boolean;
  awareness: number;
  lastHeardMs: number | null;
  health: number | null;
  /** Where its heartbeats come from, null when never heard. */
  address: string | null;
  versions: { duplex: string; app: string } | null;
  revision: { n: number; hash: string } | null;
  sync: SyncState | null;
  progress: number | null;
  /** The peer on each of this server's networks (domain file order): heard within the failure timeout, and when last. */
  links: { network: string; up: boolean; lastHeardMs: number | null }[];
}

/** Runtime crash loops counted on this server (Pacemaker's fail-count); `duplex clear` forgets them. */
export interface FailuresView {
  count: number;
  /** The last crash loop, as the supervisor described it; null when none is counted. */
  last: string | null;
  /** Milliseconds until the count resets (and a ban ends): `runtime.failureResetMs` after the last crash loop; null when none is counted. */
  resetInMs: number | null;
  /** Handed the Active role over because of a crash loop: neither Active nor Standby until the reset or `duplex clear`. */
  banned: boolean;
}

export interface EventView {
  at: string;
  from: Role;
  to: Role;
  epoch: number;
  reason: string;
}

/** `duplex status --json` and `GET /status`: the one view of a node that the CLI, the tray and the status window show. */
/**
 * Quorum: with 3 or more voters (every server not set to maintenance in the domain file, and
 * every witness) a server takes over, and an Active keeps its runtime, only while a majority
 * supports it.
 */
export interface QuorumView {
  mode: 'auto' | 'off';
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

export interface StatusView {
  server: string;
  domain: string;
  role: Role;
  reason: string;
  epoch: number;
  /** The highest epoch this server has held or seen. */
  maxEpoch: number;
  roleForMs: number;
  awareness: number;
  effectiveTimeoutMs: number;
  linkUp: boolean;
  pending: string | null;
  /**
   * Faults seen within the failure timeout, each saying what to do: another process running as
   * this server (a clone), `cannot verify <address>: is the secret file the same on every server?`.
   */
  faults: string[];
  quorum: QuorumView;
  runtime: { wanted: RuntimeMode; reached: boolean; held: string | null; processes: ProcessView[]; failures: FailuresView };
  incompatible: string | null;
  /** This server's health score (0–255, OPC UA ServiceLevel meaning), the failing probe, and why it may be isolated. */
  health: { score: number; failing: string | null; isolated: string | null; probes: ProbeView[] };
  sync: SyncView;
  /** This node's OPC UA redundancy endpoint and the ServiceLevel it serves; null when not configured. */
  opcua: { endpoint: string; serviceLevel: number } | null;
  /** This node's Prometheus metrics (`GET <url>`, reachable from other machines unless bound to 127.0.0.1); null when the domain file has no `metrics`. */
  metrics: { url: string } | null;
  restartNeeded: string[];
  peers: PeerView[];
  dropped: Record<string, number>;
  events: EventView[];
  pid: number;
  version: string;
}

// ------------------------------------------------------------------ the API and its transports

export interface DuplexApi {
  getStatus(): Promise<StatusView>;
  command(cmd: Command): Promise<CommandOutcome>;
  /** Status pushed on every change and at least once a second; returns the unsubscribe. */
  onStatus(listener: (s: StatusView) => void): () => void;
}

/** The request/reply methods of the API (`onStatus` is a push). */
export type CallMethod = Exclude<keyof DuplexApi, 'onStatus'>;

/**
 * Every call, with the check of the arguments a window or socket sends: the checked
 * arguments, or null (refused). IPC and the WebSocket dispatch through this table only.
 */
export const CALLS: { readonly [M in CallMethod]: (args: readonly unknown[]) => Parameters<DuplexApi[M]> | null } = {
  getStatus: (args) => (args.length === 0 ? [] : null),
  command: (args) => {
    const cmd = args.length === 1 ? parseCommand(args[0]) : null;
    return cmd ? [cmd] : null;
  },
};

/** Runs a call whose method and arguments came from outside; rejects with the reason when it is not one. */
export function dispatch(api: DuplexApi, method: unknown, args: readonly unknown[]): Promise<unknown> {
  if (typeof method !== 'string' || !Object.prototype.hasOwnProperty.call(CALLS, method)) {
    return Promise.reject(new Error(`unknown method ${String(method)}; the methods are ${Object.keys(CALLS).join(', ')}`));
  }
  const m = method as CallMethod;
  const checked = CALLS[m](args);
  if (!checked) return Promise.reject(new Error(m === 'command' ? `refused: not a command; expected ${COMMAND_SHAPE}` : `refused: ${m} takes no arguments`));
  return (api[m] as (...a: readonly unknown[]) => Promise<unknown>)(...checked);
}

/**
 * IPC channel names are derived from the method names: `duplex:<method>` for calls and
 * `duplex:status` for the push. A const enum: the compiler writes the prefix into the preload,
 * which runs sandboxed and cannot load other files.
 */
export const enum Ipc {
  Prefix = 'duplex:',
  Status = 'duplex:status',
}

export type CallChannel<M extends CallMethod> = `${Ipc.Prefix}${M}`;

/** WebSocket frames: calls carry an id and their arguments, answers echo the id; status pushes carry none. */
export type WsRequest<M extends CallMethod = CallMethod> = { id: number; method: M; params: Parameters<DuplexApi[M]> };
export type WsFrame = { id: number; result: unknown } | { id: number; error: string } | { event: 'status'; data: StatusView };
