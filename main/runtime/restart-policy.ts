/**
 * When to start a runtime again after an unexpected exit: exponential backoff, and a crash
 * loop when too many exits fall inside a window. Pure: time comes in as a number.
 */
export interface RestartPolicyConfig {
  /** Wait before the first restart. */
  initialDelayMs: number;
  /** The backoff never waits longer than this. */
  maxDelayMs: number;
  /** This many exits inside `windowMs` make a crash loop. */
  crashLoopExits: number;
  windowMs: number;
}

export interface RestartDecision {
  delayMs: number;
  /** Exits counted inside the window, this one included. */
  recentExits: number;
  crashLoop: boolean;
}

export class RestartPolicy {
  private exits: number[] = [];

  constructor(private readonly cfg: RestartPolicyConfig) {}

  onExit(now: number): RestartDecision {
    this.exits = this.exits.filter((t) => now - t < this.cfg.windowMs);
    this.exits.push(now);
    const k = this.exits.length;
    const delayMs = Math.min(this.cfg.maxDelayMs, this.cfg.initialDelayMs * 2 ** (k - 1));
    return { delayMs, recentExits: k, crashLoop: k >= this.cfg.crashLoopExits };
  }

  /** Forget past exits (the runtime was stopped on purpose, or the role changed). */
  reset(): void {
    this.exits = [];
  }
}
