/**
 * The node's side of clones and wrong secrets: the transport's hooks, turned into engine
 * observations (engine.ts decides what they mean).
 */
import type { Timings } from '../defaults';
import type { Observation } from '../engine/types';
import type { MulticastOptions } from '../net/transport';

/**
 * The transport options that report clones and wrong secrets to the engine. `heardAt`: the
 * address each peer's verified heartbeats last came from. A peer's new boot is taken once its
 * old one has been silent for two heartbeat intervals (a restart); a clone that keeps talking
 * beside the original is ignored (net/replay.ts).
 */
export function cloneGuards(
  self: string,
  timings: Pick<Timings, 'heartbeatIntervalMs'>,
  servers: () => readonly { name: string; address?: string | undefined }[],
  heardAt: ReadonlyMap<string, string>,
  observe: (fact: Observation) => void,
): Pick<MulticastOptions, 'holdIncarnationMs' | 'onNameConflict' | 'onBadAuth'> {
  return {
    holdIncarnationMs: 2 * timings.heartbeatIntervalMs,
    onNameConflict: (address) => observe({ kind: 'name-conflict', address }),
    onBadAuth: (address) => observe({ kind: 'unverifiable', address, suspects: suspectsOf(address, servers(), self, heardAt) }),
  };
}

/**
 * Which servers may be behind an address whose datagrams fail authentication (a server with
 * another domain secret). Pure. The engine will not take the Active role on the silence of
 * any of them (engine.ts, `unverifiable`).
 *
 * - A server that declares its `address` in the domain file is a suspect only at that address.
 * - A server without one is a suspect at the address its heartbeats last came from, or at any
 *   address while none of its heartbeats has been verified in this run.
 * So with declared addresses a misconfigured third server blocks nothing but a take-over on
 * its own silence; without them (or with several servers behind one address, as on loopback)
 * the rule stays on the safe side: a silent server it cannot tell apart is a suspect.
 */
export function suspectsOf(
  address: string,
  servers: readonly { name: string; address?: string | undefined }[],
  self: string,
  heardAt: ReadonlyMap<string, string>,
): string[] {
  const out: string[] = [];
  for (const s of servers) {
    if (s.name === self) continue;
    const at = s.address ?? heardAt.get(s.name);
    if (at === undefined || at === address) out.push(s.name);
  }
  return out;
}
