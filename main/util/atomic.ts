/**
 * Atomic file writes: temp file in the same folder, fsync, rename, fsync of the folder.
 * The previous version is kept beside the file as `<name>.prev`.
 */
import { closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export function writeFileAtomic(file: string, data: string | Buffer, opts: { mode?: number; keepPrevious?: boolean } = {}): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = openSync(tmp, 'w', opts.mode ?? 0o644);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  const prevTmp = `${tmp}.prev`;
  try {
    if ((opts.keepPrevious ?? true) && existsSync(file)) {
      copyFileSync(file, prevTmp);
      retryWhileLocked(() => renameSync(prevTmp, `${file}.prev`));
    }
    retryWhileLocked(() => renameSync(tmp, file));
  } catch (e) {
    // A full disk can stop the copy of the previous version too: nothing half-written stays.
    rmSync(tmp, { force: true });
    rmSync(prevTmp, { force: true });
    throw e;
  }
  syncDir(dir);
}

/** Errors of a file that another program (antivirus, backup, indexer) holds open for a moment on Windows. */
const LOCKED = new Set(['EPERM', 'EBUSY', 'EACCES']);

/**
 * Runs `op`, and on Windows runs it again while it fails because the file is held open by
 * another program, as graceful-fs and write-file-atomic do: waits of 10, 20, 40… ms, at most
 * `budgetMs` in all (the writes are synchronous, so the wait is short). Then the last error.
 */
export function retryWhileLocked<T>(op: () => T, budgetMs = 1_000, platform: NodeJS.Platform = process.platform): T {
  let waited = 0;
  for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
    try {
      return op();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (platform !== 'win32' || !LOCKED.has(code) || waited >= budgetMs) throw e;
      const ms = Math.min(wait, budgetMs - waited);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      waited += ms;
    }
  }
}

export function syncDir(dir: string): void {
  if (process.platform === 'win32') return; // folders cannot be opened for fsync on Windows; NTFS journals the rename
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
