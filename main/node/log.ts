/**
 * Logging for technicians: `time level [server] event: detail`, to the console and to a
 * rotating file, through electron-log's Node flavour (electron-log/main needs Electron).
 * Every detail is made one safe line (oneLine): what comes from outside cannot forge a line.
 * The heartbeat thread's lines come here with the time they happened (`write`): one writer
 * per file, and the heartbeat thread never waits for a disk to log.
 */
import electronLog from 'electron-log/node';
import { LOG_MAX_BYTES } from '../defaults';
import { eventLogSink } from '../util/event-log';
import { oneLine, type Logger } from '../util/logger';
import type { Level } from '../util/event-log';

/**
 * `eventLog`: also write role changes, fences, faults, warnings and errors to the Windows
 * Application log (the default on Windows).
 */
export interface NodeLogger extends Logger {
  /** A line that happened at `atMs` (ms since 1970), in another thread. */
  write(level: Level, event: string, detail: string, atMs: number): void;
}

export function createLogger(server: string, opts: { file?: string; console?: boolean; eventLog?: boolean } = {}): NodeLogger {
  const log = electronLog.create({ logId: `duplex-${server}-${process.pid}-${Math.random()}` });
  const format = `{y}-{m}-{d} {h}:{i}:{s}.{ms} {level} [${server}] {text}`;
  log.transports.console.format = format;
  log.transports.console.level = opts.console === false ? false : 'info';
  if (opts.file) {
    const file = opts.file;
    log.transports.file.resolvePathFn = () => file;
    log.transports.file.format = format;
    log.transports.file.maxSize = LOG_MAX_BYTES;
    log.transports.file.level = 'info';
  } else {
    log.transports.file.level = false;
  }
  for (const name of Object.keys(log.transports)) {
    const transport = log.transports[name] as { level: unknown } | undefined;
    if (transport && name !== 'console' && name !== 'file') transport.level = false;
  }
  const events = (opts.eventLog ?? process.platform === 'win32')
    ? eventLogSink(server, (why) => log.warn(`log: the Windows Event Log cannot be written (${why}); events are in this file only`))
    : () => undefined;
  const write = (level: Level, event: string, detail: string, atMs?: number) => {
    const safe = oneLine(detail);
    log.processMessage({ data: [`${event}: ${safe}`], level, date: atMs === undefined ? new Date() : new Date(atMs) });
    events(level, event, safe);
  };
  return {
    info: (event, detail, atMs) => write('info', event, detail, atMs),
    warn: (event, detail, atMs) => write('warn', event, detail, atMs),
    error: (event, detail, atMs) => write('error', event, detail, atMs),
    write,
    file: opts.file ?? null,
  };
}
