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
 * Linux: the fields of /proc/<pid>/stat after the command name, so that index 0 is the state
 * (field 3 in proc(5)); null when there is no such process or no /proc.
 */
export function procStat(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * Whether the process runs: alive and not a zombie (a killed process stays a zombie until its
 * parent reaps it, and `kill(pid, 0)` still succeeds on it). Linux (/proc); elsewhere `isAlive`.
 */
export function isRunning(pid: number): boolean {
  if (process.platform !== 'linux') return isAlive(pid);
  const state = procStat(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}
