/**
 * The sync service: TCP with TLS, authenticated by a key derived from the domain secret
 * (TLS-PSK). Without the secret there is no handshake, so not one byte of the domain is
 * sent. One request per connection: a JSON line, answered by a JSON header line and then
 * `size` raw bytes.
 *
 * The port is a door from outside, so it is bounded: a connection from an address that is
 * not a server of the domain is closed before TLS; at most SYNC_MAX_CONNECTIONS are open
 * (SYNC_MAX_CONNECTIONS_PER_ADDRESS from one address); the handshake, and then the request
 * line, must each come within SYNC_HANDSHAKE_TIMEOUT_MS, and an answer nobody reads is cut
 * after SYNC_IDLE_TIMEOUT_MS. Every refusal and failure is counted by reason, as the door
 * `sync` of the node's Refusals (node/doors.ts: logged at most once a minute per reason, with
 * the count). Nothing a client sends or does (garbage, a cut, a request over the limit)
 * throws out of a handler.
 */
import { hkdfSync } from 'node:crypto';
import { createServer as createTcpServer, isIP, type Server as TcpServer, type Socket } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { pipeline, type Readable } from 'node:stream';
import { SYNC_HANDSHAKE_TIMEOUT_MS, SYNC_IDLE_TIMEOUT_MS, SYNC_MAX_CONNECTIONS, SYNC_MAX_CONNECTIONS_PER_ADDRESS } from '../defaults';
import { Refusals } from '../node/doors';

/**
 * TLS 1.3 with an external pre-shared key, key exchange psk_dhe_ke (forward secret); AES-GCM
 * first (AES instructions are everywhere on servers), ChaCha20 for the rest.
 */
const CIPHERS = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';
const TLS_VERSION = 'TLSv1.3';
const MAX_REQUEST = 8 * 1024;
const MAX_HEADER = 64 * 1024 * 1024;

export function syncKey(domain: string, secret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.from(domain, 'utf8'), 'duplex sync v1', 32));
}

export interface Reply {
  header: Record<string, unknown>;
  /** Sent after the header; its length must be `header.size`. */
  body?: Buffer | Readable;
}

export type Handler = (request: unknown, from: string) => Promise<Reply>;

/**
 * Why a connection or request to the sync port was refused or failed: not-a-peer (an address
 * that is no server of the domain), full (too many connections), evicted (closed to make room:
 * it had not finished its handshake), handshake-timeout, secret (the handshake failed on the
 * key: a peer with another domain secret), tls (the handshake failed otherwise: not TLS, or
 * not this domain's), request-timeout, request-too-large, malformed (not a JSON request),
 * refused (answered with ok: false), failed (the handler failed), idle (an answer nobody read),
 * cut (the client went away before its answer was whole).
 */
export type Refusal = 'not-a-peer' | 'full' | 'evicted' | 'handshake-timeout' | 'secret' | 'tls' | 'request-timeout' | 'request-too-large' | 'malformed' | 'refused' | 'failed' | 'idle' | 'cut';

/** The errors of a connection that went away (closed, reset, a write to it after it had gone): no TLS failure. */
const GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/**
 * What a handshake that did not finish says, as the refusal it is counted as: null when the
 * client went away during it — a peer that gave up waiting (on a server that was frozen, say,
 * which finds their connections only when it wakes) is no request and no fault. Only a
 * handshake that failed on the key says that the secret may differ.
 */
export function handshakeFailure(err: Error & { code?: string; reason?: string; syscall?: string }): { reason: Refusal; why: string } | null {
  if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return { reason: 'handshake-timeout', why: `no TLS handshake within ${SYNC_HANDSHAKE_TIMEOUT_MS / 1000} s; closed` };
  if ((err.code !== undefined && GONE.has(err.code)) || err.syscall !== undefined) return null;
  const detail = err.reason ?? err.message.split('\n')[0];
  if (err.code === 'ERR_SSL_BINDER_DOES_NOT_VERIFY') {
    return { reason: 'secret', why: `it failed the TLS handshake on the key (${detail}): a peer with another domain secret gets nothing. Is duplex.secret the same on every server?` };
  }
  return { reason: 'tls', why: `it failed the TLS handshake (${detail}): not TLS 1.3 with this domain's name and key (another program, another domain, or another Duplex version)` };
}

/** Counts a refusal by `reason`; `why` says what it means, `what` which connection or request (from outside). */
type Note = (reason: Refusal, why: string, what: string) => void;

/** The door's name in the node's Refusals. */
const DOOR = 'sync';

/**
 * When the port is full, a connection that has not finished its TLS handshake this long after
 * it was let in is closed to make room for a new one: a peer's handshake takes a few ms, so
 * only connections that hold a slot without using it are closed.
 */
const EVICT_AFTER_MS = 250;

/** The remote address of a socket as text fit for a log line: an IP address, or a word when there is none. */
function addressOf(socket: Socket): string {
  const a = socket.remoteAddress;
  if (!a || !isIP(a)) return '(unknown address)';
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

export interface SyncServerOptions {
  host: string;
  port: number;
  domain: string;
  key: Buffer;
  handler: Handler;
  /** Whether a connection from this address is let in (the domain's servers); others are closed before TLS. */
  accepts: (address: string) => boolean;
  /** Where refusals are counted and logged (the node's, shared by its doors). */
  refusals: Refusals;
  onWarning: (detail: string) => void;
}

interface Admitted {
  raw: Socket;
  from: string;
  /** When it was let in, while its handshake is not finished; null once it is. */
  since: number | null;
}

export class SyncServer {
  /** Every connection let in, oldest first, by remote address and port. */
  private readonly open = new Map<string, Admitted>();
  private readonly perAddress = new Map<string, number>();
  private gate!: TcpServer;
  private closing = false;

  private constructor(private readonly opts: SyncServerOptions) {}

  get port(): number {
    return (this.gate.address() as { port: number }).port;
  }

  /** Refused and failed connections and requests since the start, by reason. */
  refused(): Partial<Record<Refusal, number>> {
    return this.opts.refusals.totals()[DOOR] ?? {};
  }

  /** Connections open now (handshaking, asking or being answered). */
  connections(): number {
    return this.open.size;
  }

  static start(opts: SyncServerOptions): Promise<SyncServer> {
    return new SyncServer(opts).listen();
  }

  private note: Note = (reason, why, what) => {
    // Connections cut by close() are not refusals.
    if (!this.closing) this.opts.refusals.count(DOOR, reason, why, what);
  };

  private listen(): Promise<SyncServer> {
    const { opts, note } = this;
    const identity = `duplex:${opts.domain}`;
    const tls = createServer({
      ciphers: CIPHERS,
      minVersion: TLS_VERSION,
      honorCipherOrder: true,
      pskIdentityHint: identity,
      pskCallback: (_socket, id) => (id === identity ? opts.key : null),
      handshakeTimeout: SYNC_HANDSHAKE_TIMEOUT_MS,
    }, (socket) => {
      const admitted = this.open.get(`${addressOf(socket)} ${socket.remotePort}`);
      if (admitted) admitted.since = null;
      serve(socket, opts.handler, note);
    });
    tls.on('tlsClientError', (err: Error & { code?: string }, socket) => {
      const what = `a connection from ${addressOf(socket)}`;
      socket.destroy(); // Node leaves a timed-out handshake open when this event has a listener
      // A connection closed during its handshake (by its client, or here to make room) is no request: nothing to say.
      const failed = handshakeFailure(err);
      if (failed) note(failed.reason, failed.why, what);
    });
    // A plain TCP server in front of TLS: what is refused never reaches the TLS layer.
    this.gate = createTcpServer((raw) => this.admit(raw, tls));
    return new Promise((resolveStart, reject) => {
      this.gate.once('error', (e) => reject(new Error(`cannot open the sync port ${opts.host}:${opts.port}: ${e.message}; set sync.port to a free port`)));
      this.gate.listen(opts.port, opts.host, () => {
        this.gate.removeAllListeners('error');
        this.gate.on('error', (e) => this.opts.onWarning(`sync service: ${e.message}`));
        resolveStart(this);
      });
    });
  }

  /** Lets a new connection through to TLS, or closes it at once (not a peer, or no room). */
  private admit(raw: Socket, tls: ReturnType<typeof createServer>): void {
    raw.on('error', () => undefined);
    const from = addressOf(raw);
    if (!this.opts.accepts(from)) {
      raw.destroy();
      this.note('not-a-peer', 'not an address of a server of this domain (declared in the domain file, or heard in its heartbeats); closed before TLS. If it is one, give its address in servers[].address or addresses', `a connection from ${from}`);
      return;
    }
    if (!this.makeRoom(from)) {
      raw.destroy();
      this.note('full', `${this.perAddress.get(from) ?? 0} connections from there and ${this.open.size} in all are open and busy (at most ${SYNC_MAX_CONNECTIONS_PER_ADDRESS} and ${SYNC_MAX_CONNECTIONS})`, `a connection from ${from}`);
      return;
    }
    const key = `${from} ${raw.remotePort}`;
    this.open.set(key, { raw, from, since: performance.now() });
    this.perAddress.set(from, (this.perAddress.get(from) ?? 0) + 1);
    raw.once('close', () => this.forget(key));
    tls.emit('connection', raw);
  }

  private forget(key: string): void {
    const admitted = this.open.get(key);
    if (!admitted) return;
    this.open.delete(key);
    const n = (this.perAddress.get(admitted.from) ?? 1) - 1;
    if (n > 0) this.perAddress.set(admitted.from, n);
    else this.perAddress.delete(admitted.from);
  }

  /**
   * Room for one more connection from `from`: there is some, or the oldest connection that has
   * held a slot for EVICT_AFTER_MS without finishing its handshake (from `from` when that
   * address is at its limit) is closed to make it. False: every slot is in use.
   */
  private makeRoom(from: string): boolean {
    const fullThere = (this.perAddress.get(from) ?? 0) >= SYNC_MAX_CONNECTIONS_PER_ADDRESS;
    if (!fullThere && this.open.size < SYNC_MAX_CONNECTIONS) return true;
    const now = performance.now();
    for (const [key, c] of this.open) {
      if (c.since === null || (fullThere && c.from !== from)) continue;
      if (now - c.since < EVICT_AFTER_MS) return false; // oldest first: the rest are younger
      this.forget(key);
      c.raw.destroy();
      this.note('evicted', `no TLS handshake ${Math.round(now - c.since)} ms after it came in, and the port was full; closed to make room`, `a connection from ${c.from}`);
      return true;
    }
    return false;
  }

  /** Stops listening and cuts every connection still open; what was counted and not yet logged is logged. */
  close(): Promise<void> {
    this.closing = true;
    return new Promise((r) => {
      this.gate.close(() => r());
      for (const { raw } of this.open.values()) raw.destroy();
    });
  }
}

function serve(socket: TLSSocket, handler: Handler, note: Note): void {
  const from = addressOf(socket);
  const what = `a connection from ${from}`;
  socket.on('error', () => undefined);
  // The request line comes right after the handshake.
  socket.setTimeout(SYNC_HANDSHAKE_TIMEOUT_MS, () => {
    note('request-timeout', `no request within ${SYNC_HANDSHAKE_TIMEOUT_MS / 1000} s of its handshake; closed`, what);
    socket.destroy();
  });
  let buf = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    const nl = buf.indexOf(10);
    if (nl < 0) {
      if (buf.length > MAX_REQUEST) {
        note('request-too-large', `its request is over ${MAX_REQUEST / 1024} KB; closed`, what);
        socket.destroy();
      }
      return;
    }
    socket.off('data', onData);
    // The handler bounds itself (a relayed command may wait for a whole switchover).
    socket.setTimeout(0);
    let request: unknown = null;
    try {
      request = JSON.parse(buf.subarray(0, nl).toString('utf8'));
    } catch {
      // below
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      note('malformed', 'not a JSON object (another Duplex version, or not Duplex)', `a request from ${from}`);
      send(socket, { header: { ok: false, error: 'not a request' } }, note);
      return;
    }
    let reply: Promise<Reply>;
    try {
      reply = handler(request, from);
    } catch (e) {
      reply = Promise.reject(e);
    }
    reply.then(
      (r) => {
        if (r.header.ok !== true) note('refused', `answered: ${String(r.header.error)}`, `a request from ${from}`);
        return r;
      },
      (e: Error) => {
        note('failed', `it failed here: ${e.message}`, `a request from ${from}`);
        return { header: { ok: false, error: e.message } };
      },
    ).then((r) => send(socket, r, note)).catch(() => socket.destroy());
  };
  socket.on('data', onData);
}

function send(socket: TLSSocket, reply: Reply, note: Note): void {
  const from = addressOf(socket);
  socket.setTimeout(SYNC_IDLE_TIMEOUT_MS, () => {
    note('idle', `it read nothing of its answer for ${SYNC_IDLE_TIMEOUT_MS / 1000} s; cut`, `a connection from ${from}`);
    socket.destroy();
  });
  socket.write(`${JSON.stringify(reply.header)}\n`);
  const body = reply.body;
  if (!body) {
    socket.end();
  } else if (Buffer.isBuffer(body)) {
    socket.end(body);
  } else {
    // pipeline closes the file when the client goes away (pipe would leave it open).
    pipeline(body, socket, (e) => {
      if (e && !socket.destroyed) socket.destroy();
      if (e) note('cut', `its answer was cut: ${e.message}`, `a connection from ${from}`);
    });
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

/** Reads a whole (small) body into memory: never more than `size` bytes. */
export function readBody(res: Response, size: number): Promise<Buffer> {
  return new Promise((resolveRead, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    res.body.on('data', (b: Buffer) => {
      parts.push(b);
      got += b.length;
      if (got > size) {
        res.body.destroy();
        reject(new Error(`expected ${size} bytes, got more`));
      }
    });
    res.body.once('end', () => (got === size ? resolveRead(Buffer.concat(parts)) : reject(new Error(`expected ${size} bytes, got ${got}`))));
    res.body.once('error', reject);
    res.body.resume();
  });
}
