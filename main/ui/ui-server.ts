/**
 * The status window over the local admin API, for browsers (the demo page, browser tests):
 * the page itself (no secrets in it) and a WebSocket at /ui/socket that speaks the contract
 * (contract.ts). The socket needs the node's admin token (`?token=`), so only someone who
 * can read admin.json — or was given the address the demo prints — gets in.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { dispatch, type DuplexApi, type WsFrame } from './contract';

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

/** Serves a file of the status window; false when the path is not one. */
export function servePage(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method !== 'GET') return false;
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const f = FILES[path];
  if (!f) return false;
  let body: Buffer;
  try {
    body = readFileSync(f.file);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`${f.file} is missing: run npm run build`);
    return true;
  }
  res.writeHead(200, { 'content-type': f.type, 'content-security-policy': CSP, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
  return true;
}

/** Accepts WebSocket upgrades at /ui/socket?token=… and runs the contract over them. */
export function attachSocket(server: Server, token: string, api: DuplexApi): () => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 });
  const expected = Buffer.from(token);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const given = Buffer.from(url.searchParams.get('token') ?? '');
    const origin = req.headers.origin;
    const sameHost = !origin || new URL(origin).host === req.headers.host;
    if (url.pathname !== '/ui/socket' || given.length !== expected.length || !timingSafeEqual(given, expected) || !sameHost) {
      socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serveSocket(ws, api));
  });
  return () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  };
}

function serveSocket(ws: WebSocket, api: DuplexApi): void {
  const send = (frame: WsFrame) => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };
  const unsubscribe = api.onStatus((data) => send({ event: 'status', data }));
  ws.on('close', unsubscribe);
  ws.on('message', (raw) => {
    let req: { id?: unknown; method?: unknown; params?: unknown };
    try {
      req = JSON.parse(raw.toString()) as typeof req;
    } catch {
      return ws.close(1003, 'not JSON');
    }
    const id = typeof req.id === 'number' ? req.id : -1;
    dispatch(api, req.method, Array.isArray(req.params) ? req.params : []).then(
      (result) => send({ id, result }),
      (e: Error) => send({ id, error: e.message }),
    );
  });
}
