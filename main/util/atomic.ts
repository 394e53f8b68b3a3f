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
  if ((opts.keepPrevious ?? true) && existsSync(file)) {
    const prevTmp = `${tmp}.prev`;
    copyFileSync(file, prevTmp);
    renameSync(prevTmp, `${file}.prev`);
  }
  renameSync(tmp, file);
  syncDir(dir);
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
