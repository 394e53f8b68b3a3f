/**
 * The local admin API: HTTP on 127.0.0.1 only, every request carrying the node's token.
 * The endpoint (port, token, pid) is written to `admin.json` in the node's state folder,
 * readable only by the user who runs the node. It speaks the contract (ui/contract.ts):
 *
 *   GET  /status   → StatusView
 *   GET  /domain[?timeoutMs=N] → DomainView: every server's own status, asked by this node
 *   GET  /domain?server=X[&timeoutMs=N] → DomainView with X's own status alone, asked of X only
 *                  (400 not a server's name, 404 not a server of this node's domain file, with
 *                  "servers": its servers). A node before this parameter ignores it: every server.
 *   POST /command  Command [+ "server": name] → CommandOutcome (200 done, 409 refused or failed,
 *                  400 not a command, 502 the other server's node could not be reached)
 *
 * and serves the status window with its WebSocket (ui/ui-server.ts).
 *
 * Anyone on this machine can reach it, and so can any web page its browser shows. So: the
 * token is checked before anything of a request but its path is read (the page's own files
 * need none); no request, however malformed, throws out of its handler; connections,
 * requests in flight, headers, bodies and time are bounded (defaults.ts ADMIN_DOOR); every
 * answer other than 2xx is counted and logged at a rate limit (doors.ts).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { ADMIN_DOOR } from '../defaults';
import { writeFileAtomic } from '../util/atomic';
import type { Logger } from '../util/logger';
import { portHolder } from '../util/ports';
import { UnknownServerError } from '../domain/location';
import { CALLS, COMMAND_SHAPE, isServerName, MAX_DOMAIN_WAIT_MS, type DomainView, type DuplexApi, type StatusView } from '../ui/contract';
import { Pages, socketDoor, splitTarget } from '../ui/ui-server';
import type { AdminEndpoint, AdminReply } from './admin-client';
import { clientErrorStatus, type Refusals } from './doors';

/** The contract, and what only the admin API serves (the CLI's relayed path): one server's own status, through this node. */
export interface AdminApi extends DuplexApi {
  /**
   * The domain's view with `server`'s entry alone, asked of that server only (this node's own
   * status for itself), within `timeoutMs` (default 2 s). UnknownServerError when the domain
   * file in force has no such server.
   */
  getServer(server: string, timeoutMs?: number): Promise<DomainView>;
}

export interface AdminOptions {
  /** Where the endpoint (port, token, pid) is written. */
  endpointFile: string;
  /** Where the token is kept (readable by this user only) and used again after a restart. */
  tokenFile: string;
  api: AdminApi;
  /** The port to listen on; 0: any free port. */
  port: number;
  log: Logger;
  refusals: Refusals;
}

export class AdminServer {
  private constructor(private readonly server: Server, readonly endpoint: AdminEndpoint, private readonly sockets: Set<Socket>, private readonly closeSockets: () => void) {}

  /**
   * Listens on 127.0.0.1:`port`. A port taken by another program is refused, naming that
   * program: the status window's address must not be someone else's page (it would be given
   * the token). `port` 0 takes any free port.
   */
  static async start(o: AdminOptions): Promise<AdminServer> {
    const token = keptToken(o.tokenFile);
    const expected = Buffer.from(`Bearer ${token}`);
    const pages = new Pages();
    const json = new JsonCache();
    let inFlight = 0;
    const server = createServer({ requestTimeout: ADMIN_DOOR.requestMs, headersTimeout: ADMIN_DOOR.headersMs, keepAliveTimeout: ADMIN_DOOR.idleMs, maxHeaderSize: 8 * 1024, connectionsCheckingInterval: 1_000 }, (req, res) => {
      const { path, query } = splitTarget(req.url);
      const what = `${req.method ?? '?'} ${path}`;
      const reply = (status: number, body: unknown, why?: string) => {
        if (status >= 300) o.refusals.count('admin', status, why ?? (body as { message?: string }).message ?? '', what);
        if (res.headersSent || res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...(status >= 400 ? { connection: 'close' } : {}) });
        res.end(typeof body === 'string' ? body : JSON.stringify(body));
      };
      try {
        if (req.method === 'GET' && pages.serve(path, res)) return;
        const auth = Buffer.from(req.headers.authorization ?? '');
        if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) return reply(401, { ok: false, message: 'missing or wrong admin token' });
        if (inFlight >= ADMIN_DOOR.inFlight) return reply(503, { ok: false, message: `busy: ${ADMIN_DOOR.inFlight} requests are being answered; try again` });
        inFlight += 1;
        res.once('close', () => (inFlight -= 1));
        void answer(req, path, query, o.api, json).then(
          (r) => reply(r.status, r.body, r.why),
          (e: Error) => reply(500, { ok: false, message: e.message }),
        );
      } catch (e) {
        reply(500, { ok: false, message: (e as Error).message });
      }
    });
    server.maxConnections = ADMIN_DOOR.connections;
    const sockets = new Set<Socket>();
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
    });
    server.on('clientError', (e: NodeJS.ErrnoException, s) => {
      const [code, text] = clientErrorStatus(e.code);
      o.refusals.count('admin', code, 'a malformed or too slow HTTP request', e.code ?? e.message);
      if (s.writable && !(s as Socket).destroyed) s.end(`HTTP/1.1 ${code} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => s.destroy());
      else s.destroy();
    });
    let origins: string[] = [];
    const door = socketDoor(token, o.api, o.refusals, () => origins);
    server.on('upgrade', door.upgrade);
    await listen(server, o.port);
    const port = (server.address() as AddressInfo).port;
    origins = [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
    const endpoint = { pid: process.pid, port, token };
    writeFileAtomic(o.endpointFile, JSON.stringify(endpoint), { mode: 0o600, keepPrevious: false });
    return new AdminServer(server, endpoint, sockets, door.close);
  }

  /** Closes every connection, sockets of status windows included; resolves once the port is free. */
  close(): Promise<void> {
    this.closeSockets();
    return new Promise((r) => {
      this.server.close(() => r());
      for (const s of this.sockets) s.destroy();
    });
  }
}

/** Listens on 127.0.0.1:`port`; a taken port is refused with the program that holds it. */
async function listen(server: Server, port: number): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    const holder = await portHolder(port).catch(() => null);
    throw new Error(`the admin port 127.0.0.1:${port} is taken by ${holder ?? 'another program'}; this node does not start, because a program there could pose as the status window and be given the token. ` +
      `Stop that program, or give this server another port in the domain file (adminPort: N in its entry, or adminPort: 0 for any free port; the CLI finds it in admin.json)`);
  }
}

/** One JSON text per status (composed once per change; a flood of GET /status serialises it once). */
class JsonCache {
  private last: StatusView | null = null;
  private text = '';

  of(s: StatusView): string {
    if (s !== this.last) {
      this.last = s;
      this.text = JSON.stringify(s);
    }
    return this.text;
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

/** A request's body, at most ADMIN_DOOR.bodyBytes; null when it is larger (or the client went away). */
function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > ADMIN_DOOR.bodyBytes) {
        resolve(null);
        req.removeAllListeners('data');
        req.resume(); // the rest is read and dropped; the answer closes the connection
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', () => resolve(null)); // aborted mid-body: nobody waits for the answer
    req.once('close', () => resolve(null));
  });
}

async function answer(req: IncomingMessage, path: string, query: URLSearchParams, api: AdminApi, json: JsonCache): Promise<AdminReply & { why?: string }> {
  const method = req.method ?? 'GET';
  const raw = await readBody(req);
  if (raw === null) return { status: 413, body: { ok: false, message: `request body too large (at most ${ADMIN_DOOR.bodyBytes} bytes), or cut off` } };
  let body: unknown = null;
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return { status: 400, body: { ok: false, message: 'request body is not JSON' } };
    }
  }
  if (method === 'GET' && path === '/status') return { status: 200, body: json.of(await api.getStatus()) };
  if (method === 'GET' && path === '/domain') {
    const args = query.has('timeoutMs') ? [Number(query.get('timeoutMs'))] : [];
    const checked = CALLS.getDomain(args);
    if (!checked) return { status: 400, body: { ok: false, message: `timeoutMs must be a whole number of milliseconds, 1-${MAX_DOMAIN_WAIT_MS}` } };
    if (!query.has('server')) return { status: 200, body: await api.getDomain(...checked) };
    const server = query.getAll('server');
    if (server.length !== 1 || !isServerName(server[0])) return { status: 400, body: { ok: false, message: 'server must be one server\'s name (1-63 letters, digits, ".", "_" or "-", starting with a letter or digit)' } };
    try {
      return { status: 200, body: await api.getServer(server[0], ...checked) };
    } catch (e) {
      if (!(e instanceof UnknownServerError)) throw e;
      return { status: 404, body: { ok: false, message: e.message, servers: e.servers } };
    }
  }
  if (method === 'POST' && path === '/command') {
    const server = (body as { server?: unknown } | null)?.server;
    const checked = CALLS.command(server === undefined ? [body] : [body, server]);
    if (!checked) return { status: 400, body: { ok: false, message: `not a command; expected ${COMMAND_SHAPE}, with "server": "<name>" to run it on another server` } };
    const r = await api.command(...checked);
    return { status: r.ok ? 200 : r.unreachable ? 502 : 409, body: r, why: r.ok ? undefined : `command ${checked[0].kind} not carried out` };
  }
  return { status: 404, body: { ok: false, message: `no such admin call: ${method} ${path} (there are GET /status, GET /domain[?server=X] and POST /command)` } };
}
