/**
 * The end line of a domain file. `duplex init` writes it as the file's last line; a file
 * whose last non-empty line is not this line is "not finished" — still being written, or cut
 * short — and is never loaded, taken as a revision or sent to other servers. A file cut at
 * any byte before the end of this line loses it (a cut that removes only what follows the
 * line, blank space, loses nothing). Pure: no YAML parser, no IO.
 */

/** The last line of every domain file. */
export const END_LINE = '# end of domain file (Duplex: keep this line last)';

/** The same text with trailing spaces and a CR allowed (editors on Windows, trailing blanks). */
const isEndLine = (line: string): boolean => line.trimEnd() === END_LINE;

/** The index of the last line at or before `from` with something on it; -1 when none has. */
function lastFilled(lines: readonly string[], from = lines.length - 1): number {
  let i = from;
  while (i >= 0 && lines[i]!.trim() === '') i--;
  return i;
}

export type EndCheck =
  | { ok: true }
  /** The last non-empty line is not the end line; `anywhere`: the line is somewhere else in the file. */
  | { ok: false; kind: 'unfinished'; anywhere: number | null }
  /** The end line is last, but also on an earlier line (1-based): a cut after that one would look finished. */
  | { ok: false; kind: 'twice'; line: number };

/** Whether `text` ends with the end line (and has it only once). */
export function checkEnd(text: string): EndCheck {
  const lines = text.split('\n');
  const last = lastFilled(lines);
  const first = lines.findIndex(isEndLine);
  if (last < 0 || !isEndLine(lines[last]!)) return { ok: false, kind: 'unfinished', anywhere: first >= 0 ? first + 1 : null };
  if (first !== last) return { ok: false, kind: 'twice', line: first + 1 };
  return { ok: true };
}

/** `text` with the end line as its last line (added when it is not there). */
export function withEndLine(text: string): string {
  if (checkEnd(text).ok) return text;
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${END_LINE}\n`;
}

/**
 * Adds YAML text to a domain file before its end line (or at the end of a file that has
 * none, which then gets one). Tests and tools that extend a file written by `duplex init`.
 */
export function insertBeforeEnd(text: string, extra: string): string {
  const body = withoutEndLine(text);
  const add = extra.endsWith('\n') ? extra : `${extra}\n`;
  return `${body}${body === '' || body.endsWith('\n') ? '' : '\n'}${add}\n${END_LINE}\n`;
}

/** `text` without its end line (and the blank lines around it at the end). */
export function withoutEndLine(text: string): string {
  const lines = text.split('\n');
  let last = lastFilled(lines);
  if (last >= 0 && isEndLine(lines[last]!)) last = lastFilled(lines, last - 1);
  return last < 0 ? '' : `${lines.slice(0, last + 1).join('\n')}\n`;
}
