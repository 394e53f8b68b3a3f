/**
 * The node's persisted state: the engine's (highest epoch, maintenance, runtime crash loops)
 * and the boot counter of the transport. Written atomically with the previous version kept;
 * read back from the previous version when the newest is damaged.
 *
 * The engine's times are on this process's monotonic clock, which starts again with every
 * process: the reset time of the crash-loop count is stored as wall time (`resetAtWall`, ms
 * since 1970) and turned back into monotonic time when read. A wall clock that jumped while the
 * node was down can shorten the ban, or lengthen it to at most failureResetMs (the engine caps it).
 *
 * The file keeps the field names older versions wrote, and this file is the one place that
 * maps them: the file's `epoch` is the engine's `maxEpoch` (the highest epoch held or seen),
 * and the file's `term` is the engine's `epoch` (this server's last Active term). Renaming them
 * in the file would make a downgraded node read every state as fresh.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { PersistedState, RuntimeFailures } from '../engine/types';
import type { StateStore } from './ports';
import { writeFileAtomic } from '../util/atomic';
import type { Logger } from '../util/logger';

export interface StoredState extends PersistedState {
  /** Boot counter: grows with every start, so datagrams of an older boot are refused. */
  incarnation: number;
}

/** The state file as written (see the top of this file for its two older names). */
interface StateFile {
  /** The engine's `maxEpoch`. */
  epoch: number;
  maintenance: boolean;
  incarnation: number;
  failures?: StoredFailures;
  promiseMs?: number;
  /** The engine's `epoch` (this server's last Active term). */
  term?: number;
}

/** How `failures` is written: the reset time as wall time. */
interface StoredFailures {
  count: number;
  last: string;
  resetAtWall: number;
  banned: boolean;
}

/** Monotonic time (this process) to wall time and back. */
const toWall = (monotonic: number) => Math.round(Date.now() + (monotonic - performance.now()));
const fromWall = (wall: number) => performance.now() + (wall - Date.now());

function readFailures(x: unknown): RuntimeFailures | undefined {
  if (typeof x !== 'object' || x === null) return undefined;
  const f = x as Partial<StoredFailures>;
  if (!Number.isSafeInteger(f.count) || typeof f.last !== 'string' || !Number.isFinite(f.resetAtWall) || typeof f.banned !== 'boolean') return undefined;
  return { count: f.count!, last: f.last, resetAt: fromWall(f.resetAtWall!), banned: f.banned };
}

export class FileStateStore implements StateStore {
  /** This boot's counter, written with every state. */
  incarnation = 0;

  constructor(readonly file: string, private readonly log: Logger) {}

  /** The stored state, or a fresh one; a damaged file falls back to its previous version. */
  read(): StoredState {
    for (const file of [this.file, `${this.file}.prev`]) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      try {
        const s = JSON.parse(text) as Partial<Omit<StateFile, 'failures'>> & { failures?: unknown };
        if (Number.isSafeInteger(s.epoch) && typeof s.maintenance === 'boolean' && Number.isSafeInteger(s.incarnation)) {
          if (file !== this.file) this.log.warn('state', `${this.file} was unreadable; using the previous version`);
          // Files written before crash loops were counted have no `failures`: none counted.
          const failures = readFailures(s.failures);
          return { maxEpoch: s.epoch!, maintenance: s.maintenance, incarnation: s.incarnation!, ...(failures ? { failures } : {}), ...(Number.isSafeInteger(s.promiseMs) && s.promiseMs! > 0 ? { promiseMs: s.promiseMs } : {}), ...(Number.isSafeInteger(s.term) && s.term! > 0 ? { epoch: s.term } : {}) };
        }
      } catch {
        // fall through to the previous version
      }
      this.log.warn('state', `${file} is damaged; ignoring it`);
    }
    return { maxEpoch: 0, maintenance: false, incarnation: 0 };
  }

  /** Throws, naming the file, when the state cannot be written. */
  write(state: PersistedState): void {
    const stored: StateFile = { epoch: state.maxEpoch, maintenance: state.maintenance, incarnation: this.incarnation };
    const f = state.failures;
    if (f) stored.failures = { count: f.count, last: f.last, resetAtWall: toWall(f.resetAt), banned: f.banned };
    if (state.promiseMs) stored.promiseMs = state.promiseMs;
    if (state.epoch) stored.term = state.epoch;
    try {
      writeFileAtomic(this.file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const what = code === 'ENOSPC' || code === 'EDQUOT' ? 'disk full: ' : code === 'EROFS' ? 'read-only disk: ' : code === 'EACCES' || code === 'EPERM' ? 'no permission: ' : '';
      throw new Error(`${what}cannot write ${this.file} (${(e as Error).message})`);
    }
  }
}

/** The state kept in memory (the simulation; tests). `durable` is what a restart would read. */
export class MemoryStateStore implements StateStore {
  constructor(public durable: PersistedState = { maxEpoch: 0, maintenance: false }) {}

  write(state: PersistedState): void {
    this.durable = { ...state };
  }
}
