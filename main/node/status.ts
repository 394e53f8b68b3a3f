/**
 * The documented view of a node (`StatusView`, ui/contract.ts) built from its parts. Every
 * field is copied by name, so a change of an internal type cannot silently change the JSON
 * that `duplex status --json`, the admin API and the status window promise.
 */
import { MAX_INFO_PROBES, type EngineStatus, type NodeInfo, type PeerStatus } from '../engine/types';
import type { LinkView } from '../net/links';
import type { ProbeStatus } from '../probes/score';
import type { ProcessStatus, RuntimeStatus } from '../runtime/runtime';
import type { SyncStatus } from '../sync/status';
import type { Command, CommandOutcome, CommandVerdicts, EventView, PeerView, ProbeView, ProcessView, RuntimeState, StatusView, SyncView } from '../ui/contract';
import type { AdminApi } from './admin-server';
import type { RoleEvent } from './driver';
import { DOMAIN_VIEW_TIMEOUT_MS, type Relay } from './relay';

export interface NodeParts {
  engine: EngineStatus;
  /** What each command would do now (the engine's verdicts, and the supervisor's for resume). */
  commands: CommandVerdicts;
  domain: string;
  version: string;
  pid: number;
  dropped: Record<string, number>;
  supervisor: RuntimeStatus;
  sync: SyncStatus;
  restartNeeded: string[];
  probes: ProbeStatus[];
  opcua: { endpoint: string; serviceLevel: number } | null;
  metrics: { url: string } | null;
  /** The address each peer's heartbeats come from. */
  addresses: ReadonlyMap<string, string>;
  /** Each peer's state on each network. */
  links: { server: string; links: LinkView[] }[];
  /** Networks on which peers heard on another one are silent. */
  linkFaults: string[];
  events: RoleEvent[];
  /** What the doors refused, by door and code. */
  refused: Record<string, Record<string, number>>;
  vip: { address: string; card: string | null; held: boolean; error: string | null } | null;
}

export function statusView(p: NodeParts): StatusView {
  const e = p.engine;
  return {
    server: e.server,
    domain: p.domain,
    role: e.role,
    reason: e.reason,
    epoch: e.epoch,
    maxEpoch: e.maxEpoch,
    roleForMs: e.roleForMs,
    awareness: e.awareness,
    effectiveTimeoutMs: e.effectiveTimeoutMs,
    linkUp: e.linkUp,
    pending: e.pending,
    faults: [...e.faults, ...p.linkFaults],
    quorum: {
      mode: e.quorum.mode, on: e.quorum.on, voters: [...e.quorum.voters], majority: e.quorum.majority, heard: [...e.quorum.heard],
      has: e.quorum.has, supports: e.quorum.supports, leaseMs: e.quorum.leaseMs, warning: e.quorum.warning,
    },
    runtime: {
      wanted: e.runtime.wanted, reached: e.runtime.reached, state: runtimeState(p.supervisor), held: p.supervisor.held, processes: p.supervisor.processes.map(processView),
      failures: { count: e.failures.count, last: e.failures.last, resetInMs: e.failures.resetInMs, banned: e.failures.banned },
    },
    commands: { ...p.commands },
    incompatible: e.incompatible,
    health: { score: e.health.score, failing: e.health.failing, isolated: e.health.isolated, probes: p.probes.map(probeView) },
    sync: syncView(p.sync),
    opcua: p.opcua ? { endpoint: p.opcua.endpoint, serviceLevel: p.opcua.serviceLevel } : null,
    metrics: p.metrics ? { url: p.metrics.url } : null,
    vip: p.vip ? { address: p.vip.address, card: p.vip.card, held: p.vip.held, error: p.vip.error } : null,
    restartNeeded: [...p.restartNeeded],
    peers: e.peers.map((peer) => peerView(peer, p.addresses.get(peer.server) ?? null, p.links.find((l) => l.server === peer.server)?.links ?? [])),
    dropped: { ...p.dropped },
    refused: Object.fromEntries(Object.entries(p.refused).map(([door, codes]) => [door, { ...codes }])),
    events: p.events.map((ev): EventView => ({ at: ev.at, from: ev.from, to: ev.to, epoch: ev.epoch, reason: ev.reason })),
    pid: p.pid,
    version: p.version,
  };
}

function processView(s: ProcessStatus): ProcessView {
  return { name: s.name, runOn: s.runOn, state: s.state, mode: s.mode, pid: s.pid, uptimeMs: s.uptimeMs, restarts: s.restarts, lastExit: s.lastExit };
}

function probeView(s: ProbeStatus): ProbeView {
  return { name: s.name, kind: s.kind, weight: s.weight, ok: s.ok, detail: s.detail, at: s.at, isolating: s.isolating };
}

function syncView(s: SyncStatus): SyncView {
  return {
    file: s.file,
    revision: { n: s.revision.n, t: s.revision.t, by: s.revision.by, hash: s.revision.hash },
    state: s.state,
    message: s.message,
    progress: s.progress,
    conflicts: [...s.conflicts],
    appVersion: s.appVersion,
    port: s.port,
  };
}

function peerView(p: PeerStatus, address: string | null, links: LinkView[]): PeerView {
  const info = p.info;
  return {
    server: p.server,
    role: p.role,
    lastRole: p.lastRole,
    epoch: p.epoch,
    eligible: p.eligible,
    awareness: p.awareness,
    lastHeardMs: p.lastHeardMs,
    health: p.health,
    address,
    versions: info ? { duplex: info.ver, app: info.app } : null,
    revision: info ? { n: info.rev.n, hash: info.rev.h } : null,
    sync: info ? info.sync : null,
    progress: info?.pct ?? null,
    links: links.map((l) => ({ network: l.network, up: l.up, lastHeardMs: l.lastHeardMs })),
    runtime: info?.rt ? { mode: info.rt.mode, state: info.rt.state } : null,
    runtimeEnded: p.ended,
    lastHeardAt: p.lastHeardMs === null ? null : new Date(Date.now() - p.lastHeardMs).toISOString(),
    failures: info ? info.fails ?? (info.rt ? 0 : null) : null,
    probes: info?.rt ? (info.probes ?? []).map((x) => ({ name: x.name, ok: x.ok })) : null,
  };
}

/** A runtime in one word: held, none declared, or what its processes are doing (the least settled state wins). */
export function runtimeState(s: RuntimeStatus): RuntimeState {
  if (s.held) return 'held';
  if (!s.processes.length) return 'none';
  const states = new Set(s.processes.map((x) => x.state));
  if (states.has('waiting to restart')) return 'restarting';
  for (const st of ['stopping', 'starting'] as const) if (states.has(st)) return st;
  // Only the processes of the mode it runs in count: a standby-only process is stopped on the Active.
  return s.mode !== 'stopped' && s.processes.some((x) => x.state === 'running') ? 'running' : 'stopped';
}

/** What a node says about itself in its heartbeats: sync's part (versions, revision, sync state), its runtime and its probe verdicts (the engine adds its crash loops). */
export function nodeInfo(base: NodeInfo, p: { supervisor: RuntimeStatus; probes: ProbeStatus[] }): NodeInfo {
  const info: NodeInfo = { ...base, rt: { mode: p.supervisor.mode, state: runtimeState(p.supervisor) } };
  if (p.probes.length) info.probes = p.probes.slice(0, MAX_INFO_PROBES).map((x) => ({ name: x.name, ok: x.ok }));
  return info;
}

/**
 * The contract's calls on a node: its status, commands to its heartbeat path (or relayed to
 * another server), every server's status (or one server's, for the admin API), and status
 * pushed every second and at every role change while the node runs.
 */
export function contractApi(n: {
  status: () => StatusView;
  running: () => boolean;
  command: (cmd: Command) => Promise<CommandOutcome>;
  onRoleChange: (listener: () => void) => () => void;
  relay: Relay;
  domain: () => string;
  relayWaitMs: () => number;
}): AdminApi {
  return {
    getStatus: async () => n.status(),
    command: (cmd, server) => (server === undefined ? n.command(cmd) : n.relay.command(cmd, server, n.relayWaitMs())),
    getDomain: (timeoutMs) => n.relay.domain(n.domain(), timeoutMs ?? DOMAIN_VIEW_TIMEOUT_MS),
    getServer: (server, timeoutMs) => n.relay.domain(n.domain(), timeoutMs ?? DOMAIN_VIEW_TIMEOUT_MS, server),
    onStatus: (listener) => {
      const push = () => {
        if (n.running()) listener(n.status());
      };
      const timer = setInterval(push, 1_000);
      const off = n.onRoleChange(push);
      push();
      return () => {
        clearInterval(timer);
        off();
      };
    },
  };
}
