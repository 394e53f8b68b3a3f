/**
 * Crash loops of this server's runtime (Pacemaker's fail-count and migration-threshold of 1):
 * counted until `failureResetMs` after the last one, or until `duplex clear`. A server that
 * handed the Active role over because of one is banned from it until then.
 */
import { DEFAULT_FAILURE_RESET_MS } from './timings';
import type { RuntimeFailures } from './types';

function seconds(ms: number): string {
  return `${Math.ceil(ms / 1000)} s`;
}

export class CrashLoops {
  private failures: RuntimeFailures | null = null;

  constructor(private readonly resetMs: () => number | undefined, persisted: RuntimeFailures | undefined, now: number) {
    // A reset time read back from the state file is at most failureResetMs away (the wall clock may have jumped).
    if (persisted) this.failures = { ...persisted, resetAt: Math.min(persisted.resetAt, now + this.windowMs()) };
  }

  /** How long crash loops are counted, and a ban lasts, after the last one. */
  windowMs(): number {
    return this.resetMs() ?? DEFAULT_FAILURE_RESET_MS;
  }

  get count(): number {
    return this.failures?.count ?? 0;
  }

  get banned(): boolean {
    return this.failures?.banned ?? false;
  }

  /** Any crash loop counted. */
  get any(): boolean {
    return this.failures !== null;
  }

  /** What the state file keeps (absent: nothing counted). */
  get persisted(): RuntimeFailures | undefined {
    return this.failures ? { ...this.failures } : undefined;
  }

  /** One more crash loop, at `now`; returns the count. */
  record(now: number, why: string): number {
    const count = this.count + 1;
    this.failures = { count, last: why, resetAt: now + this.windowMs(), banned: false };
    return count;
  }

  /** This server hands the Active role over because of the last crash loop: banned until the reset. */
  ban(): void {
    if (this.failures) this.failures.banned = true;
  }

  /** `duplex clear`: forgets the crash loops and lifts the ban; says what was forgotten (null: nothing was counted). */
  clear(self: string): string | null {
    const f = this.failures;
    if (!f) return null;
    this.failures = null;
    return `${self}: ${f.count} runtime crash loop${f.count === 1 ? '' : 's'} forgotten (the last: ${f.last})${f.banned ? `; ${self} may be Active or Standby again` : ''}`;
  }

  /** The count (and a ban) ends failureResetMs after the last crash loop. null: nothing ended; otherwise whether a ban ended. */
  expire(now: number): { unbanned: boolean } | null {
    if (!this.failures || now < this.failures.resetAt) return null;
    const unbanned = this.failures.banned;
    this.failures = null;
    return { unbanned };
  }

  /** When the count resets (Infinity: nothing counted). */
  nextAt(): number {
    return this.failures?.resetAt ?? Infinity;
  }

  banText(self: string): string {
    const f = this.failures!;
    return `${self} handed the Active role over because of a runtime crash loop (${f.last}); it is not eligible for ${seconds(this.windowMs())} after its last crash loop, or until duplex clear --server ${self}`;
  }

  /** The handover's reason. */
  handoverText(self: string, why: string, to: string): string {
    return `runtime crash loop (${why}): handing over to ${to}; ${self} is not eligible for ${seconds(this.windowMs())} (or until duplex clear)`;
  }

  status(now: number): { count: number; last: string | null; resetInMs: number | null; banned: boolean } {
    const f = this.failures;
    return f ? { count: f.count, last: f.last, resetInMs: Math.max(0, Math.round(f.resetAt - now)), banned: f.banned } : { count: 0, last: null, resetInMs: null, banned: false };
  }
}
