/** What the status window shows, computed from a node's status (no DOM here). */
import type { StatusView, Command } from '../main/ui/contract';

export interface Row {
  server: string;
  self: boolean;
  address: string;
  role: string;
  epoch: string;
  health: string;
  runtime: string;
  versions: string;
  revision: string;
  outOfSync: boolean;
  lastHeard: string;
}

const cap = (r: string) => r.charAt(0).toUpperCase() + r.slice(1);

export function rows(s: StatusView): Row[] {
  const newest = Math.max(s.sync.revision.n, ...s.peers.map((p) => p.revision?.n ?? -1));
  const mine = s.sync.revision.hash.slice(0, 16);
  const runtime = s.runtime.held ? 'held (Resume)' : s.runtime.processes.length
    ? s.runtime.processes.map((p) => `${p.name} ${p.state}${p.mode ? ` (${p.mode})` : ''}`).join(', ')
    : 'none declared';
  const self: Row = {
    server: s.server,
    self: true,
    address: 'this server',
    role: cap(s.role),
    epoch: String(s.epoch),
    health: s.incompatible ? `incompatible: ${s.incompatible}` : !s.linkUp ? 'network card down'
      : `${s.health.score}${s.health.failing ? ` (${s.health.failing})` : ''}${s.health.isolated ? ', may be isolated' : ''}${s.awareness > 0 ? `, local trouble (awareness ${s.awareness})` : ''}`,
    runtime,
    versions: `${s.version}${s.sync.appVersion ? ` / ${s.sync.appVersion}` : ''}`,
    revision: `${s.sync.revision.n}${s.sync.state !== 'in-sync' ? ` (${s.sync.state}${s.sync.progress !== null ? ` ${s.sync.progress}%` : ''})` : ''}`,
    outOfSync: s.sync.revision.n !== newest || s.sync.state === 'error',
    lastHeard: '—',
  };
  const peers = s.peers.map((p): Row => ({
    server: p.server,
    self: false,
    address: p.address ?? '—',
    role: cap(p.role),
    epoch: String(p.epoch),
    health: p.role === 'unreachable' ? 'not heard'
      : `${p.health ?? '—'}${p.eligible || p.role === 'inactive' || p.role === 'maintenance' ? '' : ', cannot take over'}${p.awareness > 0 ? `, local trouble (awareness ${p.awareness})` : ''}`,
    runtime: '—',
    versions: p.versions ? `${p.versions.duplex}${p.versions.app ? ` / ${p.versions.app}` : ''}` : '—',
    revision: p.revision ? `${p.revision.n}${p.sync && p.sync !== 'in-sync' ? ` (${p.sync}${p.progress !== null ? ` ${p.progress}%` : ''})` : ''}` : '—',
    outOfSync: p.revision !== null && (p.revision.n !== newest || (p.revision.n === s.sync.revision.n && p.revision.hash !== mine) || p.sync === 'error'),
    lastHeard: p.lastHeardMs === null ? 'never' : p.lastHeardMs < 1000 ? `${p.lastHeardMs} ms ago` : `${Math.round(p.lastHeardMs / 1000)} s ago`,
  }));
  return [self, ...peers];
}

/** Quorum in one line: the voters heard and whom this server supports, or what a domain without quorum risks. */
export function quorumLine(s: StatusView): { text: string; warn: boolean } {
  const q = s.quorum;
  if (!q.on) return { text: `Warning: ${q.warning}`, warn: true };
  const lease = q.leaseMs !== null ? `; the majority's support holds for ${q.leaseMs} ms more` : '';
  return {
    text: `Quorum: ${q.has ? 'yes' : 'NO'} — hears ${q.heard.length} of ${q.voters.length} voters (${q.heard.join(', ')}; ${q.majority} needed)${q.supports ? `, supports ${q.supports}` : ''}${lease}`,
    warn: !q.has,
  };
}

export function summary(s: StatusView): string {
  return `${s.server} is ${cap(s.role)}${s.role === 'active' ? ` (epoch ${s.epoch})` : ''}: ${s.reason}${s.pending ? ` — ${s.pending}` : ''}`;
}

/** What a button will do, in plain words, for the confirmation dialog. */
export function confirmText(cmd: Command, s: StatusView): string {
  const active = s.peers.find((p) => p.role === 'active');
  const standby = s.peers.find((p) => p.role === 'standby');
  switch (cmd.kind) {
    case 'activate':
      return active
        ? `${active.server} will stop its runtime and hand over; then ${s.server} starts the runtime as the Active server. The plant runtime is briefly not running during the switchover.`
        : `No Active server is reachable: ${s.server} will take over and start the runtime.`;
    case 'deactivate':
      return standby
        ? `${s.server} will stop its runtime and hand over to ${standby.server}, which becomes the Active server.`
        : `No Standby is ready: ${s.server} cannot hand over (the request will be refused).`;
    case 'resume':
      return `${s.server} will start the runtime it held after the failover. Check the plant first.`;
    case 'maintenance':
      return cmd.on ? `${s.server} will take part in nothing until Maintenance is switched off.` : `${s.server} will rejoin the domain.`;
    case 'report-failure':
      return `${s.server} will hand over to the Standby because of a reported failure (${cmd.reason}).`;
    case 'clear':
      return `${s.server} will forget its runtime crash loops and may be Active or Standby again.`;
  }
}
