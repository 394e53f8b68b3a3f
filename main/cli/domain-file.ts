/**
 * The domain file as one CLI command sees it: read once, at the first question, whatever is
 * asked of it afterwards (where the nodes' files are, its servers, whether it is valid). A
 * command that relays asks all three; each used to read the file again.
 *
 * Light on purpose, like reach.ts: the YAML parser and the schema (domain/load.ts) are loaded
 * only when the `stateDir` line alone cannot say enough, from the same bytes.
 */
import { resolve } from 'node:path';
import { DOMAIN_FILE_CEILING_BYTES } from '../defaults';
import { quickLocate, type DomainLocation } from '../domain/location';
import type { locateDomain } from '../domain/load';
import { readCapped, type Capped } from '../util/capped';

/** The file parsed and validated; or, when it is not valid, why, beside a best-effort location (domain/load.ts locateDomain). */
export type Located = ReturnType<typeof locateDomain>;

export class DomainFile {
  /** The absolute path. */
  readonly abs: string;
  private got: { read: Capped } | { error: unknown } | null = null;
  private located: Promise<Located> | null = null;

  /** `path` as the user gave it (it is said so in messages); `readFile` reads it (tests count the reads). */
  constructor(readonly path: string, private readonly readFile: (file: string, maxBytes: number) => Capped = readCapped) {
    this.abs = resolve(path);
  }

  /** The one read: its bytes, or what reading threw (thrown again on every call). */
  readonly read = (): Capped => {
    if (this.got === null) {
      try {
        this.got = { read: this.readFile(this.abs, DOMAIN_FILE_CEILING_BYTES) };
      } catch (e) {
        this.got = { error: e };
      }
    }
    if ('error' in this.got) throw this.got.error;
    return this.got.read;
  };

  /** The file is not there (reading it found no file). */
  missing(): boolean {
    try {
      this.read();
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }

  /** Where the nodes' files are: from the `stateDir` line, or from the full parse when the line alone cannot say. */
  async location(): Promise<DomainLocation> {
    return quickLocate(this.abs, this.read) ?? (await this.full()).domain;
  }

  /** The file parsed and validated (yaml and zod are loaded now), or its problem beside a best-effort location. */
  full(): Promise<Located> {
    this.located ??= import('../domain/load').then((m) => m.locateDomain(this.abs, this.read));
    return this.located;
  }
}
