/**
 * Rate limits for log lines that outsiders can cause (a refused certificate, a client out of
 * sessions): one line per key per `repeatMs`, and at most `perMinute` lines a minute over all
 * keys, so that many addresses or certificates cannot flood the log. The next line written
 * says how many were left out.
 */
export class LogLimiter {
  private readonly last = new Map<string, number>();
  private windowStart = -Infinity;
  private inWindow = 0;
  private left = 0;

  constructor(
    private readonly repeatMs: number,
    private readonly perMinute: number,
    private readonly now: () => number = () => performance.now(),
    /** Keys remembered at most (the oldest are forgotten first). */
    private readonly maxKeys = 10_000,
  ) {}

  /**
   * null: write nothing now. Otherwise the line may be written, with this appended (empty, or
   * how many lines for other keys the per-minute bound left out since the last one written).
   */
  pass(key: string): string | null {
    const t = this.now();
    const seen = this.last.get(key);
    if (seen !== undefined && t - seen < this.repeatMs) return null;
    if (t - this.windowStart >= 60_000) {
      this.windowStart = t;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perMinute) {
      this.left++;
      return null;
    }
    this.inWindow++;
    this.last.delete(key); // re-inserted last: the map's order is the order of last use
    this.last.set(key, t);
    if (this.last.size > this.maxKeys) this.last.delete(this.last.keys().next().value!);
    const note = this.left ? ` (${this.left} similar ${this.left === 1 ? 'line' : 'lines'} left out before this one)` : '';
    this.left = 0;
    return note;
  }
}
