/**
 * Quorum arithmetic (pure): who votes, how many make a majority, and until when a majority
 * supports an Active (Raft's leader lease). The engine keeps the state; this file only counts.
 */
import { leaseMs, type Timings } from './timings';
import type { QuorumMode, ServerDecl } from './types';

/** Every server not set to maintenance in the domain file votes, witnesses included. */
export function votersOf(servers: readonly ServerDecl[]): string[] {
  return servers.filter((s) => !s.maintenance).map((s) => s.name);
}

export function majorityOf(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** Quorum is in force with 3 or more voters unless the domain file says `quorum: off`. */
export function quorumInForce(mode: QuorumMode | undefined, voters: number): boolean {
  return mode !== 'off' && voters >= 3;
}

/**
 * How much earlier than a voter's promise an Active's lease ends: the quarter of the failure
 * timeout that the guardian's lease also leaves (200 ms by default). In it the Active's
 * guardian wakes up and kills the runtime before any majority can have declared the Active
 * dead; it also covers the two machines' clock rates (far less than 0.1 % apart).
 */
export function leaseMarginMs(t: Pick<Timings, 'failureTimeoutMs'>): number {
  return t.failureTimeoutMs - leaseMs(t);
}

/**
 * The support a voter gives with its acknowledgement of the heartbeat built at `sentAt`: it
 * votes for no one else for `promiseMs` after it heard that heartbeat, which was after
 * `sentAt`. The lease from it ends the margin before that.
 */
export function supportEnd(sentAt: number, promiseMs: number, t: Pick<Timings, 'failureTimeoutMs'>): number {
  return sentAt + promiseMs - leaseMarginMs(t);
}

/** Until when `need` of the supports hold: the need-th latest end (-Infinity when fewer hold). */
export function majorityEnd(ends: number[], need: number): number {
  const sorted = [...ends].sort((a, b) => b - a);
  return sorted[need - 1] ?? -Infinity;
}

/** What a domain without quorum risks, said where a technician looks (status, domain check, window). */
export function noQuorumWarning(mode: QuorumMode | undefined, voters: string[]): string {
  const why = mode === 'off' ? 'quorum is off in the domain file' : `only ${voters.length} voter${voters.length === 1 ? '' : 's'} (${voters.join(', ')})`;
  return `no quorum (${why}): a cut redundancy network gives two Actives until it heals. ` +
    'A witness prevents this: add a server with role: witness (any third machine running duplex run)' +
    (mode === 'off' ? ' and remove quorum: off' : '');
}
