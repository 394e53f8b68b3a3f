/**
 * Who may change or read the two files that command a server. The domain file names the
 * programs the node runs as root or SYSTEM: anyone who can change it can run anything there
 * (keepalived's enable_script_security refuses such scripts for the same reason). The secret
 * lets whoever reads it speak for the domain. Each check gives the command that fixes it.
 *
 * Linux: the mode bits. The domain file must not be writable by its group or others, nor may
 * any folder above it let them replace it (group- or other-writable without the sticky bit).
 * Its owner is trusted, as the owner of a script is by sudo and keepalived: the owner can
 * always change the mode back. Windows: the ACL, as `icacls /save` writes it (SDDL): no group
 * that every user is in (Everyone, Users, Authenticated Users…) may change the file, nor
 * replace it or pass write rights on to new files through its folder (what Duplex writes there
 * inherits the folder's ACL).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, win32 } from 'node:path';

/** A path as one word for a POSIX shell. */
export function shellWord(p: string): string {
  return /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
}

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');
const whoWrites = (mode: number) => (mode & 0o020 && mode & 0o002 ? 'its group and every user' : mode & 0o002 ? 'every user' : 'its group');

/**
 * Linux: why the domain file `file` (its stats `st`) may be changed or replaced by someone
 * other than its owner and root, with the chmod that fixes it; null when it may not.
 */
export function posixDomainFileProblem(file: string, st: Pick<Stats, 'mode'>, statOf: (p: string) => Pick<Stats, 'mode'> = statSync): string | null {
  const why = 'it names the programs Duplex runs, as root when it runs as a service, so whoever can change it can run anything on this server';
  if (st.mode & 0o022) {
    return `the domain file ${file} can be changed by ${whoWrites(st.mode)} (mode ${octal(st.mode)}): ${why}. Run: chmod go-w ${shellWord(file)}`;
  }
  let real = file;
  try {
    real = realpathSync.native(file);
  } catch {
    // gone meanwhile: the folders of the path as given
  }
  for (let dir = dirname(real); ; dir = dirname(dir)) {
    const d = statOf(dir);
    if (d.mode & 0o022 && !(d.mode & 0o1000)) {
      return `the folder ${dir} lets ${whoWrites(d.mode)} replace the domain file ${file} (mode ${octal(d.mode)}): ${why}. Run: chmod go-w ${shellWord(dir)} (or chmod +t ${shellWord(dir)} if others must create files there)`;
    }
    if (dirname(dir) === dir) return null;
  }
}

/** Linux: why the secret (its stats `st`) is refused, with the chmod that fixes it; null when only its owner can read and write it. */
export function posixSecretProblem(file: string, st: Pick<Stats, 'mode'>): string | null {
  if (!(st.mode & 0o077)) return null;
  const what = st.mode & 0o044 && st.mode & 0o022 ? 'read and changed' : st.mode & 0o044 ? 'read' : 'changed';
  return `the domain secret ${file} can be ${what} by other users (mode ${octal(st.mode)}): whoever reads it can command every server of the domain, whoever changes it can cut this server off. Run: chmod 600 ${shellWord(file)}, then start Duplex again`;
}

// ------------------------------------------------------------------ Windows ACLs (SDDL)

/** Groups every local user is in, by their SDDL abbreviation or SID. */
const BROAD: Record<string, string> = {
  WD: 'Everyone', 'S-1-1-0': 'Everyone', BU: 'Users', 'S-1-5-32-545': 'Users',
  AU: 'Authenticated Users', 'S-1-5-11': 'Authenticated Users', BG: 'Guests', 'S-1-5-32-546': 'Guests',
  IU: 'Interactive users', 'S-1-5-4': 'Interactive users', NU: 'Network users', 'S-1-5-2': 'Network users',
  AN: 'Anonymous', 'S-1-5-7': 'Anonymous', DU: 'Domain Users', DG: 'Domain Guests',
};

/** SDDL rights codes as access-mask bits (for files and folders: CC read data or list, DC write data or add file, LC append or add folder, DT delete child). */
const RIGHTS: Record<string, number> = {
  GA: 0x10000000, GR: 0x80000000, GW: 0x40000000, GX: 0x20000000,
  FA: 0x1f01ff, FR: 0x120089, FW: 0x120116, FX: 0x1200a0,
  SD: 0x10000, RC: 0x20000, WD: 0x40000, WO: 0x80000,
  CC: 0x1, DC: 0x2, LC: 0x4, SW: 0x8, RP: 0x10, WP: 0x20, DT: 0x40, LO: 0x80, CR: 0x100,
};
const READ_DATA = 0x1;
const WRITE_DATA = 0x2;
const APPEND_DATA = 0x4;
const DELETE_CHILD = 0x40;
const DELETE = 0x10000;
const WRITE_DAC = 0x40000;
const WRITE_OWNER = 0x80000;
const GENERIC_ALL = 0x10000000;
const GENERIC_WRITE = 0x40000000;
const GENERIC_READ = 0x80000000;
/** Rights to read a file, or to give oneself that right. */
const READS = READ_DATA | GENERIC_READ | GENERIC_ALL | WRITE_DAC | WRITE_OWNER;
/** Rights to change a file's content, delete it (and put another in its place), or give oneself these rights. */
const WRITES = WRITE_DATA | APPEND_DATA | DELETE | GENERIC_WRITE | GENERIC_ALL | WRITE_DAC | WRITE_OWNER;
/** Rights on a folder to replace a file in it, or to give oneself that right. */
const REPLACES = DELETE_CHILD | GENERIC_ALL | WRITE_DAC | WRITE_OWNER;

interface Ace {
  type: string;
  flags: string[];
  mask: number;
  sid: string;
}

function maskOf(rights: string): number {
  if (/^0x[0-9a-f]+$/i.test(rights)) return Number(rights);
  return (rights.match(/../g) ?? []).reduce((m, code) => m | (RIGHTS[code] ?? 0), 0);
}

/** The DACL's entries of an SDDL as `icacls /save` writes it; 'none' for a file without a DACL (everyone may do anything); null when there is no DACL line. */
function daclOf(sddl: string): Ace[] | 'none' | null {
  // icacls /save writes the file's name on one line (which may start with "D:\\") and the SDDL
  // on the next; the DACL is "D:" with its flags, then its entries.
  const line = sddl.split(/\r?\n/).find((l) => /^(O:|G:|D:)(?!\\)/.test(l.trim())) ?? '';
  const dacl = /D:(NO_ACCESS_CONTROL|(?:PAI|PAR|P|AI|AR)*)((?:\([^)]*\))*)/.exec(line);
  if (!dacl) return null;
  if (dacl[1] === 'NO_ACCESS_CONTROL') return 'none';
  return [...dacl[2]!.matchAll(/\(([^)]*)\)/g)].map(([, ace]) => {
    const [type = '', flags = '', rights = '', , , sid = ''] = ace!.split(';');
    return { type, flags: flags.match(/../g) ?? [], mask: maskOf(rights), sid };
  });
}

/** The broad group that an access-allowed entry of the DACL gives one of `rights` (an entry that only passes rights on to children, IO, does not count), or null. */
function broadWith(sddl: string, rights: number, where: (ace: Ace) => boolean = (a) => !a.flags.includes('IO')): string | null {
  const dacl = daclOf(sddl);
  if (dacl === 'none') return 'Everyone (the file has no access control list at all)';
  for (const ace of dacl ?? []) {
    if (ace.type === 'A' && ace.sid in BROAD && ace.mask & rights && where(ace)) return BROAD[ace.sid]!;
  }
  return null;
}

/**
 * The broad group (Everyone, Users…) an access-allowed entry of this DACL (SDDL, as
 * `icacls /save` writes it) lets read the file, or null. Read means FILE_READ_DATA (0x1),
 * GENERIC_READ or GENERIC_ALL, or the rights to give oneself reading (WRITE_DAC, WRITE_OWNER).
 */
export function everyoneReads(sddl: string): string | null {
  return broadWith(sddl, READS);
}

/** The broad group this DACL lets change, delete (and replace) the file, or give itself these rights; null when none. */
export function everyoneWrites(sddl: string): string | null {
  return broadWith(sddl, WRITES);
}

/**
 * The broad group this folder's DACL lets replace a file in it (delete child, full control,
 * rights on its ACL), or pass write rights on to the files created in it (an entry that
 * objects inherit, OI); null when none.
 */
export function everyoneReplaces(sddl: string): string | null {
  return broadWith(sddl, REPLACES) ?? broadWith(sddl, WRITES, (a) => a.flags.includes('OI'));
}

/** Windows: the file's security descriptor as SDDL, from `icacls <file> /save` (language-neutral); null when icacls gives none (Wine). */
export function readSddl(file: string): string | null {
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

/** The ACL `duplex service install` and these messages give: SYSTEM and Administrators full control, Users read. */
const SAFE_GRANTS = (inherit: string) => `*S-1-5-18:${inherit}F *S-1-5-32-544:${inherit}F *S-1-5-32-545:${inherit}RX`;

/**
 * Windows: why the domain file may be changed or replaced by a group every user is in, with
 * the icacls commands that fix it; null when it may not, or when its ACL cannot be read
 * (Wine; the secret's check says so in the log). `sddlOf` reads a path's SDDL.
 */
export function windowsDomainFileProblem(file: string, sddlOf: (p: string) => string | null = readSddl): string | null {
  const why = 'it names the programs Duplex runs as SYSTEM, so anyone who logs on to this server could run anything on it';
  const folder = win32.dirname(file);
  const folderSddl = sddlOf(folder);
  const replacer = folderSddl === null ? null : everyoneReplaces(folderSddl);
  if (replacer) {
    return `the folder ${folder} lets ${replacer} change or replace the domain file ${file} (and the files Duplex writes there inherit that): ${why}. ` +
      `Run as Administrator: icacls "${folder}" /inheritance:r /grant:r ${SAFE_GRANTS('(OI)(CI)')} (add your service account with :(OI)(CI)M if Duplex does not run as SYSTEM), then: icacls "${file}" /reset`;
  }
  const sddl = sddlOf(file);
  const writer = sddl === null ? null : everyoneWrites(sddl);
  if (writer) {
    return `the domain file ${file} can be changed by ${writer}: ${why}. Run as Administrator: icacls "${file}" /inheritance:r /grant:r ${SAFE_GRANTS('')}`;
  }
  return null;
}

/**
 * Why this domain file must not be used (someone besides its owner and administrators can
 * change or replace it), with the command that fixes it; null when it is safe.
 */
export function domainFileProblem(file: string, st: Pick<Stats, 'mode'> = statSync(file), platform: NodeJS.Platform = process.platform): string | null {
  return platform === 'win32' ? windowsDomainFileProblem(file) : posixDomainFileProblem(file, st);
}
