/**
 * Lists and hashes the project files the domain syncs. Hashes are cached by size and
 * modification time, so a periodic scan reads only what changed.
 */
import { createReadStream, lstatSync, readdirSync, type Stats } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { isOwnFile } from './paths';
import { digestHex, HASH_ALGORITHM, type FileEntry } from './revision';

interface Cached {
  size: number;
  mtimeMs: number;
  hash: string;
}

export class ScanError extends Error {}

/** A changed file is still being written (modified within the settle time): look again later. */
export class Unsettled extends Error {}

export class ProjectScanner {
  private readonly cache = new Map<string, Cached>();

  /**
   * @param root the domain file's folder
   * @param excluded relative paths never synced (the domain file, the secret, the state folder)
   */
  constructor(private readonly root: string, private readonly excluded: (rel: string) => boolean) {}

  /** Every file under the entries, sorted by path. Missing entries are skipped (a folder not made yet). */
  async scan(entries: string[], maxFileBytes: number, settleMs = 0): Promise<FileEntry[]> {
    const found = new Map<string, Stats>();
    const visit = (rel: string) => {
      if (this.excluded(rel)) return;
      let st: Stats;
      try {
        st = lstatSync(join(this.root, ...rel.split('/')));
      } catch {
        return;
      }
      if (st.isDirectory()) {
        for (const name of readdirSync(join(this.root, ...rel.split('/'))).sort()) {
          if (!isOwnFile(name)) visit(rel === '.' ? name : `${rel}/${name}`);
        }
      } else if (st.isFile()) {
        if (st.size > maxFileBytes) throw new ScanError(`${rel} is ${st.size} bytes, above sync.maxFileBytes (${maxFileBytes}); raise the limit or leave the file out of sync.files`);
        found.set(rel, st);
      }
      // Symbolic links and special files are not synced: a link could point anywhere.
    };
    for (const e of entries) visit(posix.normalize(e.replace(/\\/g, '/')).replace(/\/+$/, '') || '.');
    const out: FileEntry[] = [];
    for (const [rel, st] of [...found].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const c = this.cache.get(rel);
      if (c && c.size === st.size && c.mtimeMs === st.mtimeMs) {
        out.push({ path: rel, size: st.size, hash: c.hash });
        continue;
      }
      if (settleMs > 0 && Date.now() - st.mtimeMs < settleMs) throw new Unsettled(`${rel} is still being written`);
      const hash = await hashFile(join(this.root, ...rel.split('/')));
      this.cache.set(rel, { size: st.size, mtimeMs: st.mtimeMs, hash });
      out.push({ path: rel, size: st.size, hash });
    }
    for (const k of [...this.cache.keys()]) if (!found.has(k)) this.cache.delete(k);
    return out;
  }

  /** A file Duplex has just written with a known hash: no need to read it again. */
  remember(rel: string, st: Stats, hash: string): void {
    this.cache.set(rel, { size: st.size, mtimeMs: st.mtimeMs, hash });
  }
}

export function hashFile(file: string): Promise<string> {
  return new Promise((resolveHash, reject) => {
    const h = createHash(HASH_ALGORITHM);
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (b) => h.update(b))
      .on('end', () => resolveHash(digestHex(h)))
      .on('error', reject);
  });
}
