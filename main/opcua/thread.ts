/**
 * The OPC UA endpoint runs in a worker thread. Loading node-opcua and making its certificates
 * blocks a thread for seconds, and the node's own thread must stay free: it renews the
 * guardian's lease with every heartbeat, and a lease not renewed in time fences the runtime.
 * The node pushes the ServiceLevel to the thread whenever the role or the health changes; the
 * thread's log lines come back to the node's log.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Logger } from '../util/logger';
import type { RedundancyServerOptions } from './server';

export type OpcuaThreadOptions = Omit<RedundancyServerOptions, 'serviceLevel' | 'log'>;
type Level = 'info' | 'warn' | 'error';
type FromThread = { kind: 'up'; endpoint: string } | { kind: 'failed'; message: string } | { kind: 'closed' } | { kind: 'log'; level: Level; event: string; detail: string };
type ToThread = { kind: 'level'; level: number } | { kind: 'close' };

/**
 * The thread's heap (MB): a backstop. The endpoint's heap holds about 45 MB after start-up, and
 * its capabilities bound what clients can add (sessions, subscriptions, monitored items); should
 * it grow past this anyway, the thread ends (the node logs it) and the node's own heap is spared.
 */
const HEAP_LIMIT_MB = 512;

export class OpcuaThread {
  private constructor(private readonly worker: Worker, readonly endpoint: string) {}

  /**
   * Resolves once the endpoint listens; rejects with node-opcua's reason when it cannot start
   * (a wrong opcuaServer.address, a port taken). `onLost` tells why a running endpoint's thread
   * ended on its own.
   */
  static start(options: OpcuaThreadOptions, log: Logger, onLost: (why: string) => void): Promise<OpcuaThread> {
    const worker = new Worker(__filename, { workerData: options, resourceLimits: { maxOldGenerationSizeMb: HEAP_LIMIT_MB } });
    return new Promise((resolve, reject) => {
      let thread: OpcuaThread | null = null;
      let failed = false; // the first reason counts: an error, or a refusal, is followed by an exit
      const fail = (message: string) => {
        if (failed) return;
        failed = true;
        if (thread) return thread.closing || onLost(message);
        void worker.terminate().finally(() => reject(new Error(`the OPC UA endpoint could not start: ${message}`)));
      };
      worker.on('error', (e) => fail(e.message));
      worker.on('message', (m: FromThread) => {
        if (m.kind === 'log') return log[m.level](m.event, m.detail);
        if (thread) return;
        if (m.kind !== 'up') return fail(m.kind === 'failed' ? m.message : 'it closed before it started');
        thread = new OpcuaThread(worker, m.endpoint);
        resolve(thread);
      });
      worker.once('exit', (code) => fail(`its thread ended (exit code ${code})`));
    });
  }

  private closing = false;

  setLevel(level: number): void {
    this.worker.postMessage({ kind: 'level', level } satisfies ToThread);
  }

  /** Shuts the endpoint down (its clients are told), then ends the thread. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => {
      this.worker.on('message', (m: FromThread) => m.kind === 'closed' && resolve());
      this.worker.once('exit', () => resolve());
    });
    this.worker.postMessage({ kind: 'close' } satisfies ToThread);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000).unref())]);
    await this.worker.terminate();
  }
}

async function serve(port: NonNullable<typeof parentPort>, options: OpcuaThreadOptions): Promise<void> {
  let level = 1; // no data, until the node says
  const say = (level: Level) => (event: string, detail: string) => port.postMessage({ kind: 'log', level, event, detail } satisfies FromThread);
  const log: Logger = { info: say('info'), warn: say('warn'), error: say('error'), file: null };
  const { RedundancyServer } = await import('./server');
  const server = await RedundancyServer.start({ ...options, serviceLevel: () => level, log });
  port.on('message', (m: ToThread) => {
    if (m.kind === 'level') level = m.level;
    else void server.close().finally(() => port.postMessage({ kind: 'closed' } satisfies FromThread));
  });
  port.postMessage({ kind: 'up', endpoint: server.endpoint } satisfies FromThread);
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  serve(port, workerData as OpcuaThreadOptions).catch((e: unknown) => port.postMessage({ kind: 'failed', message: e instanceof Error ? e.message : String(e) } satisfies FromThread));
}
