/**
 * An append-only log file that starts over (keeping one `.old` copy) when it grows too big.
 * A log must never take its process down: when the disk is full (or the file cannot be
 * written for any reason) what comes meanwhile is dropped and counted, the file is tried again
 * a second later, and the first line that gets through says how much was lost.
 */
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/** After a failed write, the file is tried again this much later. */
const RETRY_MS = 1_000;

export class RotatingFile {
  private stream!: WriteStream;
  private size: number;
  /** Until when writes are dropped (the file failed); bytes dropped since. */
  private brokenUntil = 0;
  private dropped = 0;

  constructor(readonly file: string, private readonly maxBytes: number) {
    try {
      mkdirSync(dirname(file), { recursive: true });
      this.size = existsSync(file) ? statSync(file).size : 0;
    } catch {
      this.size = 0;
    }
    this.open();
  }

  private open(): void {
    const stream = createWriteStream(this.file, { flags: 'a' });
    stream.on('error', () => {
      if (stream !== this.stream) return;
      this.brokenUntil = Date.now() + RETRY_MS;
      stream.destroy();
    });
    this.stream = stream;
  }

  write(chunk: Buffer | string): void {
    const len = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (this.brokenUntil) {
      if (Date.now() < this.brokenUntil) {
        this.dropped += len;
        return;
      }
      this.brokenUntil = 0;
      this.open();
      this.stream.write(`[${this.dropped} bytes or more of output lost: this file could not be written (disk full?)]\n`);
      this.dropped = 0;
    }
    if (this.size + len > this.maxBytes && this.size > 0) {
      this.stream.end();
      try {
        renameSync(this.file, this.file.replace(/(\.log)?$/, '.old.log'));
      } catch {
        // gone, or the folder cannot be written: the file goes on growing rather than losing lines
      }
      this.open();
      this.size = 0;
    }
    this.stream.write(chunk);
    this.size += len;
  }

  close(): Promise<void> {
    return new Promise((r) => this.stream.end(() => r()));
  }
}
