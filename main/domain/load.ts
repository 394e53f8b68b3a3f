/**
 * Reads and validates a domain file. Every problem names the file, the line, the field and
 * what is expected.
 *
 * What a wrong file can cost is bounded. Its size is known before a byte is read (the limit is
 * the file's own sync.maxDomainFileBytes, 1 MB by default, at most DOMAIN_FILE_CEILING_BYTES:
 * a file above the default that does not name the field is refused unparsed). Parsing is
 * bounded too: aliases expand to at most MAX_ALIAS_COUNT values (a "billion laughs" file is a
 * DomainFileError, not a crash), flow collections nest at most MAX_FLOW_DEPTH deep (the YAML
 * parser is quadratic in that depth: 1 MB of "[" took 15 s), duplicate keys are found in
 * linear time (the parser's own check is quadratic in a map's size), and at most
 * MAX_PROBLEMS problems are listed.
 */
import { type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { CST, isAlias, isCollection, isScalar, Lexer, LineCounter, parseDocument, visit, type Document, type Node as YamlNode, type YAMLError } from 'yaml';
import { domainSchema, type DomainConfig } from './schema';
import { DEFAULT_STATE_DIR, DEFAULT_SYNC, DOMAIN_FILE_CEILING_BYTES } from '../defaults';
import { missingDomainFileSentence, quickStateDir, readNow, type DomainFileRead, type DomainLocation } from './location';
import { checkEnd, END_LINE } from './end';
import { domainFileProblem } from './access';

/** Values that aliases may expand to in all (the yaml package's default, named): a domain file needs a few at most. */
const MAX_ALIAS_COUNT = 100;
/** Flow collections ([…], {…}) inside each other: a domain file needs two or three. */
const MAX_FLOW_DEPTH = 32;
/** Problems listed in one error; the rest are counted. */
const MAX_PROBLEMS = 20;
/** The field that raises a domain file's size limit: a larger file that does not name it is refused without parsing. */
const LIMIT_FIELD = 'maxDomainFileBytes';

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
 * A domain file refused as a file, before its content counts: too large, or open to changes
 * by others. The message is the one sentence that says why and what to do.
 */
export class DomainFileRefused extends DomainFileError {
  constructor(file: string, sentence: string) {
    super(file, [sentence]);
    this.message = sentence;
  }
}

/**
 * A domain file that is not YAML: one line with the file, the line and column of the first
 * syntax error, and what is wrong in plain words (the errors after it often follow from it).
 */
export class DomainFileSyntaxError extends DomainFileError {
  constructor(file: string, readonly line: number, readonly column: number, words: string) {
    const problem = `line ${line}, column ${column}: ${words}`;
    super(file, [problem]);
    this.message = `${file} ${problem}`;
  }
}

/** A YAML syntax error of the yaml package in plain words, with what to check. */
export function yamlErrorWords(e: Pick<YAMLError, 'code' | 'message'>): string {
  const m = e.message.split('\n')[0]!;
  const indent = '(check the indentation)';
  const notKeyValue = 'this line is not "key: value" (is the ":" after the key, or the space after the ":", missing? check the indentation)';
  switch (e.code) {
    case 'TAB_AS_INDENT':
      return 'a tab indents this line; indent with spaces only';
    case 'BAD_INDENT':
      if (/^Flow sequence/.test(m)) return 'a [ list is not closed with ] on its line, or the line after it is not indented enough';
      if (/^Flow mapping/.test(m)) return 'a { map is not closed with } on its line, or the line after it is not indented enough';
      return `this line does not start in the same column as the others of its section ${indent}`;
    case 'MISSING_CHAR': {
      const quote = /^Missing closing (["'])/.exec(m)?.[1];
      if (quote) return `the ${quote} that starts this value is never closed: add the closing ${quote} at the end of the value`;
      if (/without - indicator/.test(m)) return `this line is indented as an item of a list but does not start with "- " ${indent}`;
      if (/followed by map values/.test(m)) return notKeyValue;
      if (/^Missing space after :/.test(m)) return 'a ":" needs a space after it';
      return `${lowerFirst(m)} ${indent}`;
    }
    case 'BLOCK_AS_IMPLICIT_KEY':
      return 'a mapping value is not allowed here (check the indentation; a value that holds ": " needs quotes)';
    case 'MULTILINE_IMPLICIT_KEY':
      return notKeyValue;
    case 'UNEXPECTED_TOKEN':
      return `unexpected text here (the YAML parser says: ${m}) ${indent}`;
    case 'BAD_DQ_ESCAPE':
      return 'a backslash in a "double-quoted" value starts an escape that YAML does not know: write \\\\ for one backslash, or put the value in single quotes (as for a Windows path)';
    case 'BAD_SCALAR_START':
      return `${lowerFirst(m).replace(/^plain value/, 'a value')}: put the value in quotes`;
    case 'MULTIPLE_DOCS':
      return 'a second YAML document starts here (a line "---" or "..."); a domain file is one document: remove that line';
    case 'BLOCK_IN_FLOW':
      return 'a block (a "- " item or a "key: value" line) inside [ ] or { }: write what is inside the brackets on one line, or leave the brackets out';
    default:
      return `${lowerFirst(m)} (a YAML syntax error)`;
  }
}

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/**
 * A document's syntax error as one line: the first error, at the first character past the
 * indentation it points at; a quoted value that is never closed, at its opening quote (the
 * parser reports where it gave up, often lines further on).
 */
function syntaxError(file: string, doc: Document, text: string, lc: LineCounter): DomainFileSyntaxError {
  const first = [...doc.errors].sort((a, b) => a.pos[0] - b.pos[0])[0]!;
  let at = Math.min(first.pos[0], text.length);
  if (first.code === 'MISSING_CHAR' && /^Missing closing/.test(first.message)) {
    visit(doc, {
      Scalar(_key, node) {
        if ((node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE') && node.range?.[1] === first.pos[0]) return ((at = node.range[0]), visit.BREAK);
        return undefined;
      },
    });
  }
  while (text[at] === ' ') at++;
  const { line, col } = lc.linePos(at);
  return new DomainFileSyntaxError(file, line, col, yamlErrorWords(first));
}

/** Bytes as people read them: 1 MB, 4 MB, 1.5 MB, 900 KB. */
function sizeWords(bytes: number): string {
  return bytes >= 1024 ** 2 ? `${+(bytes / 1024 ** 2).toFixed(1)} MB` : `${+(bytes / 1024).toFixed(1)} KB`;
}

/** Why a domain file of `size` bytes is refused for its size against `limit`, and what to do. */
export function tooLargeSentence(file: string, size: number, limit: number = DEFAULT_SYNC.maxDomainFileBytes): string {
  return `${file} is ${size.toLocaleString('en-US')} bytes, above the ${sizeWords(limit)} limit for a domain file. ` +
    'A domain file holds settings, not data: keep notes and long lists elsewhere and shorten it' +
    (limit < DOMAIN_FILE_CEILING_BYTES ? `, or raise the limit with sync.${LIMIT_FIELD} (at most ${DOMAIN_FILE_CEILING_BYTES}, ${sizeWords(DOMAIN_FILE_CEILING_BYTES)}) in the file itself` : '');
}

/**
 * Why domain file content of `size` bytes is refused before it is parsed, or null: above the
 * ceiling; or above the default limit when the bytes (if read) do not name the field that
 * raises it. The file's own limit is checked once it is parsed (parseDomain).
 */
export function sizeRefusal(file: string, size: number, bytes?: Buffer): string | null {
  if (size <= DEFAULT_SYNC.maxDomainFileBytes) return null;
  if (size > DOMAIN_FILE_CEILING_BYTES || (bytes && !bytes.includes(LIMIT_FIELD))) return tooLargeSentence(file, size);
  return null;
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
  const nesting = flowNestingProblem(text);
  if (nesting) throw new DomainFileError(file, [nesting]);
  const lc = new LineCounter();
  let doc: Document;
  let raw: unknown;
  try {
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
    if (doc.errors.length) throw syntaxError(file, doc, text, lc);
    const duplicates = duplicateKeys(doc, lc);
    if (duplicates.length) throw new DomainFileError(file, listed(duplicates));
    raw = toJS(doc, lc, file) ?? {};
  } catch (e) {
    if (e instanceof DomainFileError) throw e;
    // The YAML parser gave up in a way it does not report as an error (a bug of its own, a stack too deep…).
    throw new DomainFileError(file, [`the YAML parser could not read the file (${(e as Error).message.split('\n')[0]}); check its syntax`]);
  }
  const parsed = domainSchema.safeParse(raw);
  if (parsed.success) {
    const size = Buffer.byteLength(text, 'utf8');
    const limit = parsed.data.sync.maxDomainFileBytes;
    if (size > limit) throw new DomainFileError(file, [`line ${lineOf(doc, lc, ['sync', LIMIT_FIELD])}: ${tooLargeSentence(file, size, limit)}`]);
    return parsed.data;
  }
  const problems = parsed.error.issues.flatMap((issue) => {
    const path = [...issue.path] as (string | number)[];
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `line ${lineOf(doc, lc, [...path, k])}: ${fieldName([...path, k])}: unknown field (check its spelling)`);
    }
    return [`line ${lineOf(doc, lc, path)}: ${fieldName(path) || '(top level)'}: ${issue.message}`];
  });
  throw new DomainFileError(file, listed(problems));
}

function listed(problems: string[]): string[] {
  if (problems.length <= MAX_PROBLEMS) return problems;
  return [...problems.slice(0, MAX_PROBLEMS), `… and ${problems.length - MAX_PROBLEMS} more problems`];
}

/** Flow collections nested deeper than MAX_FLOW_DEPTH, found by the YAML lexer (linear, stops there), with the line. */
function flowNestingProblem(text: string): string | null {
  let depth = 0;
  let line = 1;
  for (const token of new Lexer().lex(text)) {
    const type = CST.tokenType(token);
    if (type === 'flow-seq-start' || type === 'flow-map-start') {
      if (++depth > MAX_FLOW_DEPTH) return `line ${line}: more than ${MAX_FLOW_DEPTH} [ or { inside each other; a domain file needs a few at most`;
    } else if (type === 'flow-seq-end' || type === 'flow-map-end') {
      depth = Math.max(0, depth - 1);
    }
    for (let i = token.indexOf('\n'); i !== -1; i = token.indexOf('\n', i + 1)) line++;
  }
  return null;
}

/** Keys that a map has twice (the parser's own check, uniqueKeys, is quadratic in the map's size). */
function duplicateKeys(doc: Document, lc: LineCounter): string[] {
  const problems: string[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const k = pair.key.value;
        if (seen.has(k)) problems.push(`line ${lc.linePos(pair.key.range?.[0] ?? 0).line}: the key "${String(k)}" is there twice in the same section; keep one`);
        seen.add(k);
      }
    },
  });
  return problems;
}

/** The document's value; aliases that expand too far (a "billion laughs" file) are a DomainFileError naming the line. */
function toJS(doc: Document, lc: LineCounter, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    if (!/alias/i.test((e as Error).message)) throw e;
    // The first alias of an anchor that itself holds aliases: where the expansion multiplies.
    const found: { at: YamlNode | null; first: YamlNode | null } = { at: null, first: null };
    visit(doc, {
      Alias(_key, alias) {
        found.first ??= alias;
        const source = alias.resolve(doc);
        let nested = false;
        if (source && isCollection(source)) visit(source, { Alias: () => ((nested = true), visit.BREAK) });
        if (nested) return ((found.at = alias), visit.BREAK);
        return undefined;
      },
    });
    const node = found.at ?? found.first;
    const line = node?.range ? `line ${lc.linePos(node.range[0]).line}: ` : '';
    const name = node && isAlias(node) ? `*${node.source}` : 'aliases';
    const problem = /Excessive alias count/.test((e as Error).message)
      ? `${line}${name} makes the aliases expand to more than ${MAX_ALIAS_COUNT} values (aliases of anchors that hold aliases: a "billion laughs" file?); write the values out instead`
      : `${line}${(e as Error).message}`;
    throw new DomainFileError(file, [problem]);
  }
}

/**
 * The bytes of a domain file, read only when its size allows (sizeRefusal: never more than
 * DOMAIN_FILE_CEILING_BYTES into memory), with the stats of the file read. A file that
 * cannot be read, or is too large, is a DomainFileError. `readFile` reads it (by default now).
 */
export function readDomainBytes(abs: string, readFile: DomainFileRead = readNow(abs)): { bytes: Buffer; stats: Stats } {
  let read: ReturnType<DomainFileRead>;
  try {
    read = readFile();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new DomainFileRefused(abs, missingDomainFileSentence(abs));
    throw new DomainFileError(abs, [`cannot read the file: ${(e as Error).message}`]);
  }
  if ('tooLarge' in read) throw new DomainFileRefused(abs, tooLargeSentence(abs, read.tooLarge));
  const refusal = sizeRefusal(abs, read.bytes.length, read.bytes);
  if (refusal) throw new DomainFileRefused(abs, refusal);
  return read;
}

/** The text of a domain file and its absolute path; a file that cannot be read or is too large is a DomainFileError. */
export function readDomainText(file: string): { abs: string; text: string } {
  const abs = resolve(file);
  return { abs, text: readDomainBytes(abs).bytes.toString('utf8') };
}

/** Why the node refuses this domain file as a file (others can change it), as a DomainFileRefused; nothing when it is safe. */
export function checkDomainFileAccess(abs: string, st?: Stats): void {
  let problem: string | null;
  try {
    problem = domainFileProblem(abs, st);
  } catch (e) {
    throw new DomainFileError(abs, [`cannot check who may change the file: ${(e as Error).message}`]);
  }
  if (problem) throw new DomainFileRefused(abs, problem);
}

/** Reads, checks (size, who may change it) and validates a domain file; `read` gives its bytes (by default read now). */
export function loadDomain(file: string, read?: DomainFileRead): Domain {
  const abs = resolve(file);
  const { bytes, stats } = readDomainBytes(abs, read);
  checkDomainFileAccess(abs, stats);
  return { file: abs, config: parseDomain(bytes.toString('utf8'), abs) };
}

/**
 * Finds the state folder even when the file has just been edited into something invalid
 * (the node keeps the last good revision and must stay reachable): the problems come back
 * beside a best-effort location.
 */
export function locateDomain(file: string, read: DomainFileRead = readNow(file)): { domain: Domain; problem: null } | { domain: DomainLocation; problem: DomainFileError } {
  try {
    return { domain: loadDomain(file, read), problem: null };
  } catch (e) {
    if (!(e instanceof DomainFileError)) throw e;
    let stateDir = DEFAULT_STATE_DIR;
    try {
      // Only a file of a size that is read at all; the YAML parser only when the line alone does
      // not say, never on deep nesting, never expanding aliases (what made it fail may be a bomb).
      const got = read();
      const text = 'bytes' in got ? got.bytes.toString('utf8') : '';
      const quick = quickStateDir(text);
      const raw = quick !== undefined || flowNestingProblem(text) ? { stateDir: quick } : parseDocument(text).toJS({ maxAliasCount: 0 }) as { stateDir?: unknown } | null;
      if (typeof raw?.stateDir === 'string' && raw.stateDir) stateDir = raw.stateDir;
    } catch {
      // unreadable, not YAML at all, or it uses aliases: the default folder
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
