/**
 * Votes (quorum, 3 or more voters): the support this server gives, the acknowledgements it
 * receives, its claim to a term, and the lease they add up to (Raft's leader lease). It owns
 * every piece of that state; the arithmetic is quorum.ts's. The decisions that use it (claim,
 * promote, fence) are transitions.ts's.
 */
import { leaseMs, MAX_AWARENESS, type Timings } from './timings';
import type { Peers } from './peers';
import { majorityEnd, noQuorumWarning, supportEnd } from './quorum';
import type { Servers } from './servers';
import { ACTIVE_ROLES, type Heartbeat, type PromotionCause, type QuorumMode, type QuorumStatus, type Support } from './types';

/** Whom this server supports, and what it promised. */
interface Backing extends Support {
  /** When it heard heartbeat `n`. */
  heardAt: number;
  /** It supports no one else before this (the promise its acknowledgements carry). */
  lockUntil: number;
  /** When the support began: a later heartbeat of `to` that no longer holds `epoch` releases it. */
  since: number;
}

/** This server asks the voters for Active term `epoch`; it promotes once a majority supports it. */
export interface Claim {
  epoch: number;
  cause: PromotionCause;
  reason: string;
  since: number;
}

/** A heartbeat holds Active term `epoch`: it is Active (or handing over) in it, or asks the voters for it. */
function holdsTerm(hb: Heartbeat, epoch: number): boolean {
  return (ACTIVE_ROLES.has(hb.role) && hb.epoch === epoch) || hb.claim === epoch;
}

export interface VotesDeps {
  self: string;
  boot: number;
  servers: () => Servers;
  peers: Peers;
  timings: () => Timings;
  /** The failure timeout in force (stretched by awareness). */
  timeout: () => number;
  /** What is on disk must change (the promise grew or shrank). */
  persist: () => void;
  changed: () => void;
}

export class Votes {
  /** Number of the last heartbeat built, and when each recent one was built (the lease counts from there). */
  private sentN = 0;
  private readonly sentAt = new Map<number, number>();
  private support: Backing | null = null;
  /** The supports naming this server and boot, by voter. */
  private readonly acks = new Map<string, { epoch: number; n: number; ms: number }>();
  private claiming: Claim | null = null;
  /** The first heartbeat of this server's current claim and term: supports of earlier ones count for nothing. */
  private termFirstN = 1;
  /** The majority's support ran out: why (the runtime is being killed; the term held until the guardian says it is dead). */
  private fenced: string | null = null;
  /** A lease the guardian still held for a term taken back after a restart (until acks arrive). */
  private carriedLease = -Infinity;
  /** After a restart this server supports no one until its forgotten promises have run out. */
  private readonly blackoutUntil: number;
  /** The promise length last persisted, and when (see PersistedState.promiseMs). */
  private promisedMs: number;
  private promisedAt: number;

  constructor(private readonly d: VotesDeps, promiseMs: number, now: number) {
    this.promisedMs = promiseMs;
    this.promisedAt = now;
    // The previous process died after its last promise: from now, the longest one it made is over.
    this.blackoutUntil = promiseMs > 0 ? now + promiseMs : -Infinity;
  }

  get claim(): Readonly<Claim> | null {
    return this.claiming;
  }

  /** Why the majority's support ran out while this server is still stopping its runtime (null: it has not). */
  get fencing(): string | null {
    return this.fenced;
  }

  /** The promise length to keep on disk (0: none). */
  get promised(): number {
    return this.promisedMs;
  }

  private setSupport(s: Backing | null): void {
    if (s === null && this.support === null) return;
    this.support = s;
    this.d.changed();
  }

  /** This server supports its own term `epoch` (a claim begun, or a term carried on). */
  private backSelf(epoch: number, now: number): void {
    this.setSupport({ to: this.d.self, epoch, boot: this.d.boot, n: 0, ms: 0, heardAt: now, lockUntil: Infinity, since: now });
  }

  /**
   * Term `epoch` goes on under a lease held until `until` (the guardian's, after a restart; or
   * one lease when quorum just came into force) while the voters' first acknowledgements come in.
   */
  carry(epoch: number, until: number, now: number): void {
    this.termFirstN = this.sentN + 1;
    this.acks.clear();
    this.carriedLease = until;
    this.backSelf(epoch, now);
  }

  /** Quorum is not in force: no claim, no support. */
  off(): void {
    this.claiming = null;
    this.setSupport(null);
  }

  /** What a heartbeat says about supports: one naming this server counts for it; the supported Active's renews ours. */
  note(msg: Heartbeat, now: number): void {
    const a = msg.ack;
    if (a && a.to === this.d.self && a.boot === this.d.boot && a.n >= this.termFirstN && this.d.servers().isVoter(msg.from)) {
      this.acks.set(msg.from, { epoch: a.epoch, n: a.n, ms: a.ms });
    } else {
      this.acks.delete(msg.from);
    }
    const s = this.support;
    if (s && s.to === msg.from && ACTIVE_ROLES.has(msg.role) && msg.epoch === s.epoch) {
      s.boot = msg.boot ?? 0;
      s.n = msg.n ?? 0;
      s.heardAt = now;
      s.lockUntil = Math.max(s.lockUntil, now + this.d.timeout());
      this.d.changed(); // acknowledged at once: the Active's lease counts from the heartbeat acknowledged
    }
  }

  /**
   * A voter supports one server at a time: the Active it hears, or one candidate (its vote). It
   * moves its support only when the supported server gave the term up (heard without it), when
   * it has not heard it for its failure timeout (the promise ran out), or to a live Active of a
   * higher term (which a majority elected after this promise ran out elsewhere). `term`: the
   * term this server holds as Active (null: none); `maxEpoch`: the highest it knows of.
   */
  update(now: number, term: number | null, maxEpoch: number): void {
    const { self, peers } = this.d;
    const servers = this.d.servers();
    const s = this.support;
    const active = peers.liveActive(now);
    if (s && s.to === self) {
      const holds = this.claiming ? this.claiming.epoch === s.epoch : term === s.epoch;
      if (!holds) this.setSupport(null);
    } else if (s) {
      const p = peers.get(s.to);
      const released = p !== undefined && p.lastHeard >= s.since && !holdsTerm(p.hb, s.epoch);
      const overtaken = active !== null && active.name !== s.to && active.hb.epoch > s.epoch;
      if (released || overtaken || now >= s.lockUntil) this.setSupport(null);
    }
    if (this.support || this.claiming || now < this.blackoutUntil) return;
    const timeout = this.d.timeout();
    if (active) {
      if (!ACTIVE_ROLES.has(active.hb.role)) return;
      this.setSupport({ to: active.name, epoch: active.hb.epoch, boot: active.hb.boot ?? 0, n: active.hb.n ?? 0, ms: 0, heardAt: active.lastHeard, lockUntil: active.lastHeard + timeout, since: now });
      return;
    }
    // A vote: the first candidate in precedence whose term is newer than any this server knows of.
    const candidate = this.candidates(now, maxEpoch).sort((a, b) => servers.prec(a.name) - servers.prec(b.name))[0];
    if (candidate) {
      const c = candidate.hb;
      this.setSupport({ to: candidate.name, epoch: c.claim!, boot: c.boot ?? 0, n: c.n ?? 0, ms: 0, heardAt: candidate.lastHeard, lockUntil: candidate.lastHeard + timeout, since: now });
    }
  }

  /** Live servers that may be Active and ask the voters for a term newer than `maxEpoch`. */
  candidates(now: number, maxEpoch: number): ReturnType<Peers['live']> {
    const servers = this.d.servers();
    return this.d.peers.live(now).filter((p) => p.hb.claim !== undefined && p.hb.claim > maxEpoch && p.hb.eligible && servers.mayServe(p.name));
  }

  /** Why this server cannot ask for a term now (it still supports another, or forgot its promises in a restart); null: it can. */
  blocked(now: number, startedAt: number): string | null {
    const s = this.support;
    const self = this.d.self;
    if (s && s.to !== self) return `waiting: ${self} still supports ${s.to} in term ${s.epoch} for ${Math.ceil(s.lockUntil - now)} ms`;
    if (now < this.blackoutUntil) {
      return `waiting: restarted ${Math.round(now - startedAt)} ms ago, ${self} supports no one for ${Math.ceil(this.blackoutUntil - now)} ms more (it may have promised its support before the restart)`;
    }
    return null;
  }

  /** Asks the voters for term `epoch`: supports given to an earlier claim (maybe with this same epoch) count for nothing now. */
  startClaim(epoch: number, cause: PromotionCause, reason: string, now: number): void {
    this.claiming = { epoch, cause, reason, since: now };
    this.termFirstN = this.sentN + 1;
    this.acks.clear();
    this.backSelf(epoch, now);
  }

  /** The same claim goes on for another reason. */
  restate(cause: PromotionCause, reason: string): void {
    if (!this.claiming) return;
    this.claiming.cause = cause;
    this.claiming.reason = reason;
  }

  /** The claim ends (won, or given up); a support of this server's own is dropped unless it won (`won`). */
  endClaim(won = false): void {
    this.claiming = null;
    if (!won && this.support?.to === this.d.self) this.setSupport(null);
  }

  /** How many voters support the claim, this server included. */
  claimSupport(): number {
    const c = this.claiming;
    return c ? 1 + [...this.acks.values()].filter((a) => a.epoch === c.epoch).length : 0;
  }

  /**
   * Until when a majority of the voters supports this server's term (Raft's leader lease): each
   * voter's support counts from when this server built the heartbeat the voter acknowledged;
   * this server counts itself. `term`: the term it holds as Active (null: none). -Infinity when
   * it holds no term and asks for none.
   */
  leaseEnd(term: number | null): number {
    const epoch = this.claiming?.epoch ?? term;
    if (epoch === null) return -Infinity;
    const servers = this.d.servers();
    const ends: number[] = [];
    for (const v of servers.voters) {
      if (v === this.d.self) {
        ends.push(Infinity);
        continue;
      }
      const a = this.acks.get(v);
      const sent = a && a.epoch === epoch ? this.sentAt.get(a.n) : undefined;
      if (a && sent !== undefined) ends.push(supportEnd(sent, a.ms, this.d.timings()));
    }
    const end = majorityEnd(ends, servers.majority);
    return this.claiming ? end : Math.max(end, this.carriedLease);
  }

  /** The voters whose acknowledgements of term `epoch` no longer hold at `now`. */
  silentVoters(now: number, epoch: number): string[] {
    return this.d.servers().voters.filter((v) => {
      if (v === this.d.self) return false;
      const a = this.acks.get(v);
      const sent = a && a.epoch === (this.claiming?.epoch ?? epoch) ? this.sentAt.get(a.n) : undefined;
      return !(sent !== undefined && supportEnd(sent, a!.ms, this.d.timings()) > now);
    });
  }

  /** The majority's support ran out (`why`): the carried lease is over too. */
  fence(why: string): void {
    this.carriedLease = -Infinity;
    this.fenced = why;
  }

  /** The term is over (the runtime was killed or stopped): its acknowledgements count for nothing. */
  termEnded(): void {
    this.fenced = null;
    this.acks.clear();
  }

  /**
   * Numbers a heartbeat built at `now` and puts this server's support and claim in it. `kept`:
   * the promise on disk while writes fail (null: they work): a support then promises no more
   * (a restart waits that one out); it keeps its own lock for longer, which only errs on the safe side.
   */
  stamp(hb: Heartbeat, now: number, kept: number | null): void {
    hb.boot = this.d.boot;
    hb.n = ++this.sentN;
    this.sentAt.set(hb.n, now);
    // Only heartbeats within the longest possible support are worth remembering.
    const horizon = now - this.d.timings().failureTimeoutMs * (1 + MAX_AWARENESS);
    for (const [n, at] of this.sentAt) {
      if (at >= horizon) break;
      this.sentAt.delete(n);
    }
    const s = this.support;
    if (s && s.to !== this.d.self) {
      const timeout = this.d.timeout();
      // What this acknowledgement promises, with the awareness it carries: no other support before then.
      s.lockUntil = Math.max(s.lockUntil, s.heardAt + timeout);
      const ms = Math.floor(s.lockUntil - s.heardAt);
      const promise = kept === null ? ms : Math.min(ms, kept);
      if (promise > 0) hb.ack = { to: s.to, epoch: s.epoch, boot: s.boot, n: s.n, ms: promise };
      this.keepPromise(Math.max(ms, timeout), now);
    }
    if (this.claiming) hb.claim = this.claiming.epoch;
  }

  /**
   * Keeps the promise length on disk before an acknowledgement that needs it goes out: at once
   * when it grows; when it shrinks, only once the longer promises have run out.
   */
  private keepPromise(ms: number, now: number): void {
    if (ms === this.promisedMs || (ms < this.promisedMs && now - this.promisedAt < this.promisedMs)) return;
    this.promisedMs = ms;
    this.promisedAt = now;
    this.d.persist();
  }

  /** The deadlines of quorum (`consider` keeps the earliest); `lease`: leaseEnd of the term held. */
  deadlines(consider: (at: number) => void, lease: number, holding: boolean, starting: boolean): void {
    const t = this.d.timings();
    if (this.support && this.support.to !== this.d.self) consider(this.support.lockUntil);
    consider(this.blackoutUntil);
    if (holding || this.claiming) consider(lease);
    if (holding) consider(lease - leaseMs(t) / 2);
    if (this.claiming && starting) consider(this.claiming.since + t.failureTimeoutMs);
  }

  /** Quorum as status shows it; `lease`: leaseEnd of the term held (null: this server holds none). */
  status(now: number, mode: QuorumMode | undefined, heard: string[], lease: number | null): QuorumStatus {
    const servers = this.d.servers();
    const voters = [...servers.voters];
    const on = servers.quorum;
    const s = this.support;
    const left = on && lease !== null ? Math.max(0, Math.round(lease - now)) : null;
    return {
      mode: mode ?? 'auto',
      on,
      voters,
      majority: servers.majority,
      heard,
      has: !on || heard.length >= servers.majority,
      supports: s ? `${s.to} (term ${s.epoch}${s.to === this.d.self ? '' : ', acknowledged'})` : null,
      leaseMs: left === null || Number.isFinite(left) ? left : null,
      warning: on ? null : noQuorumWarning(mode, voters),
    };
  }
}
