/**
 * The role engine's timings: every number with a unit and a reason (memberlist's
 * DefaultLANConfig is the model), and the validator that names the field that cannot work.
 * Re-exported by main/defaults.ts with every other default.
 */

export interface Timings {
  /** How often every node multicasts its heartbeat. */
  heartbeatIntervalMs: number;
  /** Silence from the Active after which the Standby takes over. */
  failureTimeoutMs: number;
  /** How long a starting node listens before it claims any role. */
  discoveryMs: number;
  /** How long a switchover may take (the Active stopping its runtime included). */
  handoverTimeoutMs: number;
  /** With `failback: auto`, how long the main must be a healthy Standby before it takes the Active role back. */
  failbackDelayMs: number;
  /** A timer firing later than this counts as local trouble (Lifeguard awareness). */
  lateTickMs: number;
}

export const DEFAULT_TIMINGS: Readonly<Timings> = Object.freeze({
  // 5 heartbeats a second: each datagram costs a wake-up on every server, and an idle node
  // must stay under 1 % of a core (150 ms measured 1.0 %, 200 ms 0.6 %).
  heartbeatIntervalMs: 200,
  // 4 heartbeat intervals: a false failover needs 3-4 losses in a row; failover (the timeout
  // minus the time since the last heartbeat) lands at 600-800 ms, under one second.
  failureTimeoutMs: 800,
  // Same as the failure timeout: a starting node declares "no Active" only after the
  // time in which it would have declared a running Active dead.
  discoveryMs: 800,
  // Runtimes may need seconds to stop cleanly before the new Active may start.
  handoverTimeoutMs: 10_000,
  // Half a minute of stable Standby before an automatic failback avoids ping-pong
  // when the main server is rebooting or flapping.
  failbackDelayMs: 30_000,
  // A healthy event loop answers within a few ms; 100 ms of lag means this server is struggling.
  lateTickMs: 100,
});

/**
 * The guardian's lease: three quarters of the failure timeout (600 ms by default). When the
 * node has not renewed it for this long (renewed with every heartbeat, so this is 3 missed
 * heartbeats), the guardian kills the runtime. The quarter left over (200 ms by default) is
 * the margin in which the guardian wakes up, kills and multicasts the release before any
 * Standby's failure timeout can run out; it also covers the two machines' clock rates, which
 * differ by far less than 0.1 %.
 */
export function leaseMs(t: Pick<Timings, 'failureTimeoutMs'>): number {
  return Math.floor((t.failureTimeoutMs * 3) / 4);
}

/** Lifeguard: the failure timeout is multiplied by (1 + awareness); awareness is 0..MAX_AWARENESS. */
export const MAX_AWARENESS = 3;
/** Awareness decays by one after this long without local trouble. */
export const AWARENESS_DECAY_MS = 5_000;

/**
 * `runtime.failureResetMs`: a server that handed the Active role over because of a runtime
 * crash loop may not be Active or Standby again for this long after its last crash loop
 * (Pacemaker's failure-timeout), unless `duplex clear` lifts it. 10 minutes: a runtime that
 * cannot start anywhere (a missing program, a licence) moves at most once in that time instead
 * of bouncing between the servers, and a technician has time to look; a passing fault is
 * forgotten without anyone's help.
 */
export const DEFAULT_FAILURE_RESET_MS = 600_000;

/** Returns the problems with a set of timings, empty when they can work. */
export function validateTimings(t: Timings): string[] {
  const problems: string[] = [];
  const positive: (keyof Timings)[] = [
    'heartbeatIntervalMs', 'failureTimeoutMs', 'discoveryMs', 'handoverTimeoutMs',
    'failbackDelayMs', 'lateTickMs',
  ];
  for (const k of positive) {
    if (!Number.isFinite(t[k]) || t[k] <= 0) problems.push(`timings.${k} is ${t[k]}; it must be a positive number of milliseconds`);
  }
  if (problems.length) return problems;
  if (t.failureTimeoutMs < 3 * t.heartbeatIntervalMs) {
    problems.push(`timings.failureTimeoutMs is ${t.failureTimeoutMs}; it must be at least 3 × timings.heartbeatIntervalMs (${t.heartbeatIntervalMs}) so that one lost heartbeat never causes a failover`);
  }
  if (t.discoveryMs < 2 * t.heartbeatIntervalMs) {
    problems.push(`timings.discoveryMs is ${t.discoveryMs}; it must be at least 2 × timings.heartbeatIntervalMs (${t.heartbeatIntervalMs}) so a starting node hears a running Active`);
  }
  if (t.handoverTimeoutMs < t.failureTimeoutMs) {
    problems.push(`timings.handoverTimeoutMs is ${t.handoverTimeoutMs}; it must be at least timings.failureTimeoutMs (${t.failureTimeoutMs})`);
  }
  return problems;
}
