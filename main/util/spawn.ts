/**
 * Starting a program the domain file names (a runtime, a hook, a stop command). On Windows a
 * `.cmd` or `.bat` file is not a program: since the fix for CVE-2024-27980 Node refuses to
 * spawn one without a shell (EINVAL). It runs through `cmd.exe /d /s /c "<line>"`, the line
 * quoted and escaped so that cmd.exe takes every argument literally (spaces, quotes, & | < > ^ %).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';

/** cmd.exe's metacharacters; outside quotes each is taken literally when preceded by ^. */
const CMD_META = /([()\][%!^"`<>&|;, *?])/g;

/**
 * One word of a cmd.exe line, after qntm.org/cmd as cross-spawn does it. A word of letters,
 * digits and `_-.:\/+@` goes bare; any other is quoted for the
 * program's own parser (backslashes before a quote doubled, the quote escaped), then every
 * metacharacter, the quotes included, caret-escaped so that cmd.exe passes it on untouched.
 * The program's name is escaped the same way: Wine's cmd.exe, unlike Windows', does not take
 * an unquoted name with escaped spaces (`My^ Runtime\run.cmd`).
 */
export function cmdWord(word: string): string {
  // A plain word goes as it is: a batch file sees quotes in %1, and `if "%1"=="--now"` would fail.
  if (/^[A-Za-z0-9_\-.:\\/+@]+$/.test(word)) return word;
  const quoted = `"${word.replace(/(\\*)"/g, '$1$1\\"').replace(/(\\*)$/, '$1$1')}"`;
  return quoted.replace(CMD_META, '^$1');
}

/** The whole `cmd.exe /d /s /c` line that runs `command` with `args`. */
export function cmdLine(command: string, args: readonly string[]): string {
  return `"${[command, ...args].map(cmdWord).join(' ')}"`;
}

export const isBatchFile = (command: string) => /\.(cmd|bat)$/i.test(command.trim());

/** `spawn`, with Windows batch files run through cmd.exe. Windows windows are always hidden. */
export function spawnProgram(command: string, args: readonly string[], opts: SpawnOptions): ChildProcess {
  if (process.platform === 'win32' && isBatchFile(command)) {
    return spawn(process.env.ComSpec ?? 'cmd.exe', ['/d', '/s', '/c', cmdLine(command, args)], { ...opts, windowsHide: true, windowsVerbatimArguments: true });
  }
  return spawn(command, args, { ...opts, windowsHide: true });
}

/**
 * Why `command` could not be started in `cwd` with this PATH, in the words Node's spawn uses
 * (`spawn <command> ENOENT` or `EACCES`), or null when it can. For a program started through a
 * wrapper (main/runtime/hold.ts), whose own spawn succeeds whatever the program is: the lookup
 * is execvp's, a name with a slash taken from `cwd`, any other searched in PATH.
 */
export function cannotSpawn(command: string, cwd: string | undefined, pathVar: string | undefined): string | null {
  const base = cwd ?? process.cwd();
  if (!isDirectory(base)) return `spawn ${command} ENOENT (no folder ${base})`;
  const candidates = command.includes('/') ? [resolve(base, command)] : (pathVar ?? '/usr/local/bin:/usr/bin:/bin').split(':').map((dir) => resolve(base, dir, command));
  const found = candidates.filter((f) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  });
  if (!found.length) return `spawn ${command} ENOENT`;
  return found.some((f) => {
    try {
      accessSync(f, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }) ? null : `spawn ${command} EACCES`;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
