/** What the status window shows, computed from a node's status and the domain view (no DOM here). */
import type { Command, CommandVerdicts, DomainView, StatusView } from '../main/ui/contract';
import { healthWords } from '../main/ui/words.js';

export interface Row {
  server: string;
  self: boolean;
  address: string;
  role: string;
  epoch: string;
  health: string;
  runtime: string;
  probes: { name: string; ok: boolean }[] | null;
  failures: string;
  versions: string;
  revision: string;
  outOfSync: boolean;
  lastHeard: string;
}

const cap = (r: string) => r.charAt(0).toUpperCase() + r.slice(1);

/** A time of day in this computer's locale on a 24-hour clock, with the date when it is not today. */
export function clock(iso: string | number, now = Date.now()): string {
  const t = new Date(iso);
  const time = t.toLocaleTimeString(undefined, { hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return new Date(now).toDateString() === t.toDateString() ? time : `${t.toLocaleDateString(undefined, { year: 'numeric', month: '2-digit', day: '2-digit' })} ${time}`;
}

function ago(ms: number): string {
  return ms < 1000 ? `${ms} ms ago` : `${Math.round(ms / 1000)} s ago`;
}

/**
 * The engine's and the node's words made the window's: they name the command line (`duplex
 * maintenance off`, `--force`), the window has buttons and no flags.
 */
const WINDOW_WORDS: [RegExp, string][] = [
  [/\. Use --force to do it anyway/g, '. Bring a Standby up first: the status window does not force it'],
  [/\(duplex maintenance off to leave it\)/g, '(Maintenance off to leave it)'],
  [/\(duplex maintenance off\)/g, '(Maintenance off)'],
  [/duplex clear( --server \S+)?/g, 'Clear failures'],
  [/\(duplex activate overrides\)/g, '(Activate overrides)'],
  [/check with duplex status --all/g, 'check the servers above'],
  [/duplex resume/g, 'Resume runtime'],
];

export function windowWords(text: string): string {
  return WINDOW_WORDS.reduce((t, [re, words]) => t.replace(re, words), text);
}

type Peer = StatusView['peers'][number];

/**
 * A peer's runtime: as its heartbeats say while it is heard; once it is not, what is known —
 * `fenced` (its guardian killed it and said so), `stopped` (its node stopped it and said so),
 * else `unknown`, with what was last heard and when. Never `running` for a server not heard.
 */
export function peerRuntime(p: Peer): string {
  if (p.runtimeEnded === 'fenced') return 'fenced';
  if (p.runtimeEnded === 'stopped') return 'stopped';
  const silent = p.role === 'unreachable' || p.role === 'unknown';
  if (!p.runtime) return silent ? 'unknown' : '—';
  if (silent) return `unknown (last heard: ${p.runtime.state}${p.lastHeardAt ? `, ${clock(p.lastHeardAt)}` : ''})`;
  if (p.runtime.state === 'held') return 'held (Resume)';
  return `${p.runtime.state}${p.runtime.mode !== 'stopped' ? ` (${p.runtime.mode})` : ''}`;
}

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
      : `${healthWords(s.health.score)}${s.health.failing ? ` (${s.health.failing})` : ''}${s.health.isolated ? ', may be isolated' : ''}${s.awareness > 0 ? `, local trouble (awareness ${s.awareness})` : ''}`,
    runtime,
    probes: s.health.probes.map((p) => ({ name: p.name, ok: p.ok })),
    failures: String(s.runtime.failures.count) + (s.runtime.failures.banned ? ' (banned from Active)' : ''),
    versions: `${s.version}${s.sync.appVersion ? ` / ${s.sync.appVersion}` : ''}`,
    revision: `${s.sync.revision.n}${s.sync.state !== 'in-sync' ? ` (${s.sync.state}${s.sync.progress !== null ? ` ${s.sync.progress}%` : ''})` : ''}`,
    outOfSync: s.sync.revision.n !== newest || s.sync.state === 'error',
    lastHeard: '—',
  };
  const peers = s.peers.map((p): Row => {
    const silent = p.role === 'unreachable' || p.role === 'unknown';
    return {
      server: p.server,
      self: false,
      address: p.address ?? '—',
      role: cap(p.role),
      epoch: String(p.epoch),
      health: silent ? 'not heard'
        : `${healthWords(p.health ?? 255)}${p.eligible || p.role === 'inactive' || p.role === 'maintenance' ? '' : ', cannot take over'}${p.awareness > 0 ? `, local trouble (awareness ${p.awareness})` : ''}`,
      runtime: peerRuntime(p),
      probes: p.probes,
      failures: p.failures === null ? '—' : String(p.failures),
      versions: p.versions ? `${p.versions.duplex}${p.versions.app ? ` / ${p.versions.app}` : ''}` : '—',
      revision: p.revision ? `${p.revision.n}${p.sync && p.sync !== 'in-sync' ? ` (${p.sync}${p.progress !== null ? ` ${p.progress}%` : ''})` : ''}` : '—',
      outOfSync: p.revision !== null && (p.revision.n !== newest || (p.revision.n === s.sync.revision.n && p.revision.hash !== mine) || p.sync === 'error'),
      lastHeard: p.lastHeardMs === null ? 'never' : ago(p.lastHeardMs),
    };
  });
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
  return windowWords(`${s.server} is ${cap(s.role)}${s.role === 'active' ? ` (epoch ${s.epoch})` : ''}: ${s.reason}${s.pending ? ` — ${s.pending}` : ''}`);
}

/** The buttons of the command bar: the command, its label, and the name of its verdict. */
export const BUTTONS: { id: string; label: string; verdict: keyof CommandVerdicts; cmd: Command }[] = [
  { id: 'activate', label: 'Activate', verdict: 'activate', cmd: { kind: 'activate' } },
  { id: 'deactivate', label: 'Deactivate', verdict: 'deactivate', cmd: { kind: 'deactivate' } },
  { id: 'maintenance-on', label: 'Maintenance on', verdict: 'maintenance-on', cmd: { kind: 'maintenance', on: true } },
  { id: 'maintenance-off', label: 'Maintenance off', verdict: 'maintenance-off', cmd: { kind: 'maintenance', on: false } },
  { id: 'resume', label: 'Resume runtime', verdict: 'resume', cmd: { kind: 'resume' } },
  { id: 'clear', label: 'Clear failures', verdict: 'clear', cmd: { kind: 'clear' } },
];

/**
 * The status of the server the commands are for: this node's own, or the one the domain view
 * fetched from that server's node; null (with why) when there is none.
 */
export function targetStatus(target: string, own: StatusView, domain: DomainView | null): { status: StatusView | null; why: string | null } {
  if (target === own.server) return { status: own, why: null };
  const entry = domain?.servers.find((x) => x.server === target);
  if (!entry) return { status: null, why: `waiting for the status of ${target}'s node` };
  return entry.status ? { status: entry.status, why: null } : { status: null, why: `cannot reach ${target}'s node: ${entry.error ?? 'no answer'}` };
}

/** Each button: enabled only when its command can be carried out now, else the reason (the engine's own words). */
export function buttonStates(target: { status: StatusView | null; why: string | null }, busy: boolean): { id: string; label: string; disabled: boolean; reason: string | null; hidden: boolean }[] {
  return BUTTONS.map((b) => {
    const s = target.status;
    const verdict = busy ? 'a command is being carried out' : s ? s.commands[b.verdict] : target.why;
    const reason = verdict === null ? null : windowWords(verdict);
    // Clear failures appears once there is a failure count; Resume once a runtime is held.
    const hidden = (b.id === 'clear' && !(s && s.runtime.failures.count > 0)) || (b.id === 'resume' && !(s && s.runtime.held));
    return { id: b.id, label: b.label, disabled: reason !== null, reason, hidden };
  });
}

/** What a button will do, in plain words, for the confirmation dialog. `s` is the status of the server it is for. */
export function confirmText(cmd: Command, s: StatusView, viewer: string): string {
  const active = s.peers.find((p) => p.role === 'active');
  const standby = s.peers.find((p) => p.role === 'standby');
  const relayed = s.server === viewer ? '' : ` (sent through ${viewer}'s node to ${s.server}'s)`;
  const what = ((): string => {
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
        return cmd.on
          ? `${s.server} will take part in nothing until Maintenance is switched off${s.role === 'active' ? `; it hands over to ${standby?.server ?? 'the Standby'} first` : ''}.`
          : `${s.server} will rejoin the domain.`;
      case 'report-failure':
        return `${s.server} will hand over to the Standby because of a reported failure (${cmd.reason}).`;
      case 'clear':
        return `${s.server} will forget its runtime crash loops and may be Active or Standby again.`;
    }
  })();
  return `${what}${relayed}`;
}
