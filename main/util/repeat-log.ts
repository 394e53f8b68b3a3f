/**
 * Lines about things that happen as often as someone outside wants (refused connections,
 * failed handshakes): the first of a kind is written at once; after it, at most one line per
 * kind per window, with how many more there were and the last one's detail. A flood costs a
 * count, never a line each; a fault that goes on keeps showing, once a window.
 */
import { LOG_REPEAT_WINDOW_MS } from '../defaults';

interface Kind {
  /** How many since the last line. */
  more: number;
  last: string;
  timer: NodeJS.Timeout;
}

export class RepeatLog {
  private readonly kinds = new Map<string, Kind>();

  constructor(private readonly write: (detail: string) => void, private readonly windowMs = LOG_REPEAT_WINDOW_MS) {}

  note(kind: string, detail: string): void {
    const k = this.kinds.get(kind);
    if (k) {
      k.more++;
      k.last = detail;
      return;
    }
    this.write(detail);
    this.kinds.set(kind, { more: 0, last: detail, timer: this.wait(kind) });
  }

  /** Writes what is counted and not yet written (the node stops). */
  close(): void {
    for (const kind of [...this.kinds.keys()]) {
      const k = this.kinds.get(kind)!;
      clearTimeout(k.timer);
      this.kinds.delete(kind);
      if (k.more) this.write(this.summary(k));
    }
  }

  private wait(kind: string): NodeJS.Timeout {
    return setTimeout(() => this.flush(kind), this.windowMs).unref();
  }

  private flush(kind: string): void {
    const k = this.kinds.get(kind)!;
    if (!k.more) {
      // A whole window without one: the next is written at once.
      this.kinds.delete(kind);
      return;
    }
    this.write(this.summary(k));
    k.more = 0;
    k.timer = this.wait(kind);
  }

  private summary(k: Kind): string {
    return `${k.last} (${k.more} more like this in the last ${Math.round(this.windowMs / 1000)} s)`;
  }
}
