/** The CLI's text: a node's status, the domain's revisions, and every server of the domain in one table. Pure. */
import type { DomainView, StatusView } from '../ui/contract';
import { healthWords, roleWord, runtimeWords } from '../ui/words';

/** Columns padded to their widest cell, two spaces apart, each line indented by two. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => `  ${r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')}`.trimEnd());
}

/** `duplex domain status`: one line per server with its revision and sync state; out of sync is marked. */
export function formatDomainStatus(s: StatusView): string {
  const rows = [
    { server: s.server, role: s.role, rev: { n: s.sync.revision.n, h: s.sync.revision.hash.slice(0, 16) }, sync: s.sync.state, pct: s.sync.progress, ver: `${s.version}${s.sync.appVersion ? ` / ${s.sync.appVersion}` : ''}` },
    ...s.peers.map((p) => ({
      server: p.server, role: p.role,
      rev: p.revision ? { n: p.revision.n, h: p.revision.hash } : null,
      sync: p.sync ?? '?', pct: p.progress,
      ver: p.versions ? `${p.versions.duplex}${p.versions.app ? ` / ${p.versions.app}` : ''}` : '?',
    })),
  ];
  const newest = rows.reduce((m, r) => (r.rev && (!m || r.rev.n > m.n) ? r.rev : m), null as { n: number; h: string } | null);
  const lines = [
    `Domain ${s.domain} · ${s.sync.file} · revision ${s.sync.revision.n} (${s.sync.revision.hash.slice(0, 12)}) in force on ${s.server}${s.sync.revision.by ? `, edited on ${s.sync.revision.by} at ${new Date(s.sync.revision.t).toISOString()}` : ''}`,
    ...(s.sync.message ? [`  ${s.sync.state === 'conflict' ? 'conflict' : 'problem'}: ${s.sync.message}`] : []),
    ...(s.restartNeeded.length ? [`  restart needed for: ${s.restartNeeded.join(', ')}`] : []),
    '',
    `  ${'server'.padEnd(14)}${'role'.padEnd(13)}${'revision'.padEnd(10)}${'hash'.padEnd(18)}${'sync'.padEnd(14)}versions`,
    ...rows.map((r) => {
      const out = r.rev && newest && (r.rev.n !== newest.n || r.rev.h !== newest.h) ? '  OUT OF SYNC' : '';
      const sync = r.sync === 'syncing' && r.pct !== null ? `syncing ${r.pct}%` : r.sync;
      return `  ${r.server.padEnd(14)}${r.role.padEnd(13)}${String(r.rev?.n ?? '?').padEnd(10)}${(r.rev?.h ?? '?').padEnd(18)}${sync.padEnd(14)}${r.ver}${out}`;
    }),
    '',
  ];
  return lines.join('\n');
}

/** The crash-loop count, when it resets, and a ban from the Active role. */
function formatFailures(s: StatusView): string {
  const f = s.runtime.failures;
  const resets = f.resetInMs === null ? '' : `, resets in ${f.resetInMs >= 60_000 ? `${Math.floor(f.resetInMs / 60_000)} min ${Math.round((f.resetInMs % 60_000) / 1000)} s` : `${Math.ceil(f.resetInMs / 1000)} s`}`;
  const banned = f.banned ? `; NOT ELIGIBLE for Active or Standby until then (duplex clear --server ${s.server} lifts it)` : '';
  return `  runtime failures: ${f.count} crash loop${f.count === 1 ? '' : 's'}${resets} (the last: ${f.last})${banned}`;
}

function formatQuorum(s: StatusView): string {
  const q = s.quorum;
  if (!q.on) return `  WARNING: ${q.warning}`;
  const lease = q.leaseMs !== null ? `; the majority's support holds for ${q.leaseMs} ms more` : '';
  return `  quorum: ${q.has ? 'yes' : 'NO'}, hears ${q.heard.length} of ${q.voters.length} voters (${q.heard.join(', ')}; ${q.majority} needed)${q.supports ? `, supports ${q.supports}` : ''}${lease}`;
}

/** The virtual IP as this server has it: held here or not, on which card, and the last failure with the command that failed. */
function formatVip(s: StatusView): string[] {
  const v = s.vip;
  if (!v) return [];
  if (v.card === null) return [`  vip ${v.address}: NO CARD here can take it: ${v.error ?? 'see the log'}`];
  const where = v.held ? `held here on ${v.card}` : `not held here (it goes on ${v.card} when ${s.server} is Active)`;
  return [`  vip ${v.address}: ${where}${v.error ? `; FAILED: ${v.error}` : ''}`];
}

/** `duplex status`: one node's view, its peers as it hears them. */
export function formatStatus(s: StatusView): string {
  const lines = [
    `Domain ${s.domain} · server ${s.server} · ${roleWord(s.role)}${s.role === 'active' ? ` (epoch ${s.epoch})` : ''}`,
    `  why: ${s.reason}`,
    ...(s.pending ? [`  pending: ${s.pending}`] : []),
    ...(s.runtime.held ? [`  runtime HELD: ${s.runtime.held}; start it with: duplex resume`] : []),
    ...(s.runtime.processes.length
      ? s.runtime.processes.map((p) => `  runtime ${p.name}: ${p.state}${p.mode ? ` in ${p.mode} mode` : ''}${p.pid ? ` (pid ${p.pid}, up ${Math.round((p.uptimeMs ?? 0) / 1000)} s)` : ''}, ${p.restarts} restarts${p.lastExit ? `, last exit ${p.lastExit}` : ''}`)
      : ['  runtime: none declared in the domain file']),
    ...(s.incompatible ? [`  INCOMPATIBLE: ${s.incompatible}`] : []),
    ...(s.runtime.failures.count ? [formatFailures(s)] : []),
    `  health: ${healthWords(s.health.score)}${s.health.failing ? ` (${s.health.failing})` : ''}`,
    formatQuorum(s),
    ...formatVip(s),
    `  domain: revision ${s.sync.revision.n} (${s.sync.revision.hash.slice(0, 12)}), ${s.sync.state}${s.sync.progress !== null ? ` ${s.sync.progress}%` : ''}${s.sync.message ? `: ${s.sync.message}` : ''}`,
    ...(s.restartNeeded.length ? [`  restart needed for: ${s.restartNeeded.join(', ')}`] : []),
    '',
    `  ${'server'.padEnd(16)}${'role'.padEnd(14)}${'epoch'.padEnd(8)}last heard`,
    `  ${s.server.padEnd(16)}${s.role.padEnd(14)}${String(s.epoch).padEnd(8)}(this server)`,
    ...s.peers.map((p) => `  ${p.server.padEnd(16)}${p.role.padEnd(14)}${String(p.epoch).padEnd(8)}${p.lastHeardMs === null ? 'never' : `${p.lastHeardMs} ms ago`}`),
    '',
  ];
  const dropped = Object.entries(s.dropped).filter(([, n]) => n > 0);
  lines.push(`  dropped datagrams: ${dropped.length ? dropped.map(([r, n]) => `${r} ${n}`).join(', ') : 'none'}`);
  if (s.awareness > 0) lines.push(`  local trouble: awareness ${s.awareness}, failure timeout stretched to ${s.effectiveTimeoutMs} ms`);
  return `${lines.join('\n')}\n`;
}

function revisionText(s: StatusView, newest: number): string {
  const { revision, state, progress } = s.sync;
  const sync = state === 'in-sync' ? '' : state === 'syncing' && progress !== null ? ` syncing ${progress}%` : ` ${state}`;
  return `${revision.n}${sync}${revision.n < newest ? ' BEHIND' : ''}`;
}

/**
 * `duplex status --all`: every server of the domain in one table as the asked node gathered
 * it. A server that did not answer is shown as the asked node hears it (role, epoch, health
 * from its heartbeats), with the reason below the table.
 */
export function formatDomainView(v: DomainView, at?: Date): string {
  const answered = v.servers.map((e) => e.status).filter((s): s is StatusView => s !== null);
  const asker = answered.find((s) => s.server === v.from);
  const quorumOn = answered.some((s) => s.quorum.on);
  const newest = Math.max(0, ...answered.map((s) => s.sync.revision.n));
  const head = ['server', 'role', 'epoch', 'health', 'runtime', 'revision', 'failures', ...(quorumOn ? ['quorum'] : [])];
  const notes: string[] = [];
  const rows = v.servers.map(({ server, status: s, error }) => {
    if (s) {
      const f = s.runtime.failures;
      for (const fault of s.faults) notes.push(`  ${server}: ${fault}`);
      if (s.incompatible) notes.push(`  ${server}: INCOMPATIBLE: ${s.incompatible}`);
      return [
        server, roleWord(s.role), String(s.epoch), healthWords(s.health.score), runtimeWords(s.runtime.wanted, s.runtime.state),
        revisionText(s, newest), `${f.count}${f.banned ? ' BANNED' : ''}`,
        ...(quorumOn ? [s.quorum.on ? `${s.quorum.has ? 'yes' : 'NO'} ${s.quorum.heard.length}/${s.quorum.voters.length}` : 'off'] : []),
      ];
    }
    notes.push(`  ${server}: NO ANSWER: ${error ?? 'no reason given'}`);
    const p = asker?.peers.find((x) => x.server === server);
    const heard = p ? `${p.role === 'unreachable' && p.lastRole ? `unreachable (was ${roleWord(p.lastRole)})` : roleWord(p.role)}` : 'no answer';
    // A server not heard: its runtime is what its release said (fenced, stopped), else unknown, never what it last was.
    const silent = !p || p.role === 'unreachable' || p.role === 'unknown';
    const runtime = p?.runtimeEnded ?? (silent ? 'unknown' : p.runtime ? runtimeWords(p.runtime.mode, p.runtime.state) : '?');
    return [
      server, `${heard} *`, p ? String(p.epoch) : '?', healthWords(p?.health ?? null), runtime,
      p?.revision ? String(p.revision.n) : '?', p?.failures != null ? String(p.failures) : '?', ...(quorumOn ? ['?'] : []),
    ];
  });
  const q = asker?.quorum;
  const lines = [
    `Domain ${v.domain} · ${v.servers.length} servers · asked ${v.from}${at ? ` at ${at.toTimeString().slice(0, 8)}` : ''}`,
    ...table([head, ...rows]),
    ...(q?.on ? [`  quorum: ${q.voters.length} voters (${q.voters.join(', ')}), ${q.majority} make a majority${q.supports ? `; ${v.from} supports ${q.supports}` : ''}`] : []),
    ...(rows.some((r) => r[1]!.endsWith(' *')) ? [`  * did not answer: as ${v.from} last heard it`] : []),
    ...notes,
  ];
  return `${lines.join('\n')}\n`;
}
