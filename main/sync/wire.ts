/**
 * The sync service: TCP with TLS, authenticated by a key derived from the domain secret
 * (TLS-PSK). Without the secret there is no handshake, so not one byte of the domain is
 * sent. One request per connection: a JSON line, answered by a JSON header line and then
 * `size` raw bytes.
 */
import { hkdfSync } from 'node:crypto';
import { connect, createServer, type Server, type TLSSocket } from 'node:tls';
import type { Readable } from 'node:stream';

/**
 * TLS 1.3 with an external pre-shared key, key exchange psk_dhe_ke (forward secret); AES-GCM
 * first (AES instructions are everywhere on servers), ChaCha20 for the rest.
 */
const CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';
const TLS_VERSION = 'TLSv1.3';
const MAX_REQUEST = 8 * 1024;
const MAX_HEADER = 64 * 1024 * 1024;
const IDLE_MS = 15_000;

export function syncKey(domain: string, secret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from(domain, 'utf8'), 'duplex sync v1', 32));
}

export interface Reply {
  header: Record<string, unknown>;
  /** Sent after the header; its length must be `header.size`. */
  body?: Buffer | Readable;
}

export type Handler = (request: unknown, from: string) => Promise<Reply>;

export class SyncServer {
  private constructor(private readonly server: Server, readonly port: number) {}

  static start(opts: { host: string; port: number; domain: string; key: Buffer; handler: Handler; onWarning: (detail: string) => void }): Promise<SyncServer> {
    const identity = `duplex:${opts.domain}`;
    const warned = new Set<string>();
    const server = createServer({
      ciphers: CIPHERS,
      minVersion: TLS_VERSION,
      honorCipherOrder: true,
      pskIdentityHint: identity,
      pskCallback: (_socket, id) => (id === identity ? opts.key : null),
    }, (socket) => serve(socket, opts.handler));
    server.maxConnections = 16;
    server.on('tlsClientError', (err, socket) => {
      const from = socket.remoteAddress ?? '?';
      if (warned.has(from)) return;
      warned.add(from);
      opts.onWarning(`a sync connection from ${from} failed the TLS handshake (${err.message.split('\n')[0]}); a peer with another domain secret gets nothing. Is duplex.secret the same on every server?`);
    });
    return new Promise((resolveStart, reject) => {
      server.once('error', (e) => reject(new Error(`cannot open the sync port ${opts.host}:${opts.port}: ${e.message}; set sync.port to a free port`)));
      server.listen(opts.port, opts.host, () => {
        server.removeAllListeners('error');
        server.on('error', (e) => opts.onWarning(`sync service: ${e.message}`));
        resolveStart(new SyncServer(server, (server.address() as { port: number }).port));
      });
    });
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

function serve(socket: TLSSocket, handler: Handler): void {
  socket.setTimeout(IDLE_MS, () => socket.destroy());
  socket.on('error', () => undefined);
  let buf = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    const nl = buf.indexOf(10);
    if (nl < 0) {
      if (buf.length > MAX_REQUEST) socket.destroy();
      return;
    }
    socket.off('data', onData);
    let request: unknown;
    try {
      request = JSON.parse(buf.subarray(0, nl).toString('utf8'));
    } catch {
      request = null;
    }
    handler(request, socket.remoteAddress ?? '?').then(
      (reply) => send(socket, reply),
      (e: Error) => send(socket, { header: { ok: false, error: e.message } }),
    );
  };
  socket.on('data', onData);
}

function send(socket: TLSSocket, reply: Reply): void {
  socket.write(`${JSON.stringify(reply.header)}\n`);
  const body = reply.body;
  if (!body) {
    socket.end();
  } else if (Buffer.isBuffer(body)) {
    socket.end(body);
  } else {
    body.on('error', () => socket.destroy());
    body.pipe(socket);
  }
}

export interface Response {
  header: Record<string, unknown>;
  /** The bytes after the header (the socket itself); the caller reads `header.size` of them. */
  body: TLSSocket;
}

/** One request to a peer's sync service. Rejects with a message that names the peer. */
export function request(opts: { host: string; port: number; domain: string; key: Buffer; timeoutMs: number }, req: Record<string, unknown>): Promise<Response> {
  const identity = `duplex:${opts.domain}`;
  const where = `${opts.host}:${opts.port}`;
  return new Promise((resolveReq, reject) => {
    const socket = connect({
      host: opts.host,
      port: opts.port,
      ciphers: CIPHERS,
      minVersion: TLS_VERSION,
      checkServerIdentity: () => undefined, // PSK: the key is the identity
      pskCallback: () => ({ psk: opts.key, identity }),
    });
    socket.setTimeout(opts.timeoutMs, () => socket.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    let done = false;
    const fail = (e: Error) => {
      if (done) return;
      done = true;
      socket.destroy();
      reject(new Error(`sync with ${where}: ${e.message}`));
    };
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('connection closed before the answer')));
    socket.once('secureConnect', () => socket.write(`${JSON.stringify(req)}\n`));
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(10);
      if (nl < 0) {
        if (buf.length > MAX_HEADER) fail(new Error('answer header too large'));
        return;
      }
      socket.off('data', onData);
      socket.pause();
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(buf.subarray(0, nl).toString('utf8')) as Record<string, unknown>;
      } catch {
        return fail(new Error('answer is not JSON'));
      }
      if (header.ok !== true) return fail(new Error(String(header.error ?? 'refused')));
      done = true;
      socket.removeAllListeners('close');
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      const rest = buf.subarray(nl + 1);
      if (rest.length) socket.unshift(rest);
      resolveReq({ header, body: socket });
    };
    socket.on('data', onData);
  });
}

/** Reads a whole (small) body into memory. */
export function readBody(res: Response, size: number): Promise<Buffer> {
  return new Promise((resolveRead, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    res.body.on('data', (b: Buffer) => {
      parts.push(b);
      got += b.length;
    });
    res.body.once('end', () => (got === size ? resolveRead(Buffer.concat(parts)) : reject(new Error(`expected ${size} bytes, got ${got}`))));
    res.body.once('error', reject);
    res.body.resume();
  });
}
