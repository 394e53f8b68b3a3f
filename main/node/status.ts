/**
 * The documented view of a node (`StatusView`, ui/contract.ts) built from its parts. Every
 * field is copied by name, so a change of an internal type cannot silently change the JSON
 * that `duplex status --json`, the admin API and the status window promise.
 */
import type { EngineStatus, PeerStatus } from '../engine/types';
import type { LinkView } from '../net/links';
import type { ProbeStatus } from '../probes/score';
import type { ProcessStatus, RuntimeStatus } from '../runtime/runtime';
import type { SyncStatus } from '../sync/status';
import type { DuplexApi, EventView, PeerView, ProbeView, ProcessView, StatusView, SyncView } from '../ui/contract';
import type { EngineDriver, RoleEvent } from './driver';

export interface NodeParts {
  engine: EngineStatus;
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
      wanted: e.runtime.wanted, reached: e.runtime.reached, held: p.supervisor.held, processes: p.supervisor.processes.map(processView),
      failures: { count: e.failures.count, last: e.failures.last, resetInMs: e.failures.resetInMs, banned: e.failures.banned },
    },
    incompatible: e.incompatible,
    health: { score: e.health.score, failing: e.health.failing, isolated: e.health.isolated, probes: p.probes.map(probeView) },
    sync: syncView(p.sync),
    opcua: p.opcua ? { endpoint: p.opcua.endpoint, serviceLevel: p.opcua.serviceLevel } : null,
    metrics: p.metrics ? { url: p.metrics.url } : null,
    restartNeeded: [...p.restartNeeded],
    peers: e.peers.map((peer) => peerView(peer, p.addresses.get(peer.server) ?? null, p.links.find((l) => l.server === peer.server)?.links ?? [])),
    dropped: { ...p.dropped },
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
  };
}

/**
 * The contract's calls on a node: its status, commands through the driver, and status pushed
 * every second and at every role change while the node runs.
 */
export function contractApi(status: () => StatusView, running: () => boolean, driver: EngineDriver): DuplexApi {
  return {
    getStatus: async () => status(),
    command: (cmd) => driver.command(cmd),
    onStatus: (listener) => {
      const push = () => {
        if (running()) listener(status());
      };
      const timer = setInterval(push, 1_000);
      const off = driver.onRoleChange(push);
      push();
      return () => {
        clearInterval(timer);
        off();
      };
    },
  };
}
