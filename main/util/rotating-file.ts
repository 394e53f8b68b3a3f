/** An append-only log file that starts over (keeping one `.old` copy) when it grows too big. */
import { createWriteStream, existsSync, mkdirSync, renameSync, statSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

export class RotatingFile {
  private stream: WriteStream;
  private size: number;

  constructor(readonly file: string, private readonly maxBytes: number) {
    mkdirSync(dirname(file), { recursive: true });
    this.size = existsSync(file) ? statSync(file).size : 0;
    this.stream = createWriteStream(file, { flags: 'a' });
  }

  write(chunk: Buffer | string): void {
    const len = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (this.size + len > this.maxBytes && this.size > 0) {
      this.stream.end();
      renameSync(this.file, this.file.replace(/(\.log)?$/, '.old.log'));
      this.stream = createWriteStream(this.file, { flags: 'a' });
      this.size = 0;
    }
    this.stream.write(chunk);
    this.size += len;
  }

  close(): Promise<void> {
    return new Promise((r) => this.stream.end(() => r()));
  }
}
