/**
 * The status window over the local admin API, for browsers (the demo page, browser tests):
 * the page itself (no secrets in it) and a WebSocket at /ui/socket that speaks the contract
 * (contract.ts). The socket needs the node's admin token (`?token=`), so only someone who
 * can read admin.json — or was given the address the demo prints — gets in.
 *
 * Both are doors anyone on this machine, and any web page its browser shows, can knock on:
 * the page's files are read once, at start; an upgrade is checked (its path, then its token,
 * then where it comes from) before anything else is read, by comparing strings — nothing in
 * a request can make a parser throw — and every socket is bounded (clients, calls in flight,
 * frame size, what waits to be sent) and has its errors handled: a bad frame ends that socket.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { ADMIN_DOOR } from '../defaults';
import type { Refusals } from '../node/doors';
import { dispatch, type DuplexApi, type StatusView, type WsFrame } from './contract';

/** The package's root folder (this file runs from out/main/ui/). */
const ROOT = join(__dirname, '..', '..', '..');

/** The files of the status window, by URL path. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: join(ROOT, 'renderer', 'index.html'), type: 'text/html; charset=utf-8' },
  '/style.css': { file: join(ROOT, 'renderer', 'style.css'), type: 'text/css; charset=utf-8' },
  '/app.js': { file: join(ROOT, 'out', 'web', 'renderer', 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/view.js': { file: join(ROOT, 'out', 'web', 'renderer', 'view.js'), type: 'text/javascript; charset=utf-8' },
  '/ws-api.js': { file: join(ROOT, 'out', 'web', 'renderer', 'ws-api.js'), type: 'text/javascript; charset=utf-8' },
  // Shared with the tray (the headline and the health words), at the paths the page's imports resolve to.
  '/main/ui/words.js': { file: join(ROOT, 'out', 'web', 'main', 'ui', 'words.js'), type: 'text/javascript; charset=utf-8' },
  '/main/probes/score.js': { file: join(ROOT, 'out', 'web', 'main', 'probes', 'score.js'), type: 'text/javascript; charset=utf-8' },
};

/** The same policy as the Electron window: own scripts and styles only; sockets to this host only. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** A socket whose unsent frames pile up beyond this (a client that stopped reading) is closed. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/** A request target split into its path and query, by string only (no parser that can throw). */
export function splitTarget(target: string | undefined): { path: string; query: URLSearchParams } {
  const raw = target ?? '';
  const q = raw.indexOf('?');
  return { path: q < 0 ? raw : raw.slice(0, q), query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

/** The status window's files, read once; `serve` answers a GET for one of them. */
export class Pages {
  private readonly files = new Map<string, { body: Buffer; type: string } | { missing: string }>();

  constructor() {
    for (const [path, f] of Object.entries(FILES)) {
      try {
        this.files.set(path, { body: readFileSync(f.file), type: f.type });
      } catch {
        this.files.set(path, { missing: f.file });
      }
    }
  }

  /** Serves the file at `path`; false when the path is not one of the page's. */
  serve(path: string, res: ServerResponse): boolean {
    const f = this.files.get(path);
    if (!f) return false;
    if ('missing' in f) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`${f.missing} is missing: run npm run build`);
      return true;
    }
    res.writeHead(200, { 'content-type': f.type, 'content-security-policy': CSP, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }).end(f.body);
    return true;
  }
}

/** One JSON text per status (a status is composed once per change and pushed to every window). */
export class StatusJson {
  private last: StatusView | null = null;
  private text = '';

  of(s: StatusView): string {
    if (s !== this.last) {
      this.last = s;
      this.text = JSON.stringify({ event: 'status', data: s } satisfies WsFrame);
    }
    return this.text;
  }
}

/**
 * The status window's socket. `allowedOrigins`: the page's own addresses (a browser sends its
 * page's origin; the tray and other programs send none). Returns the handler of the HTTP
 * server's `upgrade` event and the close of every socket.
 */
export function socketDoor(token: string, api: DuplexApi, refusals: Refusals, allowedOrigins: () => readonly string[]): { upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void; close: () => void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: ADMIN_DOOR.frameBytes });
  const expected = Buffer.from(token);
  const pushes = new StatusJson();
  const deny = (socket: Duplex, code: number, text: string, why: string, what: string) => {
    refusals.count('socket', code, why, what);
    socket.end(`HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
  };
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      const { path, query } = splitTarget(req.url);
      const what = `${req.socket.remoteAddress ?? '?'} ${path}`;
      if (path !== '/ui/socket') return deny(socket, 404, 'Not Found', 'no socket at this path', what);
      const given = Buffer.from(query.get('token') ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return deny(socket, 401, 'Unauthorized', 'missing or wrong admin token', what);
      const origin = req.headers.origin;
      if (origin !== undefined && !allowedOrigins().includes(origin)) return deny(socket, 403, 'Forbidden', 'a page of another origin', `${what} from ${origin}`);
      if (wss.clients.size >= ADMIN_DOOR.sockets) return deny(socket, 503, 'Service Unavailable', `already ${ADMIN_DOOR.sockets} status windows open`, what);
      wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, api, refusals, pushes));
    } catch (e) {
      deny(socket, 400, 'Bad Request', (e as Error).message, req.url ?? '');
    }
  };
  const close = () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  };
  return { upgrade, close };
}

function serveSocket(ws: WebSocket, api: DuplexApi, refusals: Refusals, pushes: StatusJson): void {
  const raw = (text: string) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      refusals.count('socket', 'slow', 'the window does not read what is sent to it', `${MAX_BUFFERED_BYTES} bytes waiting`);
      ws.terminate();
      return;
    }
    ws.send(text);
  };
  const send = (frame: WsFrame) => raw(JSON.stringify(frame));
  let calls = 0;
  const unsubscribe = api.onStatus((data) => raw(pushes.of(data)));
  ws.on('close', unsubscribe);
  // A frame over the size limit, an unmasked frame, a broken one: that socket ends, nothing else.
  ws.on('error', (e) => {
    refusals.count('socket', 'frame', 'a bad WebSocket frame', e.message);
    ws.terminate();
  });
  ws.on('message', (data, isBinary) => {
    let req: { id?: unknown; method?: unknown; params?: unknown };
    try {
      if (isBinary) throw new Error('binary');
      req = JSON.parse(data.toString()) as typeof req;
      if (typeof req !== 'object' || req === null) throw new Error('not an object');
    } catch {
      refusals.count('socket', 1003, 'a frame that is not a JSON call', String(data).slice(0, 200));
      return ws.close(1003, 'not a JSON call');
    }
    const id = typeof req.id === 'number' ? req.id : -1;
    if (calls >= ADMIN_DOOR.socketCalls) {
      refusals.count('socket', 'busy', `more than ${ADMIN_DOOR.socketCalls} calls in flight on one socket`, String(req.method));
      return send({ id, error: `busy: at most ${ADMIN_DOOR.socketCalls} calls at once; wait for the answers` });
    }
    calls += 1;
    dispatch(api, req.method, Array.isArray(req.params) ? req.params : [])
      .then((result) => send({ id, result }), (e: Error) => send({ id, error: e.message }))
      .finally(() => (calls -= 1))
      .catch(() => undefined);
  });
}
