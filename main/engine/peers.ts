/**
 * The live table: the last heartbeat of every peer and when it came, and the Active last heard.
 * A peer is live while heard within the failure timeout in force (stretched by awareness).
 */
import type { Awareness } from './awareness';
import type { Servers } from './servers';
import { ACTIVE_ROLES, type Heartbeat, type PeerStatus } from './types';

/** A peer as last heard. */
export interface Peer {
  name: string;
  hb: Heartbeat;
  lastHeard: number;
}

export class Peers {
  private readonly table = new Map<string, Peer>();
  private activeHeardAt = -Infinity;
  private activeName: string | null = null;
  /** The Active term its guardian released to this server (its runtime was killed): the Standby takes over at once. */
  private release: { from: string; epoch: number } | null = null;

  constructor(private readonly awareness: Awareness, private readonly servers: () => Servers) {}

  /** Takes a peer's heartbeat in. */
  heard(msg: Heartbeat, now: number): void {
    const before = this.table.get(msg.from)?.hb;
    // A release counts only from the Active we heard in that very term, and not when it is
    // among what piled up while this process was frozen (others may have moved on meanwhile).
    if (msg.released === this.servers().self && before && ACTIVE_ROLES.has(before.role) && before.epoch === msg.epoch && !this.awareness.justResumed(now)) {
      this.release = { from: msg.from, epoch: msg.epoch };
    }
    this.table.set(msg.from, { name: msg.from, hb: msg, lastHeard: now });
    if (ACTIVE_ROLES.has(msg.role)) {
      this.activeHeardAt = now;
      this.activeName = msg.from;
    }
  }

  /** The Active term released to this server by the guardian of `from` (null: none). */
  get released(): Readonly<{ from: string; epoch: number }> | null {
    return this.release;
  }

  forgetRelease(): void {
    this.release = null;
  }

  get(name: string): Peer | undefined {
    return this.table.get(name);
  }

  /** Forgets the servers no longer in the domain file. */
  prune(): void {
    const servers = this.servers();
    for (const name of [...this.table.keys()]) if (!servers.has(name) || name === servers.self) this.table.delete(name);
  }

  /** When an Active was last heard (or a term of this server's ended: failover counts its silence from then). */
  get lastActiveAt(): number {
    return this.activeHeardAt;
  }

  /** The server last heard in an Active role: a failover acts on its silence. null: none heard since start. */
  get lastActiveName(): string | null {
    return this.activeName;
  }

  /** An Active role was given up here at `now` (a handover, a fence): the silence counts from now. */
  silentFrom(now: number): void {
    this.activeHeardAt = Math.max(this.activeHeardAt, now);
  }

  /** Heard within the (awareness-stretched) failure timeout. */
  isLive(p: Peer, now: number): boolean {
    return now - p.lastHeard < this.awareness.timeout();
  }

  live(now: number): Peer[] {
    const live: Peer[] = [];
    for (const p of this.table.values()) if (this.isLive(p, now)) live.push(p);
    return live;
  }

  /** The reachable Active (or Active still stopping its runtime) that wins by epoch and precedence. */
  liveActive(now: number): Peer | null {
    const servers = this.servers();
    let best: Peer | null = null;
    for (const p of this.live(now)) {
      if (!ACTIVE_ROLES.has(p.hb.role)) continue;
      if (!best || servers.beats(p.name, p.hb.epoch, best.name, best.hb.epoch)) best = p;
    }
    return best;
  }

  /** The first Standby in precedence that may take over. */
  liveStandby(now: number): Peer | null {
    const servers = this.servers();
    const s = this.live(now)
      .filter((p) => p.hb.role === 'standby' && p.hb.eligible && servers.mayServe(p.name))
      .sort((a, b) => servers.prec(a.name) - servers.prec(b.name));
    return s[0] ?? null;
  }

  /** The earliest moment a live peer falls silent (Infinity: none live). */
  nextSilence(now: number): number {
    const timeout = this.awareness.timeout();
    let at = Infinity;
    for (const p of this.table.values()) {
      const t = p.lastHeard + timeout;
      if (t > now && t < at) at = t;
    }
    return at;
  }

  /** Every other server of the domain as last heard. */
  status(now: number, names: readonly string[]): PeerStatus[] {
    return names.map((server) => {
      const p = this.table.get(server);
      if (!p) return { server, role: 'unknown', lastRole: null, epoch: 0, eligible: false, awareness: 0, lastHeardMs: null, health: null, info: null, ended: null };
      return {
        server,
        role: this.isLive(p, now) ? p.hb.role : 'unreachable',
        lastRole: p.hb.role,
        epoch: p.hb.epoch,
        eligible: p.hb.eligible,
        awareness: p.hb.awareness,
        lastHeardMs: Math.round(now - p.lastHeard),
        health: p.hb.health ?? null,
        info: p.hb.info ?? null,
        ended: p.hb.ended ?? null,
      };
    });
  }
}
