/**
 * What each supervised process must do when the server's runtime mode changes. Pure: the
 * supervisor executes the steps, the tests check every combination.
 */
import type { RuntimeMode } from '../engine/types';

/** For which roles a process runs: Active only, Standby only, or both. */
export type RunOn = 'active' | 'standby' | 'both';

/** The mode a running process was started in (or moved to by a hook). */
export type ProcessMode = 'active' | 'standby';

export interface PlanSpec {
  runOn: RunOn;
  /** An activation hook moves a standby-mode process to active mode without a restart. */
  hasActivateHook: boolean;
  /** A deactivation hook moves an active-mode process to standby mode without a restart. */
  hasDeactivateHook: boolean;
  /** The process runs with other arguments on the Standby (`standbyArgs`). */
  standbyArgsDiffer: boolean;
}

/**
 * - `start` / `stop`: start it in the wanted mode / stop it;
 * - `restart`: stop it, then start it in the wanted mode;
 * - `activate-hook` / `deactivate-hook`: run the hook, keep the process;
 * - `keep`: it runs the same way in both modes, just count it in the new one;
 * - `none`: nothing to do.
 */
export type Step = 'none' | 'start' | 'stop' | 'restart' | 'activate-hook' | 'deactivate-hook' | 'keep';

/** The mode a process should run in while the server's runtime is in `mode`; null: not at all. */
export function wantedMode(runOn: RunOn, mode: RuntimeMode): ProcessMode | null {
  if (mode === 'stopped') return null;
  if (mode === 'active') return runOn === 'standby' ? null : 'active';
  return runOn === 'active' ? null : 'standby';
}

export function step(spec: PlanSpec, running: ProcessMode | null, want: ProcessMode | null): Step {
  if (running === want) return 'none';
  if (want === null) return 'stop';
  if (running === null) return 'start';
  if (want === 'active') return spec.hasActivateHook ? 'activate-hook' : spec.standbyArgsDiffer ? 'restart' : 'keep';
  return spec.hasDeactivateHook ? 'deactivate-hook' : spec.standbyArgsDiffer ? 'restart' : 'keep';
}

/** What a process is doing now. */
export type ProcessState = 'stopped' | 'starting' | 'running' | 'stopping' | 'waiting to restart';

export interface ProcessStatus {
  name: string;
  runOn: RunOn;
  state: ProcessState;
  /** The mode it runs in, null when not running. */
  mode: ProcessMode | null;
  pid: number | null;
  /** Milliseconds since the process started, null when not running. */
  uptimeMs: number | null;
  restarts: number;
  /** How it last ended: `code N` or `signal SIG…`; null if it never ended. */
  lastExit: string | null;
}
