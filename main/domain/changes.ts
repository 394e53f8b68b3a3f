/**
 * What a new revision of the domain file changes for one server: what a running node applies
 * at once (`live`) and what takes effect only when it restarts (`restart`). Pure.
 */
import type { DomainConfig } from './schema';

export interface DomainChanges {
  /** Field names that need the node to restart (listed in `restartNeeded`). */
  restart: string[];
  /** Field names applied without a restart. */
  live: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function domainChanges(before: DomainConfig, after: DomainConfig, server: string): DomainChanges {
  const restart: string[] = [];
  for (const k of ['domain', 'multicast', 'secretFile', 'stateDir', 'runtime', 'metrics'] as const) if (!same(before[k], after[k])) restart.push(k);
  if (before.sync.port !== after.sync.port) restart.push('sync.port');
  // the OPC UA endpoint takes its port, address, security and limits when it starts; the Standby's level is read live
  const opcua = (c: DomainConfig) => c.opcuaServer && { ...c.opcuaServer, standbyServiceLevel: 0 };
  if (!same(opcua(before), opcua(after))) restart.push('opcuaServer');
  const address = (c: DomainConfig) => c.servers.find((s) => s.name === server)?.address;
  if (address(before) !== address(after)) restart.push(`servers[${server}].address`);
  const addresses = (c: DomainConfig) => c.servers.find((s) => s.name === server)?.addresses;
  if (!same(addresses(before), addresses(after))) restart.push(`servers[${server}].addresses`);
  const live: string[] = [];
  if (!same(before.servers, after.servers)) live.push('servers');
  if (!same(before.timings, after.timings)) live.push('timings');
  if (before.failback !== after.failback) live.push('failback');
  if (before.quorum !== after.quorum) live.push('quorum');
  if (!same(before.sync, after.sync)) live.push('sync');
  if (before.appVersion !== after.appVersion) live.push('appVersion');
  if (!same(before.virtualIp, after.virtualIp)) live.push('virtualIp');
  return { restart, live };
}
