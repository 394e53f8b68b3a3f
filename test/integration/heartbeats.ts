/**
 * Listens to a domain's heartbeats on loopback as a peer would (the domain's keys from its
 * secret file), and records when each server's arrive: the gaps between a server's heartbeats
 * show whether anything delayed its heartbeat path. Only verified datagrams count.
 *
 * The listener runs in a thread of its own, so that a test flooding a node from its main thread
 * does not delay the reading of the datagrams (which would show as gaps that are not the node's).
 */
import { createSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { decode, deriveKeys } from '../../main/net/codec';
import { loadSecret } from '../../main/domain/secret';

export interface Gaps {
  count: number;
  /** Milliseconds between consecutive heartbeats of the server. */
  p50: number;
  p99: number;
  max: number;
}

interface Where {
  group: string;
  port: number;
  domain: string;
  secretFile: string;
}

type Question = { t: 'mark' } | { t: 'gaps'; server: string };
type Ask = Question & { id: number };
type Answer = { id: number; gaps?: Gaps };

export class HeartbeatTap {
  private next = 1;
  private readonly waiting = new Map<number, (a: Answer) => void>();

  private constructor(private readonly worker: Worker) {
    worker.on('message', (a: Answer) => {
      this.waiting.get(a.id)?.(a);
      this.waiting.delete(a.id);
    });
  }

  static async open(group: string, port: number, domain: string, secretFile: string): Promise<HeartbeatTap> {
    const worker = new Worker(__filename, { workerData: { tap: { group, port, domain, secretFile } satisfies Where } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new HeartbeatTap(worker);
  }

  private ask(a: Question): Promise<Answer> {
    const id = this.next++;
    return new Promise((r) => {
      this.waiting.set(id, r);
      this.worker.postMessage({ ...a, id });
    });
  }

  /** Forgets what was heard so far: the gaps that follow are measured from here. */
  async mark(): Promise<void> {
    await this.ask({ t: 'mark' });
  }

  /** The gaps between `server`'s heartbeats since the last mark, the silence since its last one included. */
  async gaps(server: string): Promise<Gaps> {
    return (await this.ask({ t: 'gaps', server })).gaps!;
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

function listen(where: Where): void {
  const port = parentPort!;
  const keys = deriveKeys(where.domain, loadSecret(where.secretFile).secret);
  const arrivals = new Map<string, number[]>();
  const sock = createSocket({ type: 'udp4', reuseAddr: true });
  sock.on('message', (buf) => {
    const at = performance.now();
    const d = decode(buf, keys);
    if (!d.ok) return;
    const list = arrivals.get(d.env.msg.from) ?? [];
    list.push(at);
    arrivals.set(d.env.msg.from, list);
  });
  sock.bind(where.port, where.group, () => {
    sock.addMembership(where.group, '127.0.0.1');
    port.postMessage({ id: 0 });
  });
  port.on('message', (a: Ask) => {
    if (a.t === 'mark') {
      arrivals.clear();
      return port.postMessage({ id: a.id } satisfies Answer);
    }
    const list = [...(arrivals.get(a.server) ?? []), performance.now()];
    const gaps = list.slice(1).map((t, i) => t - list[i]!).sort((x, y) => x - y);
    const q = (f: number) => gaps[Math.min(gaps.length - 1, Math.floor(f * gaps.length))] ?? Infinity;
    port.postMessage({ id: a.id, gaps: { count: list.length - 1, p50: q(0.5), p99: q(0.99), max: gaps.at(-1) ?? Infinity } } satisfies Answer);
  });
}

if (!isMainThread && (workerData as { tap?: Where } | null)?.tap) listen((workerData as { tap: Where }).tap);
