/**
 * The exit codes of every `duplex` command: one cause, one code, in every command alike. The
 * table below is the one place that says what each code means (`duplex --help` prints it), and
 * exitCodeOf() is the one place that says which cause an error is.
 */
import { NoNodeError } from '../node/admin-client';

export const EXIT = { ok: 0, failed: 1, usage: 2, noNode: 3 } as const;

/** What each exit code means, as `duplex --help` says it. */
export const EXIT_CAUSES: Readonly<Record<keyof typeof EXIT, string>> = {
  ok: 'done',
  failed: 'refused or failed: the node refused the command, or it could not be done (the message says why)',
  usage: 'wrong usage: an unknown command or option, a missing or bad value, a server that is not in the domain file, a domain file that does not exist or is not valid',
  noNode: 'no node answers: none runs for the server (nor one on this machine to relay), or none within --timeout',
};

/**
 * Errors that are wrong usage, by their name: the CLI loads the modules that throw them (the
 * domain file's parser above all) only when it needs them.
 */
const USAGE_ERRORS: ReadonlySet<string> = new Set(['UsageError', 'DomainFileError', 'UnknownServerError']);

/** The exit code of a command that ended with `e`. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof NoNodeError) return EXIT.noNode;
  if (e instanceof Error && USAGE_ERRORS.has(e.name)) return EXIT.usage;
  return EXIT.failed;
}

/**
 * An error's message as printed: `duplex: <message>`, unless the message starts by naming the
 * command itself (`duplex status needs --domain <file>`), which says "duplex" already.
 */
export function errorLine(message: string): string {
  return `${/^duplex /.test(message) ? message : `duplex: ${message}`}\n`;
}
