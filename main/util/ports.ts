/**
 * Which program listens on a local TCP port, for the message that says why a node cannot take
 * its port: Linux reads /proc (the socket's inode in /proc/net/tcp, then the process holding
 * it); Windows asks `netstat -ano` for the pid and `tasklist` for its name.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** How long netstat and tasklist may take. */
const ASK_MS = 5_000;

/** "pid 1234 (nginx)", or null when it cannot be told (another user's process, no /proc, no netstat). */
export async function portHolder(port: number): Promise<string | null> {
  if (process.platform === 'win32') return windowsHolder(port);
  if (process.platform !== 'linux') return null;
  const inodes = listeningInodes(port);
  if (!inodes.size) return null;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) return `pid ${pid} (${commandOf(pid)})`;
    }
  }
  return null;
}

/** Linux: the inodes of the sockets listening on `port` (IPv4 and IPv6). */
export function listeningInodes(port: number, tables: string[] = readTables()): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const out = new Set<string>();
  for (const table of tables) {
    for (const line of table.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length > 9 && f[1]!.endsWith(`:${hex}`) && f[3] === '0A') out.add(f[9]!);
    }
  }
  return out;
}

function readTables(): string[] {
  return ['/proc/net/tcp', '/proc/net/tcp6'].map((f) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  });
}

function commandOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200) || readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return 'unknown program';
  }
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: ASK_MS, windowsHide: true }, (_e, stdout) => resolve(String(stdout ?? '')));
  });
}

/** Windows: the pid listening on `port` in `netstat -ano -p TCP` output, or null. */
export function netstatListener(text: string, port: number): number | null {
  for (const line of text.split(/\r?\n/)) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'TCP' && f[1]?.endsWith(`:${port}`) && /^LISTEN/i.test(f[3] ?? '')) {
      const pid = Number(f[4]);
      if (Number.isSafeInteger(pid) && pid > 0) return pid;
    }
  }
  return null;
}

async function windowsHolder(port: number): Promise<string | null> {
  const pid = netstatListener(await run('netstat', ['-ano', '-p', 'TCP']), port);
  if (pid === null) return null;
  const row = (await run('tasklist', ['/FI', `PID eq ${pid}`, '/FO', 'CSV', '/NH'])).trim();
  const name = /^"([^"]+)"/.exec(row)?.[1];
  return `pid ${pid}${name ? ` (${name})` : ''}`;
}
