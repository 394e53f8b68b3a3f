/**
 * The logging port: one line per event, `time level [server] event: detail`, in words a
 * technician acts on. The node's implementation is electron-log (node/log.ts); tests and the
 * simulation pass their own.
 */
export interface Logger {
  /** `atMs` (ms since 1970): when it happened, when that is not now (a logger may ignore it). */
  info(event: string, detail: string, atMs?: number): void;
  warn(event: string, detail: string, atMs?: number): void;
  error(event: string, detail: string, atMs?: number): void;
  readonly file: string | null;
}

const two = (n: number, w = 2) => String(n).padStart(w, '0');

/** A moment (ms since 1970) as the log lines' time of day, on this computer's clock: `HH:MM:SS.mmm`. */
export function timeOfDay(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${two(d.getMilliseconds(), 3)}`;
}

/** A moment as a log line's time: `YYYY-MM-DD HH:MM:SS.mmm` on this computer's clock. */
export function logTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${timeOfDay(ms)}`;
}

/** A logger that drops everything (tests that do not read the log). */
export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, file: null };

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A string from outside (a request's path, a relayed command's reason, a peer's name, a stack
 * trace) made safe for one log line: line breaks, other control characters and the Unicode
 * marks that reorder or break text are written as escapes, so nobody can forge a line or hide
 * one. Backslashes stay as they are (Windows paths must stay readable).
 */
export function oneLine(text: string): string {
  return text.replace(UNSAFE, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
