/**
 * The one public contract of a node: the status it shows (`StatusView`, which is also
 * `duplex status --json` and the admin API's `GET /status`) and the commands it takes
 * (`Command`, the same for the CLI, the admin API, the WebSocket and Electron's IPC).
 *
 * The words the engine owns (roles, runtime modes and states, sync states, the engine's
 * commands, the quorum's status) are its own (engine/types.ts) and re-exported here: the core
 * depends on nothing of the UI. The view types are written out here, not derived from internal
 * types, so an internal change cannot silently change the documented JSON (the status builder,
 * node/status.ts, copies field by field and stops compiling instead). The only runtime code is
 * the command parser and the table of calls that every transport of the contract dispatches by.
 */
import type { Command as EngineCommand, QuorumStatus, Role, RuntimeMode, RuntimeState, SyncState } from '../engine/types';

export type { Role, RuntimeMode, RuntimeState, SyncState };
/** The commands a status window offers, by the name its verdict has in `StatusView.commands`. */
export type CommandVerdicts = Record<'activate' | 'deactivate' | 'maintenance-on' | 'maintenance-off' | 'report-failure' | 'clear' | 'resume', string | null>;

// ------------------------------------------------------------------ commands

/** Every command a node takes: the engine's commands, plus `resume` (the supervisor's: start a runtime held after a failover, confirmResume). */
export type Command = EngineCommand | { kind: 'resume' };

export interface CommandOutcome {
  ok: boolean;
  message: string;
  /** Set when a command for another server could not be delivered to its node (or its answer was lost). */
  unreachable?: boolean;
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
  /** Its runtime, as its heartbeats say (null: never heard, or a node before 0.3). */
  runtime: { mode: RuntimeMode; state: RuntimeState } | null;
  /**
   * The last thing heard from it was its release, multicast once its runtime was gone: killed
   * by its guardian (`fenced`), or stopped as its node stopped cleanly (`stopped`); null otherwise.
   */
  runtimeEnded: 'fenced' | 'stopped' | null;
  /** When it was last heard (ISO time), null when never. */
  lastHeardAt: string | null;
  /** Its runtime crash loops counted (null: never heard, or a node before 0.3). */
  failures: number | null;
  /** Its probes (the first 8) and their verdicts, as its heartbeats say (null: never heard, or a node before 0.3). */
  probes: { name: string; ok: boolean }[] | null;
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
/** Quorum as the engine sees it (engine/types.ts `QuorumStatus`). */
export type QuorumView = QuorumStatus;

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
  runtime: { wanted: RuntimeMode; reached: boolean; state: RuntimeState; held: string | null; processes: ProcessView[]; failures: FailuresView };
  /**
   * What each command would do now: null when it can be carried out, otherwise why not (the
   * engine's own refusal) or that it is already so. The status window enables its buttons by this.
   */
  commands: CommandVerdicts;
  incompatible: string | null;
  /** This server's health score (0–255, OPC UA ServiceLevel meaning), the failing probe, and why it may be isolated. */
  health: { score: number; failing: string | null; isolated: string | null; probes: ProbeView[] };
  sync: SyncView;
  /** This node's OPC UA redundancy endpoint and the ServiceLevel it serves; null when not configured. */
  opcua: { endpoint: string; serviceLevel: number } | null;
  /** This node's Prometheus metrics (`GET <url>`; 127.0.0.1 unless `metrics.address` says otherwise); null when the domain file has no `metrics`. */
  metrics: { url: string } | null;
  /**
   * The virtual IP on this server (null: none in the domain file): its address, the card that
   * takes it here (null when none can), whether this server holds it now, and the last failure
   * to choose a card, add or remove it, with the command that failed (null: none).
   */
  vip: { address: string; card: string | null; held: boolean; error: string | null } | null;
  restartNeeded: string[];
  peers: PeerView[];
  dropped: Record<string, number>;
  /**
   * Requests the node's doors answered with anything but success since it started, by door
   * (`admin`, `socket`, `metrics`, `sync`) and code (an HTTP status, or a word: `frame`, `busy`…).
   */
  refused: Record<string, Record<string, number>>;
  events: EventView[];
  pid: number;
  version: string;
}

/** Every server of the domain as its own node says (`duplex status --all`, `GET /domain`), or only one (`GET /domain?server=X`: a command or status for X), fetched by one node over the domain's authenticated channel. */
export interface DomainView {
  domain: string;
  /** The node that asked. */
  from: string;
  /** Every server of the domain file, in its order: its status, or why it could not be had. */
  servers: { server: string; status: StatusView | null; error: string | null }[];
}

// ------------------------------------------------------------------ the API and its transports

export interface DuplexApi {
  getStatus(): Promise<StatusView>;
  /**
   * Runs a command on this server, or on `server` (another server of the domain): this node then
   * relays it over the domain's authenticated channel, and the outcome is that server's.
   */
  command(cmd: Command, server?: string): Promise<CommandOutcome>;
  /** Every server's own status, asked by this node within `timeoutMs` (default 2 s). */
  getDomain(timeoutMs?: number): Promise<DomainView>;
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
    const cmd = args.length === 1 || args.length === 2 ? parseCommand(args[0]) : null;
    if (!cmd) return null;
    if (args.length === 1 || args[1] === undefined || args[1] === null) return [cmd];
    return isServerName(args[1]) ? [cmd, args[1]] : null;
  },
  getDomain: (args) => {
    // An absent argument arrives as null through JSON.
    if (args.length === 0 || args[0] === undefined || args[0] === null) return [];
    const ms = args[0];
    return args.length === 1 && typeof ms === 'number' && Number.isInteger(ms) && ms > 0 && ms <= MAX_DOMAIN_WAIT_MS ? [ms] : null;
  },
};

/** The longest a domain view may be waited for (ms). */
export const MAX_DOMAIN_WAIT_MS = 60_000;

/** A name as the domain file allows it (servers, processes): 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function isServerName(x: unknown): x is string {
  return typeof x === 'string' && NAME_PATTERN.test(x);
}

/** Runs a call whose method and arguments came from outside; rejects with the reason when it is not one. */
export function dispatch(api: DuplexApi, method: unknown, args: readonly unknown[]): Promise<unknown> {
  if (typeof method !== 'string' || !Object.prototype.hasOwnProperty.call(CALLS, method)) {
    return Promise.reject(new Error(`unknown method ${String(method)}; the methods are ${Object.keys(CALLS).join(', ')}`));
  }
  const m = method as CallMethod;
  const checked = CALLS[m](args);
  if (!checked) {
    const why = m === 'command' ? `not a command; expected ${COMMAND_SHAPE}, then optionally a server's name`
      : m === 'getDomain' ? `getDomain takes nothing or a wait in ms (1-${MAX_DOMAIN_WAIT_MS})` : `${m} takes no arguments`;
    return Promise.reject(new Error(`refused: ${why}`));
  }
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
