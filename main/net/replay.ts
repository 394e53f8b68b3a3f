/**
 * Drops replayed and stale datagrams. Pure: no clock, no IO.
 *
 * Per sender we keep the newest (incarnation, seq). A datagram is accepted when it is
 * newer: same incarnation and a higher seq, or a higher incarnation (the sender restarted).
 * Heartbeats are full snapshots, so an older one reordered behind a newer one is useless
 * and is dropped as well.
 */
import type { DropReason } from './codec';

export class ReplayGuard {
  private readonly seen = new Map<string, { incarnation: number; seq: number }>();

  /** null when accepted (and remembered), else the reason to drop. */
  check(sender: string, incarnation: number, seq: number): DropReason | null {
    const last = this.seen.get(sender);
    if (last) {
      if (incarnation < last.incarnation) return 'stale-boot';
      if (incarnation === last.incarnation && seq <= last.seq) return 'replayed';
    }
    this.seen.set(sender, { incarnation, seq });
    return null;
  }
}
