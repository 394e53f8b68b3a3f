#!/usr/bin/env node
/**
 * `duplex` — the command line. Every command that talks to a node takes
 * --domain <file> --server <name> and finds that node's admin endpoint from them.
 *
 * Exit codes: 0 done; 1 refused or failed (the message says why); 2 wrong usage or a bad
 * domain file; 3 no node is running for that server.
 *
 * Only `run`, `init`, `domain check`, `domain finish` and `domain rollback` load the node or the
 * domain file's parser (yaml, zod);
 * every other command finds the node from the domain file's `stateDir` line and talks to it
 * through the admin client alone.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROLLBACK_WAIT_MS } from './defaults';
import { quickLocate, type DomainLocation } from './domain/location';
import { askNode, NoNodeError, type AdminReply } from './node/admin-client';
import { nodePaths } from './node/paths';
import type { Command, CommandOutcome, StatusView } from './ui/contract';
import { VERSION } from './version';

const USAGE = `duplex ${VERSION} — hot-standby redundancy for plant servers

Usage:
  duplex init        --domain <file> --servers a,b[,c…] [--interface <address|cidr>] [--group <ip>] [--port <n>] [--force]
  duplex run         --domain <file> --server <name>
  duplex status      --domain <file> --server <name> [--json]
  duplex activate    --domain <file> --server <name>
  duplex deactivate  --domain <file> --server <name>
  duplex maintenance on|off --domain <file> --server <name> [--force]
  duplex resume      --domain <file> --server <name>    start a runtime held after a failover (confirmResume)
  duplex clear       --domain <file> --server <name>    forget the server's runtime crash loops: a server that
                                                        handed over because of one may be Active again at once
  duplex report-failure --domain <file> --server <name> --reason <text>   the application asks for a switchover
  duplex domain check <file>                            validate a domain file (exit 2 with the problems)
  duplex domain status --domain <file> --server <name>  revision and sync state of every server
  duplex domain rollback <N> --domain <file> --server <name>
                                                        put the kept revision N (<file>.rev<N>) back in force on
                                                        every server, as a new revision
  duplex domain finish <file>                           add the end line to a whole domain file written by an
                                                        older Duplex (it is refused without it)
  duplex service install --domain <file> --server <name> [--account <user>] [--dry-run]
                                                        run this server's node as a service from boot (Windows:
                                                        the "Duplex" service, firewall rules, ACLs; Linux: a
                                                        systemd unit); as Administrator or root
  duplex service uninstall [--dry-run]                  remove the service; keeps the domain file, secret and logs
  duplex service status                                 whether the service is installed and running

Exit codes: 0 done, 1 refused or failed, 2 wrong usage or bad domain file, 3 no node running.
`;

class UsageError extends Error {}

const EXIT = { ok: 0, failed: 1, usage: 2, noNode: 3 } as const;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      domain: { type: 'string' },
      server: { type: 'string' },
      servers: { type: 'string' },
      interface: { type: 'string' },
      group: { type: 'string' },
      port: { type: 'string' },
      json: { type: 'boolean' },
      force: { type: 'boolean' },
      reason: { type: 'string' },
      account: { type: 'string' },
      winsw: { type: 'string' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return EXIT.ok;
  }
  const [verb, arg] = positionals;
  if (values.help || !verb) {
    process.stdout.write(USAGE);
    return values.help ? EXIT.ok : EXIT.usage;
  }
  const need = (name: 'domain' | 'server'): string => {
    const v = values[name];
    if (!v) throw new UsageError(`duplex ${verb} needs --${name}`);
    return v;
  };

  switch (verb) {
    case 'init': {
      const servers = (values.servers ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      if (!servers.length) throw new UsageError('duplex init needs --servers a,b[,c…]');
      const port = values.port === undefined ? undefined : Number(values.port);
      if (port !== undefined && !Number.isInteger(port)) throw new UsageError(`--port must be a number, got ${values.port}`);
      const { initDomain } = await import('./domain/init');
      const r = initDomain({ file: need('domain'), servers, interface: values.interface, group: values.group, port, force: values.force });
      process.stdout.write(`wrote ${r.file}\nsecret ${r.secretFile} (copy both to every server, same path)\n`);
      if (!values.interface) {
        process.stdout.write('note: the domain uses 127.0.0.1, so all its servers must run on this machine; for real servers pass --interface <address or CIDR of the redundancy network>\n');
      }
      return EXIT.ok;
    }
    case 'run':
      return run(need('domain'), need('server'));
    case 'status': {
      const s = await status(need('domain'), need('server'));
      process.stdout.write(values.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s));
      return EXIT.ok;
    }
    case 'activate':
    case 'deactivate':
      return command(need('domain'), need('server'), { kind: verb });
    case 'maintenance': {
      if (arg !== 'on' && arg !== 'off') throw new UsageError('duplex maintenance needs on or off');
      return command(need('domain'), need('server'), { kind: 'maintenance', on: arg === 'on', force: values.force === true });
    }
    case 'domain': {
      if (arg === 'check') {
        const file = positionals[2] ?? values.domain;
        if (!file) throw new UsageError('duplex domain check needs the file: duplex domain check plant.yaml');
        const { loadDomain } = await import('./domain/load');
        const d = loadDomain(file);
        const servers = d.config.servers.map((x) => `${x.name} (${x.role}${x.maintenance ? ', maintenance' : ''})`).join(', ');
        process.stdout.write(`ok: ${d.file} is a valid domain file: domain ${d.config.domain}, servers ${servers}${d.config.sync.files.length ? `, syncs ${d.config.sync.files.join(', ')}` : ''}\n`);
        const { noQuorumWarning, quorumInForce, votersOf } = await import('./engine/quorum');
        const voters = votersOf(d.config.servers.map((x) => ({ name: x.name, kind: x.role, maintenance: x.maintenance })));
        process.stdout.write(quorumInForce(d.config.quorum, voters.length)
          ? `quorum: ${voters.length} voters (${voters.join(', ')}); a server takes over, and an Active keeps its runtime, only with ${Math.floor(voters.length / 2) + 1} of them\n`
          : `warning: ${noQuorumWarning(d.config.quorum, voters)}\n`);
        return EXIT.ok;
      }
      if (arg === 'status') {
        process.stdout.write(formatDomainStatus(await status(need('domain'), need('server'))));
        return EXIT.ok;
      }
      if (arg === 'rollback') return rollback(need('domain'), need('server'), positionals[2]);
      if (arg === 'finish') {
        const file = positionals[2] ?? values.domain;
        if (!file) throw new UsageError('duplex domain finish needs the file: duplex domain finish plant.yaml');
        const { finishDomainFile } = await import('./domain/init');
        const { END_LINE } = await import('./domain/end');
        const done = finishDomainFile(file);
        process.stdout.write(done
          ? `ok: added the line "${END_LINE}" at the end of ${resolve(file)}; a running node takes it as an edit and sends it to the other servers\n`
          : `ok: ${resolve(file)} already ends with the line "${END_LINE}"; nothing to do\n`);
        return EXIT.ok;
      }
      throw new UsageError('duplex domain needs check, status, rollback or finish');
    }
    case 'report-failure': {
      if (!values.reason?.trim()) throw new UsageError('duplex report-failure needs --reason <text> (what failed, for the log and the Standby)');
      return command(need('domain'), need('server'), { kind: 'report-failure', reason: values.reason });
    }
    case 'resume':
      return command(need('domain'), need('server'), { kind: 'resume' });
    case 'clear':
      return command(need('domain'), need('server'), { kind: 'clear' });
    case 'service': {
      if (arg !== 'install' && arg !== 'uninstall' && arg !== 'status') throw new UsageError('duplex service needs install, uninstall or status');
      const { serviceCommand } = await import('./service/service');
      return serviceCommand(arg, { need, account: values.account, winsw: values.winsw, dryRun: values['dry-run'] === true }, (line) => process.stdout.write(`${line}\n`));
    }
    default:
      throw new UsageError(`unknown command "${verb}"`);
  }
}

/** Sends a command and prints its outcome; the exit code says whether it was done. */
async function command(domainFile: string, server: string, cmd: Command): Promise<number> {
  const b = (await call(domainFile, server, 'POST', '/command', cmd)).body as CommandOutcome;
  (b.ok ? process.stdout : process.stderr).write(`${b.ok ? '' : 'refused: '}${b.message}\n`);
  return b.ok ? EXIT.ok : EXIT.failed;
}

/** The node's status; when it reports that its domain file is not valid, the file's problems are printed first. */
async function status(domainFile: string, server: string): Promise<StatusView> {
  const s = (await call(domainFile, server, 'GET', '/status')).body as StatusView;
  if (s.sync.state === 'error') {
    const { problem } = await fullLocate(domainFile);
    if (problem) warnInvalid(problem);
  }
  return s;
}

/**
 * `duplex domain rollback <N>`: writes the kept version of revision N as the domain file
 * (atomically). The node takes it like any edit — a new, higher revision — and sends it to
 * the other servers; this waits until it is in force here and on every server that answers.
 */
async function rollback(domainFile: string, server: string, nArg: string | undefined): Promise<number> {
  if (nArg === undefined || !/^\d+$/.test(nArg)) {
    throw new UsageError(`duplex domain rollback needs the number of the revision to put back, e.g. duplex domain rollback 3 --domain ${domainFile} --server ${server}`);
  }
  const n = Number(nArg);
  const { rollbackText, RollbackError } = await import('./sync/versions');
  const { writeFileAtomic } = await import('./util/atomic');
  const file = resolve(domainFile);
  let back: { text: string; from: string; addedEndLine: boolean };
  try {
    back = rollbackText(file, n);
  } catch (e) {
    if (!(e instanceof RollbackError)) throw e;
    process.stderr.write(`duplex: ${e.message}\n`);
    return EXIT.failed;
  }
  let current: string | null = null;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // missing: put back all the same
  }
  if (current === back.text) {
    process.stdout.write(`ok: ${file} already holds the content of revision ${n}; nothing to do (duplex domain status shows what is in force)\n`);
    return EXIT.ok;
  }
  let before: StatusView;
  try {
    before = (await call(domainFile, server, 'GET', '/status')).body as StatusView;
  } catch (e) {
    if (!(e instanceof NoNodeError)) throw e;
    writeFileAtomic(file, back.text, { keepPrevious: false });
    throw new NoNodeError(`${e.message}. The domain file is put back to revision ${n} (from ${back.from}); it becomes a new revision, sent to the other servers, when the node starts`);
  }
  writeFileAtomic(file, back.text, { keepPrevious: false });
  if (back.addedEndLine) process.stdout.write(`note: ${back.from} was kept without the end line; it is put back with it\n`);
  const deadline = Date.now() + ROLLBACK_WAIT_MS;
  const ask = async () => (await call(domainFile, server, 'GET', '/status')).body as StatusView;
  let now = await ask();
  // The node takes the file once it has stopped changing (the settle time).
  while (now.sync.revision.n <= before.sync.revision.n && !(before.sync.state === 'error' && now.sync.state !== 'error')) {
    if (Date.now() > deadline) {
      process.stderr.write(`duplex: ${server} has not taken the put-back file within ${ROLLBACK_WAIT_MS / 1000} s; revision ${now.sync.revision.n} stays in force${now.sync.message ? ` (${now.sync.message})` : ''}; see duplex status --domain ${domainFile} --server ${server}\n`);
      return EXIT.failed;
    }
    await new Promise((r) => setTimeout(r, 100));
    now = await ask();
  }
  if (now.sync.revision.n === before.sync.revision.n) {
    process.stdout.write(`ok: revision ${n} is the content of revision ${now.sync.revision.n}, which is in force; the edit on disk is gone and nothing new is sent\n`);
    return EXIT.ok;
  }
  // Every server that answers should have it; one that is unreachable gets it when it is back.
  const rev = now.sync.revision;
  const missing = (s: StatusView) => s.peers.filter((p) => p.role !== 'unreachable' && p.role !== 'unknown' && (p.revision?.n !== rev.n || p.revision.hash !== rev.hash.slice(0, 16)));
  while (missing(now).length && Date.now() <= deadline && now.sync.revision.n === rev.n) {
    await new Promise((r) => setTimeout(r, 100));
    now = await ask();
  }
  const late = missing(now);
  const away = now.peers.filter((p) => p.role === 'unreachable' || p.role === 'unknown').map((p) => p.server);
  const have = [server, ...now.peers.filter((p) => !late.includes(p) && !away.includes(p.server)).map((p) => p.server)];
  if (now.sync.revision.n !== rev.n) {
    process.stdout.write(`ok: revision ${n} was put back as revision ${rev.n}; revision ${now.sync.revision.n} (a later edit) is in force now\n`);
    return EXIT.ok;
  }
  const awayText = away.length ? `; ${away.join(', ')} ${away.length > 1 ? 'are' : 'is'} unreachable and get${away.length > 1 ? '' : 's'} it when back` : '';
  if (late.length) {
    process.stderr.write(`duplex: revision ${n} is put back as revision ${rev.n}, in force on ${have.join(', ')}, but not yet on ${late.map((p) => `${p.server} (${p.sync ?? '?'})`).join(', ')}${awayText}; see duplex domain status --domain ${domainFile} --server ${server}\n`);
    return EXIT.failed;
  }
  process.stdout.write(`ok: revision ${n} is put back as revision ${rev.n}, in force on ${have.join(', ')}${awayText}\n`);
  return EXIT.ok;
}

async function run(domainFile: string, server: string): Promise<number> {
  const { DuplexNode } = await import('./node/node');
  let fatal: (code: number) => void = () => undefined;
  const ended = new Promise<number>((r) => (fatal = r));
  const node = await DuplexNode.start({ domainFile, server, onFatal: () => fatal(EXIT.failed) });
  const stop = (signal: string) => {
    node.log.info('stop', `received ${signal}; stopping`);
    fatal(EXIT.ok);
  };
  // A closed terminal (SIGHUP; on Windows also a closed console window) is a clean stop too.
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGHUP', () => stop('SIGHUP (its terminal or console closed)'));
  // A bug must not leave the runtime to its own devices: stop cleanly (hand over or fence) and say why.
  const crashed = (e: unknown) => {
    node.log.error('fatal', `unexpected error: ${e instanceof Error ? e.stack ?? e.message : String(e)}; stopping this node cleanly (its runtime is stopped and the Standby takes over)`);
    fatal(EXIT.failed);
  };
  process.on('uncaughtException', crashed);
  process.on('unhandledRejection', crashed);
  const code = await ended;
  await node.stop();
  return code;
}

/** The domain file read in full (yaml and zod): only where the fast path cannot say enough. */
async function fullLocate(domainFile: string) {
  const { locateDomain } = await import('./domain/load');
  return locateDomain(domainFile);
}

function warnInvalid(problem: Error): void {
  process.stderr.write(`warning: ${problem.message}\n(the node keeps the last good revision in force; asking it anyway)\n`);
}

/**
 * One admin call to the node of `server`. The endpoint is found from the domain file's
 * `stateDir` line alone; only when no node answers is the file read in full, to say why
 * (an unknown server, an invalid file, or no node running).
 */
async function call(domainFile: string, server: string, method: string, path: string, body?: unknown): Promise<AdminReply> {
  const domain: DomainLocation = quickLocate(domainFile) ?? (await fullLocate(domainFile)).domain;
  try {
    const r = await askNode(domain, server, method, path, body);
    if (r.status === 401) throw new Error(`the node for ${server} refused the admin token in ${nodePaths(domain, server).admin}; run this command as the user who runs the node`);
    return r;
  } catch (e) {
    if (!(e instanceof NoNodeError)) throw e;
    const full = await fullLocate(domainFile);
    if (full.problem) {
      warnInvalid(full.problem);
    } else {
      const servers = full.domain.config.servers;
      if (!servers.some((s) => s.name === server)) {
        throw new UsageError(`server "${server}" is not in ${full.domain.file}; its servers are: ${servers.map((s) => s.name).join(', ')}`);
      }
    }
    throw new NoNodeError(`no Duplex node is running for server ${server} of domain file ${full.domain.file} (${e.message}); start it with: duplex run --domain ${domainFile} --server ${server}`);
  }
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

function formatStatus(s: StatusView): string {
  const cap = (r: string) => r.charAt(0).toUpperCase() + r.slice(1);
  const lines = [
    `Domain ${s.domain} · server ${s.server} · ${cap(s.role)}${s.role === 'active' ? ` (epoch ${s.epoch})` : ''}`,
    `  why: ${s.reason}`,
    ...(s.pending ? [`  pending: ${s.pending}`] : []),
    ...(s.runtime.held ? [`  runtime HELD: ${s.runtime.held}; start it with: duplex resume`] : []),
    ...(s.runtime.processes.length
      ? s.runtime.processes.map((p) => `  runtime ${p.name}: ${p.state}${p.mode ? ` in ${p.mode} mode` : ''}${p.pid ? ` (pid ${p.pid}, up ${Math.round((p.uptimeMs ?? 0) / 1000)} s)` : ''}, ${p.restarts} restarts${p.lastExit ? `, last exit ${p.lastExit}` : ''}`)
      : ['  runtime: none declared in the domain file']),
    ...(s.incompatible ? [`  INCOMPATIBLE: ${s.incompatible}`] : []),
    ...(s.runtime.failures.count ? [formatFailures(s)] : []),
    formatQuorum(s),
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

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: Error) => {
      if (e instanceof UsageError) {
        process.stderr.write(`duplex: ${e.message}\n\n${USAGE}`);
        process.exitCode = EXIT.usage;
      } else if (e.name === 'DomainFileError') {
        process.stderr.write(`duplex: ${e.message}\n`);
        process.exitCode = EXIT.usage;
      } else if (e instanceof NoNodeError) {
        process.stderr.write(`duplex: ${e.message}\n`);
        process.exitCode = EXIT.noNode;
      } else {
        process.stderr.write(`duplex: ${e.message}\n`);
        process.exitCode = EXIT.failed;
      }
    },
  );
}
