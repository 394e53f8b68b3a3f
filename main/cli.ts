#!/usr/bin/env node
/**
 * `duplex` — the command line. The grammar (every command, its options and usage) is
 * cli/args.ts; how a node is reached (its own endpoint, or a relay by a node of this machine)
 * is cli/reach.ts; the text is cli/format.ts.
 *
 * Exit codes: one per cause, in every command (cli/exit.ts): 0 done; 1 refused or failed (the
 * message says why); 2 wrong usage (a bad option, an unknown server, a domain file that does
 * not exist or is not valid); 3 no node answers (none running, or none within --timeout).
 *
 * Only `run`, `init`, `domain check`, `domain finish` and `domain rollback` load the node or the
 * domain file's parser (yaml, zod) up front; every other command finds the node from the
 * domain file's `stateDir` line and talks to it through the admin client alone (the parser is
 * loaded only to relay, or to say why no node answers).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ROLLBACK_WAIT_MS } from './defaults';
import { COMMANDS, DEFAULT_INTERVAL_MS, EXIT, parseCommandLine, USAGE, usageOf, UsageError, type Spec } from './cli/args';
import { errorLine, exitCodeOf } from './cli/exit';
import { formatDomainStatus, formatDomainView, formatStatus } from './cli/format';
import { probeVip, vipVerdict } from './vip/check';
import { parseVip } from './vip/plan';
import { DomainFile } from './cli/domain-file';
import { anyDomainView, ownStatus, sendCommand, statusOf, warnInvalid, type Where } from './cli/reach';
import { domainPath, missingDomainFileSentence } from './domain/location';
import { NoAnswerError, NoNodeError } from './node/admin-client';
import type { Command, StatusView } from './ui/contract';
import { VERSION } from './version';

const specOf = (name: string): Spec => COMMANDS.find((s) => s.name === name)!;

const out = (text: string) => process.stdout.write(text);
const json = (x: unknown, pretty = true) => out(`${JSON.stringify(x, null, pretty ? 2 : undefined)}\n`);

/**
 * A domain file that is not there is wrong usage, said before a node is looked for (the node is
 * found from the file). Not for `domain rollback`, which puts a deleted file back, nor `diag`,
 * which collects what there is. This is the command's one read of the file.
 */
async function needDomainFile(file: DomainFile): Promise<void> {
  // The file's other troubles are said where what it says is needed.
  if (!file.missing()) return;
  const { DomainFileRefused } = await import('./domain/load');
  throw new DomainFileRefused(file.abs, missingDomainFileSentence(file.path));
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv, process.env);
  if (parsed.kind === 'version') return out(`${VERSION}\n`), EXIT.ok;
  if (parsed.kind === 'help') return out(parsed.text), EXIT.ok;
  const { spec, values: v, positionals, timeoutMs } = parsed;
  // Required options are checked by the parser; these are the strings it let through.
  const str = (k: string) => v[k] as string;
  // The domain file of a command that talks to a node, read once for the whole command.
  let file: DomainFile | undefined;
  const domainFile = () => (file ??= new DomainFile(str('domain')));
  if (spec.node && spec.name !== 'domain rollback' && spec.name !== 'diag') await needDomainFile(domainFile());
  const where = (): Where => ({ file: domainFile(), server: str('server'), via: v.via as string | undefined, timeoutMs });
  const fileArg = () => {
    const file = positionals[0] ?? (v.domain as string | undefined);
    if (!file) throw new UsageError(`duplex ${spec.name} needs the file: duplex ${spec.name} plant.yaml (or --domain, or DUPLEX_DOMAIN)`, spec);
    return file;
  };

  switch (spec.name) {
    case 'init': {
      const servers = str('servers').split(',').map((s) => s.trim()).filter(Boolean);
      if (!servers.length) throw new UsageError('duplex init needs --servers a,b[,c…]', spec);
      const port = v.port === undefined ? undefined : Number(v.port);
      if (port !== undefined && !Number.isInteger(port)) throw new UsageError(`--port must be a number, got ${String(v.port)}`, spec);
      const { initDomain } = await import('./domain/init');
      const r = initDomain({ file: str('domain'), servers, interface: v.interface as string | undefined, group: v.group as string | undefined, port, force: v.force === true });
      out(`wrote ${r.file}\nsecret ${r.secretFile} (copy both to every server, same path)\n`);
      if (!v.interface) {
        out('note: the domain uses 127.0.0.1, so all its servers must run on this machine; for real servers pass --interface <address or CIDR of the redundancy network>\n');
      }
      return EXIT.ok;
    }
    case 'run':
      return run(str('domain'), str('server'));
    case 'status':
      if (v.all) return statusAll(domainFile(), (v.via ?? v.server) as string | undefined, timeoutMs, v.json === true, v.watch === true ? Number(v.interval ?? DEFAULT_INTERVAL_MS) : null);
      return statusOne(where(), v.json === true);
    case 'activate':
    case 'deactivate':
      return command(where(), { kind: spec.name }, v.json === true);
    case 'maintenance':
      return command(where(), { kind: 'maintenance', on: positionals[0] === 'on', force: v.force === true }, v.json === true);
    case 'resume':
    case 'clear':
      return command(where(), { kind: spec.name }, v.json === true);
    case 'report-failure':
      return command(where(), { kind: 'report-failure', reason: str('reason') }, v.json === true);
    case 'diag': {
      const { writeDiag } = await import('./cli/diag');
      return writeDiag({ file: domainFile(), server: str('server'), timeoutMs, out: v.out as string | undefined }, (line) => out(`${line}\n`));
    }
    case 'domain check': {
      const { loadDomain } = await import('./domain/load');
      const d = loadDomain(fileArg());
      const servers = d.config.servers.map((x) => `${x.name} (${x.role}${x.maintenance ? ', maintenance' : ''})`).join(', ');
      out(`ok: ${d.file} is a valid domain file: domain ${d.config.domain}, servers ${servers}${d.config.sync.files.length ? `, syncs ${d.config.sync.files.join(', ')}` : ''}\n`);
      const { noQuorumWarning, quorumInForce, votersOf } = await import('./engine/quorum');
      const voters = votersOf(d.config.servers.map((x) => ({ name: x.name, kind: x.role, maintenance: x.maintenance })));
      out(quorumInForce(d.config.quorum, voters.length)
        ? `quorum: ${voters.length} voters (${voters.join(', ')}); a server takes over, and an Active keeps its runtime, only with ${Math.floor(voters.length / 2) + 1} of them\n`
        : `warning: ${noQuorumWarning(d.config.quorum, voters)}\n`);
      const secretFile = domainPath(d, d.config.secretFile);
      if (!existsSync(secretFile)) {
        out(`warning: the domain secret ${secretFile} does not exist, and no node of this domain starts without it: copy it from another server of the domain (the same file, at the same path, on every server); a new domain gets one from duplex init\n`);
      }
      return EXIT.ok;
    }
    case 'domain status': {
      const { status, relayedBy } = await statusOf(where());
      out(`${relayedBy ? `(as relayed by the node of ${relayedBy})\n` : ''}${formatDomainStatus(status)}`);
      return EXIT.ok;
    }
    case 'domain rollback':
      return rollback(domainFile(), str('server'), positionals[0], timeoutMs);
    case 'domain finish': {
      const file = fileArg();
      const { finishDomainFile } = await import('./domain/init');
      const { END_LINE } = await import('./domain/end');
      const done = finishDomainFile(file);
      out(done
        ? `ok: added the line "${END_LINE}" at the end of ${resolve(file)}; a running node takes it as an edit and sends it to the other servers\n`
        : `ok: ${resolve(file)} already ends with the line "${END_LINE}"; nothing to do\n`);
      return EXIT.ok;
    }
    case 'service install':
    case 'service uninstall':
    case 'service status': {
      const { serviceCommand } = await import('./service/service');
      const action = spec.name.split(' ')[1] as 'install' | 'uninstall' | 'status';
      return serviceCommand(action, { need: str, account: v.account as string | undefined, winsw: v.winsw as string | undefined, dryRun: v['dry-run'] === true }, (line) => out(`${line}\n`));
    }
    default:
      throw new Error(`duplex ${spec.name} is in the table of commands but not carried out; this is a bug`);
  }
}

/** Sends a command and prints its outcome; the exit code says whether it was done. */
async function command(w: Where, cmd: Command, asJson: boolean): Promise<number> {
  const { outcome: b, relayedBy } = await sendCommand(w, cmd);
  if (asJson) json({ ...b, server: w.server, relayedBy });
  else (b.ok ? process.stdout : process.stderr).write(`${b.ok ? '' : 'refused: '}${b.message}${relayedBy ? ` (relayed by ${relayedBy})` : ''}\n`);
  return b.ok ? EXIT.ok : EXIT.failed;
}

/** `duplex status`: one server's view; when its node reports that its domain file is not valid, the file's problems are printed first. */
async function statusOne(w: Where, asJson: boolean): Promise<number> {
  const { status: s, relayedBy } = await statusOf(w);
  if (!relayedBy && s.sync.state === 'error') {
    const { problem } = await w.file.full();
    if (problem) warnInvalid(problem);
  }
  if (asJson) {
    json(s);
    if (relayedBy) process.stderr.write(`(status of ${w.server} as relayed by the node of ${relayedBy})\n`);
  } else {
    out(`${relayedBy ? `(status of ${w.server} as relayed by the node of ${relayedBy})\n` : ''}${formatStatus(s)}`);
    // Asked of this server's own node (not relayed): the VIP is checked from this machine.
    const vip = s.vip && s.vip.card !== null ? parseVip(s.vip.address) : null;
    if (!relayedBy && vip && typeof vip !== 'string') out(`  vip check: ${vipVerdict(await probeVip(vip, s.vip!.card!), s.vip!.card!)}\n`);
  }
  return EXIT.ok;
}

/** Terminal lines a text takes (long lines wrap). */
function rowsOf(text: string, columns: number): number {
  return text.split('\n').slice(0, -1).reduce((n, line) => n + Math.max(1, Math.ceil(line.length / columns)), 0);
}

/**
 * `duplex status --all`: every server in one table; `--watch` asks again every `intervalMs`
 * and redraws in place on a terminal (else prints each table after the other) until Ctrl+C.
 */
async function statusAll(file: DomainFile, preferred: string | undefined, timeoutMs: number, asJson: boolean, intervalMs: number | null): Promise<number> {
  const once = async () => {
    const view = await anyDomainView(file, preferred, timeoutMs);
    return asJson ? `${JSON.stringify(view, null, intervalMs === null ? 2 : undefined)}\n` : formatDomainView(view, intervalMs === null ? undefined : new Date());
  };
  if (intervalMs === null) return out(await once()), EXIT.ok;
  const tty = process.stdout.isTTY === true && !asJson;
  process.once('SIGINT', () => process.exit(EXIT.ok));
  let shown = 0;
  for (;;) {
    let text: string;
    try {
      text = await once();
    } catch (e) {
      if (!(e instanceof NoNodeError)) throw e;
      text = `${new Date().toTimeString().slice(0, 8)} ${e.message}\n`;
    }
    if (tty && shown) out(`\x1b[${shown}F\x1b[J`);
    else if (shown && !asJson) out('\n');
    out(text);
    shown = rowsOf(text, process.stdout.columns || 80);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * `duplex domain rollback <N>`: writes the kept version of revision N as the domain file
 * (atomically). The node takes it like any edit — a new, higher revision — and sends it to
 * the other servers; this waits until it is in force here and on every server that answers.
 */
async function rollback(domainFile: DomainFile, server: string, nArg: string | undefined, timeoutMs: number): Promise<number> {
  if (nArg === undefined || !/^\d+$/.test(nArg)) {
    throw new UsageError(`duplex domain rollback needs the number of the revision to put back, e.g. duplex domain rollback 3 --domain ${domainFile.path} --server ${server}`, specOf('domain rollback'));
  }
  const n = Number(nArg);
  const { rollbackText, RollbackError } = await import('./sync/versions');
  const { writeFileAtomic } = await import('./util/atomic');
  const file = domainFile.abs;
  let back: { text: string; from: string; addedEndLine: boolean };
  try {
    back = rollbackText(file, n);
  } catch (e) {
    if (!(e instanceof RollbackError)) throw e;
    process.stderr.write(errorLine(e.message));
    return EXIT.failed;
  }
  let current: string | null = null;
  try {
    const read = domainFile.read();
    if ('bytes' in read) current = read.bytes.toString('utf8');
  } catch {
    // missing: put back all the same
  }
  if (current === back.text) {
    process.stdout.write(`ok: ${file} already holds the content of revision ${n}; nothing to do (duplex domain status shows what is in force)\n`);
    return EXIT.ok;
  }
  let before: StatusView;
  try {
    before = await ownStatus(domainFile, server, timeoutMs);
  } catch (e) {
    if (!(e instanceof NoNodeError) || e instanceof NoAnswerError) throw e;
    writeFileAtomic(file, back.text, { keepPrevious: false });
    throw new NoNodeError(`${e.message}. The domain file is put back to revision ${n} (from ${back.from}); it becomes a new revision, sent to the other servers, when the node starts`);
  }
  writeFileAtomic(file, back.text, { keepPrevious: false });
  if (back.addedEndLine) process.stdout.write(`note: ${back.from} was kept without the end line; it is put back with it\n`);
  const deadline = Date.now() + ROLLBACK_WAIT_MS;
  const ask = () => ownStatus(domainFile, server, timeoutMs);
  let now = await ask();
  // The node takes the file once it has stopped changing (the settle time).
  while (now.sync.revision.n <= before.sync.revision.n && !(before.sync.state === 'error' && now.sync.state !== 'error')) {
    if (Date.now() > deadline) {
      process.stderr.write(errorLine(`${server} has not taken the put-back file within ${ROLLBACK_WAIT_MS / 1000} s; revision ${now.sync.revision.n} stays in force${now.sync.message ? ` (${now.sync.message})` : ''}; see duplex status --domain ${domainFile.path} --server ${server}`));
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
    process.stderr.write(errorLine(`revision ${n} is put back as revision ${rev.n}, in force on ${have.join(', ')}, but not yet on ${late.map((p) => `${p.server} (${p.sync ?? '?'})`).join(', ')}${awayText}; see duplex domain status --domain ${domainFile.path} --server ${server}`));
    return EXIT.failed;
  }
  process.stdout.write(`ok: revision ${n} is put back as revision ${rev.n}, in force on ${have.join(', ')}${awayText}\n`);
  return EXIT.ok;
}

async function run(domainFile: string, server: string): Promise<number> {
  const { DuplexNode } = await import('./node/node');
  let fatal: (code: number) => void = () => undefined;
  const ended = new Promise<number>((r) => (fatal = r));
  const node = DuplexNode.create({ domainFile, server, onFatal: () => fatal(EXIT.failed) });
  // From here on, at any moment (start-up included), a bug must not leave the runtime to its own
  // devices: it is logged, the node stops within its bound (the runtime is stopped and the
  // Standby takes over), and the process ends with exit code 1.
  let crashing = false;
  const crashed = (e: unknown) => {
    if (crashing) return;
    crashing = true;
    process.exitCode = EXIT.failed;
    void node.crash(e).finally(() => process.exit(EXIT.failed));
  };
  process.on('uncaughtException', crashed);
  process.on('unhandledRejection', crashed);
  await node.boot();
  const stop = (signal: string) => {
    node.log.info('stop', `received ${signal}; stopping`);
    fatal(EXIT.ok);
  };
  // A closed terminal (SIGHUP; on Windows also a closed console window) is a clean stop too.
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGHUP', () => stop('SIGHUP (its terminal or console closed)'));
  const code = await ended;
  const late = setTimeout(() => {
    node.log.error('stop', `the stop did not finish within ${node.stopBoundMs} ms; ending now (the guardian fences the runtime when the lease runs out)`);
    process.exit(code || EXIT.failed);
  }, node.stopBoundMs);
  await node.stop();
  clearTimeout(late);
  // Nothing may keep a stopped node's process alive: it ends even if a handle was left open.
  setTimeout(() => process.exit(code), 2_000).unref();
  return code;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      const message = e instanceof Error ? e.message : String(e);
      process.stderr.write(e instanceof UsageError
        ? `${errorLine(message)}\n${e.command ? `${usageOf(e.command)}Run duplex --help for every command.\n` : USAGE}`
        : errorLine(message));
      process.exitCode = exitCodeOf(e);
    },
  );
}
