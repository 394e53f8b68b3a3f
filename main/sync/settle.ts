/**
 * Whether an edited domain file has stopped changing for the settle time, so that a file
 * still being written is never taken. Pure: both clocks are passed in.
 *
 * The file has settled when its modification time is at least the settle time ago, or, for
 * a modification time this server cannot trust (in the future: a network share with another
 * clock), when this node has seen the same content, size and time for the settle time.
 */

export interface Sighting {
  hash: string;
  size: number;
  mtimeMs: number;
}

export class SettleWatch {
  private seen: (Sighting & { sinceMs: number }) | null = null;

  constructor(private readonly settleMs: number) {}

  /**
   * @param nowWallMs the wall clock (compared with the file's modification time)
   * @param nowMonoMs a monotonic clock (how long this node has seen the same file)
   * @returns 0 when the file may be taken, else how many ms to wait before looking again
   */
  observe(s: Sighting, nowWallMs: number, nowMonoMs: number): number {
    const seen = this.seen;
    if (!seen || seen.hash !== s.hash || seen.size !== s.size || seen.mtimeMs !== s.mtimeMs) {
      this.seen = { ...s, sinceMs: nowMonoMs };
    }
    const age = nowWallMs - s.mtimeMs;
    const watched = nowMonoMs - this.seen!.sinceMs;
    if (age >= this.settleMs || watched >= this.settleMs) return 0;
    const byAge = age >= 0 ? this.settleMs - age : Infinity;
    return Math.max(1, Math.ceil(Math.min(byAge, this.settleMs - watched)));
  }

  /** The file is back to what is in force (or was taken): forget what was seen. */
  reset(): void {
    this.seen = null;
  }
}
