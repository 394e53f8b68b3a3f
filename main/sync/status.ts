/** What a node says about its domain file and project files (pure types, shared with the status window). */
import type { SyncState } from '../engine/types';

export interface SyncStatus {
  /** The domain file this node keeps. */
  file: string;
  revision: { n: number; t: number; by: string; hash: string };
  state: SyncState;
  /** What is wrong (invalid edit, write failure, peer trouble) or what conflicted; null when all is well. */
  message: string | null;
  /** Percent of the bytes of the current transfer, null when not syncing. */
  progress: number | null;
  /** Conflict copies still beside the files (delete them once reviewed). */
  conflicts: string[];
  appVersion: string;
  port: number;
}
