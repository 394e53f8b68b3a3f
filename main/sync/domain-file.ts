/**
 * The domain file as the periodic check sees it, at the cost of one stat when nothing changed.
 *
 * Its size, modification and change times, file id and mode are compared with the last look;
 * only a change reads and hashes it (an editor that replaces the file changes its id; a
 * chmod, its change time). Once in DOMAIN_REHASH_MS it is read and hashed all the same, for
 * network shares whose attributes lag or whose times are coarse. A file is refused at the
 * stat when it is above the size ceiling, and before it is read when others may change it
 * (domain/access.ts); that verdict stands, without another read, until the stat changes.
 */
import { statSync, type Stats } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DOMAIN_FILE_CEILING_BYTES, DOMAIN_REHASH_MS } from '../defaults';
import { domainFileProblem } from '../domain/access';
import { sizeRefusal, tooLargeSentence } from '../domain/load';
import { readCapped } from '../util/capped';
import { hashBytes } from './revision';

type FileStats = Pick<Stats, 'dev' | 'ino' | 'size' | 'mtimeMs' | 'ctimeMs' | 'mode'>;

/** The file system as a domain file watch uses it (tests count the reads). */
export interface FilePort {
  stat(file: string): FileStats;
  read(file: string, maxBytes: number): { bytes: Buffer; stats: FileStats } | { tooLarge: number; stats: FileStats };
  /** Why others may change the file, with the fix; null when they may not. */
  access(file: string, st: FileStats): string | null;
}

export const realFiles: FilePort = {
  stat: (file) => statSync(file),
  read: readCapped,
  access: (file, st) => domainFileProblem(file, st),
};

export type Sight =
  /** The file's bytes and their hash. */
  | { kind: 'file'; hash: string; size: number; mtimeMs: number; bytes: Buffer }
  /** Not taken: `reason` says in one word (one log line per reason), `message` says why and what to do. */
  | { kind: 'refused'; reason: 'read' | 'too-large' | 'unsafe'; message: string };

export class DomainFileWatch {
  private last: { key: string; atMs: number; sight: Sight } | null = null;

  constructor(private readonly file: string, private readonly fs: FilePort = realFiles, private readonly rehashMs = DOMAIN_REHASH_MS, private readonly now: () => number = () => performance.now()) {}

  /** The file as it is now: from the last look when its stat has not changed, else read. */
  look(): Sight {
    let st: FileStats;
    try {
      st = this.fs.stat(this.file);
    } catch (e) {
      this.last = null;
      return { kind: 'refused', reason: 'read', message: `cannot read ${this.file}: ${(e as Error).message}` };
    }
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.mode}`;
    const now = this.now();
    const last = this.last;
    if (last && last.key === key) {
      // A refusal rests on the stat alone; content is read again only once in a while.
      if (last.sight.kind === 'refused' || now - last.atMs < this.rehashMs) return last.sight;
      const sight = this.read();
      this.last = { key, atMs: now, sight };
      return sight;
    }
    const sight = this.judge(st);
    this.last = { key, atMs: now, sight };
    return sight;
  }

  private judge(st: FileStats): Sight {
    const tooLarge = sizeRefusal(this.file, st.size);
    if (tooLarge) return { kind: 'refused', reason: 'too-large', message: tooLarge };
    let unsafe: string | null;
    try {
      unsafe = this.fs.access(this.file, st);
    } catch (e) {
      return { kind: 'refused', reason: 'read', message: `cannot check who may change ${this.file}: ${(e as Error).message}` };
    }
    if (unsafe) return { kind: 'refused', reason: 'unsafe', message: unsafe };
    return this.read();
  }

  private read(): Sight {
    let r: ReturnType<FilePort['read']>;
    try {
      r = this.fs.read(this.file, DOMAIN_FILE_CEILING_BYTES);
    } catch (e) {
      return { kind: 'refused', reason: 'read', message: `cannot read ${this.file}: ${(e as Error).message}` };
    }
    if ('tooLarge' in r) return { kind: 'refused', reason: 'too-large', message: tooLargeSentence(this.file, r.tooLarge) };
    const refusal = sizeRefusal(this.file, r.bytes.length, r.bytes);
    if (refusal) return { kind: 'refused', reason: 'too-large', message: refusal };
    return { kind: 'file', hash: hashBytes(r.bytes), size: r.bytes.length, mtimeMs: r.stats.mtimeMs, bytes: r.bytes };
  }
}
