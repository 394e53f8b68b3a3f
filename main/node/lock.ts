/**
 * One node per server: `node.lock` holds the pid of the node that runs it and when that
 * process started. A lock whose process is gone is removed: its pid is not alive, the lock was
 * written before the machine last booted (a power cut; the pid may since belong to anything),
 * or the process under that pid started at another time than the one recorded. Linux tells
 * both by the boot's id and the start in ticks since boot; elsewhere the wall clock and the
 * system's creation time (wmic) do, so there a clock stepped by hours could misjudge a lock.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { uptime } from 'node:os';
import { bootId, isAlive, processStartMs, startTicks } from '../util/process';
import type { Logger } from '../util/logger';

/** Start times measured two ways (the process's own clock, the system's table) agree to this. */
const START_SLACK_MS = 2_000;

export interface LockRecord {
  pid: number;
  /** When the process started (ms since the epoch), as the system tells it where it can. */
  startedAt: number;
  /** Linux: the boot's id and the process's start in ticks since boot; immune to clock steps. */
  boot?: string;
  ticks?: number;
}

/** What the lock records of this process. */
function ownRecord(): LockRecord {
  const startedAt = processStartMs(process.pid) ?? Math.round(Date.now() - process.uptime() * 1000);
  const boot = bootId();
  const ticks = startTicks(process.pid);
  return boot && ticks !== null ? { pid: process.pid, startedAt, boot, ticks } : { pid: process.pid, startedAt };
}

function readLock(file: string): LockRecord {
  const text = readFileSync(file, 'utf8').trim();
  if (/^\d+$/.test(text)) return { pid: Number(text), startedAt: 0 }; // written by Duplex 0.2 and earlier: a pid alone
  try {
    const r = JSON.parse(text) as Partial<LockRecord>;
    return { pid: Number(r.pid) || 0, startedAt: Number(r.startedAt) || 0, ...(typeof r.boot === 'string' && typeof r.ticks === 'number' ? { boot: r.boot, ticks: r.ticks } : {}) };
  } catch {
    return { pid: 0, startedAt: 0 };
  }
}

/** Why the holder of a lock is not running any more, or null when it may be. */
export function staleBecause(lock: LockRecord, now = Date.now()): string | null {
  if (!lock.pid) return 'it names no process';
  if (lock.pid === process.pid) return `pid ${lock.pid} is this process`;
  if (!isAlive(lock.pid)) return `pid ${lock.pid} is gone`;
  if (lock.boot !== undefined) {
    if (lock.boot !== bootId()) return `it was written before this machine started; pid ${lock.pid} is another process now`;
    const ticks = startTicks(lock.pid);
    return ticks !== null && ticks !== lock.ticks ? `pid ${lock.pid} is another process now (it started at another time)` : null;
  }
  // Elsewhere the wall clock: a lock from before the boot, or a process that started at another time.
  if (lock.startedAt && lock.startedAt < now - uptime() * 1000 - START_SLACK_MS) return `it was written before this machine started; pid ${lock.pid} is another process now`;
  const started = lock.startedAt ? processStartMs(lock.pid) : null;
  if (started !== null && Math.abs(started - lock.startedAt) > START_SLACK_MS) return `pid ${lock.pid} is another process now (it started at ${new Date(started).toISOString()})`;
  return null;
}

/** Takes the lock or throws saying which node holds it. A lock left by a node that is gone is removed. */
export function takeLock(file: string, server: string, log: Logger): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, JSON.stringify(ownRecord()));
      closeSync(fd);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const lock = readLock(file);
      const stale = staleBecause(lock);
      if (stale === null) {
        throw new Error(`a Duplex node for server ${server} is already running (pid ${lock.pid}); stop it first`);
      }
      log.warn('start', `removing the lock of a node that is gone (${stale})`);
      rmSync(file, { force: true });
    }
  }
  throw new Error(`cannot take the lock ${file}`);
}

/** Releases the lock if this process holds it. */
export function releaseLock(file: string): void {
  try {
    if (readLock(file).pid === process.pid) rmSync(file, { force: true });
  } catch {
    // no lock to release
  }
}
