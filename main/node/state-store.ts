/**
 * The node's persisted state: the engine's (highest epoch, maintenance) and the boot counter
 * of the transport. Written atomically with the previous version kept; read back from the
 * previous version when the newest is damaged.
 */
import { readFileSync } from 'node:fs';
import type { PersistedState } from '../engine/types';
import type { StateStore } from './driver';
import { writeFileAtomic } from '../util/atomic';
import type { Logger } from '../util/logger';

export interface StoredState extends PersistedState {
  /** Boot counter: grows with every start, so datagrams of an older boot are refused. */
  incarnation: number;
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
        const s = JSON.parse(text) as Partial<StoredState>;
        if (Number.isSafeInteger(s.epoch) && typeof s.maintenance === 'boolean' && Number.isSafeInteger(s.incarnation)) {
          if (file !== this.file) this.log.warn('state', `${this.file} was unreadable; using the previous version`);
          return { epoch: s.epoch!, maintenance: s.maintenance, incarnation: s.incarnation! };
        }
      } catch {
        // fall through to the previous version
      }
      this.log.warn('state', `${file} is damaged; ignoring it`);
    }
    return { epoch: 0, maintenance: false, incarnation: 0 };
  }

  /** Throws, naming the file, when the state cannot be written. */
  write(state: PersistedState): void {
    const stored: StoredState = { epoch: state.epoch, maintenance: state.maintenance, incarnation: this.incarnation };
    try {
      writeFileAtomic(this.file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
    } catch (e) {
      throw new Error(`cannot write ${this.file}: ${(e as Error).message}`);
    }
  }
}

/** The state kept in memory (the simulation; tests). `durable` is what a restart would read. */
export class MemoryStateStore implements StateStore {
  constructor(public durable: PersistedState = { epoch: 0, maintenance: false }) {}

  write(state: PersistedState): void {
    this.durable = { ...state };
  }
}
