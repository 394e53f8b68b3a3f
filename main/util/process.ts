import { readFileSync } from 'node:fs';

/** Whether a process with this pid exists (one we may not signal counts as existing). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the process runs: alive and not a zombie (a killed process stays a zombie until its
 * parent reaps it, and `kill(pid, 0)` still succeeds on it). Linux (/proc); elsewhere `isAlive`.
 */
export function isRunning(pid: number): boolean {
  if (process.platform !== 'linux') return isAlive(pid);
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
