/** Reading a file that may be far larger than it should be, without taking more than a limit into memory. */
import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/**
 * The bytes of `file` when it holds at most `maxBytes`; else its size, read from the open file
 * before a byte is read (and reading stops past the limit when it grows meanwhile). `stats`
 * are those of the file that was opened, so they match the bytes even when the path is
 * replaced at the same moment. Throws what opening or reading throws (ENOENT…).
 */
/** What readCapped gives: the bytes, or (above the limit) the size, with the stats of the file opened. */
export type Capped = { bytes: Buffer; stats: Stats } | { tooLarge: number; stats: Stats };

export function readCapped(file: string, maxBytes: number): Capped {
  const fd = openSync(file, 'r');
  try {
    const stats = fstatSync(fd);
    if (stats.size > maxBytes) return { tooLarge: stats.size, stats };
    // One byte more than the size: a file that grew since fstat is read on, up to the limit.
    let buf = Buffer.allocUnsafe(stats.size + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, null);
      if (n === 0) return { bytes: buf.subarray(0, got), stats };
      got += n;
      if (got > maxBytes) return { tooLarge: got, stats };
      if (got === buf.length) {
        const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, maxBytes + 1));
        buf.copy(bigger, 0, 0, got);
        buf = bigger;
      }
    }
  } finally {
    closeSync(fd);
  }
}
