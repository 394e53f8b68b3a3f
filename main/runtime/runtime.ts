/**
 * The runtime port: the node asks for a mode and is told when it is reached.
 * The switchover invariant rests on this: setMode('standby' | 'stopped') resolves only
 * when the runtime is no longer running in active mode.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { writeFileAtomic } from '../util/atomic';
import { isAlive } from '../util/process';
import { RUNTIME_LOG_MAX_BYTES } from '../defaults';
import { RotatingFile } from '../util/rotating-file';
import { RestartPolicy, type RestartPolicyConfig } from './restart-policy';
import type { RuntimeMode } from '../engine/types';
import type { Logger } from '../node/log';

export interface RuntimeStatus {
  /** false when the domain file declares no runtime. */
  declared: boolean;
  mode: RuntimeMode;
  state: ProcessState;
  pid: number | null;
  /** Milliseconds since the process started, null when not running. */
  uptimeMs: number | null;
  restarts: number;
  lastExit: string | null;
}

export interface Runtime {
  setMode(mode: RuntimeMode): Promise<void>;
  status(): RuntimeStatus;
}

/** No runtime declared in the domain file: modes are reached at once. */
export class NoRuntime implements Runtime {
  private mode: RuntimeMode = 'stopped';
  async setMode(mode: RuntimeMode): Promise<void> {
    this.mode = mode;
  }
  status(): RuntimeStatus {
    return { declared: false, mode: this.mode, state: 'stopped', pid: null, uptimeMs: null, restarts: 0, lastExit: null };
  }
}

/** What a runtime process is doing now. */
export type ProcessState = 'stopped' | 'running' | 'stopping' | 'waiting to restart';

export interface ProcessSpec {
  command: string;
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** After the stop signal, how long before the whole process group is killed. */
  stopTimeoutMs: number;
  /** Where its stdout and stderr go (rotated). */
  logFile: string;
  /** Where the running process is recorded, so that a node restarted after a crash finds it. */
  pidFile: string;
  restart: RestartPolicyConfig;
}

/**
 * A single process that runs while the server is Active, with DUPLEX_MODE=active in its
 * environment, in a process group of its own so that stopping it also stops what it
 * started. Stop: SIGTERM to the group, SIGKILL to the group after `stopTimeoutMs`.
 * An unexpected exit while Active is restarted with exponential backoff; a crash loop
 * is reported through `onCrashLoop`.
 */
export class ProcessRuntime implements Runtime {
  private mode: RuntimeMode = 'stopped';
  private state: ProcessState = 'stopped';
  private child: ChildProcess | null = null;
  private startedAt: number | null = null;
  private restarts = 0;
  private lastExit: string | null = null;
  private queue: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | null = null;
  private readonly policy: RestartPolicy;
  private readonly output: RotatingFile;

  constructor(
    private readonly spec: ProcessSpec,
    private readonly log: Logger,
    private readonly onCrashLoop: (detail: string) => void = () => undefined,
  ) {
    this.policy = new RestartPolicy(spec.restart);
    this.output = new RotatingFile(spec.logFile, RUNTIME_LOG_MAX_BYTES);
  }

  setMode(mode: RuntimeMode): Promise<void> {
    this.queue = this.queue.then(() => (mode === 'active' ? this.start() : this.stop(mode)));
    return this.queue;
  }

  status(): RuntimeStatus {
    return {
      declared: true,
      mode: this.mode,
      state: this.state,
      pid: this.child?.pid ?? null,
      uptimeMs: this.startedAt === null ? null : Math.round(performance.now() - this.startedAt),
      restarts: this.restarts,
      lastExit: this.lastExit,
    };
  }

  private start(): Promise<void> {
    this.mode = 'active';
    if (this.child) return Promise.resolve();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    return new Promise((resolveStart) => {
      const child = spawn(this.spec.command, this.spec.args, {
        cwd: this.spec.cwd,
        env: { ...process.env, ...this.spec.env, DUPLEX_MODE: 'active' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: process.platform !== 'win32', // its own process group, stopped as a whole
        windowsHide: true,
      });
      this.child = child;
      child.stdout!.on('data', (b: Buffer) => this.output.write(b));
      child.stderr!.on('data', (b: Buffer) => this.output.write(b));
      child.once('spawn', () => {
        this.state = 'running';
        this.startedAt = performance.now();
        recordPid(this.spec.pidFile, child.pid!, this.spec.command);
        this.log.info('runtime', `started ${this.spec.command} in active mode (pid ${child.pid}); output in ${this.spec.logFile}`);
        resolveStart();
      });
      child.once('error', (err) => {
        this.log.error('runtime', `cannot start ${this.spec.command}: ${err.message}`);
        if (this.child === child) this.child = null;
        this.onUnexpectedExit(`start failed: ${err.message}`);
        resolveStart();
      });
      child.once('exit', (code, signal) => {
        this.lastExit = signal ? `signal ${signal}` : `code ${code}`;
        if (this.child !== child) return;
        this.child = null;
        this.startedAt = null;
        rmSync(this.spec.pidFile, { force: true });
        if (this.mode === 'active' && this.state !== 'stopping') this.onUnexpectedExit(this.lastExit);
      });
    });
  }

  private onUnexpectedExit(how: string): void {
    this.restarts += 1;
    const d = this.policy.onExit(performance.now());
    this.state = 'waiting to restart';
    const loop = d.crashLoop ? `; crash loop: ${d.recentExits} exits within ${Math.round(this.spec.restart.windowMs / 1000)} s` : '';
    this.log.warn('runtime', `exited unexpectedly (${how}) while Active; starting it again in ${d.delayMs} ms${loop}`);
    if (d.crashLoop) this.onCrashLoop(`${d.recentExits} exits within ${Math.round(this.spec.restart.windowMs / 1000)} s, the last ${how}`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.mode === 'active') void this.setMode('active');
    }, d.delayMs);
  }

  private stop(mode: RuntimeMode): Promise<void> {
    this.mode = mode;
    this.policy.reset();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (!child || child.pid === undefined) {
      this.state = 'stopped';
      return Promise.resolve();
    }
    const pid = child.pid;
    this.state = 'stopping';
    return new Promise((resolveStop) => {
      const killer = setTimeout(() => {
        this.log.warn('runtime', `pid ${pid} did not stop within ${this.spec.stopTimeoutMs} ms of SIGTERM; killing its process group`);
        killTree(pid, 'SIGKILL');
      }, this.spec.stopTimeoutMs);
      child.once('exit', () => {
        clearTimeout(killer);
        // The leader is gone; whatever it started and left behind goes with it.
        killTree(pid, 'SIGKILL');
        this.child = null;
        this.startedAt = null;
        this.state = 'stopped';
        rmSync(this.spec.pidFile, { force: true });
        this.log.info('runtime', `stopped (pid ${pid}, ${this.lastExit})`);
        resolveStop();
      });
      killTree(pid, 'SIGTERM');
    });
  }
}

interface PidRecord {
  pid: number;
  /** Linux: start time of the process in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTicks: number | null;
  command: string;
}

function startTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return null;
  }
}

function recordPid(file: string, pid: number, command: string): void {
  const rec: PidRecord = { pid, startTicks: startTicks(pid), command };
  writeFileAtomic(file, JSON.stringify(rec), { mode: 0o600, keepPrevious: false });
}


/**
 * Before a node does anything else: a runtime left running by a previous node of this
 * server (Duplex crashed or was killed) is stopped, process group and all, so that it can
 * never run next to the one the domain chooses. The pid is trusted only when the process's
 * start time matches the record (Linux); elsewhere a leftover is reported, not killed.
 */
export async function stopLeftoverRuntime(pidFile: string, log: Logger, timeoutMs: number): Promise<void> {
  let rec: PidRecord;
  try {
    rec = JSON.parse(readFileSync(pidFile, 'utf8')) as PidRecord;
  } catch {
    return; // none recorded
  }
  rmSync(pidFile, { force: true });
  if (!Number.isSafeInteger(rec.pid) || rec.pid <= 1 || !isAlive(rec.pid)) return;
  const now = startTicks(rec.pid);
  if (rec.startTicks === null || now === null) {
    log.warn('runtime', `a runtime (${rec.command}, pid ${rec.pid}) may still run from before this node started; it cannot be verified on this system, so it was left alone: check it by hand`);
    return;
  }
  if (now !== rec.startTicks) return; // the pid belongs to another process now
  log.warn('runtime', `found the runtime (${rec.command}, pid ${rec.pid}) left running by a previous Duplex node of this server; stopping it before joining the domain`);
  killTree(rec.pid, 'SIGTERM');
  const deadline = performance.now() + timeoutMs;
  while (isAlive(rec.pid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  killTree(rec.pid, 'SIGKILL');
  while (isAlive(rec.pid) && performance.now() < deadline + 2_000) await new Promise((r) => setTimeout(r, 20));
  log.info('runtime', isAlive(rec.pid) ? `pid ${rec.pid} is still there after SIGKILL` : `leftover runtime pid ${rec.pid} stopped`);
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
