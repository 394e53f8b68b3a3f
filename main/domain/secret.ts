/** The domain secret: 32 random bytes, hex, in a file beside the domain file, readable only by its owner. */
import { randomBytes } from 'node:crypto';
import { readCapped } from '../util/capped';
import { everyoneReads, posixSecretProblem, readSddl } from './access';

export const SECRET_BYTES = 32;
/** A secret file is a line of hex digits; anything longer is not one (and is not read). */
const SECRET_FILE_MAX_BYTES = 4096;

export function newSecretText(): string {
  return `${randomBytes(SECRET_BYTES).toString('hex')}\n`;
}

export interface LoadedSecret {
  secret: Buffer;
  /** A warning for the log, e.g. the file's permissions cannot be read. */
  warning: string | null;
}

export function loadSecret(file: string): LoadedSecret {
  const invalid = `the domain secret ${file} must hold at least 16 bytes as hex digits (duplex init writes 32); make a new one with duplex init and copy it to every server`;
  let read: ReturnType<typeof readCapped>;
  try {
    read = readCapped(file, SECRET_FILE_MAX_BYTES);
  } catch (e) {
    throw new Error(`cannot read the domain secret ${file}: ${(e as Error).message}. Copy the secret file made by "duplex init" to this path on every server`);
  }
  if (!('bytes' in read)) throw new Error(invalid);
  const text = read.bytes.toString('utf8').trim();
  if (!/^[0-9a-fA-F]{32,}$/.test(text) || text.length % 2 !== 0) throw new Error(invalid);
  let warning: string | null = null;
  if (process.platform === 'win32') {
    const sddl = readSddl(file);
    const reader = sddl === null ? null : everyoneReads(sddl);
    if (reader) {
      throw new Error(`the domain secret ${file} can be read by ${reader}: anyone who logs on to this server could take over the domain. ` +
        `Run as Administrator: icacls "${file}" /inheritance:r /grant:r *S-1-5-18:F *S-1-5-32-544:F (duplex service install does it), then start Duplex again`);
    }
    if (sddl === null) warning = `the permissions of the domain secret ${file} cannot be read (icacls /save gave nothing); check by hand that only SYSTEM and Administrators can read it`;
  } else {
    const problem = posixSecretProblem(file, read.stats);
    if (problem) throw new Error(problem);
  }
  return { secret: Buffer.from(text, 'hex'), warning };
}
