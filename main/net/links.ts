/**
 * Heartbeats over several networks (pure: the time comes in). Every heartbeat goes out on each
 * network, so the same datagram arrives once per network: the first copy is delivered, the
 * others only say that the network works. Per peer it keeps when it was last heard on each
 * network, for status (`links`) and for the link faults.
 */

/** How many accepted datagrams per sender are remembered to recognise their copies from other networks. */
const REMEMBERED = 32;

export interface LinkView {
  /** This server's address on the network. */
  network: string;
  /** Heard on it within the failure timeout. */
  up: boolean;
  lastHeardMs: number | null;
}

export class LinkTracker {
  /** Per sender: the datagrams delivered lately, each with the networks it has come in on (a bit each). */
  private readonly recent = new Map<string, { incarnation: number; seqs: Map<number, number> }>();
  private readonly heard = new Map<string, (number | null)[]>();

  /** `networks`: this server's address on each network, in the domain file's order. */
  constructor(readonly networks: readonly string[], private readonly masks: readonly number[] = networks.map(() => 24)) {}

  /** Which network a datagram from `address` came in on: the one whose subnet holds it (the first when none does). */
  networkOf(address: string): number {
    if (this.networks.length === 1) return 0;
    const a = ipv4ToInt(address);
    const i = this.networks.findIndex((n, k) => {
      const mask = this.masks[k] === 0 ? 0 : (~0 << (32 - this.masks[k]!)) >>> 0;
      return ((ipv4ToInt(n) & mask) >>> 0) === ((a & mask) >>> 0);
    });
    return Math.max(0, i);
  }

  /**
   * An authenticated datagram from `sender` came in on `network`: true when it is the first
   * copy over this network of one already delivered from another network. A second copy over
   * the same network is a replay, for the replay guard to count.
   */
  arrived(sender: string, incarnation: number, seq: number, network: number, now: number): boolean {
    const times = this.heard.get(sender) ?? this.networks.map(() => null);
    times[network] = now;
    this.heard.set(sender, times);
    const r = this.recent.get(sender);
    const seen = r?.incarnation === incarnation ? r.seqs.get(seq) : undefined;
    if (seen === undefined || seen & (1 << network)) return false;
    r!.seqs.set(seq, seen | (1 << network));
    return true;
  }

  /** The datagram was delivered (the replay guard took it) from `network`: its copies on the others are recognised. */
  delivered(sender: string, incarnation: number, seq: number, network: number): void {
    let r = this.recent.get(sender);
    if (!r || r.incarnation !== incarnation) {
      r = { incarnation, seqs: new Map() };
      this.recent.set(sender, r);
    }
    r.seqs.set(seq, 1 << network);
    if (r.seqs.size > REMEMBERED) r.seqs.delete(r.seqs.keys().next().value!);
  }

  /** Each network's state for `sender`; `timeoutMs`: silence after which a link is down. */
  links(sender: string, now: number, timeoutMs: number): LinkView[] {
    const times = this.heard.get(sender);
    return this.networks.map((network, k) => {
      const at = times?.[k] ?? null;
      const lastHeardMs = at === null ? null : Math.round(now - at);
      return { network, up: lastHeardMs !== null && lastHeardMs < timeoutMs, lastHeardMs };
    });
  }
}

/**
 * The link faults of a server with several networks: a network on which peers that are heard
 * on another one have been silent for the failure timeout. One text per network, naming what to
 * check; never a reason to fail over by itself (the peers are alive on the other networks).
 */
export function linkFaults(networks: readonly string[], peers: readonly { server: string; links: readonly LinkView[] }[]): string[] {
  if (networks.length < 2) return [];
  const out: string[] = [];
  networks.forEach((network, k) => {
    const silent = peers.filter((p) => p.links.some((l) => l.up) && !p.links[k]?.up).map((p) => p.server);
    if (silent.length) out.push(`network ${network}: no heartbeat from ${silent.join(', ')} on it (heard on the other networks); check this network's cable and switch`);
  });
  return out;
}

export function ipv4ToInt(addr: string): number {
  return addr.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
}
