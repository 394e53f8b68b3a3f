/** A node's StatusView for unit tests: server a, Active in epoch 3, quorum on, healthy; `over` replaces fields, `peerRoles` makes the peers. */
import type { StatusView } from '../../main/ui/contract';

export function view(over: Partial<StatusView> = {}, peerRoles: Record<string, string> = { b: 'standby' }): StatusView {
  return {
    server: 'a', domain: 'plant', role: 'active', reason: '', epoch: 3, maxEpoch: 3, roleForMs: 1000, awareness: 0, effectiveTimeoutMs: 800,
    linkUp: true, pending: null, faults: [],
    quorum: { mode: 'auto', on: true, voters: ['a', 'b', 'w'], majority: 2, heard: ['a', 'b', 'w'], has: true, supports: 'a (term 3)', leaseMs: 500, warning: null },
    runtime: { wanted: 'active', reached: true, state: 'running', held: null, processes: [], failures: { count: 0, last: null, resetInMs: null, banned: false } },
    commands: { activate: 'a is already Active (epoch 3)', deactivate: null, 'maintenance-on': null, 'maintenance-off': 'a is not in Maintenance', 'report-failure': null, clear: 'nothing to clear', resume: 'not held' },
    incompatible: null,
    health: { score: 255, failing: null, isolated: null, probes: [] },
    sync: { file: '/plant/plant.yaml', revision: { n: 1, t: 0, by: '', hash: 'f'.repeat(64) }, state: 'in-sync', message: null, progress: null, conflicts: [], appVersion: '', port: 47801 },
    opcua: null,
    metrics: null,
    vip: null,
    restartNeeded: [],
    peers: Object.entries(peerRoles).map(([server, role]) => ({
      server, role: role as never, lastRole: role as never, epoch: 0, eligible: true, awareness: 0, lastHeardMs: 100, health: 255, address: '127.0.0.1',
      versions: null, revision: null, sync: null, progress: null, links: [{ network: '127.0.0.1', up: true, lastHeardMs: 100 }], runtime: null, runtimeEnded: null, lastHeardAt: null, failures: null, probes: null,
    })),
    dropped: {} as never, refused: {}, events: [], pid: 1, version: '0.1.0',
    ...over,
  };
}
