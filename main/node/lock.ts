/** One node per server: `node.lock` holds the pid of the node that runs it. */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { isAlive } from '../util/process';
import type { Logger } from '../util/logger';

/** Takes the lock or throws saying which node holds it. A lock left by a node that is gone is removed. */
export function takeLock(file: string, server: string, log: Logger): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new Error(`a Duplex node for server ${server} is already running (pid ${pid}); stop it first`);
      }
      log.warn('start', `removing the stale lock of a node that is gone (pid ${pid || 'unknown'})`);
      rmSync(file, { force: true });
    }
  }
  throw new Error(`cannot take the lock ${file}`);
}

/** Releases the lock if this process holds it. */
export function releaseLock(file: string): void {
  try {
    if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
  } catch {
    // no lock to release
  }
}
