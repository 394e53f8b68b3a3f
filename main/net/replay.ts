/**
 * Drops replayed and stale datagrams, and keeps a clone from taking over a peer's name.
 * Pure: no clock (the time comes in), no IO.
 *
 * Per sender we follow one incarnation (boot) and keep its newest seq. A datagram is accepted
 * when it is newer: same incarnation and a higher seq, or a higher incarnation (the sender
 * restarted). Heartbeats are full snapshots, so an older one reordered behind a newer one is
 * useless and is dropped as well.
 *
 * Clones. Two live processes may use one server name (a cloned machine, a copied tray.json).
 * If a newer incarnation simply replaced the one we follow, a clone started later would take
 * the name over, and the real server's heartbeats would be dropped as stale: it would look
 * silent, and its Standby would fail over beside it. So, with `holdMs` > 0, a newer
 * incarnation is taken only once the followed one has been silent for `holdMs` (a restart:
 * the old process is gone); while the followed one keeps talking, the newcomer is dropped as
 * `name-conflict`. After a switch, an incarnation we followed before may be taken back the
 * same way (the newcomer went away, the original never did); its seq must still grow, so this
 * opens no door to replays. An incarnation older than the followed one that we never followed
 * stays `stale-boot`.
 */
import type { DropReason } from './codec';

interface Boot {
  seq: number;
  /** When its last datagram was taken or held. */
  at: number;
  /** Taken (followed) at some time in this run. */
  followed: boolean;
  /** When its first datagram was held while another incarnation was followed; null if never held. */
  heldSince: number | null;
}

interface Sender {
  current: number;
  boots: Map<number, Boot>;
}

/** Incarnations remembered per sender besides the followed one (the oldest are forgotten). */
const MAX_BOOTS = 4;

export class ReplayGuard {
  private readonly senders = new Map<string, Sender>();

  /**
   * `holdMs`: how long the followed incarnation must have been silent before a different one
   * of the same sender is taken (0: at once, as in the simulation, which has no clones).
   */
  constructor(private readonly holdMs = 0) {}

  /** null when accepted (and remembered), else the reason to drop. */
  check(sender: string, incarnation: number, seq: number, now = 0): DropReason | null {
    const s = this.senders.get(sender);
    if (!s) {
      this.senders.set(sender, { current: incarnation, boots: new Map([[incarnation, { seq, at: now, followed: true, heldSince: null }]]) });
      return null;
    }
    const boot = s.boots.get(incarnation);
    if (boot && seq <= boot.seq) return 'replayed';
    if (incarnation === s.current) {
      boot!.seq = seq;
      boot!.at = now;
      return null;
    }
    const cur = s.boots.get(s.current)!;
    const curSilent = now - cur.at >= this.holdMs;
    if (incarnation < s.current && !(boot?.followed && this.holdMs > 0)) return 'stale-boot';
    if (!curSilent) {
      // The followed incarnation is alive: this one is a restart not yet proven, or a clone.
      if (incarnation < s.current) return 'stale-boot';
      if (boot) {
        boot.seq = seq;
        boot.at = now;
      } else {
        this.remember(s, incarnation, { seq, at: now, followed: false, heldSince: now });
      }
      return 'name-conflict';
    }
    s.current = incarnation;
    if (boot) {
      boot.seq = seq;
      boot.at = now;
      boot.followed = true;
    } else {
      this.remember(s, incarnation, { seq, at: now, followed: true, heldSince: null });
    }
    return null;
  }

  /**
   * Another incarnation of `sender` that was held and has been heard within `holdMs`, after
   * the followed one spoke again: two live processes use that name. null when there is none
   * (a restart never shows one: the old process does not speak after the new one started).
   */
  rival(sender: string, now: number): number | null {
    const s = this.senders.get(sender);
    if (!s || this.holdMs <= 0) return null;
    const cur = s.boots.get(s.current)!;
    for (const [inc, b] of s.boots) {
      if (inc === s.current || b.heldSince === null) continue;
      if (now - b.at < this.holdMs && cur.at > b.heldSince) return inc;
    }
    return null;
  }

  private remember(s: Sender, incarnation: number, boot: Boot): void {
    s.boots.set(incarnation, boot);
    if (s.boots.size <= MAX_BOOTS + 1) return;
    let oldest: number | null = null;
    for (const [inc, b] of s.boots) {
      if (inc === s.current || inc === incarnation) continue;
      if (oldest === null || b.at < s.boots.get(oldest)!.at) oldest = inc;
    }
    if (oldest !== null) s.boots.delete(oldest);
  }
}
