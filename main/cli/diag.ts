/**
 * `duplex diag`: one zip for support with what this machine knows about a server's node: its
 * logs folder (node log, runtime logs, rotated copies), its status, the domain as it sees it
 * (every peer's status it could fetch), the domain file, its state and revision files, the
 * versions, and a README.txt of what is inside and what could not be had. Works with what
 * there is when the node is not running. Never the secret, nor the admin token (admin.json, admin.token):
 * only the files named here are read, and any entry holding the secret's text has it removed.
 */
import { createWriteStream, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { arch, hostname, platform, release } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { domainPath, UnknownServerError } from '../domain/location';
import { DEFAULT_SECRET_FILE, DOMAIN_FILE_CEILING_BYTES } from '../defaults';
import { readCapped } from '../util/capped';
import { nodePaths } from '../node/paths';
import { VERSION } from '../version';
import { EXIT } from './args';
import type { DomainFile } from './domain-file';
import { domainViewOf, ownStatus } from './reach';

export interface DiagOptions {
  /** The domain file, read once (its copy in the archive is that read). */
  file: DomainFile;
  server: string;
  timeoutMs: number;
  /** The archive's path; default duplex-diag-<server>-<time>.zip in the current folder. */
  out?: string;
}

interface Entry {
  name: string;
  data: Buffer;
  what: string;
}

/** `20261122-034712`: the local time, for a file name. */
function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Every file under `dir` (relative paths), or none when it cannot be read. */
function filesUnder(dir: string, rel = ''): string[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, rel)).sort();
  } catch {
    return [];
  }
  return names.flatMap((n) => {
    const r = rel ? join(rel, n) : n;
    try {
      return statSync(join(dir, r)).isDirectory() ? filesUnder(dir, r) : [r];
    } catch {
      return [];
    }
  });
}

/** Files never taken, whatever folder they are found in. */
const NEVER = /(^|[\\/])(admin\.json|admin\.token|duplex\.secret)$|\.secret$/i;

export async function writeDiag(o: DiagOptions, write: (line: string) => void): Promise<number> {
  const full = await o.file.full();
  const domain = await o.file.location();
  if (!full.problem && !full.domain.config.servers.some((s) => s.name === o.server)) {
    throw new UnknownServerError(o.server, full.domain.file, full.domain.config.servers.map((s) => s.name));
  }
  const secretFile = domainPath(domain, full.problem ? DEFAULT_SECRET_FILE : full.domain.config.secretFile);
  const paths = nodePaths(domain, o.server);
  const entries: Entry[] = [];
  const missing: string[] = [];
  const take = (name: string, file: string, what: string, maxBytes = Number.MAX_SAFE_INTEGER, readFile = () => readCapped(file, maxBytes)) => {
    if (NEVER.test(file) || resolve(file) === resolve(secretFile)) return;
    try {
      const read = readFile();
      if ('bytes' in read) entries.push({ name, data: read.bytes, what });
      else missing.push(`${name}: ${file} is ${read.tooLarge} bytes, more than Duplex reads of such a file (${maxBytes}); not included`);
    } catch (e) {
      missing.push(`${name}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? `there is no ${file}` : (e as Error).message}`);
    }
  };
  const text = (name: string, value: unknown, what: string) => entries.push({ name, data: Buffer.from(typeof value === 'string' ? value : `${JSON.stringify(value, null, 2)}\n`), what });

  const logs = filesUnder(paths.logs);
  if (!logs.length) missing.push(`logs/: no log files in ${paths.logs}`);
  for (const f of logs) take(`logs/${f.split(/[\\/]/).join('/')}`, join(paths.logs, f), f.startsWith('runtime-') ? 'a runtime process\'s own output' : 'the node\'s log');
  take(`domain/${basename(domain.file)}`, domain.file, 'the domain file as it is on this machine (the secret is a separate file and not included)', DOMAIN_FILE_CEILING_BYTES, o.file.read);
  take('node/state.json', paths.state, "the node's persisted state (epoch, maintenance)");
  take('node/revision.json', paths.revision, 'the domain revision in force on this server');
  if (full.problem) text('domain/problem.txt', `${full.problem.message}\n`, 'why the domain file is not valid');

  let answered = false;
  try {
    text('status.json', await ownStatus(o.file, o.server, o.timeoutMs), `the node's status (duplex status --json)`);
    answered = true;
  } catch (e) {
    missing.push(`status.json: ${(e as Error).message}`);
  }
  if (answered) {
    try {
      text('domain-view.json', await domainViewOf(o.file, o.server, o.timeoutMs), "every server's status as this node could fetch it (duplex status --all --json); an error says why one is missing");
    } catch (e) {
      missing.push(`domain-view.json: ${(e as Error).message}`);
    }
  }
  text('versions.txt', [
    `duplex ${VERSION}`, `node ${process.versions.node}`, `platform ${platform()} ${release()} ${arch()}`,
    `host ${hostname()}`, `written ${new Date().toISOString()}`, `command duplex diag --domain ${o.file.path} --server ${o.server}`, '',
  ].join('\n'), 'versions of Duplex, Node and the system');

  // A secret's text is never in the archive, even if something wrote it where it should not be.
  let secret: string | null = null;
  try {
    secret = readFileSync(secretFile, 'utf8').trim() || null;
  } catch {
    // no secret on this machine: nothing to remove
  }
  if (secret) {
    for (const e of entries) {
      if (e.data.includes(secret)) e.data = Buffer.from(e.data.toString('utf8').split(secret).join('[the domain secret, removed]'));
    }
  }

  const readme = [
    `Duplex diagnostics of server ${o.server}, written ${new Date().toISOString()} by duplex ${VERSION}.`,
    '',
    'Inside:',
    ...entries.map((e) => `  ${e.name.padEnd(34)} ${e.what}`),
    '',
    missing.length ? 'Not inside (and why):' : 'Everything asked for is inside.',
    ...missing.map((m) => `  ${m}`),
    '',
    'Never inside: the domain secret and the admin token (admin.json, admin.token).',
    '',
  ].join('\n');
  text('README.txt', readme, 'this list');

  const target = resolve(o.out ?? `duplex-diag-${o.server}-${stamp(new Date())}.zip`);
  const zip = new ZipFile();
  const mtime = new Date();
  for (const e of [entries[entries.length - 1]!, ...entries.slice(0, -1)]) zip.addBuffer(e.data, e.name, { mtime });
  zip.end();
  const tmp = `${target}.tmp`;
  await pipeline(zip.outputStream, createWriteStream(tmp, { mode: 0o600 }));
  renameSync(tmp, target);
  write(`wrote ${target} (${entries.length} files, ${Math.ceil(statSync(target).size / 1024)} kB)`);
  if (!answered) write(`note: the node of ${o.server} did not answer, so the archive has its files only (${missing.find((m) => m.startsWith('status.json'))?.slice(13) ?? ''})`);
  return EXIT.ok;
}
