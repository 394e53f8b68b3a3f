/**
 * The admin API's client: what the CLI, the demo, the tests and the benchmarks use to talk to
 * a node. Light on purpose (node:http and the endpoint file only): `duplex status` loads this,
 * not the node.
 */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import type { DomainLocation } from '../domain/location';
import { nodePaths } from './paths';

/** What `admin.json` in the node's folder says: where its admin API listens and its token. */
export interface AdminEndpoint {
  pid: number;
  port: number;
  token: string;
}

export interface AdminReply {
  status: number;
  body: unknown;
}

/** No node answers for that server (no endpoint file, or nothing listens on its port). */
export class NoNodeError extends Error {}

/** A node took the connection but did not answer within the time given: frozen, or its machine overloaded. */
export class NoAnswerError extends NoNodeError {
  constructor(message: string, readonly timeoutMs: number) {
    super(message);
  }
}

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

/** The default wait for a node's answer: a command may take a whole switchover. */
const ADMIN_TIMEOUT_MS = 30_000;

/** One request to a node's admin API. Throws NoNodeError when nothing answers, NoAnswerError when it does not answer in time. */
export function adminRequest(endpoint: AdminEndpoint, method: string, path: string, body?: unknown, timeoutMs = ADMIN_TIMEOUT_MS): Promise<AdminReply> {
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
    req.on('timeout', () => req.destroy(new NoAnswerError(`admin API did not answer within ${timeoutMs} ms`, timeoutMs)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ECONNREFUSED' ? new NoNodeError(`nothing listens on the admin port ${endpoint.port}`) : err);
    });
    if (payload) req.write(payload);
    req.end();
  });
}

/** One admin-API call to the node of `server` (its endpoint is found from the domain). Throws NoNodeError when none answers. */
export function askNode(domain: DomainLocation, server: string, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<AdminReply> {
  return adminRequest(readEndpoint(nodePaths(domain, server).admin), method, path, body, timeoutMs);
}
