/**
 * The engine's seams: everything the scenario runner needs from the engine beyond its input
 * methods, status(now), commandVerdicts(now) and its Output lives in these few functions.
 */
import type { Output, PersistedState, RuntimeFailures } from '../../main/engine/types';

/** When the engine asks to be ticked next (the output's `wakeAt`). apply() never sets a time at or before now. */
export function wakeOf(out: Output): number {
  return out.wakeAt;
}

/** What a server's state file holds, in the scenario's words (those of status: epoch is the last Active term). */
export interface Kept {
  maxEpoch: number;
  epoch: number | null;
  maintenance: boolean;
  promiseMs: number | null;
  failures: RuntimeFailures | null;
}

export function persistedOf(k: Kept): PersistedState {
  const p: PersistedState = { maxEpoch: k.maxEpoch, maintenance: k.maintenance };
  if (k.epoch !== null) p.epoch = k.epoch;
  if (k.promiseMs !== null) p.promiseMs = k.promiseMs;
  if (k.failures !== null) p.failures = { ...k.failures };
  return p;
}

export function keptOf(p: PersistedState): Kept {
  return { maxEpoch: p.maxEpoch, epoch: p.epoch ?? null, maintenance: p.maintenance, promiseMs: p.promiseMs ?? null, failures: p.failures ?? null };
}

export const NOTHING_KEPT: Kept = { maxEpoch: 0, epoch: null, maintenance: false, promiseMs: null, failures: null };
