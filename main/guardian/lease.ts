/**
 * The guardian's lease rule (pure): until when the runtime may run in active mode on the node's
 * renewals, and why it must be killed once that time has passed. The guardian (guardian.ts)
 * and the simulation's guardian (test/sim) both run this code; the times come in as numbers
 * on the guardian's own clock (performance.now() in the guardian), nothing here reads a clock.
 */

/**
 * Why a lease ran out. `lease`: the node did not renew it in time (frozen, hung, or dead),
 * `silentMs` since its last renewal. `quorum`: the node renewed it, but the majority's support
 * for its Active term ended first, `sinceMs` ago.
 */
export type LeaseExpiry = { cause: 'lease'; silentMs: number } | { cause: 'quorum'; sinceMs: number };

export class Lease {
  /** The last renewal; -Infinity before the first one (a lease never renewed holds nothing). */
  renewedAt = -Infinity;
  /** When the majority's support for the Active term runs out (quorum); Infinity without quorum. */
  quorumUntil = Infinity;

  /**
   * `leaseMs`: how long one renewal holds (defaults.ts leaseMs), as the node says when it
   * connects; a node that comes back may say another.
   */
  constructor(public leaseMs: number) {}

  /**
   * A renewal at `now`: the lease holds for another `leaseMs`. `quorumMs`: with quorum, how much
   * longer the majority supports the Active term (null: no quorum). Each renewal replaces the
   * last one's support, even with a shorter one: the node knows best what its voters promise.
   */
  renew(now: number, quorumMs: number | null): void {
    this.renewedAt = now;
    this.quorumUntil = quorumMs === null ? Infinity : now + quorumMs;
  }

  /** The end of the lease on the node's renewals alone, the majority's support aside. */
  leaseEnd(): number {
    return this.renewedAt + this.leaseMs;
  }

  /**
   * When the runtime must be gone unless renewed: the lease, or the majority's support if that
   * ends first (a node cut off from its voters may still renew, but another may be Active soon).
   */
  deadline(): number {
    return Math.min(this.leaseEnd(), this.quorumUntil);
  }

  /** How long the lease still holds at `now`: 0 once it ran out. */
  leftMs(now: number): number {
    return Math.max(0, this.deadline() - now);
  }

  /**
   * Whether the lease ran out at `now` (null: it holds), and why. At the deadline itself it has
   * run out: the margin to the failure timeout is counted from there. The majority's support is
   * the cause only when it ended strictly before the lease would have.
   */
  expiry(now: number): LeaseExpiry | null {
    if (this.deadline() > now) return null;
    return this.quorumUntil < this.leaseEnd()
      ? { cause: 'quorum', sinceMs: now - this.quorumUntil }
      : { cause: 'lease', silentMs: now - this.renewedAt };
  }
}

/**
 * What the guardian says when it kills the runtime for a lease that ran out: its log line and
 * the `fenced` record the node is told. `nodeThere`: the node is connected; when it is not, it
 * died and did not come back within its lease, whatever else ran out meanwhile.
 */
export function expiryReason(e: LeaseExpiry, leaseMs: number, nodeThere: boolean): string {
  if (!nodeThere) return `the node did not come back within its lease (${leaseMs} ms)`;
  return e.cause === 'quorum'
    ? `the majority's support ran out ${Math.round(e.sinceMs)} ms ago (the voters' acknowledgements stopped: cut off, or the node is frozen)`
    : `the lease ran out: the node did not renew it for ${Math.round(e.silentMs)} ms (frozen or hung)`;
}
