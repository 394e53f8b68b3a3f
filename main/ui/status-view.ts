/**
 * The documented, stable JSON of `duplex status --json` (README: "Status JSON"). The tray,
 * the status window and the CLI all show this one view of a node.
 */
import type { NodeStatus } from '../node/node';
import type { StatusView } from './contract';

export type { StatusView };

export function publicStatus(s: NodeStatus): StatusView {
  return {
    server: s.server,
    domain: s.domain,
    role: s.role,
    reason: s.reason,
    epoch: s.epoch,
    roleForMs: s.roleForMs,
    awareness: s.awareness,
    effectiveTimeoutMs: s.effectiveTimeoutMs,
    linkUp: s.linkUp,
    pending: s.pending,
    runtime: { wanted: s.runtime.wanted, reached: s.runtime.reached, held: s.supervisor.held, processes: s.supervisor.processes },
    incompatible: s.incompatible,
    health: { ...s.health, probes: s.probes },
    opcua: s.opcua,
    sync: s.sync,
    restartNeeded: s.restartNeeded,
    peers: s.peers.map(({ info, ...p }) => ({
      ...p,
      address: s.addresses[p.server] ?? null,
      versions: info ? { duplex: info.ver, app: info.app } : null,
      revision: info ? { n: info.rev.n, hash: info.rev.h } : null,
      sync: info ? info.sync : null,
      progress: info?.pct ?? null,
    })),
    dropped: s.dropped,
    events: s.events,
    pid: s.pid,
    version: s.version,
  };
}

