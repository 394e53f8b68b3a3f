import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Whether a process with this pid exists (one we may not signal counts as existing). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Linux: the fields of /proc/<pid>/stat after the command name, so that index 0 is the state
 * (field 3 in proc(5)); null when there is no such process or no /proc.
 */
export function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Linux: when the process started, in clock ticks since boot (/proc/<pid>/stat field 22); null elsewhere or when there is no such process. */
export function startTicks(pid: number): number | null {
  const ticks = Number(procStat(pid)?.[19]);
  return Number.isFinite(ticks) ? ticks : null;
}

/** Linux: this boot's id (/proc/sys/kernel/random/boot_id); null elsewhere. */
export function bootId(): string | null {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * Whether the process runs: alive and not a zombie (a killed process stays a zombie until its
 * parent reaps it, and `kill(pid, 0)` still succeeds on it). Linux (/proc); elsewhere `isAlive`.
 */
export function isRunning(pid: number): boolean {
  if (process.platform !== 'linux') return isAlive(pid);
  const state = procStat(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** A process as Windows lists it (Win32_Process). */
export interface WinProcess {
  pid: number;
  ppid: number;
  /** When it was created (ms since the epoch), from WMI's CreationDate; null where it is not given (Wine). */
  created: number | null;
}

/**
 * Reads `wmic process get CreationDate,ParentProcessId,ProcessId` output (or the same without
 * CreationDate): a header, then a row a process, the columns in alphabetical order. The row is
 * read word by word, not by the header's widths: Wine's wmic prints the header without spaces
 * (`ParentProcessIDProcessID`). A row one word short has no CreationDate (Windows' idle process).
 */
export function parseWmicTable(text: string): WinProcess[] {
  const lines = text.replace(/[\0\uFEFF\uFFFD\u00FF\u00FE]/g, '').split(/\r*\n/).filter((l) => l.trim());
  const header = lines.shift()?.toLowerCase() ?? '';
  const hasCreated = header.includes('creationdate');
  if (!header.includes('parentprocessid') || !header.replace('parentprocessid', '').includes('processid')) return [];
  return lines.flatMap((line) => {
    const words = line.trim().split(/\s+/);
    const created = hasCreated && words.length === 3 ? wmiDateMs(words.shift()!) : null;
    const [ppid, pid] = words.map(Number);
    return words.length === 2 && Number.isSafeInteger(pid) && pid! > 0 && Number.isSafeInteger(ppid) ? [{ pid: pid!, ppid: ppid!, created }] : [];
  });
}

/**
 * Windows: every process with its parent and creation time, from wmic (one spawn, about
 * 0.1–0.5 s). Wine's wmic has no CreationDate; the table is then read without it. Null when
 * wmic is missing (Windows 11 24H2 removes it unless the feature is added back).
 */
export async function windowsProcesses(): Promise<WinProcess[] | null> {
  const run = (fields: string) => new Promise<string | null>((resolveRun) => {
    const p = spawn('wmic', ['process', 'get', fields], { windowsHide: true, stdio: ['ignore', 'pipe', 'ignore'], timeout: WMIC_TIMEOUT_MS });
    const out: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.once('error', () => resolveRun(null));
    p.once('close', (code) => {
      resolveRun(code === 0 ? decodeWmic(Buffer.concat(out)) : null);
    });
  });
  const text = (await run('CreationDate,ParentProcessId,ProcessId')) ?? (await run('ParentProcessId,ProcessId'));
  const table = text === null ? [] : parseWmicTable(text);
  // A table without this very process is not one to trust ("not in it" would read as "gone").
  return table.some((p) => p.pid === process.pid) ? table : null;
}

/** A hung WMI must not hang a node's start or a tree stop. */
const WMIC_TIMEOUT_MS = 10_000;

/**
 * The pids of the descendants of `pid`, from a process table. Windows keeps a process's parent
 * pid after the parent ends and reuses pids, so a child is taken only when it was created no
 * earlier than its parent (`since`, ms since the epoch, for the root: when it was started);
 * where the table has no creation times (Wine) the parent pid alone decides.
 */
export function descendantsOf(pid: number, table: readonly WinProcess[], since: number | null = null): number[] {
  const found: number[] = [];
  const queue: { pid: number; since: number | null }[] = [{ pid, since: table.find((p) => p.pid === pid)?.created ?? since }];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const p of table) {
      if (p.ppid !== parent.pid || p.pid === pid || found.includes(p.pid)) continue;
      const born = p.created;
      if (born !== null && parent.since !== null && born < parent.since - 1_000) continue; // an orphan of an earlier holder of the pid
      found.push(p.pid);
      queue.push({ pid: p.pid, since: born });
    }
  }
  return found;
}

/** Parses WMI's CreationDate (`yyyymmddHHMMSS.ffffff±UUU`, UUU minutes east of UTC) to ms since the epoch. */
export function wmiDateMs(s: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\.(\d{3})\d*([+-]\d+)$/.exec(s.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, sec, ms, off] = m.map(Number) as number[];
  return Date.UTC(y!, mo! - 1, d!, h!, mi!, sec!, ms!) - off! * 60_000;
}

/**
 * When a process started (ms since the epoch), or null where this system cannot tell: Linux
 * from /proc (boot time + start ticks); Windows from wmic (a synchronous spawn, for rare
 * checks such as the start of a node; Wine's wmic has no CreationDate).
 */
export function processStartMs(pid: number): number | null {
  if (process.platform === 'linux') {
    const ticks = startTicks(pid);
    let btime: number;
    try {
      btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    } catch {
      return null;
    }
    return ticks !== null && btime ? btime * 1000 + ticks * 10 : null; // USER_HZ is 100 on Linux
  }
  if (process.platform !== 'win32') return null;
  const r = spawnSync('wmic', ['process', 'get', 'CreationDate,ParentProcessId,ProcessId'], { windowsHide: true, timeout: 5_000 });
  if (r.status !== 0 || !r.stdout) return null;
  return parseWmicTable(decodeWmic(r.stdout)).find((p) => p.pid === pid)?.created ?? null;
}

/** Windows' wmic writes UTF-16 to a pipe; Wine's a byte-order mark, then ASCII. */
function decodeWmic(buf: Buffer): string {
  const utf16 = buf.subarray(2, 64).filter((b) => b === 0).length > 8;
  return buf.toString(utf16 ? 'utf16le' : 'latin1');
}
