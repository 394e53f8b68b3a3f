/**
 * Switchover: the handshake that moves the Active role without a gap or an overlap. The
 * server that wants the role asks (activation); the Active stops its runtime (deactivation)
 * and then grants the role, or refuses. It owns the four pieces of that handshake and what the
 * heartbeat says of them.
 */
import type { Out } from './out';
import type { Peer, Peers } from './peers';
import type { Heartbeat, Request, Role } from './types';

export interface Activation {
  since: number;
  wantId: number;
  /** The Active we asked to hand over; null: none was reachable, we announce and then take over. */
  from: string | null;
  cause: 'switchover' | 'failback';
  /** The activate command that asked for it; null for a failback. */
  request: Request | null;
}

export interface Deactivation {
  /** Hand over to this server once the runtime has left active mode; null: just step down. */
  to: string | null;
  then: 'follower' | 'maintenance';
  request: Request | null;
}

interface Grant {
  to: string;
  epoch: number;
  until: number;
  request: Request | null;
}

interface Refusal {
  to: string;
  id: number;
  reason: string;
  until: number;
}

export class Switchover {
  private activation: Activation | null = null;
  private deactivation: Deactivation | null = null;
  private grant: Grant | null = null;
  private refusal: Refusal | null = null;
  private nextWantId = 1;

  /** `timeoutMs`: the handover timeout in force. */
  constructor(private readonly out: Out, private readonly timeoutMs: () => number) {}

  /** This server asks for the Active role (null: it does not). */
  get asking(): Readonly<Activation> | null {
    return this.activation;
  }

  /** This server stops its runtime to hand over (or step down); null: it does not. */
  get stopping(): Readonly<Deactivation> | null {
    return this.deactivation;
  }

  /** The server this one handed over to, while it has not been heard Active yet. */
  get grantedTo(): string | null {
    return this.grant?.to ?? null;
  }

  /** Asks `from` (null: no Active reachable) for the Active role. */
  ask(now: number, from: string | null, cause: Activation['cause'], request: Request | null): void {
    this.activation = { since: now, wantId: this.nextWantId++, from, cause, request };
  }

  /** An Active showed up after all while this server announced itself: it is asked to hand over. */
  askAlso(from: string): void {
    if (!this.activation) return;
    this.activation.from = from;
    this.out.changed();
  }

  /** The activation is over (won, failed or cancelled); its command is answered with `ok` and `message` (null: not now). */
  endActivation(answer: { ok: boolean; message: string } | null): Activation | null {
    const a = this.activation;
    this.activation = null;
    if (a?.request && answer) this.out.done(a.request, answer.ok, answer.message);
    return a;
  }

  /** Stop the runtime, then hand over to `to` (null: just step down). */
  handOver(to: string | null, then: Deactivation['then'], request: Request | null): void {
    this.deactivation = { to, then, request };
  }

  /**
   * The runtime has left active mode: the deactivation is over; with a target, the grant lives
   * for the handover timeout. Returns what was asked.
   */
  stopped(now: number, epoch: number): Deactivation {
    const d = this.deactivation ?? { to: null, then: 'follower' as const, request: null };
    this.deactivation = null;
    if (d.to) this.grant = { to: d.to, epoch, until: now + this.timeoutMs(), request: d.request };
    return d;
  }

  /** The term ended otherwise (fenced, or a write failed): the handover is off; its command is answered with `failed` (null: not answered). */
  cancelHandover(failed: string | null): void {
    const d = this.deactivation;
    if (d?.request && failed !== null) this.out.done(d.request, false, failed);
    this.deactivation = null;
    this.grant = null;
  }

  /** This server became Active: a grant of its own is over. */
  dropGrant(): void {
    this.grant = null;
  }

  refuse(now: number, peer: Peer, reason: string): void {
    const id = peer.hb.wantId ?? 0;
    if (this.refusal && this.refusal.to === peer.name && this.refusal.id === id) return;
    this.refusal = { to: peer.name, id, reason, until: now + this.timeoutMs() };
    this.out.changed();
  }

  /**
   * Grants and refusals live for the handover timeout; a grant ends early when its target is
   * seen Active. True when a grant ran out unanswered (the silence counts from now).
   */
  expire(now: number, peers: Peers): boolean {
    if (this.refusal && now >= this.refusal.until) this.refusal = null;
    const g = this.grant;
    if (!g) return false;
    const target = peers.get(g.to);
    if (target && peers.isLive(target, now) && target.hb.role === 'active' && target.hb.epoch > g.epoch) {
      if (g.request) this.out.done(g.request, true, `${g.to} is Active (epoch ${target.hb.epoch})`);
      this.grant = null;
      this.out.changed();
    } else if (now >= g.until) {
      if (g.request) this.out.done(g.request, false, `${g.to} did not take over within ${this.timeoutMs()} ms`);
      this.grant = null;
      this.out.changed();
      return true;
    }
    return false;
  }

  /** What the heartbeat says of the handshake. */
  stamp(hb: Heartbeat, role: Role, now: number): void {
    if (role === 'activating' && this.activation) {
      hb.wantId = this.activation.wantId;
      if (this.activation.from) hb.wantFrom = this.activation.from;
    }
    if (this.grant && now < this.grant.until) {
      hb.grantTo = this.grant.to;
      hb.grantEpoch = this.grant.epoch;
    }
    if (this.refusal) {
      hb.refuseTo = this.refusal.to;
      hb.refuseId = this.refusal.id;
      hb.refuseReason = this.refusal.reason;
    }
  }

  pending(): string | null {
    if (this.activation) {
      return this.activation.from ? `waiting for ${this.activation.from} to hand over (${this.activation.cause})` : 'about to take over (activated by command)';
    }
    if (this.deactivation) {
      return this.deactivation.to ? `stopping the runtime before handing over to ${this.deactivation.to}` : 'stopping the runtime';
    }
    if (this.grant) return `handed over to ${this.grant.to}; waiting for it to report Active`;
    return null;
  }

  /** The deadlines of the handshake (`consider` keeps the earliest). */
  deadlines(consider: (at: number) => void, heartbeatIntervalMs: number): void {
    if (this.activation) {
      consider(this.activation.since + 2 * heartbeatIntervalMs);
      consider(this.activation.since + this.timeoutMs());
    }
    if (this.grant) consider(this.grant.until);
    if (this.refusal) consider(this.refusal.until);
  }
}
