/**
 * The guardian's process: `node out/main/guardian/main.js --dir <node folder> --server <name>`.
 * Started detached by the node (GuardianClient); it logs to `<node folder>/logs/guardian.log`.
 */
import { join } from 'node:path';
import { createLogger } from '../node/log';
import { Guardian } from './guardian';

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
const log = createLogger(server, { file: join(dir, 'logs', 'guardian.log'), console: false });
// The node's terminal closing, or Ctrl+C in it, is not the guardian's business.
process.on('SIGHUP', () => undefined);
process.on('SIGINT', () => undefined);
const guardian = new Guardian(dir, log, () => setTimeout(() => process.exit(0), 50));
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
