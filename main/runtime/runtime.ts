/**
 * The runtime port: the node asks for a mode and is told when it is reached.
 * The switchover invariant rests on this: setMode('standby' | 'stopped') resolves only
 * when the runtime is no longer running in active mode.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { RUNTIME_STOP_TIMEOUT_MS } from '../defaults';
import type { RuntimeMode } from '../engine/types';
import type { Logger } from '../node/log';

export interface RuntimeStatus {
  /** false when the domain file declares no runtime. */
  declared: boolean;
  mode: RuntimeMode;
  pid: number | null;
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
    return { declared: false, mode: this.mode, pid: null, restarts: 0, lastExit: null };
  }
}

/**
 * A single process that runs while the server is Active, with DUPLEX_MODE=active in its
 * environment. Stopped on any other mode: SIGTERM, then SIGKILL after RUNTIME_STOP_TIMEOUT_MS.
 * An unexpected exit while Active is logged and the process started again after a second.
 */
export class ProcessRuntime implements Runtime {
  private mode: RuntimeMode = 'stopped';
  private child: ChildProcess | null = null;
  private restarts = 0;
  private lastExit: string | null = null;
  private queue: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly spec: { command: string; args: string[]; cwd?: string; env?: Record<string, string> },
    private readonly log: Logger,
  ) {}

  setMode(mode: RuntimeMode): Promise<void> {
    this.queue = this.queue.then(() => (mode === 'active' ? this.start() : this.stop(mode)));
    return this.queue;
  }

  status(): RuntimeStatus {
    return { declared: true, mode: this.mode, pid: this.child?.pid ?? null, restarts: this.restarts, lastExit: this.lastExit };
  }

  private start(): Promise<void> {
    this.mode = 'active';
    if (this.child) return Promise.resolve();
    return new Promise((resolveStart) => {
      const child = spawn(this.spec.command, this.spec.args, {
        cwd: this.spec.cwd,
        env: { ...process.env, ...this.spec.env, DUPLEX_MODE: 'active' },
        stdio: ['ignore', 'inherit', 'inherit'],
      });
      this.child = child;
      child.once('spawn', () => {
        this.log.info('runtime', `started ${this.spec.command} in active mode (pid ${child.pid})`);
        resolveStart();
      });
      child.once('error', (err) => {
        this.log.error('runtime', `cannot start ${this.spec.command}: ${err.message}`);
        resolveStart();
      });
      child.once('exit', (code, signal) => {
        this.lastExit = signal ? `signal ${signal}` : `code ${code}`;
        if (this.child === child) this.child = null;
        if (this.mode === 'active') {
          this.restarts += 1;
          this.log.warn('runtime', `exited unexpectedly (${this.lastExit}) while Active; starting it again in 1 s`);
          this.restartTimer = setTimeout(() => {
            this.restartTimer = null;
            if (this.mode === 'active') void this.setMode('active');
          }, 1000);
        }
      });
    });
  }

  private stop(mode: RuntimeMode): Promise<void> {
    this.mode = mode;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const child = this.child;
    if (!child) return Promise.resolve();
    return new Promise((resolveStop) => {
      const killer = setTimeout(() => {
        this.log.warn('runtime', `pid ${child.pid} ignored SIGTERM for ${RUNTIME_STOP_TIMEOUT_MS} ms; killing it`);
        child.kill('SIGKILL');
      }, RUNTIME_STOP_TIMEOUT_MS);
      child.once('exit', () => {
        clearTimeout(killer);
        this.log.info('runtime', `stopped (pid ${child.pid}, ${this.lastExit})`);
        resolveStop();
      });
      child.kill('SIGTERM');
    });
  }
}
