/**
 * The Windows Application log, source "Duplex": role changes, failovers, fences, faults, every
 * warning and error of the node's log, written with `eventcreate` (part of Windows; it creates
 * the source on first use, which needs Administrator or LocalSystem, as the service runs).
 * At most BURST events a minute are written; the rest are counted and reported once.
 */
import { spawn } from 'node:child_process';

export type Level = 'info' | 'warn' | 'error';

/** Info lines of these events go to the Event Log too; warnings and errors always do. */
const INFO_EVENTS = new Set(['role', 'fence', 'fault', 'start', 'stop']);

/** Event IDs by event, so that a monitoring tool can filter (eventcreate takes 1–1000). */
const IDS: Record<string, number> = { start: 1, stop: 2, role: 100, fence: 200, fault: 300, runtime: 400, network: 500, guardian: 600, sync: 700 };
const OTHER_ID = 900;
const BURST = 20;
const TEXT_MAX = 2_000;

/** The eventcreate arguments for one line, or null when the line does not go to the Event Log. */
export function eventArgs(level: Level, event: string, detail: string, server: string): string[] | null {
  if (level === 'info' && !INFO_EVENTS.has(event)) return null;
  const type = level === 'error' ? 'ERROR' : level === 'warn' ? 'WARNING' : 'INFORMATION';
  const text = `[${server}] ${event}: ${detail}`.replace(/[\s\0]+/g, ' ').slice(0, TEXT_MAX);
  return ['/L', 'APPLICATION', '/T', type, '/SO', 'Duplex', '/ID', String(IDS[event] ?? OTHER_ID), '/D', text];
}

export type Spawner = (args: string[]) => Promise<string | null>;

/** Runs eventcreate; resolves null when done, or what went wrong. */
const eventcreate: Spawner = (args) => new Promise((done) => {
  try {
    const p = spawn('eventcreate', args, { stdio: 'ignore', windowsHide: true });
    p.once('error', (e) => done(e.message));
    p.once('exit', (code) => done(code === 0 ? null : `eventcreate ended with code ${code}`));
  } catch (e) {
    done((e as Error).message); // e.g. a NUL in the text
  }
});

/**
 * A sink for the node's log lines. `onBroken` is told once when the Event Log cannot be
 * written (no eventcreate, as under Wine, or no right to create the source); nothing more is
 * tried after that.
 */
export function eventLogSink(server: string, onBroken: (why: string) => void, run: Spawner = eventcreate, now = () => Date.now()): (level: Level, event: string, detail: string) => void {
  let broken = false;
  let windowStart = now();
  let written = 0;
  let dropped = 0;
  const send = (args: string[]) => void run(args).then((why) => {
    if (why && !broken) {
      broken = true;
      onBroken(why);
    }
  });
  return (level, event, detail) => {
    const args = broken ? null : eventArgs(level, event, detail, server);
    if (!args) return;
    if (now() - windowStart >= 60_000) {
      if (dropped) send(eventArgs('warn', 'log', `${dropped} more events in the last minute are only in the Duplex log file`, server)!);
      windowStart = now();
      written = 0;
      dropped = 0;
    }
    if (written >= BURST) {
      dropped++;
      return;
    }
    written++;
    send(args);
  };
}
