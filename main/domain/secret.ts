/** The domain secret: 32 random bytes, hex, in a file beside the domain file, readable only by its owner. */
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
  if (process.platform === 'win32') {
    const sddl = readSddl(file);
    const reader = sddl === null ? null : everyoneReads(sddl);
    if (reader) {
      throw new Error(`the domain secret ${file} can be read by ${reader}: anyone who logs on to this server could take over the domain. ` +
        `Run as Administrator: icacls "${file}" /inheritance:r /grant:r *S-1-5-18:F *S-1-5-32-544:F (duplex service install does it), then start Duplex again`);
    }
    if (sddl === null) warning = `the permissions of the domain secret ${file} cannot be read (icacls /save gave nothing); check by hand that only SYSTEM and Administrators can read it`;
  } else if ((statSync(file).mode & 0o077) !== 0) {
    warning = `the domain secret ${file} can be read by other users; run: chmod 600 ${file}`;
  }
  return { secret: Buffer.from(text, 'hex'), warning };
}

/** Groups every local user is in, by their SDDL abbreviation or SID. */
const BROAD: Record<string, string> = {
  WD: 'Everyone', 'S-1-1-0': 'Everyone', BU: 'Users', 'S-1-5-32-545': 'Users',
  AU: 'Authenticated Users', 'S-1-5-11': 'Authenticated Users', BG: 'Guests', 'S-1-5-32-546': 'Guests',
  IU: 'Interactive users', 'S-1-5-4': 'Interactive users', NU: 'Network users', 'S-1-5-2': 'Network users',
  AN: 'Anonymous', 'S-1-5-7': 'Anonymous', DU: 'Domain Users', DG: 'Domain Guests',
};

/**
 * The broad group (Everyone, Users…) an access-allowed entry of this DACL (SDDL, as
 * `icacls /save` writes it) lets read the file, or null. Read means FILE_READ_DATA (0x1),
 * GENERIC_READ or GENERIC_ALL, or the rights strings that hold them (FA, FR, GA, GR, CC).
 */
export function everyoneReads(sddl: string): string | null {
  // icacls /save writes the file's name on one line (which may start with "D:\\") and the SDDL
  // on the next; the DACL is "D:" with its flags, then its entries.
  const line = sddl.split(/\r?\n/).find((l) => /^(O:|G:|D:)(?!\\)/.test(l.trim())) ?? '';
  const dacl = /D:(NO_ACCESS_CONTROL|(?:PAI|PAR|P|AI|AR)*)((?:\([^)]*\))*)/.exec(line);
  if (!dacl) return null;
  if (dacl[1] === 'NO_ACCESS_CONTROL') return 'Everyone (the file has no access control list at all)';
  for (const [, ace] of dacl[2]!.matchAll(/\(([^)]*)\)/g)) {
    const [type, , rights = '', , , sid = ''] = ace!.split(';');
    if (type !== 'A' || !(sid in BROAD)) continue;
    const mask = /^0x[0-9a-f]+$/i.test(rights) ? Number(rights) : 0;
    const codes = mask ? [] : rights.match(/../g) ?? [];
    // Reading, or rights to give oneself reading (WRITE_DAC 0x40000, WRITE_OWNER 0x80000).
    if ((mask & (0x1 | 0x40000 | 0x80000 | 0x80000000 | 0x10000000)) || codes.some((c) => ['FA', 'FR', 'GA', 'GR', 'CC', 'WD', 'WO'].includes(c))) return BROAD[sid]!;
  }
  return null;
}

/** Windows: the file's security descriptor as SDDL, from `icacls <file> /save` (language-neutral); null when icacls gives none (Wine). */
function readSddl(file: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'duplex-acl-'));
  try {
    const out = join(dir, 'acl.txt');
    const r = spawnSync('icacls', [file, '/save', out], { windowsHide: true, stdio: 'ignore', timeout: 10_000 });
    if (r.status !== 0 || !existsSync(out)) return null;
    const buf = readFileSync(out);
    const text = buf.toString(buf.includes(0) ? 'utf16le' : 'utf8');
    return /^(O:|G:|D:)(?!\\)/m.test(text) ? text : null;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
