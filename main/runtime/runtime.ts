/**
 * The runtime port: the node asks for a mode and is told when it is reached.
 * The switchover invariant rests on this: setMode('standby' | 'stopped') resolves only
 * when no process runs in active mode any more.
 *
 * The supervisor runs the processes the domain file declares. Each one runs for the roles
 * it names (active, standby or both), in a process group of its own so that stopping it
 * also stops what it started; its output goes to a rotated log; an unexpected exit is
 * restarted with exponential backoff, and a crash loop of an active-mode process is
 * reported so that the Active can hand over.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { LocalProcessHost, type ProcessHost, type Started } from './host';
import { RestartPolicy, type RestartPolicyConfig } from './restart-policy';
import { step, wantedMode, type ProcessMode, type ProcessState, type ProcessStatus, type RunOn } from './plan';

export type { ProcessState, ProcessStatus };
import type { RuntimeMode } from '../engine/types';
import type { Logger } from '../util/logger';
import { spawnProgram } from '../util/spawn';
import type { RuntimeControl } from '../node/ports';

export interface RuntimeStatus {
  /** The mode the node asked for. */
  mode: RuntimeMode;
  /** Why the active runtime is held (waiting for `duplex resume`), null when not held. */
  held: string | null;
  processes: ProcessStatus[];
}

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  /** Arguments in standby mode; default `args`. */
  standbyArgs?: string[];
  cwd?: string;
  env?: Record<string, string>;
  runOn: RunOn;
  onActivate?: string[];
  onDeactivate?: string[];
  hookTimeoutMs: number;
  /** Asks the process to stop instead of `stopSignal`. */
  stopCommand?: string[];
  stopSignal: NodeJS.Signals;
  /** After the stop signal or command, how long before the whole process group is killed. */
  stopTimeoutMs: number;
  /** Where its stdout and stderr go (rotated). */
  logFile: string;
  /** Where the running process is recorded, so that a node restarted after a crash finds it. */
  pidFile: string;
  restart: RestartPolicyConfig;
}

/**
 * Runs the declared processes for the mode the node asks for. Mode changes and restarts
 * go through one queue, so they never interleave. Starting follows the declared order;
 * stopping goes in reverse (companions started first are stopped last).
 */
export class Supervisor implements RuntimeControl {
  private mode: RuntimeMode = 'stopped';
  private heldFor: string | null = null;
  private queue: Promise<void> = Promise.resolve();
  private readonly procs: ManagedProcess[];
  /** Called whenever what status() shows changes (a process starting, running, exiting, stopping; a hold). */
  onChange: () => void = () => undefined;

  constructor(
    specs: ProcessSpec[],
    private readonly log: Logger,
    /** A process in active mode keeps dying (a crash loop): the Active should hand over. */
    private readonly onCrashLoop: (detail: string) => void = () => undefined,
    /** Where the processes run: the node's guardian, or this process. */
    private readonly host: ProcessHost = new LocalProcessHost(),
  ) {
    this.procs = specs.map((s) => new ManagedProcess(s, log, host, (p, how) => this.onUnexpectedExit(p, how), () => this.onChange()));
  }

  /**
   * Takes back the processes that kept running in active mode while the node restarted (its
   * guardian ran them): each declared one becomes that process again; one no longer declared
   * is killed. Then `setMode('active')` starts whatever is missing.
   */
  adopt(held: (Started & { name: string; mode: ProcessMode })[]): void {
    this.mode = 'active';
    for (const h of held) {
      const p = this.procs.find((x) => x.spec.name === h.name && !x.proc);
      if (p) {
        p.adopt(h, h.mode);
        this.log.info('runtime', `took ${h.name} (pid ${h.pid}, ${h.mode} mode) back from the guardian`);
      } else {
        this.log.warn('runtime', `the guardian runs ${h.name} (pid ${h.pid}), which the domain file no longer declares; killing it`);
        this.host.signal(h.pid, 'SIGKILL');
      }
    }
  }

  setMode(mode: RuntimeMode): Promise<void> {
    this.mode = mode;
    return this.enqueue(() => this.converge());
  }

  /**
   * Keeps the active runtime from starting until `resume()`: the processes stay as they are
   * on a Standby. Used after a failover when the domain asks for a technician's confirmation.
   */
  hold(reason: string): void {
    this.heldFor = reason;
    this.onChange();
    this.log.warn('runtime', `holding the runtime: ${reason}. Start it with "duplex resume" (or the tray's Resume runtime) once the plant is checked`);
  }

  /** Lifts a hold (and starts the active runtime if the node is Active). False when nothing was held. */
  async resume(): Promise<boolean> {
    if (this.heldFor === null) return false;
    this.heldFor = null;
    this.onChange();
    this.log.info('runtime', 'resumed by a technician');
    await this.enqueue(() => this.converge());
    return true;
  }

  /** Forgets a hold without starting anything (the role moved on). */
  dropHold(): void {
    if (this.heldFor !== null) this.log.info('runtime', 'hold dropped: this server is no longer Active');
    this.heldFor = null;
    this.onChange();
  }

  held(): string | null {
    return this.heldFor;
  }

  status(): RuntimeStatus {
    return { mode: this.mode, held: this.heldFor, processes: this.procs.map((p) => p.status()) };
  }

  private enqueue(job: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(job, job);
    return this.queue;
  }

  /** The mode the processes follow: a held Active keeps them as on a Standby. */
  private effectiveMode(): RuntimeMode {
    return this.mode === 'active' && this.heldFor !== null ? 'standby' : this.mode;
  }

  private async converge(): Promise<void> {
    const mode = this.effectiveMode();
    const order = mode === 'active' ? this.procs : [...this.procs].reverse();
    for (const p of order) await p.moveTo(wantedMode(p.spec.runOn, mode));
  }

  private onUnexpectedExit(p: ManagedProcess, how: string): void {
    const want = wantedMode(p.spec.runOn, this.effectiveMode());
    if (want === null) return;
    const d = p.policy.onExit(performance.now());
    p.restarts += 1;
    p.waiting = true;
    this.onChange();
    const window = `${Math.round(p.spec.restart.windowMs / 1000)} s`;
    const loop = d.crashLoop ? `; crash loop: ${d.recentExits} exits within ${window}` : '';
    this.log.warn('runtime', `${p.spec.name} exited unexpectedly (${how}) in ${want} mode; starting it again in ${d.delayMs} ms${loop}`);
    if (d.crashLoop && want === 'active') this.onCrashLoop(`${p.spec.name}: ${d.recentExits} exits within ${window}, the last ${how}`);
    p.restartTimer = setTimeout(() => {
      p.restartTimer = null;
      void this.enqueue(async () => {
        p.waiting = false;
        await p.moveTo(wantedMode(p.spec.runOn, this.effectiveMode()));
      });
    }, d.delayMs);
  }
}

/** One declared process and the child currently running it. */
class ManagedProcess {
  /** The process running now (it may be on its way out while `stopping`). */
  proc: Started | null = null;
  private launching = false;
  runningAs: ProcessMode | null = null;
  private startedAt: number | null = null;
  private stopping = false;
  restarts = 0;
  waiting = false;
  restartTimer: NodeJS.Timeout | null = null;
  private lastExit: string | null = null;
  readonly policy: RestartPolicy;

  constructor(
    readonly spec: ProcessSpec,
    private readonly log: Logger,
    private readonly host: ProcessHost,
    private readonly onUnexpectedExit: (p: ManagedProcess, how: string) => void,
    /** What status() shows of it changed. */
    private readonly changed: () => void,
  ) {
    this.policy = new RestartPolicy(spec.restart);
  }

  status(): ProcessStatus {
    const state: ProcessState = this.stopping ? 'stopping' : this.launching ? 'starting' : this.proc ? 'running' : this.waiting ? 'waiting to restart' : 'stopped';
    return {
      name: this.spec.name,
      runOn: this.spec.runOn,
      state,
      mode: this.proc ? this.runningAs : null,
      pid: this.proc?.pid ?? null,
      uptimeMs: this.startedAt === null ? null : Math.round(performance.now() - this.startedAt),
      restarts: this.restarts,
      lastExit: this.lastExit,
    };
  }

  async moveTo(want: ProcessMode | null): Promise<void> {
    if (want === null || !this.proc) {
      // Stopped on purpose, or about to start afresh: no pending restart, no remembered exits.
      if (this.restartTimer) clearTimeout(this.restartTimer);
      this.restartTimer = null;
      this.waiting = false;
      if (want === null) this.policy.reset();
    }
    const running = this.proc ? this.runningAs : null;
    const s = step({
      runOn: this.spec.runOn,
      hasActivateHook: this.spec.onActivate !== undefined,
      hasDeactivateHook: this.spec.onDeactivate !== undefined,
      standbyArgsDiffer: this.spec.standbyArgs !== undefined && JSON.stringify(this.spec.standbyArgs) !== JSON.stringify(this.spec.args),
    }, running, want);
    const name = this.spec.name;
    switch (s) {
      case 'none':
        return;
      case 'start':
        return this.start(want!);
      case 'stop':
        return this.stop();
      case 'restart':
        await this.stop();
        return this.start(want!);
      case 'keep':
        this.log.info('runtime', `${name} runs the same in both modes; keeping pid ${this.proc!.pid} in ${want} mode`);
        this.runningAs = want;
        return;
      case 'activate-hook':
      case 'deactivate-hook': {
        const hook = s === 'activate-hook' ? this.spec.onActivate! : this.spec.onDeactivate!;
        const label = s === 'activate-hook' ? 'onActivate' : 'onDeactivate';
        const r = await this.runHelper(label, hook, want!);
        if (r.ok) {
          this.runningAs = want;
          this.log.info('runtime', `${name} moved to ${want} mode by its ${label} hook (pid ${this.proc?.pid})`);
          return;
        }
        // A process whose mode is unknown must not stay: it could still be active.
        this.log.error('runtime', `${name}: the ${label} hook failed (${r.detail}); restarting the process in ${want} mode instead`);
        await this.stop();
        return this.start(want!);
      }
    }
  }

  private async start(mode: ProcessMode): Promise<void> {
    const spec = this.spec;
    const args = mode === 'standby' ? spec.standbyArgs ?? spec.args : spec.args;
    const env = { ...process.env, ...spec.env, DUPLEX_MODE: mode, DUPLEX_PROCESS: spec.name } as Record<string, string>;
    this.launching = true;
    this.changed();
    let proc: Started;
    try {
      proc = await this.host.start({ name: spec.name, command: spec.command, args, cwd: spec.cwd, env, mode, logFile: spec.logFile, pidFile: spec.pidFile });
    } catch (e) {
      this.launching = false;
      this.changed();
      const message = (e as Error).message;
      this.log.error('runtime', `cannot start ${spec.name} (${spec.command}): ${message}. Check runtime.processes[${spec.name}].command and cwd in the domain file`);
      this.lastExit = `start failed: ${message}`;
      this.onUnexpectedExit(this, this.lastExit);
      return;
    }
    this.launching = false;
    this.log.info('runtime', `started ${spec.name} (${spec.command}) in ${mode} mode, pid ${proc.pid}; output in ${spec.logFile}`);
    this.adopt(proc, mode);
  }

  /** `proc` is this process now, running in `mode`. */
  adopt(proc: Started, mode: ProcessMode): void {
    this.proc = proc;
    this.runningAs = mode;
    this.startedAt = performance.now();
    this.changed();
    void proc.exited.then((how) => {
      this.lastExit = how;
      if (this.proc !== proc) return;
      this.proc = null;
      this.startedAt = null;
      this.changed();
      if (!this.stopping) this.onUnexpectedExit(this, how);
    });
  }

  private stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return Promise.resolve();
    const pid = proc.pid;
    const name = this.spec.name;
    this.stopping = true;
    this.changed();
    let helper: ChildProcess | null = null;
    const killer = setTimeout(() => {
      this.log.warn('runtime', `${name} (pid ${pid}) did not stop within ${this.spec.stopTimeoutMs} ms of ${this.spec.stopCommand ? 'its stop command' : this.spec.stopSignal}; killing its process group`);
      this.host.signal(pid, 'SIGKILL');
    }, this.spec.stopTimeoutMs);
    if (this.spec.stopCommand) {
      helper = this.spawnHelper(this.spec.stopCommand, this.runningAs ?? 'active', (err) => {
        this.log.warn('runtime', `${name}: the stop command could not run (${err.message}); sending ${this.spec.stopSignal} instead`);
        this.host.signal(pid, this.spec.stopSignal);
      });
    } else {
      this.host.signal(pid, this.spec.stopSignal);
    }
    return proc.exited.then((how) => {
      clearTimeout(killer);
      // The leader is gone; whatever it started and left behind goes with it.
      this.host.signal(pid, 'SIGKILL');
      if (helper?.pid !== undefined && helper.exitCode === null) this.host.signal(helper.pid, 'SIGKILL');
      this.proc = null;
      this.startedAt = null;
      this.runningAs = null;
      this.stopping = false;
      this.changed();
      this.log.info('runtime', `stopped ${name} (pid ${pid}, ${how})`);
    });
  }

  /**
   * Starts a hook or stop command with the process's folder and environment, its output
   * appended to the process's log while it runs. The host (the guardian) writes and rotates
   * that log; a file kept open here would go on writing into the rotated copy.
   */
  private spawnHelper(argv: string[], mode: ProcessMode, onError: (err: Error) => void): ChildProcess {
    const h = spawnProgram(argv[0]!, argv.slice(1), {
      cwd: this.spec.cwd,
      env: { ...process.env, ...this.spec.env, DUPLEX_MODE: mode, DUPLEX_PROCESS: this.spec.name, DUPLEX_PID: String(this.proc?.pid ?? '') },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });
    const out = createWriteStream(this.spec.logFile, { flags: 'a' });
    out.on('error', (e) => this.log.warn('runtime', `the output of ${argv[0]} cannot go to ${this.spec.logFile}: ${e.message}`));
    h.stdout!.pipe(out, { end: false });
    h.stderr!.pipe(out, { end: false });
    h.once('close', () => out.end());
    h.once('error', (err) => {
      out.end();
      onError(err);
    });
    return h;
  }

  /** Runs a hook to its end: ok on exit code 0 within the hook timeout. */
  private runHelper(label: string, argv: string[], mode: ProcessMode): Promise<{ ok: boolean; detail: string }> {
    return new Promise((resolveRun) => {
      const h = this.spawnHelper(argv, mode, (err) => {
        clearTimeout(timer);
        resolveRun({ ok: false, detail: `${argv[0]} could not run: ${err.message}` });
      });
      const timer = setTimeout(() => {
        if (h.pid !== undefined) this.host.signal(h.pid, 'SIGKILL');
        resolveRun({ ok: false, detail: `${label} did not finish within ${this.spec.hookTimeoutMs} ms and was killed` });
      }, this.spec.hookTimeoutMs);
      h.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolveRun(code === 0 ? { ok: true, detail: 'code 0' } : { ok: false, detail: `${label} ended with ${signal ? `signal ${signal}` : `code ${code}`}` });
      });
    });
  }
}
