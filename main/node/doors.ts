/**
 * What the node's doors (the admin API, the status window's socket, metrics, sync) refuse:
 * every answer other than 2xx is counted by door and code, and logged at a rate limit — the
 * first of each door and code at once, then at most one line a minute with how many came
 * meanwhile — so a flood is seen in the log without filling it. What comes from outside in a
 * line (a path, an address) is cut short; the logger makes it one safe line (oneLine).
 */
import { REFUSAL_LOG_MS } from '../defaults';
import type { Logger } from '../util/logger';

/** The longest piece of a request (its path, say) quoted in a log line. */
const QUOTE_CHARS = 120;

export class Refusals {
  private readonly counts = new Map<string, Map<string, number>>();
  /** By door and code: when last logged, and how many since. */
  private readonly logged = new Map<string, { at: number; since: number }>();

  constructor(private readonly log: Logger, private readonly now: () => number = () => Date.now()) {}

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
    const last = this.logged.get(key);
    if (last && now - last.at < REFUSAL_LOG_MS) {
      last.since += 1;
      return;
    }
    const more = last?.since ? ` (and ${last.since} more since ${Math.round((now - last.at) / 1000)} s ago)` : '';
    this.logged.set(key, { at: now, since: 0 });
    this.log.warn(door, `refused ${c} (${why}): ${quote(what)}${more}; at most one such line a minute`);
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
