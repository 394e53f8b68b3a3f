/**
 * Reads and validates a domain file. Every problem names the file, the line,
 * the field and what is expected.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isCollection, LineCounter, parseDocument, type Document } from 'yaml';
import { domainSchema, type DomainConfig } from './schema';
import { DEFAULT_STATE_DIR } from '../defaults';
import type { DomainLocation } from './location';
import { checkEnd, END_LINE } from './end';

export interface Domain {
  file: string;
  config: DomainConfig;
}

export class DomainFileError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file} is not a valid domain file:\n  ${problems.join('\n  ')}`);
    this.name = 'DomainFileError';
  }
}

/**
 * A domain file that does not end with its end line (domain/end.ts): it is still being
 * written or was cut short. Never loaded, never taken as a revision, never sent.
 */
export class DomainFileUnfinished extends DomainFileError {
  constructor(file: string, problem: string) {
    super(file, [problem]);
    this.message = `the domain file ${file} ${problem}`;
  }
}

/** The problem with a domain file's end, or null when it ends with its end line (and has it once). */
export function endProblem(text: string, file: string): string | null {
  const end = checkEnd(text);
  if (end.ok) return null;
  if (end.kind === 'twice') {
    return `line ${end.line}: the end line "${END_LINE}" is there twice; keep it only as the last line of the file (delete the one on line ${end.line})`;
  }
  const where = end.anywhere !== null
    ? ` (it is on line ${end.anywhere}, with more after it)`
    : `. If it is a whole file from a Duplex that did not write this line yet, check it and add the line with: duplex domain finish ${file}`;
  return `does not end with the line "${END_LINE}": it may still be being written or was cut short; finish the edit and keep that line last${where}`;
}

/**
 * Parses and validates domain file text; throws DomainFileError listing every problem, or
 * DomainFileUnfinished when the text does not end with the end line.
 */
export function parseDomain(text: string, file: string): DomainConfig {
  const end = checkEnd(text);
  if (!end.ok) {
    const problem = endProblem(text, file)!;
    if (end.kind === 'unfinished') throw new DomainFileUnfinished(file, problem);
    throw new DomainFileError(file, [problem]);
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new DomainFileError(file, doc.errors.map((e) => `line ${lc.linePos(e.pos[0]).line}: YAML syntax: ${e.message.split('\n')[0]}`));
  }
  const parsed = domainSchema.safeParse(doc.toJS() ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const path = [...issue.path] as (string | number)[];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `line ${lineOf(doc, lc, [...path, k])}: ${fieldName([...path, k])}: unknown field (check its spelling)`).join('\n  ');
    }
    return `line ${lineOf(doc, lc, path)}: ${fieldName(path) || '(top level)'}: ${issue.message}`;
  });
  throw new DomainFileError(file, problems);
}

/** The text of a domain file and its absolute path; a file that cannot be read is a DomainFileError. */
export function readDomainText(file: string): { abs: string; text: string } {
  const abs = resolve(file);
  try {
    return { abs, text: readFileSync(abs, 'utf8') };
  } catch (e) {
    throw new DomainFileError(abs, [`cannot read the file: ${(e as Error).message}`]);
  }
}

export function loadDomain(file: string): Domain {
  const { abs, text } = readDomainText(file);
  return { file: abs, config: parseDomain(text, abs) };
}

/**
 * Finds the state folder even when the file has just been edited into something invalid
 * (the node keeps the last good revision and must stay reachable): the problems come back
 * beside a best-effort location.
 */
export function locateDomain(file: string): { domain: Domain; problem: null } | { domain: DomainLocation; problem: DomainFileError } {
  try {
    return { domain: loadDomain(file), problem: null };
  } catch (e) {
    if (!(e instanceof DomainFileError)) throw e;
    let stateDir = DEFAULT_STATE_DIR;
    try {
      const raw = parseDocument(readFileSync(resolve(file), 'utf8')).toJS() as { stateDir?: unknown } | null;
      if (typeof raw?.stateDir === 'string' && raw.stateDir) stateDir = raw.stateDir;
    } catch {
      // unreadable or not YAML at all: the default folder
    }
    return { domain: { file: resolve(file), config: { stateDir } }, problem: e };
  }
}

function fieldName(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** The line of the deepest node of `path` present in the document (a missing field points at its parent). */
function lineOf(doc: Document, lc: LineCounter, path: (string | number)[]): number {
  for (let n = path.length; n >= 0; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
    const range = (node as { range?: [number, number, number] } | undefined)?.range;
    if (range) {
      // A key's value that is a collection starts on the line after the key; pointing at the key reads better.
      const keyNode = n > 0 && isCollection(node) ? keyOf(doc, path.slice(0, n)) : null;
      return lc.linePos(keyNode ?? range[0]).line;
    }
  }
  return 1;
}

function keyOf(doc: Document, path: (string | number)[]): number | null {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  const last = path[path.length - 1];
  const items = (parent as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | null)?.items;
  if (!items || typeof last !== 'string') return null;
  const pair = items.find((it) => it.key?.value === last);
  return pair?.key?.range?.[0] ?? null;
}
