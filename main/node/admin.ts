/**
 * The local admin API: HTTP on 127.0.0.1 only, every request carrying the node's token.
 * The endpoint (port, token, pid) is written to `admin.json` in the node's state folder,
 * readable only by the user who runs the node. The CLI finds it from --domain and --server.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { writeFileAtomic } from '../util/atomic';
import type { DuplexApi } from '../ui/contract';
import { attachSocket, servePage } from '../ui/ui-server';

export interface AdminEndpoint {
  pid: number;
  port: number;
  token: string;
}

export interface AdminReply {
  status: number;
  body: unknown;
}

export type AdminHandler = (method: string, path: string, body: unknown) => Promise<AdminReply>;

const MAX_BODY_BYTES = 16 * 1024;

export class AdminServer {
  private constructor(private readonly server: Server, readonly endpoint: AdminEndpoint, private readonly detach: () => void) {}

  /** `ui`: also serve the status window and its WebSocket (ui-server.ts). */
  static async start(endpointFile: string, handler: AdminHandler, ui?: DuplexApi): Promise<AdminServer> {
    const token = randomBytes(32).toString('hex');
    const expected = Buffer.from(`Bearer ${token}`);
    const server = createServer((req, res) => {
      if (ui && servePage(req, res)) return;
      void serve(req, res, expected, handler);
    });
    const detach = ui ? attachSocket(server, token, ui) : () => undefined;
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolveListen());
    });
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

async function serve(req: IncomingMessage, res: ServerResponse, expected: Buffer, handler: AdminHandler): Promise<void> {
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
    const r = await handler(req.method ?? 'GET', new URL(req.url ?? '/', 'http://localhost').pathname, body);
    reply(r.status, r.body);
  } catch (e) {
    reply(500, { ok: false, message: (e as Error).message });
  }
}

export class NoNodeError extends Error {}

/** The address of the status window of a node, token included (for a browser on this machine). */
export function pageUrl(endpoint: AdminEndpoint): string {
  return `http://127.0.0.1:${endpoint.port}/#token=${endpoint.token}`;
}

export function readEndpoint(endpointFile: string): AdminEndpoint {
  let text: string;
  try {
    text = readFileSync(endpointFile, 'utf8');
  } catch {
    throw new NoNodeError(`no admin endpoint at ${endpointFile}`);
  }
  return JSON.parse(text) as AdminEndpoint;
}

/** One request to a node's admin API. Throws NoNodeError when nothing answers. */
export function adminRequest(endpoint: AdminEndpoint, method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<AdminReply> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolveReq, reject) => {
    const req = request(
      {
        host: '127.0.0.1', port: endpoint.port, method, path, timeout: timeoutMs,
        headers: { authorization: `Bearer ${endpoint.token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolveReq({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          } catch (e) {
            reject(new Error(`admin API answered something that is not JSON: ${(e as Error).message}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`admin API did not answer within ${timeoutMs} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ECONNREFUSED' ? new NoNodeError(`nothing listens on the admin port ${endpoint.port}`) : err);
    });
    if (payload) req.write(payload);
    req.end();
  });
}
