/**
 * Where a domain's files are, without loading its schema or a YAML parser: the CLI finds a
 * node's admin endpoint from the domain file's `stateDir` alone (loading yaml and zod costs
 * more than the whole command should).
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { DEFAULT_STATE_DIR, DOMAIN_FILE_CEILING_BYTES } from '../defaults';
import { readCapped, type Capped } from '../util/capped';

/**
 * One read of a domain file (readCapped up to DOMAIN_FILE_CEILING_BYTES). Each use reads the file
 * afresh by default; the CLI passes one that reads it once per command (cli/domain-file.ts).
 */
export type DomainFileRead = () => Capped;

/** The domain file at `file`, read as it is now. */
export const readNow = (file: string): DomainFileRead => () => readCapped(resolve(file), DOMAIN_FILE_CEILING_BYTES);

/** What is needed to find a server's node from its domain file. */
export interface DomainLocation {
  file: string;
  config: { stateDir: string };
}

/**
 * A server that is not in the domain file: the same sentence from every command that names one
 * (`duplex run`, `status`, a command, `diag`); the CLI's exit code for wrong usage.
 */
export class UnknownServerError extends Error {
  /** `where`: the domain file, or whose copy of it was asked; `servers`: the servers it has. */
  constructor(server: string, where: string, readonly servers: readonly string[]) {
    super(`server "${server}" is not in ${where}; its servers are: ${servers.join(', ')}`);
    this.name = 'UnknownServerError';
  }
}

/** Why a domain file that is not there cannot be used, and how to get one. */
export function missingDomainFileSentence(file: string): string {
  return `the domain file ${resolve(file)} does not exist. Check the path (--domain, or DUPLEX_DOMAIN); ` +
    `on a server joining a domain, copy the domain file and its secret from another server; for a new domain, write both with: duplex init --domain ${file} --servers <a>,<b>`;
}

/** A path from the domain file, relative to the domain file's folder. */
export function domainPath(domain: DomainLocation, p: string): string {
  return isAbsolute(p) ? p : resolve(dirname(domain.file), p);
}

/**
 * The `stateDir` of a domain file's text, read without a YAML parser: a top-level
 * `stateDir:` line with a plain, single- or double-quoted value. null: the file does not set
 * it (the default applies). undefined: it says it in a way this does not read (a multi-line
 * or flow value, anchors, the key twice); the caller then parses the YAML.
 */
export function quickStateDir(text: string): string | null | undefined {
  const lines = text.split(/\r?\n/).filter((l) => /^stateDir\s*:/.test(l));
  if (lines.length === 0) return /stateDir/.test(text) ? undefined : null;
  if (lines.length > 1) return undefined;
  const value = lines[0]!.replace(/^stateDir\s*:/, '').trim();
  if (value.startsWith('"')) {
    const m = /^("(?:[^"\\]|\\["\\/bfnrt])*")\s*(#.*)?$/.exec(value);
    return m ? (JSON.parse(m[1]!) as string) || undefined : undefined;
  }
  if (value.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'\s*(#.*)?$/.exec(value);
    return m && m[1] ? m[1].replace(/''/g, "'") : undefined;
  }
  const plain = value.replace(/\s+#.*$/, '').trim();
  // Empty (a value on the next lines) or starting with a YAML indicator: leave it to the parser.
  if (!plain || /^[&*!|>{[%@`#,?:-]/.test(plain)) return undefined;
  return plain;
}

/**
 * The location of a domain file from its `stateDir` line; undefined when the file cannot be
 * read or `stateDir` is written in a way that needs the YAML parser (domain/load.ts). `read`
 * gives its bytes (by default read now).
 */
export function quickLocate(file: string, read: DomainFileRead = readNow(file)): DomainLocation | undefined {
  let text: string;
  try {
    const got = read();
    if (!('bytes' in got)) return undefined;
    text = got.bytes.toString('utf8');
  } catch {
    return undefined;
  }
  const stateDir = quickStateDir(text);
  return stateDir === undefined ? undefined : { file: resolve(file), config: { stateDir: stateDir ?? DEFAULT_STATE_DIR } };
}
