/** `duplex init`: a complete, commented domain file and a new secret beside it. */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_MULTICAST, DEFAULT_SECRET_FILE, DEFAULT_SYNC, DEFAULT_STATE_DIR, DEFAULT_TIMINGS } from '../defaults';
import { writeFileAtomic } from '../util/atomic';
import { stringify } from 'yaml';
import { checkEnd, END_LINE, withEndLine } from './end';
import { DomainFileError, parseDomain, readDomainText } from './load';
import { newSecretText } from './secret';

export interface InitOptions {
  file: string;
  domain?: string;
  servers: string[];
  interface?: string;
  group?: string;
  port?: number;
  /** The `runtime` section as it should appear in the file (processes, confirmResume). */
  runtime?: Record<string, unknown>;
  /** The `sync` section; default: port 0 when the domain is on 127.0.0.1 (all servers on one machine), else the standard port. */
  sync?: Record<string, unknown>;
  appVersion?: string;
  /** Every server takes any free admin port (`adminPort: 0`) instead of its fixed one (several domains on one machine). */
  anyAdminPort?: boolean;
  force?: boolean;
}

export function domainFileText(o: InitOptions): string {
  const name = o.domain ?? (resolve(o.file).split(/[\\/]/).pop() ?? 'domain').replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]/g, '-');
  const t = DEFAULT_TIMINGS;
  const servers = o.servers.map((s, i) => {
    const role = i === 0 ? 'main' : i === 1 ? 'backup' : 'inactive';
    const port = o.anyAdminPort ? '    adminPort: 0      # any free port for the status window and admin API (admin.json names it)\n' : '';
    return `  - name: ${s}\n    role: ${role}${i === 0 ? '            # main: Active when the domain starts' : i === 1 ? '          # backup: the Standby, takes over when the main fails' : '        # inactive: follows the domain, never Active'}\n${port}`;
  }).join('');
  const runtime = o.runtime
    ? stringify({ runtime: o.runtime })
    : `# runtime:                       # the programs to run while this server is Active (docs/runtime.md)
#   confirmResume: false          # true: after a failover, wait for "duplex resume" before starting
#   processes:
#     - name: scada
#       command: C:\\Program Files\\Plant\\runtime.exe
#       args: ["--project", "plant.prj"]
#       runOn: active               # active, standby or both
`;
  const oneMachine = (o.interface ?? '127.0.0.1') === '127.0.0.1';
  const sync = o.sync
    ? stringify({ sync: o.sync })
    : `sync:
  port: ${oneMachine ? '0                  # 0: any free port (all servers on this machine); use one fixed port on real servers' : `${DEFAULT_SYNC.port}              # TCP port of the sync service, the same on every server (open it in the firewall)`}
  files: []                # project files and folders synced with this file, e.g. [project/, screens/]
`;
  return `# Duplex domain file. It must be identical, at the same path, on every server of the domain.
# Reference: docs/domain-file.md. A node refuses a bad file with the line and field at fault.
domain: ${name}

# Servers in order of precedence: the main first, then backups; others are inactive.
# Optional per server: address (this server's address on the redundancy network, overrides
# multicast.interface) and maintenance: true (takes part in nothing).
servers:
${servers}
multicast:
  group: ${o.group ?? DEFAULT_MULTICAST.group}    # 239.255.x.y, one group and port per domain
  port: ${o.port ?? DEFAULT_MULTICAST.port}
  interface: ${o.interface ?? '127.0.0.1'}   # address or CIDR (192.168.10.0/24) of the redundancy network card
  ttl: ${DEFAULT_MULTICAST.ttl}

timings:
  heartbeatIntervalMs: ${t.heartbeatIntervalMs}    # how often each server says it is alive
  failureTimeoutMs: ${t.failureTimeoutMs}      # silence after which the Standby takes over
  discoveryMs: ${t.discoveryMs}           # a starting server listens this long before claiming a role
  handoverTimeoutMs: ${t.handoverTimeoutMs}   # longest switchover, runtime stop included
  failbackDelayMs: ${t.failbackDelayMs}     # with failback: auto, how long the main waits as Standby first

failback: manual    # manual: the main does not take the Active role back by itself; auto: it does

secretFile: ${DEFAULT_SECRET_FILE}    # copy this file to every server; keep it private
stateDir: ${DEFAULT_STATE_DIR}      # this server's state, admin endpoint and logs

# Edit this file on any server: every other server has it within a second (docs/sync.md).
${sync}
appVersion: ${JSON.stringify(o.appVersion ?? '')}    # servers whose appVersion differs from the Active's are never Active or Standby; "files" = hash of the synced files

${runtime}
# Duplex takes an edit of this file only when it ends with the next line: a file still being
# written or cut short is never used or sent to the other servers.
${END_LINE}
`;
}

/** Writes the domain file, and a secret beside it unless one is there (servers already set up keep working). Refuses to overwrite the domain file unless `force`. */
export function initDomain(o: InitOptions): { file: string; secretFile: string } {
  if (o.servers.length < 1) throw new Error('--servers needs at least one server name, e.g. --servers a,b');
  const file = resolve(o.file);
  const secretFile = join(dirname(file), DEFAULT_SECRET_FILE);
  if (!o.force && existsSync(file)) throw new Error(`${file} exists already; use --force to replace it`);
  const text = domainFileText(o);
  parseDomain(text, file); // never write a file we would refuse to load
  // Only their owner may read the secret, or change either (the node refuses them otherwise).
  if (!existsSync(secretFile)) writeFileAtomic(secretFile, newSecretText(), { mode: 0o600 });
  writeFileAtomic(file, text, { mode: 0o644 });
  return { file, secretFile };
}

/**
 * `duplex domain finish`: adds the end line to a whole domain file that has none (one written
 * before Duplex had it). The file must otherwise be valid; it is written atomically.
 * Returns false when the file already ends with the line.
 */
export function finishDomainFile(file: string): boolean {
  const { abs, text } = readDomainText(file);
  const end = checkEnd(text);
  if (end.ok) return false;
  if (end.kind === 'twice' || end.anywhere !== null) {
    const line = end.kind === 'twice' ? end.line : end.anywhere;
    throw new DomainFileError(abs, [`line ${line}: the end line is there already, but not only as the last line; edit the file by hand so that it is whole and the end line is last`]);
  }
  const finished = withEndLine(text);
  parseDomain(finished, abs); // a file that is not valid stays as it is: fix it first
  writeFileAtomic(abs, finished, { keepPrevious: false });
  return true;
}
