/** This machine's clocks (the driver's Clock port): monotonic for decisions, wall time only for what people read. */
import { performance } from 'node:perf_hooks';
import type { Clock } from './ports';

export const realClock: Clock = {
  now: () => performance.now(),
  wallMs: () => Date.now(),
  setTimer: (at, fn) => {
    const t = setTimeout(fn, Math.max(0, Math.ceil(at - performance.now())));
    return () => clearTimeout(t);
  },
};
