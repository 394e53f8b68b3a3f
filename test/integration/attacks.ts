/**
 * What the door tests and bench:doors throw at a node: raw exchanges, requests on their own
 * connections, floods of them, and the end of a WebSocket.
 */
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';

/**
 * One raw exchange: what the server answered, up to its close or 3 s (`head`: up to the end of
 * its response head; `thenClose`: the client hangs up 50 ms after sending).
 */
export function raw(port: number, text: string | Buffer, opts: { thenClose?: boolean; head?: boolean } = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    const done = () => {
      s.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, 3_000);
    s.on('connect', () => {
      s.write(text);
      if (opts.thenClose) {
        clearTimeout(timer);
        setTimeout(done, 50);
      }
    });
    s.on('data', (b) => {
      got += b.toString('latin1');
      if (opts.head && got.includes('\r\n\r\n')) done();
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/** GET `url` with its own connection: the status code, or the client-side error's code. */
export function get(url: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, headers, timeout: 60_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.statusCode)));
      res.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    req.end();
  });
}

/** `n` requests at once; how many ended how (status codes, or client-side errors such as ECONNRESET). */
export async function flood(n: number, one: () => Promise<string>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of await Promise.all(Array.from({ length: n }, one))) out[r] = (out[r] ?? 0) + 1;
  return out;
}

/** A WebSocket client's end: the close code the server sent, or the error. */
export function socketEnd(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => {
    ws.on('close', (code) => resolve(`close ${code}`));
    ws.on('error', (e) => resolve(`error ${e.message}`));
  });
}

/** A connection that sends nothing, and when it was opened and closed (performance.now()). */
export interface Held {
  socket: Socket;
  openedAt: number;
  closedAt: Promise<number>;
}

/** `n` TCP connections to `port` on 127.0.0.1 that send nothing, from the local address `from` (127.0.0.0/8 is all loopback on Linux). */
export function hold(port: number, n: number, from = '127.0.0.1'): Held[] {
  return Array.from({ length: n }, () => {
    const socket = connect({ host: '127.0.0.1', port, localAddress: from });
    socket.on('error', () => undefined);
    const openedAt = performance.now();
    return { socket, openedAt, closedAt: new Promise<number>((r) => socket.once('close', () => r(performance.now()))) };
  });
}
