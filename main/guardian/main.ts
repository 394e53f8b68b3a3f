/**
 * The guardian's process: `node out/main/guardian/main.js --dir <node folder> --server <name>`.
 * Started detached by the node (GuardianClient); it logs to `<node folder>/logs/guardian.log`,
 * in the node's format (`time level [server] event: detail`) but without electron-log, which
 * would add 10 MB to a process that should stay small.
 */
import { join } from 'node:path';
import { LOG_MAX_BYTES } from '../defaults';
import { logTime, oneLine, type Logger } from '../util/logger';
import { RotatingFile } from '../util/rotating-file';
import { holdRuntimeTree } from '../runtime/hold';
import { Guardian } from './guardian';

function fileLogger(server: string, file: string): Logger {
  const out = new RotatingFile(file, LOG_MAX_BYTES);
  const line = (level: string) => (event: string, detail: string, atMs?: number) => {
    out.write(`${logTime(atMs ?? Date.now())} ${level} [${server}] ${event}: ${oneLine(detail)}\n`);
  };
  return { info: line('info'), warn: line('warn'), error: line('error'), file };
}

function arg(name: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : undefined;
  if (!v) {
    process.stderr.write(`duplex guardian: --${name} is missing (it is started by the Duplex node, not by hand)\n`);
    process.exit(2);
  }
  return v;
}

const dir = arg('dir');
const server = arg('server');
const log = fileLogger(server, join(dir, 'logs', 'guardian.log'));
// The node's terminal closing, or Ctrl+C in it, is not the guardian's business.
process.on('SIGHUP', () => undefined);
process.on('SIGINT', () => undefined);
// Here, on the main thread, before anything is spawned: a parent-death signal fires when the
// spawning thread ends, and on Windows what the guardian starts is in its job from birth.
const guardian = new Guardian(dir, log, () => setTimeout(() => process.exit(0), 50), holdRuntimeTree());
process.on('SIGTERM', () => {
  log.warn('guardian', 'asked to stop (SIGTERM): stopping the runtime processes');
  guardian.end();
});
process.on('uncaughtException', (e) => {
  log.error('guardian', `unexpected error: ${e.stack ?? e.message}; killing the runtime processes and ending`);
  guardian.end();
});
guardian.listen().catch((e: Error) => {
  log.error('guardian', `cannot listen: ${e.message}`);
  process.exit(1);
});
