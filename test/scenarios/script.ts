/**
 * The script of a scenario as text: its lines (each a step of words, or the reason its words
 * could not be read), the words themselves, the values written after an operator, and the error
 * that names a file's line. The format is described at the top of runner.ts.
 */

export class ScenarioError extends Error {}

/** A line that holds a step: its number, its text (trimmed) and its words. */
export interface Line {
  n: number;
  text: string;
  words: string[];
}

/** A line whose words could not be read (an unclosed quote): its text as written. */
export interface BadLine {
  n: number;
  text: string;
  error: string;
}

/**
 * The steps of a script, top to bottom (lines with no words — blank, or only a comment — are
 * left out), and the number of its last line. A line whose words cannot be read is kept as a
 * BadLine: the scenario fails there when it reaches it, not before.
 */
export function stepsOf(text: string): { steps: (Line | BadLine)[]; lastLine: number } {
  const lines = text.split('\n');
  const steps: (Line | BadLine)[] = [];
  lines.forEach((t, i) => {
    const n = i + 1;
    let words: string[];
    try {
      words = wordsOf(t);
    } catch (e) {
      steps.push({ n, text: t, error: (e as Error).message });
      return;
    }
    if (words.length) steps.push({ n, text: t.trim(), words });
  });
  return { steps, lastLine: lines.length };
}

/** The error that stops a scenario: the file, the line and its text, what went wrong, then `picture` (every server now). */
export function lineError(file: string, line: { n: number; text: string }, what: string, picture: string): ScenarioError {
  return new ScenarioError(`${file}:${line.n}: ${line.text}\n  ${what.split('\n').join('\n  ')}\n${picture}`);
}

// ---------------------------------------------------------------- words

/**
 * Splits a line into words: quotes keep spaces, `/…/` after an operator keeps them too, a `,`
 * before a space (or at the end) is a word of its own (`a,b,w` stays one word), `#` ends the line.
 */
export function wordsOf(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ' ' || ch === '\t') {
      i++;
      continue;
    }
    if (ch === '#') break;
    if (ch === ',' && (i + 1 === text.length || text[i + 1] === ' ' || text[i + 1] === '\t')) {
      words.push(',');
      i++;
      continue;
    }
    let w = '';
    while (i < text.length && text[i] !== ' ' && text[i] !== '\t' && !(text[i] === ',' && (i + 1 === text.length || text[i + 1] === ' ' || text[i + 1] === '\t'))) {
      const c = text[i]!;
      const prev = w.at(-1);
      if (c === '"' || (c === '/' && (w === '' || '=~<>!'.includes(prev ?? '')))) {
        const end = closing(text, i);
        w += text.slice(i, end + 1);
        i = end + 1;
        continue;
      }
      w += c;
      i++;
    }
    words.push(w);
  }
  return words;
}

function closing(text: string, start: number): number {
  const q = text[start]!;
  for (let j = start + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === q) return j;
  }
  throw new Error(`no closing ${q}`);
}

// ---------------------------------------------------------------- values

export type Value = { kind: 'exact' | 'contains' | 'word'; s: string } | { kind: 'regex'; re: RegExp };

const OPS = ['!=', '!~', '<=', '>=', '=', '<', '>', '~'] as const;
export type Op = (typeof OPS)[number];

export function valueOf(raw: string): Value {
  if (raw.startsWith('="') && raw.endsWith('"') && raw.length >= 3) return { kind: 'exact', s: unquote(raw.slice(1)) };
  if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) return { kind: 'contains', s: unquote(raw) };
  if (raw.startsWith('/') && raw.lastIndexOf('/') > 0) {
    const end = raw.lastIndexOf('/');
    return { kind: 'regex', re: new RegExp(raw.slice(1, end), raw.slice(end + 1)) };
  }
  return { kind: 'word', s: raw };
}

function unquote(q: string): string {
  return q.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** A word that is `key=value` (or any operator); null otherwise. */
export function termOf(word: string): { key: string; op: Op; raw: string } | null {
  const m = /^([A-Za-z][\w.-]*)(!=|!~|<=|>=|=|<|>|~)(.*)$/s.exec(word);
  return m ? { key: m[1]!, op: m[2] as Op, raw: m[3]! } : null;
}

/** A word as plain text: quotes removed. */
export function plain(raw: string): string {
  return raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? unquote(raw) : raw;
}

export function show(v: unknown): string {
  if (v === undefined) return 'null';
  if (Array.isArray(v)) return v.map(show).join(',');
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** Whether `actual` stands in relation `op` to `expected`. */
export function compare(actual: unknown, op: Op, expected: Value): boolean {
  const a = show(actual);
  if (op === '~' || op === '!~') {
    const hit = expected.kind === 'regex' ? expected.re.test(a) : a.includes(expected.s);
    return op === '~' ? hit : !hit;
  }
  if (expected.kind === 'regex') throw new Error(`a /regex/ goes with ~ or !~, not ${op}`);
  if (op === '=' || op === '!=') {
    const same = a === expected.s || (isNum(a) && isNum(expected.s) && Number(a) === Number(expected.s));
    return op === '=' ? same : !same;
  }
  if (!isNum(a)) throw new Error(`${op} compares numbers; the value is ${a}`);
  if (!isNum(expected.s)) throw new Error(`${op} compares numbers; ${expected.s} is not one`);
  const x = Number(a);
  const y = Number(expected.s);
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

export function isNum(s: string): boolean {
  return s.trim() !== '' && Number.isFinite(Number(s));
}

export function valueText(v: Value): string {
  return v.kind === 'regex' ? String(v.re) : v.kind === 'word' ? v.s : JSON.stringify(v.s);
}
