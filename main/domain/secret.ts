/** The domain secret: 32 random bytes, hex, in a file beside the domain file, readable only by its owner. */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

export const SECRET_BYTES = 32;

export function newSecretText(): string {
  return `${randomBytes(SECRET_BYTES).toString('hex')}\n`;
}

export interface LoadedSecret {
  secret: Buffer;
  /** A warning for the log, e.g. the file can be read by others. */
  warning: string | null;
}

export function loadSecret(file: string): LoadedSecret {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new Error(`cannot read the domain secret ${file}: ${(e as Error).message}. Copy the secret file made by "duplex init" to this path on every server`);
  }
  if (!/^[0-9a-fA-F]{32,}$/.test(text) || text.length % 2 !== 0) {
    throw new Error(`the domain secret ${file} must hold at least 16 bytes as hex digits (duplex init writes 32); make a new one with duplex init and copy it to every server`);
  }
  let warning: string | null = null;
  if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) {
    warning = `the domain secret ${file} can be read by other users; run: chmod 600 ${file}`;
  }
  return { secret: Buffer.from(text, 'hex'), warning };
}
