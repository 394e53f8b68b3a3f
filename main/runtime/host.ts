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
import { performance } from 'node:perf_hooks';
import { RUNTIME_LOG_MAX_BYTES } from '../defaults';
import { writeFileAtomic } from '../util/atomic';
import type { Logger } from '../util/logger';
import { isAlive, procStat } from '../util/process';
import { RotatingFile } from '../util/rotating-file';
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

/** Runs processes as children of this process. */
export class LocalProcessHost implements ProcessHost {
  private readonly outputs = new Map<string, RotatingFile>();
  /** What runs now, by pid. */
  readonly running = new Map<number, Hosted>();

  start(spec: StartSpec): Promise<Started> {
    let output = this.outputs.get(spec.logFile);
    if (!output) {
      output = new RotatingFile(spec.logFile, RUNTIME_LOG_MAX_BYTES);
      this.outputs.set(spec.logFile, output);
    }
    const out = output;
    return new Promise((resolveStart, rejectStart) => {
      const child = spawn(spec.command, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: process.platform !== 'win32', // its own process group, stopped as a whole
        windowsHide: true,
      });
      child.stdout!.on('data', (b: Buffer) => out.write(b));
      child.stderr!.on('data', (b: Buffer) => out.write(b));
      const exited = new Promise<string>((resolveExit) => {
        child.once('exit', (code, signal) => {
          if (child.pid !== undefined) this.running.delete(child.pid);
          rmSync(spec.pidFile, { force: true });
          resolveExit(signal ? `signal ${signal}` : `code ${code}`);
        });
      });
      child.once('spawn', () => {
        const pid = child.pid!;
        recordPid(spec.pidFile, pid, spec.command);
        this.running.set(pid, { pid, exited, name: spec.name, mode: spec.mode });
        resolveStart({ pid, exited });
      });
      child.once('error', (err) => {
        if (child.pid === undefined) rejectStart(err);
      });
    });
  }

  signal(pid: number, signal: NodeJS.Signals): void {
    killTree(pid, signal);
  }
}

/** Signals a process and everything it started: the process group on POSIX, the tree on Windows. */
export function killTree(pid: number, signal: NodeJS.Signals): void {
  if (process.platform === 'win32') {
    // taskkill /T walks the tree; /F forces (Windows has no SIGTERM for console-less processes).
    spawn('taskkill', ['/pid', String(pid), '/T', ...(signal === 'SIGKILL' ? ['/F'] : [])], { stdio: 'ignore', windowsHide: true }).on('error', () => undefined);
    return;
  }
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/** Pid files of supervised processes in a node's folder: `runtime-<process>.pid`. */
export const pidFileName = (processName: string) => `runtime-${processName}.pid`;

interface PidRecord {
  pid: number;
  /** Linux: start time of the process in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTicks: number | null;
  command: string;
}

function startTicks(pid: number): number | null {
  const ticks = procStat(pid)?.[19];
  return ticks === undefined ? null : Number(ticks);
}

function recordPid(file: string, pid: number, command: string): void {
  const rec: PidRecord = { pid, startTicks: startTicks(pid), command };
  writeFileAtomic(file, JSON.stringify(rec), { mode: 0o600, keepPrevious: false });
}

/**
 * Before a node does anything else: runtime processes left running by a previous node of
 * this server whose guardian is gone too are stopped (those in `keep` run under the guardian), process group and all, so that they can
 * never run next to the ones the domain chooses. A pid is trusted only when the process's
 * start time matches the record (Linux); elsewhere a leftover is reported, not killed. Every
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
  await Promise.all(files.map((f) => stopLeftover(join(dir, f), log, timeoutMs, keep)));
}

async function stopLeftover(pidFile: string, log: Logger, timeoutMs: number, keep: readonly number[]): Promise<void> {
  let rec: PidRecord;
  try {
    rec = JSON.parse(readFileSync(pidFile, 'utf8')) as PidRecord;
  } catch {
    rmSync(pidFile, { force: true });
    return;
  }
  if (keep.includes(rec.pid)) return; // the guardian still runs it for this node
  rmSync(pidFile, { force: true });
  if (!Number.isSafeInteger(rec.pid) || rec.pid <= 1 || !isAlive(rec.pid)) return;
  const now = startTicks(rec.pid);
  if (rec.startTicks === null || now === null) {
    log.warn('runtime', `a runtime process (${rec.command}, pid ${rec.pid}) may still run from before this node started; it cannot be verified on this system, so it was left alone: check it by hand`);
    return;
  }
  if (now !== rec.startTicks) return; // the pid belongs to another process now
  log.warn('runtime', `found the runtime process (${rec.command}, pid ${rec.pid}) left running by a previous Duplex node of this server; stopping it before joining the domain`);
  killTree(rec.pid, 'SIGTERM');
  const deadline = performance.now() + timeoutMs;
  while (isAlive(rec.pid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  killTree(rec.pid, 'SIGKILL');
  while (isAlive(rec.pid) && performance.now() < deadline + 2_000) await new Promise((r) => setTimeout(r, 20));
  log.info('runtime', isAlive(rec.pid) ? `pid ${rec.pid} is still there after SIGKILL` : `leftover runtime pid ${rec.pid} stopped`);
}
