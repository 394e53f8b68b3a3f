/**
 * Lifeguard's local health (memberlist's awareness.go): a server that struggles (late ticks,
 * failed sends, lost heartbeats, a freeze) is slower to accuse others, because the silence it
 * sees may be its own fault. It owns the level, its decay, and what is known of freezes.
 */
import { AWARENESS_DECAY_MS, MAX_AWARENESS, type Timings } from './timings';
import type { Heartbeat } from './types';

/** Whether a tick at `now`, asked for at `wakeAt`, comes so late that the process must have been frozen meanwhile. */
export function frozenSince(now: number, wakeAt: number, t: Pick<Timings, 'failureTimeoutMs'>): boolean {
  return now - wakeAt >= t.failureTimeoutMs / 2;
}

export class Awareness {
  private level = 0;
  private changedAt: number;
  /** When this process last woke from a freeze. */
  private resumed = -Infinity;
  /** The last heartbeat number heard from each peer (lost heartbeats raise awareness). */
  private readonly lastN = new Map<string, { boot: number; n: number; at: number }>();

  /** `changed`: told when the level changes (it is announced in the next heartbeat). */
  constructor(private readonly timings: () => Timings, private readonly changed: () => void, now: number) {
    this.changedAt = now;
  }

  get value(): number {
    return this.level;
  }

  /** When this process last woke from a freeze (-Infinity: never). */
  get resumedAt(): number {
    return this.resumed;
  }

  /** The failure timeout in force: stretched by one timeout per level. */
  timeout(): number {
    return this.timings().failureTimeoutMs * (1 + this.level);
  }

  raise(now: number): void {
    if (this.level < MAX_AWARENESS) {
      this.level += 1;
      this.changed();
    }
    this.changedAt = now;
  }

  /**
   * A tick: a freeze or a late tick raises the level; otherwise it decays by one every
   * AWARENESS_DECAY_MS.
   */
  tick(now: number, wakeAt: number): void {
    if (!this.noticeFreeze(now, wakeAt) && now - wakeAt > this.timings().lateTickMs) this.raise(now);
    if (this.level > 0 && now - this.changedAt >= AWARENESS_DECAY_MS) {
      this.level -= 1;
      this.changedAt = now;
    }
  }

  /**
   * Whether this process was frozen (paused, swapped, suspended) since its last output. What
   * peers did meanwhile is unknown: they are judged only on what arrives from now on.
   */
  noticeFreeze(now: number, wakeAt: number): boolean {
    if (!frozenSince(now, wakeAt, this.timings())) return false;
    this.resumed = now;
    this.raise(now);
    return true;
  }

  /**
   * Within a heartbeat interval of waking from a freeze: what piled up meanwhile (a grant, a
   * release) may be overtaken by what others did since, and silence proves nothing yet.
   */
  justResumed(now: number): boolean {
    return now - this.resumed < this.timings().heartbeatIntervalMs;
  }

  /**
   * Awareness counts lost heartbeats too (Lifeguard): two or more missing in a row from a peer
   * heard within the failure timeout raise it. A peer back after a longer silence was cut off or
   * restarted; its gap is no sign of a lossy network.
   */
  countLost(msg: Heartbeat, now: number): void {
    if (msg.n === undefined || msg.boot === undefined) return;
    const last = this.lastN.get(msg.from);
    this.lastN.set(msg.from, { boot: msg.boot, n: msg.n, at: now });
    if (last && last.boot === msg.boot && msg.n - last.n >= 3 && now - last.at < this.timings().failureTimeoutMs) this.raise(now);
  }

  /** When the level next decays (Infinity: it is 0). */
  nextAt(): number {
    return this.level > 0 ? this.changedAt + AWARENESS_DECAY_MS : Infinity;
  }
}
