/**
 * The logging port: one line per event, `time level [server] event: detail`, in words a
 * technician acts on. The node's implementation is electron-log (node/log.ts); tests and the
 * simulation pass their own.
 */
export interface Logger {
  info(event: string, detail: string): void;
  warn(event: string, detail: string): void;
  error(event: string, detail: string): void;
  readonly file: string | null;
}

/** A logger that drops everything (tests that do not read the log). */
export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined, file: null };
