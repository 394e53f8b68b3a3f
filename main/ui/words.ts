/**
 * Numbers and states of a node in the plant's words, one place for the CLI and the status
 * window. Pure, no imports beyond the score's ranges and the contract's types (the renderer may load it).
 */
import { SERVICE_LEVEL } from '../probes/score';
import type { RuntimeMode, RuntimeState } from './contract';

/** A health score (OPC UA ServiceLevel, 0–255) in words: `healthy`, `degraded`, `no data`, `maintenance`. */
export function healthWords(score: number): string {
  if (score >= SERVICE_LEVEL.healthyMin) return 'healthy';
  if (score >= SERVICE_LEVEL.degradedMin) return 'degraded';
  return score === SERVICE_LEVEL.noData ? 'no data' : 'maintenance';
}

/** The words and the number together, as tables show them: `healthy 255`, `degraded 155`. */
export function healthText(score: number | null): string {
  return score === null ? '?' : `${healthWords(score)} ${score}`;
}

/**
 * A runtime in words: its mode and what its processes do (`active running`, `standby starting`),
 * `stopped` (as a Standby whose processes run only when Active), `none`. Stopped in active mode
 * keeps the mode (`active stopped`): the Active should be running it.
 */
export function runtimeWords(mode: RuntimeMode, state: RuntimeState): string {
  if (state === 'none') return 'none';
  if (mode !== 'active' && state === 'stopped') return 'stopped';
  return `${mode} ${state === 'held' ? 'HELD' : state}`;
}

/** A role as people write it: `Active`, `Standby`, `unreachable` stays lower case (it is not a role). */
export function roleWord(role: string): string {
  return role === 'unreachable' || role === 'unknown' ? role : role.charAt(0).toUpperCase() + role.slice(1);
}
