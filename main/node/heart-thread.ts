/**
 * The heartbeat path's own thread (heart.ts runs in it). The node's thread serves the doors;
 * this one only renews the Active's authority, so a door under any load, or a main thread
 * stalled by anything, never delays a heartbeat or a renewal of the guardian's lease.
 *
 * Between the two threads go messages only: inputs to the heartbeat path (what sync and the
 * probes say, health, a new domain revision, commands, stop) one way; its view when it
 * changes, the peers' adverts, role changes, fences and log lines the other way. Log lines
 * carry the time they happened, and the node's thread writes them (one writer per log file).
 */
import { isMainThread, parentPort, Worker, workerData, type MessagePort } from 'node:worker_threads';
import type { Domain } from '../domain/load';
import type { NodeInfo, Observation } from '../engine/types';
import type { ProbeStatus } from '../probes/score';
import type { Command, CommandOutcome } from '../ui/contract';
import type { Level } from '../util/event-log';
import type { Logger } from '../util/logger';
import type { RoleEvent } from './driver';
import type { Heart, HeartView } from './heart';


interface StartData {
  domain: Domain;
  server: string;
  secret: Uint8Array;
  info: NodeInfo;
}

type ToHeart =
  | { t: 'info'; sync: NodeInfo; probes: ProbeStatus[] }
  | { t: 'observe'; fact: Observation }
  | { t: 'domain'; domain: Domain }
  | { t: 'command'; id: number; cmd: Command }
  | { t: 'stop' };

type FromHeart =
  | { t: 'ready'; address: string; networks: string; epoch: number }
  | { t: 'failed'; message: string }
  | { t: 'view'; view: HeartView }
  | { t: 'peer'; server: string; address: string; info: NodeInfo | undefined }
  | { t: 'role'; event: RoleEvent }
  | { t: 'fenced'; reason: string }
  | { t: 'fatal'; message: string }
  | { t: 'outcome'; id: number; outcome: CommandOutcome }
  | { t: 'log'; level: Level; event: string; detail: string; at: number }
  | { t: 'stopped' };

/** What the node's thread does with what the heartbeat path reports. */
export interface HeartListener {
  peer(server: string, address: string, info: NodeInfo | undefined): void;
  role(e: RoleEvent): void;
  fenced(reason: string): void;
  /** The heartbeat path has stopped itself, or its thread died: the node must stop. */
  fatal(message: string): void;
  /** A log line of the heartbeat path, with the time (ms since 1970) it happened. */
  log(level: Level, event: string, detail: string, at: number): void;
}

export class HeartThread {
  private nextId = 1;
  private readonly waiting = new Map<number, (o: CommandOutcome) => void>();
  private latest: HeartView;
  private readonly viewListeners = new Set<(v: HeartView) => void>();
  private ended = false;
  private stopped: Promise<void> | null = null;
  private onStopped: () => void = () => undefined;

  private constructor(private readonly worker: Worker, first: HeartView, readonly address: string, readonly networks: string, readonly epoch: number, private readonly listener: HeartListener) {
    this.latest = first;
  }

  /** Starts the heartbeat path; rejects, saying why, when it cannot start (the thread has ended then). */
  static start(data: StartData, listener: HeartListener): Promise<HeartThread> {
    const worker = new Worker(__filename, { workerData: { heart: data } });
    return new Promise((resolve, reject) => {
      let thread: HeartThread | null = null;
      let view: HeartView | null = null;
      let failed: string | null = null;
      worker.on('message', (m: FromHeart) => {
        if (thread) return thread.handle(m);
        switch (m.t) {
          case 'log':
            return listener.log(m.level, m.event, m.detail, m.at);
          case 'view':
            view = m.view;
            return;
          case 'failed':
            failed = m.message;
            void worker.terminate(); // its exit rejects the start
            return;
          case 'ready':
            thread = new HeartThread(worker, view!, m.address, m.networks, m.epoch, listener);
            return resolve(thread);
          default:
            return; // nothing else comes before ready
        }
      });
      worker.on('error', (e) => {
        if (thread) return thread.died(`the heartbeat thread failed: ${e.stack ?? e.message}`);
        failed ??= e.message;
      });
      worker.on('exit', (code) => {
        if (thread) return thread.died(`the heartbeat thread ended (exit code ${code})`);
        reject(new Error(failed ?? `the heartbeat thread ended before it started (exit code ${code})`));
      });
    });
  }

  /** The heartbeat path's view as last published. */
  get view(): HeartView {
    return this.latest;
  }

  onView(listener: (v: HeartView) => void): () => void {
    this.viewListeners.add(listener);
    return () => this.viewListeners.delete(listener);
  }

  setInfo(sync: NodeInfo, probes: ProbeStatus[]): void {
    this.post({ t: 'info', sync, probes });
  }

  observe(fact: Observation): void {
    this.post({ t: 'observe', fact });
  }

  reconfigure(domain: Domain): void {
    this.post({ t: 'domain', domain });
  }

  command(cmd: Command): Promise<CommandOutcome> {
    if (this.ended) return Promise.resolve({ ok: false, message: 'the node is stopping' });
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.post({ t: 'command', id, cmd });
    });
  }

  /**
   * Stops the heartbeat path: the runtime is stopped and the Active term handed over. Waits at
   * most `boundMs`; the thread is ended either way.
   */
  stop(boundMs: number): Promise<void> {
    this.stopped ??= (async () => {
      if (!this.ended) {
        const done = new Promise<void>((r) => (this.onStopped = r));
        this.post({ t: 'stop' });
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, boundMs)))]);
        clearTimeout(timer);
      }
      this.ended = true;
      this.answerAll('the node stopped');
      await this.worker.terminate();
    })();
    return this.stopped;
  }

  private post(m: ToHeart): void {
    if (!this.ended) this.worker.postMessage(m);
  }

  private handle(m: FromHeart): void {
    switch (m.t) {
      case 'view':
        this.latest = m.view;
        for (const l of this.viewListeners) l(m.view);
        return;
      case 'peer':
        return this.listener.peer(m.server, m.address, m.info);
      case 'role':
        return this.listener.role(m.event);
      case 'fenced':
        return this.listener.fenced(m.reason);
      case 'fatal':
        return this.listener.fatal(m.message);
      case 'outcome': {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        return w?.(m.outcome);
      }
      case 'log':
        return this.listener.log(m.level, m.event, m.detail, m.at);
      case 'stopped':
        return this.onStopped();
      default:
        return;
    }
  }

  private died(why: string): void {
    if (this.ended) return;
    this.ended = true;
    this.onStopped();
    this.answerAll('the heartbeat thread ended');
    this.listener.log('error', 'fatal', `${why}; stopping this node (the guardian fences its runtime)`, Date.now());
    this.listener.fatal(why);
  }

  private answerAll(message: string): void {
    for (const w of this.waiting.values()) w({ ok: false, message });
    this.waiting.clear();
  }
}

// ------------------------------------------------------------------ the thread itself

async function run(port: MessagePort, data: StartData): Promise<void> {
  const post = (m: FromHeart) => port.postMessage(m);
  const line = (level: Level) => (event: string, detail: string, atMs?: number) => post({ t: 'log', level, event, detail, at: atMs ?? Date.now() });
  const log: Logger = { info: line('info'), warn: line('warn'), error: line('error'), file: null };
  const { Heart: heartOf } = await import('./heart');
  let heart: Heart;
  try {
    heart = await heartOf.start({
      domain: data.domain,
      server: data.server,
      secret: Buffer.from(data.secret),
      info: data.info,
      log,
      out: {
        view: (view) => post({ t: 'view', view }),
        peer: (server, address, info) => post({ t: 'peer', server, address, info }),
        role: (event) => post({ t: 'role', event }),
        fenced: (reason) => post({ t: 'fenced', reason }),
        fatal: (message) => post({ t: 'fatal', message }),
      },
    });
  } catch (e) {
    post({ t: 'failed', message: (e as Error).message });
    port.close();
    return;
  }
  port.on('message', (m: ToHeart) => {
    switch (m.t) {
      case 'info':
        return heart.setInfo(m.sync, m.probes);
      case 'observe':
        return heart.observe(m.fact);
      case 'domain':
        return heart.reconfigure(m.domain);
      case 'command':
        return void heart.command(m.cmd).then((outcome) => post({ t: 'outcome', id: m.id, outcome }));
      case 'stop':
        return void heart.stop().then(() => post({ t: 'stopped' }));
    }
  });
  const d = heart.detail;
  post({ t: 'ready', address: d.address, networks: d.networks, epoch: d.epoch });
}

if (!isMainThread && parentPort && (workerData as { heart?: StartData } | null)?.heart) {
  void run(parentPort, (workerData as { heart: StartData }).heart);
}
