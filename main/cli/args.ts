/**
 * The command line's grammar: one table of commands, each with its own usage text and its own
 * strict `parseArgs` options. Every mistake (an unknown command or option, a missing value, a
 * value that is not a number, a missing required option) is a UsageError with the message in
 * plain words and that command's usage: exit 2 in every command alike. Pure apart from the
 * environment handed in (DUPLEX_DOMAIN, DUPLEX_SERVER).
 */
import { parseArgs } from 'node:util';
import { VERSION } from '../version';
import { EXIT, EXIT_CAUSES } from './exit';

export { EXIT };

/** How long a node has to answer, unless --timeout says otherwise. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/** How often `status --all --watch` asks again, unless --interval says otherwise. */
export const DEFAULT_INTERVAL_MS = 1_000;

/** Wrong usage: exit 2, the message, then the usage of `command` (the general usage when null). */
export class UsageError extends Error {
  constructor(message: string, readonly command: Spec | null = null) {
    super(message);
    this.name = 'UsageError';
  }
}

interface OptionSpec {
  type: 'string' | 'boolean';
  /** The value's placeholder in the usage, e.g. `<ms>`. */
  value?: string;
  help: string;
}

export interface Spec {
  /** The command words: `status`, `domain rollback`. */
  name: string;
  /** Positional arguments after the command words, as the usage shows them; `choices`: the only values taken. */
  args?: { synopsis: string; min: number; max: number; choices?: readonly string[] };
  /** Talks to a node: takes --domain, --server (and the variables) and --timeout. */
  node?: boolean;
  /** Required options (after the variables are applied). */
  needs?: readonly string[];
  options?: Record<string, OptionSpec>;
  /** A check across options: the mistake in words, or null. */
  check?: (values: Record<string, string | boolean | undefined>) => string | null;
  summary: string;
}

const DOMAIN: OptionSpec = { type: 'string', value: '<file>', help: 'the domain file (default: $DUPLEX_DOMAIN)' };
const SERVER: OptionSpec = { type: 'string', value: '<name>', help: 'the server (default: $DUPLEX_SERVER)' };
const TIMEOUT: OptionSpec = { type: 'string', value: '<ms>', help: `how long a node has to answer (default ${DEFAULT_TIMEOUT_MS}); then exit 3` };
const JSON_OUT: OptionSpec = { type: 'boolean', help: 'print JSON for scripts' };
const VIA: OptionSpec = { type: 'string', value: '<name>', help: "the node of this machine that relays to another server's node (default: the server's own node when it runs here, else any node of the domain that runs here)" };
const FORCE: OptionSpec = { type: 'boolean', help: 'with no Standby to hand over to: stop the runtime all the same' };
const DRY_RUN: OptionSpec = { type: 'boolean', help: 'print every file and command; change nothing' };

/** A command to a node: the server is the one that carries it out, through a relay if need be. */
const commandSpec = (name: string, summary: string, o: { extra?: Record<string, OptionSpec>; args?: Spec['args']; needs?: string[] } = {}): Spec => ({
  name, summary, args: o.args, node: true, needs: ['domain', 'server', ...(o.needs ?? [])],
  options: { ...o.extra, json: JSON_OUT, via: VIA },
});

export const COMMANDS: readonly Spec[] = [
  {
    name: 'init', needs: ['domain', 'servers'],
    summary: 'write a complete, commented domain file (first server main, second backup, the rest inactive) and a new secret beside it',
    options: {
      domain: DOMAIN,
      servers: { type: 'string', value: 'a,b[,c…]', help: 'the servers of the domain' },
      interface: { type: 'string', value: '<address|cidr>', help: 'the redundancy network (default 127.0.0.1: every server on this machine)' },
      group: { type: 'string', value: '<ip>', help: 'the multicast group' },
      port: { type: 'string', value: '<n>', help: 'the multicast port' },
      force: { type: 'boolean', help: 'overwrite an existing domain file' },
    },
  },
  { name: 'run', needs: ['domain', 'server'], summary: "run this server's node in the foreground (Ctrl+C stops it cleanly)", options: { domain: DOMAIN, server: SERVER } },
  {
    name: 'status', node: true, needs: ['domain'],
    check: (v) => (!v.all && v.server === undefined ? 'duplex status needs --server <name> (or set DUPLEX_SERVER), or --all'
      : (v.watch || v.interval !== undefined) && !v.all ? '--watch and --interval go with --all' : v.interval !== undefined && !v.watch ? '--interval goes with --watch' : null),
    summary: "a server's role, reason, runtime, quorum and peers; with --all every server of the domain in one table",
    options: {
      all: { type: 'boolean', help: 'every server of the domain in one table (the node of --server, or any node here, asks the others)' },
      watch: { type: 'boolean', help: 'with --all: redraw the table until Ctrl+C' },
      interval: { type: 'string', value: '<ms>', help: `with --watch: how often (default ${DEFAULT_INTERVAL_MS})` },
      json: JSON_OUT,
      via: VIA,
    },
  },
  commandSpec('activate', 'make the server Active (a switchover); returns when it is Active'),
  commandSpec('deactivate', 'hand the Active role to the Standby; returns when the Standby is Active'),
  commandSpec('maintenance', 'put the server into Maintenance (the Active hands over first) or take it out', { extra: { force: FORCE }, args: { synopsis: 'on|off', min: 1, max: 1, choices: ['on', 'off'] } }),
  commandSpec('resume', 'start a runtime held after a failover (runtime.confirmResume)'),
  commandSpec('clear', "forget the server's runtime crash loops: a server that handed over because of one may be Active again at once"),
  commandSpec('report-failure', 'the application asks the Active to hand over', { extra: { reason: { type: 'string', value: '<text>', help: 'what failed (for the log and the Standby)' } }, needs: ['reason'] }),
  {
    name: 'diag', node: true, needs: ['domain', 'server'],
    summary: "write one zip for support: this node's logs and status, the domain file, what the peers report (never the secret)",
    options: { out: { type: 'string', value: '<file>', help: 'where to write it (default: duplex-diag-<server>-<time>.zip here)' } },
  },
  { name: 'domain check', args: { synopsis: '<file>', min: 0, max: 1 }, summary: 'validate a domain file (exit 2 with the problems)', options: { domain: DOMAIN } },
  { name: 'domain status', node: true, needs: ['domain', 'server'], summary: 'revision and sync state of every server, as the server sees them', options: { via: VIA } },
  {
    name: 'domain rollback', node: true, needs: ['domain', 'server'], args: { synopsis: '<N>', min: 1, max: 1 },
    summary: 'put the kept revision N (<file>.rev<N>) back in force on every server, as a new revision',
  },
  { name: 'domain finish', args: { synopsis: '<file>', min: 0, max: 1 }, summary: 'add the end line to a domain file written by an older Duplex', options: { domain: DOMAIN } },
  {
    name: 'service install', needs: ['domain', 'server'],
    summary: "run this server's node as a service from boot (Windows: the Duplex service, firewall rules, ACLs; Linux: a systemd unit); as Administrator or root",
    options: {
      domain: DOMAIN, server: SERVER,
      account: { type: 'string', value: '<user>', help: 'Windows: run the service as this account (default LocalSystem)' },
      winsw: { type: 'string', value: '<winsw.exe>', help: 'Windows: the service wrapper (default: the one installed with Duplex)' },
      'dry-run': DRY_RUN,
    },
  },
  { name: 'service uninstall', summary: 'remove the service; keeps the domain file, secret and logs', options: { 'dry-run': DRY_RUN } },
  { name: 'service status', summary: 'whether the service is installed and running' },
];

/** The options a command takes, the common ones included. */
function optionsOf(spec: Spec): Record<string, OptionSpec> {
  const common: Record<string, OptionSpec> = spec.node ? { domain: DOMAIN, server: SERVER, timeout: TIMEOUT } : {};
  return { ...common, ...spec.options };
}

function synopsis(spec: Spec): string {
  const opts = Object.entries(optionsOf(spec)).map(([k, o]) => {
    const text = `--${k}${o.value ? ` ${o.value}` : ''}`;
    return spec.needs?.includes(k) ? text : `[${text}]`;
  });
  return ['duplex', spec.name, ...(spec.args ? [spec.args.synopsis] : []), ...opts].join(' ');
}

/** `text` in lines of at most `width` characters, every line after the first indented by `indent` spaces. */
function wrap(text: string, indent: number, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** The usage of one command: what it does, its synopsis, every option. */
export function usageOf(spec: Spec): string {
  const opts = Object.entries(optionsOf(spec));
  const width = Math.max(0, ...opts.map(([k, o]) => `--${k}${o.value ? ` ${o.value}` : ''}`.length)) + 2;
  return [
    `Usage: ${wrap(synopsis(spec), 7)}`,
    `  ${wrap(spec.summary, 2)}`,
    ...(opts.length ? ['', 'Options:', ...opts.map(([k, o]) => `  ${`--${k}${o.value ? ` ${o.value}` : ''}`.padEnd(width)}${wrap(o.help, width + 2)}`)] : []),
    '',
    EXIT_TEXT,
    '',
  ].join('\n');
}

/** The exit codes and their causes (cli/exit.ts), the same in every command. */
const EXIT_TEXT = ['Exit codes (the same in every command):', ...Object.entries(EXIT).map(([k, code]) => `  ${code}  ${wrap(EXIT_CAUSES[k as keyof typeof EXIT], 5)}`)].join('\n');

export const USAGE = `duplex ${VERSION} — hot-standby redundancy for plant servers

Usage: duplex <command> [options]     duplex <command> --help shows a command's options

${COMMANDS.map((s) => `  ${`${s.name}${s.args ? ` ${s.args.synopsis}` : ''}`.padEnd(22)}${wrap(s.summary, 24)}`).join('\n')}

Common options: --domain <file> and --server <name> (default: $DUPLEX_DOMAIN, $DUPLEX_SERVER),
--timeout <ms> (default ${DEFAULT_TIMEOUT_MS}) on every command that talks to a node, --json for scripts.
A command for another server of the domain is relayed by a node of this machine (--via <name>).

${EXIT_TEXT}
`;

export type Parsed =
  | { kind: 'help'; text: string }
  | { kind: 'version' }
  | {
      kind: 'command';
      spec: Spec;
      /** The option values, variables applied; booleans as true/undefined. */
      values: Record<string, string | boolean | undefined>;
      positionals: string[];
      /** --timeout, checked (commands that talk to a node). */
      timeoutMs: number;
    };

/** Node's parseArgs errors, in plain words. */
function plainWords(e: Error & { code?: string }, spec: Spec, args: string[]): string {
  const opt = /'(-{1,2}[^' ]+)/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `duplex ${spec.name} has no option ${opt ?? e.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = opt?.replace(/^-+/, '');
      const o = name ? optionsOf(spec)[name] : undefined;
      if (o?.type === 'boolean') return `${opt} takes no value`;
      if (o) return `${opt} needs a value: ${opt} ${o.value ?? '<value>'}`;
      return e.message;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const extra = args.find((a) => e.message.includes(`'${a}'`)) ?? /'([^']*)'/.exec(e.message)?.[1] ?? '';
      return spec.args ? `duplex ${spec.name} takes ${spec.args.synopsis}, got one more: "${extra}"` : `duplex ${spec.name} takes no argument "${extra}"`;
    }
    default:
      return e.message;
  }
}

/** A whole number of milliseconds of at least 1, or a UsageError naming the option. */
export function parseMs(name: string, text: string, spec: Spec): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) throw new UsageError(`--${name} must be a whole number of milliseconds (at least 1), got "${text}"`, spec);
  return Number(text);
}

/** The command words at the start of argv, and the spec they name. */
function findSpec(argv: string[]): { spec: Spec; rest: string[] } {
  const [first, second] = argv;
  const groups = [...new Set(COMMANDS.filter((s) => s.name.includes(' ')).map((s) => s.name.split(' ')[0]!))];
  if (groups.includes(first!)) {
    const subs = COMMANDS.filter((s) => s.name.startsWith(`${first} `));
    const spec = subs.find((s) => s.name === `${first} ${second}`);
    if (!spec) {
      const list = subs.map((s) => s.name.split(' ')[1]).join(', ');
      throw new UsageError(second === undefined || second.startsWith('-') ? `duplex ${first} needs one of: ${list}` : `duplex ${first} has no command "${second}"; there are: ${list}`);
    }
    return { spec, rest: argv.slice(2) };
  }
  const spec = COMMANDS.find((s) => s.name === first);
  if (!spec) throw new UsageError(`unknown command "${first}"`);
  return { spec, rest: argv.slice(1) };
}

/**
 * The command line, checked: help, version, or a command with its values (the variables
 * DUPLEX_DOMAIN and DUPLEX_SERVER filling --domain and --server when not given). Throws
 * UsageError for every mistake.
 */
export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv = {}): Parsed {
  if (argv.length === 0) throw new UsageError('no command given');
  const [first] = argv;
  if (first === '--help' || first === '-h' || first === 'help') return { kind: 'help', text: USAGE };
  if (first === '--version' || first === '-v') return { kind: 'version' };
  if (first!.startsWith('-')) throw new UsageError(`the command comes first, then its options: duplex <command> ${first} …`);
  const { spec, rest } = findSpec(argv);
  const options = optionsOf(spec);
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: rest, strict: true, allowPositionals: spec.args !== undefined,
      options: { ...Object.fromEntries(Object.entries(options).map(([k, o]) => [k, { type: o.type }])), help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    throw new UsageError(plainWords(e as Error, spec, rest), spec);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help', text: usageOf(spec) };
  delete values.help;
  if ('domain' in options && values.domain === undefined && env.DUPLEX_DOMAIN) values.domain = env.DUPLEX_DOMAIN;
  if ('server' in options && values.server === undefined && env.DUPLEX_SERVER) values.server = env.DUPLEX_SERVER;
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === 'string' && !v.trim()) throw new UsageError(`--${k} needs a value: --${k} ${options[k]?.value ?? '<value>'}`, spec);
  }
  if (spec.args) {
    const { min, max, synopsis: s, choices } = spec.args;
    if (positionals.length < min) throw new UsageError(`duplex ${spec.name} needs ${s}`, spec);
    if (positionals.length > max) throw new UsageError(`duplex ${spec.name} takes ${s}, got one more: "${positionals[max]}"`, spec);
    const bad = positionals.find((p) => choices && !choices.includes(p));
    if (bad !== undefined) throw new UsageError(`duplex ${spec.name} takes ${s}, not "${bad}"`, spec);
  }
  for (const k of spec.needs ?? []) {
    if (values[k] === undefined) {
      const variable = k === 'domain' || k === 'server' ? ` (or set DUPLEX_${k.toUpperCase()})` : '';
      throw new UsageError(`duplex ${spec.name} needs --${k} ${options[k]?.value ?? ''}${variable}`.replace(/ +\(/, ' ('), spec);
    }
  }
  const wrong = spec.check?.(values);
  if (wrong) throw new UsageError(wrong, spec);
  const timeoutMs = typeof values.timeout === 'string' ? parseMs('timeout', values.timeout, spec) : DEFAULT_TIMEOUT_MS;
  if (typeof values.interval === 'string') parseMs('interval', values.interval, spec);
  return { kind: 'command', spec, values, positionals, timeoutMs };
}
