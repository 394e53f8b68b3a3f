/**
 * The UDP multicast transport: the real implementation of the driver's HeartbeatTransport
 * port (the simulation has its own faulty network). Encodes, authenticates and sends; the
 * receive path verifies, drops and counts, and never throws.
 */
import { createSocket, type Socket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { decode, DROP_REASONS, encode, type DomainKeys, type DropReason } from './codec';
import { LinkTracker, type LinkView } from './links';
import { ReplayGuard } from './replay';
import type { Heartbeat } from '../engine/types';
import type { HeartbeatTransport } from '../node/ports';

/** Drops that usually mean a misconfigured server: each is logged once per sending address. */
const MISCONFIGURATION_HINTS: Partial<Record<DropReason, string>> = {
  'bad-auth': 'they fail authentication; is the domain secret file the same on every server?',
  'foreign-domain': 'they belong to another domain on the same multicast group and port; give each domain its own group or port',
  'bad-version': 'they use another Duplex protocol version; install the same Duplex version on every server',
};

export interface MulticastOptions {
  group: string;
  port: number;
  /**
   * Local address of the card on each network to send and receive on (one to four): every
   * heartbeat goes out on each, and a peer is alive when heard on any.
   */
  interfaceAddresses: string[];
  /** The prefix length of each of those addresses (which network a datagram came in on). */
  prefixes?: number[];
  ttl: number;
  keys: DomainKeys;
  self: string;
  servers: ReadonlySet<string>;
  incarnation: number;
  /** A verified heartbeat and the address it came from. */
  onMessage: (msg: Heartbeat, address: string) => void;
  onSendError: (err: Error) => void;
  /** Called once per distinct problem worth a log line (for example another node using our name). */
  onWarning: (event: string, detail: string) => void;
  /**
   * How long a peer's followed incarnation must be silent before another incarnation of the
   * same name is taken (net/replay.ts: a clone started later must not take over the name).
   */
  holdIncarnationMs?: number;
  /** An authenticated heartbeat with this server's own name from another process, and its address. */
  onNameConflict?: (address: string) => void;
  /** A datagram from `address` failed authentication (another domain secret?). */
  onBadAuth?: (address: string) => void;
}

export class MulticastTransport implements HeartbeatTransport {
  private seq = 0;
  private readonly guard: ReplayGuard;
  private readonly counts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  private readonly warned = new Set<string>();
  /** The last datagrams we sent: multicast loopback brings them back, and they need no verification. */
  private readonly recent: Buffer[] = [];

  private servers: ReadonlySet<string>;
  private readonly links: LinkTracker;
  /** Send-only sockets of the second and further networks (the first network's socket also receives). */
  private readonly extra: Socket[] = [];

  private constructor(private readonly socket: Socket, private readonly opts: MulticastOptions) {
    this.servers = opts.servers;
    this.guard = new ReplayGuard(opts.holdIncarnationMs ?? 0);
    this.links = new LinkTracker(opts.interfaceAddresses, opts.prefixes);
  }

  /** This boot's number (its heartbeats name it, so they are told apart from an earlier run's). */
  get incarnation(): number {
    return this.opts.incarnation;
  }

  static async open(opts: MulticastOptions): Promise<MulticastTransport> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true });
    const t = new MulticastTransport(socket, opts);
    const [first, ...others] = opts.interfaceAddresses;
    await new Promise<void>((resolvePromise, reject) => {
      const fail = (err: Error) => {
        socket.close();
        reject(new Error(`cannot open multicast ${opts.group}:${opts.port} on ${opts.interfaceAddresses.join(', ')}: ${err.message}`));
      };
      socket.once('error', fail);
      socket.on('message', (buf, rinfo) => t.onDatagram(buf, rinfo.address));
      // Linux can bind the group address itself and so receive only this group; Windows cannot.
      const bindAddress = process.platform === 'linux' ? opts.group : '0.0.0.0';
      socket.bind({ port: opts.port, address: bindAddress, exclusive: false }, () => {
        try {
          for (const a of opts.interfaceAddresses) socket.addMembership(opts.group, a);
          socket.setMulticastInterface(first!);
          socket.setMulticastTTL(opts.ttl);
          socket.setMulticastLoopback(true);
        } catch (e) {
          fail(e as Error);
          return;
        }
        socket.off('error', fail);
        socket.on('error', (err) => opts.onSendError(err));
        resolvePromise();
      });
    });
    for (const address of others) {
      try {
        t.extra.push(await sendSocket(address, opts.ttl, opts.onSendError));
      } catch (e) {
        await t.close();
        throw new Error(`cannot send multicast on ${address}: ${(e as Error).message}`);
      }
    }
    return t;
  }

  /** Each network's state for `peer` (heard within `timeoutMs`). */
  linksOf(peer: string, timeoutMs: number): LinkView[] {
    return this.links.links(peer, performance.now(), timeoutMs);
  }

  /** The domain's server list changed (a new revision): heartbeats from others are dropped from now on. */
  setServers(servers: ReadonlySet<string>): void {
    this.servers = servers;
  }

  /** Joins the group again after the card lost and regained its address. */
  rejoin(): void {
    for (const address of this.opts.interfaceAddresses) {
      try {
        this.socket.dropMembership(this.opts.group, address);
      } catch {
        // the membership died with the address; nothing to drop
      }
      try {
        this.socket.addMembership(this.opts.group, address);
      } catch (e) {
        this.warnOnce(`multicast:${address}`, `cannot join ${this.opts.group} on ${address}: ${(e as Error).message}`);
      }
    }
    try {
      this.socket.setMulticastInterface(this.opts.interfaceAddresses[0]!);
    } catch (e) {
      this.warnOnce('multicast', `cannot send on ${this.opts.interfaceAddresses[0]}: ${(e as Error).message}`);
    }
  }

  send(msg: Heartbeat): void {
    this.seq = (this.seq + 1) >>> 0;
    const buf = encode({ incarnation: this.opts.incarnation, seq: this.seq, msg }, this.opts.keys);
    this.recent.push(buf);
    if (this.recent.length > 8) this.recent.shift();
    this.socket.send(buf, this.opts.port, this.opts.group, (err) => {
      if (err) this.opts.onSendError(err);
    });
    // The other networks: a failure there is a link fault (status), not local trouble.
    for (const s of this.extra) s.send(buf, this.opts.port, this.opts.group, () => undefined);
  }

  /**
   * `msg` as the next datagram this node would send, without sending it: the guardian's
   * release continues this node's sequence, so peers accept it once and never after a newer one.
   */
  seal(msg: Heartbeat): Buffer {
    return encode({ incarnation: this.opts.incarnation, seq: (this.seq + 1) >>> 0, msg }, this.opts.keys);
  }

  dropped(): Record<DropReason, number> {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    await Promise.all([this.socket, ...this.extra].map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** The receive path: never throws, counts every drop. */
  private onDatagram(buf: Buffer, from: string): void {
    if (this.recent.some((b) => b.equals(buf))) return; // our own datagram looped back
    const d = decode(buf, this.opts.keys);
    if (!d.ok) {
      const hint = MISCONFIGURATION_HINTS[d.reason];
      if (hint) this.warnOnce(`${d.reason}:${from}`, `datagrams from ${from} are dropped (${d.reason}): ${hint}; further ones are only counted (duplex status)`);
      if (d.reason === 'bad-auth') this.notify(() => this.opts.onBadAuth?.(from));
      return this.drop(d.reason);
    }
    const { msg, incarnation, seq } = d.env;
    if (msg.from === this.opts.self) {
      if (incarnation === this.opts.incarnation) return; // our own datagram looped back
      this.warnOnce('name-conflict', `another node also calls itself "${msg.from}" on this domain (at ${from}); every server needs its own name`);
      // A release with our name is our previous process's guardian, not a clone.
      if (!msg.released) this.notify(() => this.opts.onNameConflict?.(from));
      return this.drop('name-conflict');
    }
    if (!this.servers.has(msg.from)) {
      this.warnOnce(`unknown:${msg.from}`, `heartbeat from "${msg.from}", which is not in this server's domain file`);
      return this.drop('unknown-sender');
    }
    const now = performance.now();
    // The same datagram over another network: it shows that network works, and is delivered once.
    const network = this.links.networkOf(from);
    if (this.links.arrived(msg.from, incarnation, seq, network, now)) return;
    const replay = this.guard.check(msg.from, incarnation, seq, now);
    if (replay) return this.drop(replay);
    this.links.delivered(msg.from, incarnation, seq, network);
    const rival = this.guard.rival(msg.from, now);
    if (rival !== null) {
      this.warnOnce(`clone:${msg.from}`, `two processes call themselves "${msg.from}": boot ${incarnation} at ${from}, which this server follows, and boot ${rival}, started later: ` +
        `a cloned machine or a copied tray.json? The later one is ignored while the first one is heard; give every server its own name`);
    }
    try {
      this.opts.onMessage(msg, from);
    } catch (e) {
      this.warnOnce(`handler:${(e as Error).message}`, `error handling a heartbeat from ${msg.from}: ${(e as Error).stack ?? e}`);
    }
  }

  /** A callback into the node: like the message handler, it never throws out of the receive path. */
  private notify(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.warnOnce(`handler:${(e as Error).message}`, `error handling a dropped datagram: ${(e as Error).stack ?? e}`);
    }
  }

  private drop(reason: DropReason): void {
    this.counts[reason] += 1;
  }

  private warnOnce(key: string, detail: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.opts.onWarning('network', detail);
  }
}

/** A socket that only sends multicast out of the card with `address` (its datagrams carry that source address). */
function sendSocket(address: string, ttl: number, onError: (err: Error) => void): Promise<Socket> {
  const s = createSocket({ type: 'udp4' });
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind({ port: 0, address }, () => {
      try {
        s.setMulticastInterface(address);
        s.setMulticastTTL(ttl);
      } catch (e) {
        s.close();
        reject(e as Error);
        return;
      }
      s.off('error', reject);
      s.on('error', onError);
      resolve(s);
    });
  });
}
