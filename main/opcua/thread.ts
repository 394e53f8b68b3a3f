/**
 * The OPC UA endpoint runs in a worker thread. Loading node-opcua and making its certificates
 * blocks a thread for seconds, and the node's own thread must stay free: it renews the
 * guardian's lease with every heartbeat, and a lease not renewed in time fences the runtime.
 * The node pushes the ServiceLevel to the thread whenever the role or the health changes.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { RedundancyServerOptions } from './server';

type Options = Omit<RedundancyServerOptions, 'serviceLevel'>;
type FromThread = { kind: 'up'; endpoint: string } | { kind: 'failed'; message: string } | { kind: 'closed' };
type ToThread = { kind: 'level'; level: number } | { kind: 'close' };

export class OpcuaThread {
  private constructor(private readonly worker: Worker, readonly endpoint: string) {}

  /**
   * Resolves once the endpoint listens; rejects with node-opcua's reason when it cannot start.
   * `onLost` tells why a running endpoint's thread ended on its own.
   */
  static start(options: Options, onLost: (why: string) => void): Promise<OpcuaThread> {
    const worker = new Worker(__filename, { workerData: options });
    return new Promise((resolve, reject) => {
      let up = false;
      const fail = (message: string) => {
        if (up) return onLost(message);
        void worker.terminate().finally(() => reject(new Error(`the OPC UA endpoint could not start: ${message}`)));
      };
      worker.on('error', (e) => fail(e.message));
      worker.once('message', (m: FromThread) => {
        if (m.kind !== 'up') return fail(m.kind === 'failed' ? m.message : 'it closed before it started');
        up = true;
        const t = new OpcuaThread(worker, m.endpoint);
        worker.once('exit', (code) => t.closing || onLost(`its thread ended (exit code ${code})`));
        resolve(t);
      });
      worker.once('exit', (code) => up || fail(`its thread ended (exit code ${code})`));
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
      this.worker.once('message', () => resolve());
      this.worker.once('exit', () => resolve());
    });
    this.worker.postMessage({ kind: 'close' } satisfies ToThread);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5_000).unref())]);
    await this.worker.terminate();
  }
}

async function serve(port: NonNullable<typeof parentPort>, options: Options): Promise<void> {
  let level = 1; // no data, until the node says
  const { RedundancyServer } = await import('./server');
  const server = await RedundancyServer.start({ ...options, serviceLevel: () => level });
  port.on('message', (m: ToThread) => {
    if (m.kind === 'level') level = m.level;
    else void server.close().finally(() => port.postMessage({ kind: 'closed' } satisfies FromThread));
  });
  port.postMessage({ kind: 'up', endpoint: server.endpoint } satisfies FromThread);
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  serve(port, workerData as Options).catch((e: unknown) => port.postMessage({ kind: 'failed', message: e instanceof Error ? e.message : String(e) } satisfies FromThread));
}
