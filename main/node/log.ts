/**
 * Logging for technicians: `time level [server] event: detail`, to the console and to a
 * rotating file, through electron-log's Node flavour (electron-log/main needs Electron).
 */
import electronLog from 'electron-log/node';
import { LOG_MAX_BYTES } from '../defaults';
import { eventLogSink } from '../util/event-log';
import type { Logger } from '../util/logger';

/**
 * `eventLog`: also write role changes, fences, faults, warnings and errors to the Windows
 * Application log (the default on Windows).
 */
export function createLogger(server: string, opts: { file?: string; console?: boolean; eventLog?: boolean } = {}): Logger {
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
  return {
    info: (event, detail) => {
      log.info(`${event}: ${detail}`);
      events('info', event, detail);
    },
    warn: (event, detail) => {
      log.warn(`${event}: ${detail}`);
      events('warn', event, detail);
    },
    error: (event, detail) => {
      log.error(`${event}: ${detail}`);
      events('error', event, detail);
    },
    file: opts.file ?? null,
  };
}
