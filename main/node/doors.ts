/**
 * What the node's doors (the admin API, the status window's socket, metrics, sync) refuse:
 * every answer other than 2xx is counted by door and code, and logged at a rate limit — the
 * first of each door and code at once, then at most one line a minute with how many came
 * meanwhile, and at most 20 such lines a minute in all (LogLimiter) — so a flood is seen in the
 * log without filling it. What comes from outside in a
 * line (a path, an address) is cut short; the logger makes it one safe line (oneLine).
 */
import { REFUSAL_LOG_MS } from '../defaults';
import { LogLimiter } from '../util/log-limit';
import type { Logger } from '../util/logger';

/** The longest piece of a request (its path, say) quoted in a log line. */
const QUOTE_CHARS = 120;

export class Refusals {
  private readonly counts = new Map<string, Map<string, number>>();
  /** One line per door and code a minute, and at most 20 lines a minute over all of them. */
  private readonly limiter: LogLimiter;
  /** By door and code: when last logged, and how many came since. */
  private readonly since = new Map<string, { at: number; n: number }>();

  constructor(private readonly log: Logger, private readonly now: () => number = () => performance.now()) {
    this.limiter = new LogLimiter(REFUSAL_LOG_MS, 20, now);
  }

  /**
   * Counts one refusal at `door` with `code` (an HTTP status, or a word such as `reset`); `why`
   * says what it means, `what` which request it was (from outside: it is cut short).
   */
  count(door: string, code: number | string, why: string, what: string): void {
    const c = String(code);
    let byCode = this.counts.get(door);
    if (!byCode) this.counts.set(door, (byCode = new Map()));
    byCode.set(c, (byCode.get(c) ?? 0) + 1);
    const key = `${door} ${c}`;
    const now = this.now();
    const last = this.since.get(key);
    const note = this.limiter.pass(key);
    if (note === null) {
      if (last) last.n += 1;
      else this.since.set(key, { at: now, n: 1 });
      return;
    }
    const more = last?.n ? ` (and ${last.n} more since ${Math.round((now - last.at) / 1000)} s ago)` : '';
    this.since.set(key, { at: now, n: 0 });
    this.log.warn(door, `refused ${c} (${why}): ${quote(what)}${more}${note}; at most one such line a minute`);
  }

  /** Refusals so far, by door and code. */
  totals(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [door, byCode] of this.counts) out[door] = Object.fromEntries(byCode);
    return out;
  }
}

/** The answer to a request Node's parser refused: headers too large, too slow, or not HTTP. */
export function clientErrorStatus(code: string | undefined): [number, string] {
  if (code === 'HPE_HEADER_OVERFLOW') return [431, 'Request Header Fields Too Large'];
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return [408, 'Request Timeout'];
  return [400, 'Bad Request'];
}

/** A piece of a request, cut short for a log line. */
export function quote(text: string): string {
  return text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)}… (${text.length} characters)` : text;
}
