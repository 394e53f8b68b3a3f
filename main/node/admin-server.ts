/**
 * The local admin API: HTTP on 127.0.0.1 only, every request carrying the node's token.
 * The endpoint (port, token, pid) is written to `admin.json` in the node's state folder,
 * readable only by the user who runs the node. It speaks the contract (ui/contract.ts):
 *
 *   GET  /status   → StatusView
 *   GET  /domain[?timeoutMs=N] → DomainView: every server's own status, asked by this node
 *   POST /command  Command [+ "server": name] → CommandOutcome (200 done, 409 refused or failed,
 *                  400 not a command, 502 the other server's node could not be reached)
 *
 * and serves the status window with its WebSocket (ui/ui-server.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { writeFileAtomic } from '../util/atomic';
import { CALLS, COMMAND_SHAPE, MAX_DOMAIN_WAIT_MS, type DuplexApi } from '../ui/contract';
import { attachSocket, servePage } from '../ui/ui-server';
import type { AdminEndpoint, AdminReply } from './admin-client';

const MAX_BODY_BYTES = 16 * 1024;

export class AdminServer {
  private constructor(private readonly server: Server, readonly endpoint: AdminEndpoint, private readonly detach: () => void) {}

  /**
   * Listens on `port` (0: any), or on any free port when it is taken (`onWarning` says so). The
   * token is kept in `tokenFile` (readable by this user only) and used again after a restart.
   */
  static async start(endpointFile: string, tokenFile: string, api: DuplexApi, port: number, onWarning: (detail: string) => void): Promise<AdminServer> {
    const token = keptToken(tokenFile);
    const expected = Buffer.from(`Bearer ${token}`);
    const server = createServer((req, res) => {
      if (servePage(req, res)) return;
      void serve(req, res, expected, api);
    });
    const detach = attachSocket(server, token, api);
    const listen = (p: number) => new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolveListen();
      });
    });
    try {
      await listen(port);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw e;
      await listen(0);
      onWarning(`the admin port 127.0.0.1:${port} is taken by another program; the status window and the CLI use 127.0.0.1:${(server.address() as AddressInfo).port} until the node restarts (set adminPort for this server in the domain file to move it for good)`);
    }
    const endpoint = { pid: process.pid, port: (server.address() as AddressInfo).port, token };
    writeFileAtomic(endpointFile, JSON.stringify(endpoint), { mode: 0o600, keepPrevious: false });
    return new AdminServer(server, endpoint, detach);
  }

  close(): Promise<void> {
    this.detach();
    return new Promise((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }
}

/** The token kept in `file`, or a new one written there. */
function keptToken(file: string): string {
  try {
    const kept = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(kept)) return kept;
  } catch {
    // none yet
  }
  const token = randomBytes(32).toString('hex');
  writeFileAtomic(file, token, { mode: 0o600, keepPrevious: false });
  return token;
}

async function route(method: string, path: string, query: URLSearchParams, body: unknown, api: DuplexApi): Promise<AdminReply> {
  if (method === 'GET' && path === '/status') return { status: 200, body: await api.getStatus() };
  if (method === 'GET' && path === '/domain') {
    const args = query.has('timeoutMs') ? [Number(query.get('timeoutMs'))] : [];
    const checked = CALLS.getDomain(args);
    if (!checked) return { status: 400, body: { ok: false, message: `timeoutMs must be a whole number of milliseconds, 1-${MAX_DOMAIN_WAIT_MS}` } };
    return { status: 200, body: await api.getDomain(...checked) };
  }
  if (method === 'POST' && path === '/command') {
    const server = (body as { server?: unknown } | null)?.server;
    const checked = CALLS.command(server === undefined ? [body] : [body, server]);
    if (!checked) return { status: 400, body: { ok: false, message: `not a command; expected ${COMMAND_SHAPE}, with "server": "<name>" to run it on another server` } };
    const r = await api.command(...checked);
    return { status: r.ok ? 200 : r.unreachable ? 502 : 409, body: r };
  }
  return { status: 404, body: { ok: false, message: `no such admin call: ${method} ${path} (there are GET /status, GET /domain and POST /command)` } };
}

async function serve(req: IncomingMessage, res: ServerResponse, expected: Buffer, api: DuplexApi): Promise<void> {
  const reply = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  const auth = Buffer.from(req.headers.authorization ?? '');
  if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
    return reply(401, { ok: false, message: 'missing or wrong admin token' });
  }
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return reply(413, { ok: false, message: 'request body too large' });
    chunks.push(chunk as Buffer);
  }
  let body: unknown = null;
  if (size > 0) {
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(400, { ok: false, message: 'request body is not JSON' });
    }
  }
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const r = await route(req.method ?? 'GET', url.pathname, url.searchParams, body, api);
    reply(r.status, r.body);
  } catch (e) {
    reply(500, { ok: false, message: (e as Error).message });
  }
}
