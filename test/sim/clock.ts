/**
 * The simulated clock: the time now, and the events due later. Events run in the order of
 * their time, then of their scheduling (a binary heap), so that a seed replays the same run.
 */
export interface SimEvent {
  at: number;
  seq: number;
  run: () => void;
}

function earlier(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class SimClock {
  /** The simulated time, in ms: the time of the event that runs. */
  now = 0;
  private queue: SimEvent[] = [];
  private seq = 0;

  /** Runs `run` at `at` (after every event scheduled before it for the same time). */
  schedule(at: number, run: () => void): void {
    const e = { at, seq: this.seq++, run };
    const q = this.queue;
    q.push(e);
    let i = q.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (earlier(q[p]!, e)) break;
      q[i] = q[p]!;
      i = p;
    }
    q[i] = e;
  }

  /** The next event, with the clock moved on to its time; undefined once none is due by `end`. */
  next(end: number): SimEvent | undefined {
    const e = this.pop();
    if (!e || e.at > end) return undefined;
    this.now = e.at;
    return e;
  }

  private pop(): SimEvent | undefined {
    const q = this.queue;
    const top = q[0];
    const last = q.pop();
    if (q.length && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const rr = l + 1;
        let m = i;
        if (l < q.length && earlier(q[l]!, m === i ? last : q[m]!)) m = l;
        if (rr < q.length && earlier(q[rr]!, m === i ? last : q[m]!)) m = rr;
        if (m === i) break;
        q[i] = q[m]!;
        i = m;
      }
      q[i] = last;
    }
    return top;
  }
}
