/**
 * The node's end of its guardian (guardian.ts): finds the running guardian of this server or
 * starts one (detached, so it outlives the node), then hosts the runtime processes there and
 * renews the lease with every heartbeat (the driver's LeaseHolder port).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Heartbeat } from '../engine/types';
import type { LeaseHolder } from '../node/ports';
import { killTree, type ProcessHost, type StartSpec, type Started } from '../runtime/host';
import { timeOfDay, type Logger } from '../util/logger';
import { isAlive } from '../util/process';
import type { VipPlan, VipResult } from '../vip/holder';
import { GUARDIAN_FILE, readLines, writeLine, type FromGuardian, type GuardianFile, type HeldProcess, type ReleaseRoute } from './protocol';

/** How long a new guardian may take to start listening. */
const GUARDIAN_START_MS = 10_000;

export class GuardianError extends Error {}

export class GuardianClient implements ProcessHost, LeaseHolder {
  private nextId = 1;
  private readonly starts = new Map<number, { resolve: (s: Started) => void; reject: (e: Error) => void }>();
  private readonly vipCalls = new Map<number, (r: VipResult) => void>();
  private readonly exits = new Map<number, { exited: Promise<string>; resolve: (how: string) => void }>();
  private seal: ((hb: Heartbeat) => Buffer) | null = null;
  private leaving = false;
  /** The fence last logged (the guardian answers a fence asked again with the same one). */
  private fenceLogged: number | null = null;
  /** The guardian killed the runtime: the node's Active term is over. */
  onFenced: (reason: string) => void = () => undefined;
  /** The guardian went away while the node runs: nothing can fence the runtime any more. */
  onLost: (why: string) => void = () => undefined;

  private constructor(
    private readonly socket: Socket,
    readonly pid: number,
    readonly held: HeldProcess[],
    /** The Active term whose runtime the guardian kept running for this node to take back; null: none. */
    readonly term: number | null,
    /** Until when (performance.now()) the guardian holds that term's lease (quorum: the majority's support). */
    readonly termLeaseUntil: number,
    private readonly log: Logger,
    /** A message from the guardian that comes this long after what it tells happened came while this node was frozen (or hung). */
    private readonly lateMs: number,
  ) {
    for (const p of held) this.expectExit(p.pid);
  }

  /** Connects to this server's guardian, starting one when none runs. */
  static async open(opts: { dir: string; server: string; leaseMs: number; log: Logger }): Promise<GuardianClient> {
    const file = join(opts.dir, GUARDIAN_FILE);
    const running = readGuardianFile(file);
    if (running && isAlive(running.pid)) {
      try {
        return await GuardianClient.connect(running, opts);
      } catch (e) {
        if (e instanceof GuardianError) throw e;
        opts.log.warn('guardian', `the guardian recorded in ${file} (pid ${running.pid}) does not answer (${(e as Error).message}); starting a new one`);
      }
    }
    const child = spawn(process.execPath, [join(__dirname, 'main.js'), '--dir', opts.dir, '--server', opts.server], {
      detached: true, // its own session and process group: it outlives the node's terminal and group
      stdio: 'ignore',
      windowsHide: true,
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    });
    child.unref();
    const deadline = Date.now() + GUARDIAN_START_MS;
    for (;;) {
      const started = readGuardianFile(file);
      if (started && started.pid === child.pid) return GuardianClient.connect(started, opts);
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`the guardian did not start (see ${join(opts.dir, 'logs', 'guardian.log')}); the runtime cannot be guarded, so this node does not start`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private static connect(g: GuardianFile, opts: { server: string; leaseMs: number; log: Logger }): Promise<GuardianClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(g.socket);
      let client: GuardianClient | null = null;
      socket.once('error', reject);
      socket.once('connect', () => writeLine(socket, { t: 'hello', token: g.token, server: opts.server, leaseMs: opts.leaseMs }));
      readLines<FromGuardian>(socket, (msg) => {
        if (client) return client.handle(msg);
        if (msg.t === 'refused') {
          socket.destroy();
          reject(new GuardianError(`the guardian (pid ${g.pid}) refused this node: ${msg.message}`));
        } else if (msg.t === 'welcome') {
          socket.off('error', reject);
          socket.on('error', () => undefined);
          client = new GuardianClient(socket, msg.pid, msg.processes, msg.term, performance.now() + (msg.leaseLeftMs ?? 0), opts.log, Math.max(250, opts.leaseMs / 2));
          socket.on('close', () => client!.closed());
          resolve(client);
        }
      });
    });
  }

  /** Where the release goes, and how to seal it as this node's next datagram. */
  setRoute(route: ReleaseRoute, seal: (hb: Heartbeat) => Buffer): void {
    this.seal = seal;
    writeLine(this.socket, { t: 'route', route });
  }

  renew(notice: Heartbeat | null, standbyReady: boolean, quorumMs: number | null): void {
    const sealed = notice && this.seal ? this.seal(notice).toString('base64') : null;
    writeLine(this.socket, { t: 'renew', notice: sealed, term: sealed ? notice!.epoch : null, standbyReady, quorumMs });
  }

  /** Kill the active runtime now: this server lost the majority's support. */
  fence(reason: string): void {
    writeLine(this.socket, { t: 'fence', reason });
  }

  start(spec: StartSpec): Promise<Started> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(new Error('the guardian is gone'));
        return;
      }
      this.starts.set(id, { resolve, reject });
      writeLine(this.socket, { t: 'start', id, spec });
    });
  }

  /** The virtual IP the domain file asks for on this server (null: none). */
  setVip(plan: VipPlan | null): void {
    writeLine(this.socket, { t: 'vip', plan });
  }

  /** Has the guardian add (`on`) or remove the virtual IP; resolves with how it went. */
  holdVip(on: boolean): Promise<VipResult> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      if (this.socket.destroyed) {
        resolve({ ok: false, message: 'the guardian is gone' });
        return;
      }
      this.vipCalls.set(id, resolve);
      writeLine(this.socket, { t: 'vip-hold', id, on });
    });
  }

  signal(pid: number, signal: NodeJS.Signals): void {
    writeLine(this.socket, { t: 'signal', pid, signal });
  }

  /** The processes the guardian still ran when this node connected, as started ones. */
  heldProcesses(): (HeldProcess & Started)[] {
    return this.held.map((p) => ({ ...p, exited: this.exits.get(p.pid)?.exited ?? Promise.resolve('gone') }));
  }

  /**
   * Runtime processes the guardian still ran when this node connected (the previous node died
   * and this one came back). Kept when they run an Active term this node may take back (the
   * term is returned); otherwise stopped before the node joins, as any leftover (null).
   */
  async keepOrStopHeld(epoch: number, timeoutMs: number): Promise<number | null> {
    const held = this.heldProcesses();
    if (this.term !== null && this.term === epoch && held.some((p) => p.mode === 'active')) {
      this.log.warn('runtime', `the guardian kept ${held.map((p) => `${p.name} (pid ${p.pid}, ${p.mode} mode)`).join(', ')} running while this node restarted; taking Active term ${this.term} back`);
      return this.term;
    }
    if (!held.length) return null;
    this.log.warn('runtime', `the guardian still runs ${held.map((p) => `${p.name} (pid ${p.pid}, ${p.mode} mode)`).join(', ')} from the previous node of this server; stopping ${held.length > 1 ? 'them' : 'it'} before joining the domain`);
    for (const p of held) this.signal(p.pid, 'SIGTERM');
    const all = Promise.all(held.map((p) => p.exited));
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    if ((await Promise.race([all, timeout])) === 'timeout') {
      for (const p of held) this.signal(p.pid, 'SIGKILL');
      await all;
    }
    this.held.length = 0;
    return null;
  }

  /**
   * A clean stop, once the runtime is stopped: the guardian multicasts `release` (when this
   * server was Active) so that the Standby takes over at once, and ends.
   */
  bye(release: Heartbeat | null): void {
    this.leaving = true;
    writeLine(this.socket, { t: 'bye', notice: release && this.seal ? this.seal(release).toString('base64') : null });
    this.socket.end();
  }

  private expectExit(pid: number): Promise<string> {
    let resolve!: (how: string) => void;
    const exited = new Promise<string>((r) => (resolve = r));
    this.exits.set(pid, { exited, resolve });
    return exited;
  }

  private handle(msg: FromGuardian): void {
    switch (msg.t) {
      case 'started': {
        const s = this.starts.get(msg.id);
        this.starts.delete(msg.id);
        s?.resolve({ pid: msg.pid, exited: this.expectExit(msg.pid) });
        return;
      }
      case 'start-failed': {
        const s = this.starts.get(msg.id);
        this.starts.delete(msg.id);
        s?.reject(new Error(msg.message));
        return;
      }
      case 'exit':
        // An exit this node hears of only now says when it was: its stop is not news of the moment.
        this.exits.get(msg.pid)?.resolve(msg.at !== undefined && this.late(msg.at) ? `${msg.how}, at ${this.when(msg.at)}` : msg.how);
        this.exits.delete(msg.pid);
        return;
      case 'vip-done': {
        const call = this.vipCalls.get(msg.id);
        this.vipCalls.delete(msg.id);
        call?.({ ok: msg.ok, message: msg.message });
        return;
      }
      case 'fenced': {
        // One line per fence, with the time it was done (this node may hear of it much later).
        if (msg.id === undefined || msg.id !== this.fenceLogged) {
          this.fenceLogged = msg.id ?? null;
          const what = msg.killed === undefined ? 'the guardian killed the runtime'
            : msg.killed === null ? 'the guardian found no runtime process to kill' : `the guardian killed ${msg.killed}`;
          this.log.warn('fence', `${what}${msg.at === undefined ? '' : ` at ${this.when(msg.at)}`}: ${msg.reason}`);
        }
        this.onFenced(msg.reason);
        return;
      }
      default:
        return;
    }
  }

  private late(at: number): boolean {
    return Date.now() - at >= this.lateMs;
  }

  /** `HH:MM:SS.mmm`, and that this node was frozen then when it hears of it this late. */
  private when(at: number): string {
    return `${timeOfDay(at)}${this.late(at) ? ', while this node was frozen' : ''}`;
  }

  private closed(): void {
    for (const s of this.starts.values()) s.reject(new Error('the guardian is gone'));
    this.starts.clear();
    for (const call of this.vipCalls.values()) call({ ok: false, message: 'the guardian is gone' });
    this.vipCalls.clear();
    const pids = [...this.exits.keys()];
    if (this.leaving) return;
    // Nothing could fence them any more: they go now, and the node stops (it cannot guard a runtime).
    for (const pid of pids) void killTree(pid, 'SIGKILL');
    for (const e of this.exits.values()) e.resolve('killed: the guardian is gone');
    this.exits.clear();
    this.log.error('guardian', `the guardian (pid ${this.pid}) is gone${pids.length ? `; killed runtime processes ${pids.join(', ')}, which could no longer be fenced` : ''}. ` +
      'Nothing could stop the runtime if this node died, so the node stops. Start it again (a new guardian starts with it)');
    this.onLost(`the guardian (pid ${this.pid}) is gone`);
  }
}

function readGuardianFile(file: string): GuardianFile | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as GuardianFile;
  } catch {
    return null;
  }
}
