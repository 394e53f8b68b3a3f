/**
 * Where runtime processes run. A ProcessHost starts a process in a process group of its own
 * (so that stopping it stops what it started), sends its output to its log file, records its
 * pid and reports its exit. The supervisor decides what runs; the host only runs it.
 *
 * The node's runtime processes are hosted by its guardian (main/guardian): a LocalProcessHost
 * inside the guardian's process, reached through GuardianClient, so that the runtime's kill
 * switch outlives the node. Tests of the supervisor alone use a LocalProcessHost directly.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { RUNTIME_LOG_MAX_BYTES } from '../defaults';
import { writeFileAtomic } from '../util/atomic';
import type { Logger } from '../util/logger';
import { descendantsOf, isAlive, startTicks, windowsProcesses, type WinProcess } from '../util/process';
import { RotatingFile } from '../util/rotating-file';
import { cannotSpawn, spawnProgram } from '../util/spawn';
import { exitText, type RuntimeHold } from './hold';
import type { ProcessMode } from './plan';

export interface StartSpec {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  /** The whole environment of the process. */
  env: Record<string, string>;
  mode: ProcessMode;
  /** Where its stdout and stderr go (rotated). */
  logFile: string;
  /** Where the running process is recorded, so that a node started after a crash finds it. */
  pidFile: string;
}

export interface Started {
  pid: number;
  /** Resolves when the process has exited: `code N` or `signal SIG…`. */
  exited: Promise<string>;
}

export interface ProcessHost {
  /** Resolves once the process runs; rejects (the message says why) when it cannot start. */
  start(spec: StartSpec): Promise<Started>;
  /** Signals the process and everything it started: its group on POSIX, its tree on Windows. */
  signal(pid: number, signal: NodeJS.Signals): void;
}

/** A process this host runs. */
export interface Hosted extends Started {
  name: string;
  mode: ProcessMode;
}

/**
 * Runs processes as children of this process; `hold` (the guardian's, see hold.ts) makes them
 * die with it, whatever they started included.
 */
export class LocalProcessHost implements ProcessHost {
  constructor(private readonly hold: RuntimeHold | null = null) {}

  private readonly outputs = new Map<string, RotatingFile>();
  /** What runs now, by pid. */
  readonly running = new Map<number, Hosted>();
  /** Tree stops under way (Windows: a walk of the process table takes a moment). */
  private readonly stopping = new Set<Promise<void>>();

  private track(stop: Promise<void>): void {
    this.stopping.add(stop);
    void stop.catch(() => undefined).finally(() => this.stopping.delete(stop));
  }

  /** Resolves when every tree stop under way is done: a process that ends next must wait for it. */
  async settled(): Promise<void> {
    while (this.stopping.size) await Promise.allSettled(this.stopping);
  }

  start(spec: StartSpec): Promise<Started> {
    let output = this.outputs.get(spec.logFile);
    if (!output) {
      output = new RotatingFile(spec.logFile, RUNTIME_LOG_MAX_BYTES);
      this.outputs.set(spec.logFile, output);
    }
    const out = output;
    const hold = this.hold;
    if (hold?.wrap) {
      // The wrapper starts whatever the program is: a missing one is told here, as a plain spawn would.
      const missing = cannotSpawn(spec.command, spec.cwd, spec.env.PATH);
      if (missing) return Promise.reject(new Error(missing));
    }
    const run = hold?.wrap ? hold.wrap(spec.command, spec.args) : spec;
    const reportsPid = hold?.reportsPid ?? false;
    return new Promise((resolveStart, rejectStart) => {
      const spawnedAt = Date.now();
      const child = spawnProgram(run.command, run.args, {
        cwd: spec.cwd,
        env: spec.env,
        stdio: ['ignore', 'pipe', 'pipe', ...(reportsPid ? ['pipe' as const] : [])],
        detached: process.platform !== 'win32', // its own process group, stopped as a whole
      });
      child.stdout!.on('data', (b: Buffer) => out.write(b));
      child.stderr!.on('data', (b: Buffer) => out.write(b));
      // The runtime's pid: the child's own, or the one the wrapper reports (null: it never ran).
      const runtimePid: Promise<number | null> = reportsPid
        ? firstLine(child.stdio[3] as Readable | null).then((line) => Number(/^pid (\d+)$/.exec(line ?? '')?.[1]) || null)
        : new Promise((r) => child.once('spawn', () => r(child.pid!)));
      const exited = new Promise<string>((resolveExit) => {
        child.once('exit', (code, signal) => {
          const how = exitText(code, signal, reportsPid);
          void runtimePid.then((pid) => {
            if (pid === null) {
              rejectStart(new Error(`its wrapper (${run.command}) ended with ${how} before starting it; its output is in ${spec.logFile}`));
              return resolveExit(how);
            }
            this.running.delete(pid);
            // Windows has no process group: what it started and left running (a .cmd's program,
            // orphaned when cmd.exe ends) is found by its parent pid and stopped with it. The pid
            // itself is free now: only children created since it started are taken.
            if (process.platform === 'win32') this.track(stopOrphans(pid, spawnedAt));
            rmSync(spec.pidFile, { force: true });
            resolveExit(how);
          });
        });
      });
      void runtimePid.then((pid) => {
        if (pid === null) return;
        recordPid(spec.pidFile, pid, spec.command, () => this.running.has(pid));
        this.running.set(pid, { pid, exited, name: spec.name, mode: spec.mode });
        resolveStart({ pid, exited });
      });
      child.once('error', (err) => {
        if (child.pid === undefined) rejectStart(err);
      });
    });
  }

  signal(pid: number, signal: NodeJS.Signals): void {
    this.track(killTree(pid, signal));
  }
}

/**
 * Signals a process and everything it started: the process group on POSIX, the tree on Windows.
 * Resolves once the signal is sent (Windows: once taskkill, or the walk of the process table,
 * is done); a caller that ends its own process right after awaits it.
 */
export async function killTree(pid: number, signal: NodeJS.Signals): Promise<void> {
  if (process.platform === 'win32') return killTreeWindows(pid, signal === 'SIGKILL');
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * Windows has no signals for console-less processes: `taskkill /T` asks the tree to close and
 * `/T /F` ends it. When `/T /F` fails (the root is gone and its children were left behind, or
 * Wine's taskkill, which has no /T), the tree is read from wmic's process table and every
 * process in it ended (TerminateProcess).
 */
/** Windows: ends what `pid` (ended) started since `since` and left running. */
async function stopOrphans(pid: number, since: number): Promise<void> {
  const table = await windowsProcesses();
  if (!table || table.some((p) => p.pid === pid)) return; // no table, or the pid is another process's already
  terminate(descendantsOf(pid, table, since));
}

/** Windows: TerminateProcess on each (Node's SIGKILL); those already gone are skipped. */
function terminate(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function killTreeWindows(pid: number, force: boolean): Promise<void> {
  const code = await new Promise<number | null>((done) => {
    const p = spawn('taskkill', ['/pid', String(pid), '/T', ...(force ? ['/F'] : [])], { stdio: 'ignore', windowsHide: true });
    p.once('error', () => done(null));
    p.once('exit', (c) => done(c));
  });
  if (!force || code === 0) return;
  const table = await windowsProcesses();
  if (!table?.some((p) => p.pid === pid)) return; // gone (what it left is stopOrphans' business), or no table
  terminate([pid, ...descendantsOf(pid, table)]);
}

/** The first line a stream gives (without its newline), or null when it ends without one. */
function firstLine(stream: Readable | null): Promise<string | null> {
  return new Promise((resolveLine) => {
    if (!stream) return resolveLine(null);
    let text = '';
    const done = (line: string | null) => {
      stream.removeAllListeners('data');
      stream.destroy();
      resolveLine(line);
    };
    stream.on('data', (b: Buffer) => {
      text += b.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) done(text.slice(0, nl));
    });
    stream.once('error', () => done(null));
    stream.once('end', () => done(null));
  });
}

/** Pid files of supervised processes in a node's folder: `runtime-<process>.pid`. */
export const pidFileName = (processName: string) => `runtime-${processName}.pid`;

interface PidRecord {
  pid: number;
  command: string;
  /** Linux: start time of the process in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTicks: number | null;
  /** Windows: the pid of the process that started it (the guardian); Windows keeps it after that process ends. */
  parent?: number;
  /** Windows: when it was created (ms since the epoch), where wmic gives it (not under Wine). */
  created?: number | null;
}

/**
 * Records a process just started. On Windows its creation time comes from wmic, a spawn that
 * takes a moment, so the record is written first with the parent alone and completed after,
 * unless the process has ended meanwhile (`stillRuns`).
 */
function recordPid(file: string, pid: number, command: string, stillRuns: () => boolean): void {
  const write = (rec: PidRecord) => {
    try {
      writeFileAtomic(file, JSON.stringify(rec), { mode: 0o600, keepPrevious: false });
    } catch {
      // A full disk must not stop the runtime from starting: the record only helps a node that
      // finds the runtime after a crash, and the guardian's hold ends it with the guardian anyway.
    }
  };
  if (process.platform !== 'win32') return write({ pid, command, startTicks: startTicks(pid) });
  const rec: PidRecord = { pid, command, startTicks: null, parent: process.pid, created: null };
  write(rec);
  void windowsProcesses().then((table) => {
    const created = table?.find((p) => p.pid === pid)?.created;
    if (created && stillRuns()) write({ ...rec, created });
  }).catch(() => undefined); // the record without the creation time still names the parent
}

/**
 * What is left of a recorded runtime: the pids whose trees are to be stopped ([] when nothing
 * is left, or its pid belongs to another process now), or null when this system cannot tell.
 * - Linux: the process, when it has the recorded start time.
 * - Windows: the process, when it has the recorded parent and creation time; when it is gone,
 *   what it started and left behind (a .cmd runtime's cmd.exe may end and leave its program
 *   running; Windows keeps the parent's pid in the orphan's record).
 */
function leftoverOf(rec: PidRecord, table: readonly WinProcess[] | null): number[] | null {
  if (process.platform === 'win32') {
    if (table === null || rec.parent === undefined) return isAlive(rec.pid) ? null : [];
    const now = table.find((p) => p.pid === rec.pid);
    const recorded = rec.created ?? null;
    // Gone: what it started since and left running (children created after it, where known).
    if (!now) return descendantsOf(rec.pid, table, recorded).filter((pid) => table.find((p) => p.pid === pid)?.ppid === rec.pid);
    return now.ppid === rec.parent && (recorded === null || now.created === null || Math.abs(now.created - recorded) < 1_000) ? [rec.pid] : [];
  }
  if (!isAlive(rec.pid)) return [];
  const now = startTicks(rec.pid);
  return rec.startTicks === null || now === null ? null : now === rec.startTicks ? [rec.pid] : [];
}

/**
 * Before a node does anything else: runtime processes left running by a previous node of
 * this server whose guardian is gone too are stopped (those in `keep` run under the guardian), process group and all, so that they can
 * never run next to the ones the domain chooses. A pid is trusted only when the process is
 * the one recorded: the same start time (Linux); the same parent pid and creation time
 * (Windows, from wmic). Where that cannot be told, a leftover is reported, not killed. Every
 * `runtime-*.pid` in `dir` is checked, so a process renamed or removed from the domain file
 * meanwhile is found too.
 */
export async function stopLeftoverRuntimes(dir: string, log: Logger, timeoutMs: number, keep: readonly number[] = []): Promise<void> {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /^runtime-.+\.pid$/.test(f));
  } catch {
    return;
  }
  if (!files.length) return;
  const table = process.platform === 'win32' ? await windowsProcesses() : null;
  await Promise.all(files.map((f) => stopLeftover(join(dir, f), log, timeoutMs, keep, table)));
}

async function stopLeftover(pidFile: string, log: Logger, timeoutMs: number, keep: readonly number[], table: readonly WinProcess[] | null): Promise<void> {
  let rec: PidRecord;
  try {
    rec = JSON.parse(readFileSync(pidFile, 'utf8')) as PidRecord;
  } catch {
    rmSync(pidFile, { force: true });
    return;
  }
  if (keep.includes(rec.pid)) return; // the guardian still runs it for this node
  rmSync(pidFile, { force: true });
  if (!Number.isSafeInteger(rec.pid) || rec.pid <= 1) return;
  const left = leftoverOf(rec, table);
  if (left === null) {
    log.warn('runtime', `a runtime process (${rec.command}, pid ${rec.pid}) may still run from before this node started; it cannot be verified on this system, so it was left alone: check it by hand`);
    return;
  }
  if (!left.length) return; // gone, or the pid belongs to another process now
  const what = left.length === 1 && left[0] === rec.pid ? `pid ${rec.pid}` : `pid ${left.join(', ')}, started by pid ${rec.pid}`;
  log.warn('runtime', `found the runtime process (${rec.command}, ${what}) left running by a previous Duplex node of this server; stopping it before joining the domain`);
  const running = () => left.filter(isAlive);
  await Promise.all(left.map((pid) => killTree(pid, 'SIGTERM')));
  const deadline = performance.now() + timeoutMs;
  while (running().length && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  // Every group (POSIX: its members outlive a leader that took SIGTERM); on Windows a root that
  // ended leaves its children to be found by their parent pid.
  await Promise.all(left.map((pid) => (process.platform === 'win32' && !isAlive(pid) ? stopOrphans(pid, 0) : killTree(pid, 'SIGKILL'))));
  while (running().length && performance.now() < deadline + 2_000) await new Promise((r) => setTimeout(r, 20));
  log.info('runtime', running().length ? `pid ${running().join(', ')} still there after SIGKILL` : `leftover runtime ${what} stopped`);
}
