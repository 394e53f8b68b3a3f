/**
 * The one contract between the status window and a node. Electron's main process implements
 * it over IPC (the preload exposes it as `window.duplex`); the admin API implements it over
 * a WebSocket for the demo page and browser tests. Types only, plus the payload checks every
 * implementation runs on what it receives.
 */
import type { PeerStatus, Role, RuntimeMode, SyncState } from '../engine/types';
import type { ProcessStatus } from '../runtime/plan';
import type { SyncStatus } from '../sync/status';
import type { ProbeStatus } from '../probes/score';

export type ProcessView = ProcessStatus;
export type SyncView = SyncStatus;

export interface PeerView extends Omit<PeerStatus, 'info'> {
  /** Where its heartbeats come from, null when never heard. */
  address: string | null;
  versions: { duplex: string; app: string } | null;
  revision: { n: number; hash: string } | null;
  sync: SyncState | null;
  progress: number | null;
}

export interface EventView {
  at: string;
  from: Role;
  to: Role;
  epoch: number;
  reason: string;
}

/** `duplex status --json`: the one view of a node that the CLI, the tray and the status window show. */
export interface StatusView {
  server: string;
  domain: string;
  role: Role;
  reason: string;
  epoch: number;
  roleForMs: number;
  awareness: number;
  effectiveTimeoutMs: number;
  linkUp: boolean;
  pending: string | null;
  runtime: { wanted: RuntimeMode; reached: boolean; held: string | null; processes: ProcessView[] };
  incompatible: string | null;
  /** This server's health score (0–255, OPC UA ServiceLevel meaning), the failing probe, and why it may be isolated. */
  health: { score: number; failing: string | null; isolated: string | null; probes: ProbeStatus[] };
  sync: SyncView;
  /** This node's OPC UA redundancy endpoint and the ServiceLevel it serves; null when not configured. */
  opcua: { endpoint: string; serviceLevel: number } | null;
  restartNeeded: string[];
  peers: PeerView[];
  dropped: Record<string, number>;
  events: EventView[];
  pid: number;
  version: string;
}

export type UiCommand =
  | { kind: 'activate' }
  | { kind: 'deactivate' }
  | { kind: 'maintenance'; on: boolean }
  | { kind: 'resume' };

export interface UiResult {
  ok: boolean;
  message: string;
}

export interface DuplexApi {
  getStatus(): Promise<StatusView>;
  command(cmd: UiCommand): Promise<UiResult>;
  /** Status pushed on every change and at least once a second; returns the unsubscribe. */
  onStatus(listener: (s: StatusView) => void): () => void;
}

/**
 * IPC channel names. A const enum: the compiler writes the values into the preload, which
 * runs sandboxed and cannot load other files.
 */
export const enum Channel {
  GetStatus = 'duplex:get-status',
  Command = 'duplex:command',
  Status = 'duplex:status',
}

/** A command from a window or a socket: anything else is refused. */
export function parseUiCommand(x: unknown): UiCommand | null {
  if (typeof x !== 'object' || x === null) return null;
  const o = x as Record<string, unknown>;
  if (o.kind === 'activate' || o.kind === 'deactivate' || o.kind === 'resume') return { kind: o.kind };
  if (o.kind === 'maintenance' && typeof o.on === 'boolean') return { kind: 'maintenance', on: o.on };
  return null;
}

/** WebSocket frames: requests carry an id, answers echo it; status pushes carry none. */
export type WsRequest = { id: number; method: 'getStatus' } | { id: number; method: 'command'; params: UiCommand };
export type WsFrame = { id: number; result: unknown } | { id: number; error: string } | { event: 'status'; data: StatusView };
