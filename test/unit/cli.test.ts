/** The command line's grammar (cli/args.ts) and its tables (cli/format.ts, ui/words.ts), without a node. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS, DEFAULT_TIMEOUT_MS, parseCommandLine, usageOf, UsageError, type Parsed } from '../../main/cli/args';
import { errorLine, EXIT, exitCodeOf } from '../../main/cli/exit';
import { DomainFileError, parseDomain } from '../../main/domain/load';
import { UnknownServerError } from '../../main/domain/location';
import { NoAnswerError, NoNodeError } from '../../main/node/admin-client';
import { formatDomainView } from '../../main/cli/format';
import type { DomainView } from '../../main/ui/contract';
import { healthWords, runtimeWords } from '../../main/ui/words';
import { view } from './status-fixture';

/** The words that name a command on the command line, with what its positionals need. */
function words(name: string): string[] {
  if (name === 'maintenance') return ['maintenance', 'on'];
  if (name === 'domain rollback') return ['domain', 'rollback', '3'];
  return name.split(' ');
}

/** The UsageError a command line gives (fails the test when it parses). */
function mistake(argv: string[], env: NodeJS.ProcessEnv = {}): UsageError {
  try {
    parseCommandLine(argv, env);
  } catch (e) {
    assert.ok(e instanceof UsageError, `${argv.join(' ')}: ${(e as Error).message}`);
    return e;
  }
  assert.fail(`${argv.join(' ')} was taken`);
}

function command(argv: string[], env: NodeJS.ProcessEnv = {}): Extract<Parsed, { kind: 'command' }> {
  const p = parseCommandLine(argv, env);
  assert.equal(p.kind, 'command');
  return p as Extract<Parsed, { kind: 'command' }>;
}

const FULL = ['--domain', 'p.yaml', '--server', 'a'];

/** The table of exit codes, as every --help shows it. */
const EXIT_HELP = `Exit codes (the same in every command):
  0  done
  1  refused or failed: the node refused the command, or it could not be done (the message says why)
  2  wrong usage: an unknown command or option, a missing or bad value, a server that is not in the
     domain file, a domain file that does not exist or is not valid
  3  no node answers: none runs for the server (nor one on this machine to relay), or none within
     --timeout
`;

describe('the command line: the same mistake is the same usage error in every command', () => {
  it('an unknown option: every command names it in words and carries its own usage', () => {
    for (const spec of COMMANDS) {
      const e = mistake([...words(spec.name), '--no-such-option']);
      assert.equal(e.command, spec);
      assert.equal(e.message, `duplex ${spec.name} has no option --no-such-option`);
      assert.doesNotMatch(e.message, /ERR_PARSE_ARGS|Unknown option/);
    }
  });

  it('--timeout without a number, with a word, with 0, or followed by another option, in every command that talks to a node', () => {
    const nodeCommands = COMMANDS.filter((s) => s.node);
    assert.ok(nodeCommands.length >= 10, `only ${nodeCommands.length} commands talk to a node`);
    for (const spec of nodeCommands) {
      const base = [...words(spec.name), ...FULL, ...(spec.name === 'report-failure' ? ['--reason', 'x'] : [])];
      assert.equal(mistake([...base, '--timeout']).message, '--timeout needs a value: --timeout <ms>', spec.name);
      assert.equal(mistake([...base, '--timeout', '--json']).message, '--timeout needs a value: --timeout <ms>', spec.name);
      assert.equal(mistake([...base, '--timeout', 'soon']).message, '--timeout must be a whole number of milliseconds (at least 1), got "soon"', spec.name);
      assert.equal(mistake([...base, '--timeout', '0']).command, spec);
      assert.equal(command([...base, '--timeout', '1500']).timeoutMs, 1500);
      assert.equal(command(base).timeoutMs, DEFAULT_TIMEOUT_MS);
    }
  });

  it('a missing required option says which and how to give it; a flag given a value; an extra argument', () => {
    assert.equal(mistake(['activate', '--domain', 'p.yaml']).message, 'duplex activate needs --server <name> (or set DUPLEX_SERVER)');
    assert.equal(mistake(['deactivate', '--server', 'a']).message, 'duplex deactivate needs --domain <file> (or set DUPLEX_DOMAIN)');
    assert.equal(mistake(['report-failure', ...FULL]).message, 'duplex report-failure needs --reason <text>');
    assert.equal(mistake(['report-failure', ...FULL, '--reason', ' ']).message, '--reason needs a value: --reason <text>');
    assert.equal(mistake(['status', ...FULL, '--json=yes']).message, '--json takes no value');
    assert.equal(mistake(['activate', ...FULL, 'now']).message, 'duplex activate takes no argument "now"');
    assert.equal(mistake(['maintenance', ...FULL]).message, 'duplex maintenance needs on|off');
    assert.equal(mistake(['maintenance', 'sideways', ...FULL]).message, 'duplex maintenance takes on|off, not "sideways"');
    assert.equal(mistake(['domain', 'rollback', '3', '4', ...FULL]).message, 'duplex domain rollback takes <N>, got one more: "4"');
    assert.equal(mistake(['status', '--domain', 'p.yaml']).message, 'duplex status needs --server <name> (or set DUPLEX_SERVER), or --all');
    assert.equal(mistake(['status', '--domain', 'p.yaml', '--watch']).message, 'duplex status needs --server <name> (or set DUPLEX_SERVER), or --all');
    assert.equal(mistake(['status', ...FULL, '--watch']).message, '--watch and --interval go with --all');
    assert.equal(mistake(['status', '--all', '--domain', 'p.yaml', '--interval', '500']).message, '--interval goes with --watch');
    assert.equal(mistake(['status', '--all', '--domain', 'p.yaml', '--watch', '--interval', 'x']).message, '--interval must be a whole number of milliseconds (at least 1), got "x"');
  });

  it('an unknown command, a missing sub-command, options before the command: the general usage', () => {
    for (const [argv, message] of [
      [['frobnicate'], 'unknown command "frobnicate"'],
      [[], 'no command given'],
      [['domain'], 'duplex domain needs one of: check, status, rollback, finish'],
      [['domain', 'fix'], 'duplex domain has no command "fix"; there are: check, status, rollback, finish'],
      [['service', '--dry-run'], 'duplex service needs one of: install, uninstall, status'],
      [['--domain', 'p.yaml', 'status'], 'the command comes first, then its options: duplex <command> --domain …'],
    ] as const) {
      const e = mistake([...argv]);
      assert.equal(e.message, message);
      assert.equal(e.command, null);
    }
  });

  it('DUPLEX_DOMAIN and DUPLEX_SERVER fill --domain and --server in every command that takes them; the flags win', () => {
    const env = { DUPLEX_DOMAIN: 'env.yaml', DUPLEX_SERVER: 'b' };
    for (const spec of COMMANDS.filter((s) => s.node || s.needs?.includes('server'))) {
      const extra = spec.name === 'report-failure' ? ['--reason', 'x'] : [];
      const p = command([...words(spec.name), ...extra], env);
      assert.deepEqual([p.values.domain, p.values.server], ['env.yaml', 'b'], spec.name);
      const q = command([...words(spec.name), ...extra, '--server', 'c', '--domain', 'flag.yaml'], env);
      assert.deepEqual([q.values.domain, q.values.server], ['flag.yaml', 'c'], spec.name);
    }
    assert.equal(command(['domain', 'check'], env).values.domain, 'env.yaml');
    assert.equal(command(['init', '--servers', 'a,b'], env).values.domain, 'env.yaml');
  });

  it('--help of every command is its usage with every option; --help and --version alone', () => {
    for (const spec of COMMANDS) {
      const p = parseCommandLine([...words(spec.name), '--help']);
      assert.equal(p.kind, 'help');
      const text = (p as { text: string }).text;
      assert.equal(text, usageOf(spec));
      assert.ok(text.startsWith(`Usage: duplex ${spec.name}`), text);
      for (const o of Object.keys(spec.options ?? {})) assert.match(text, new RegExp(`--${o}\\b`), `${spec.name} --${o}`);
      if (spec.node) assert.match(text, /--timeout <ms>/);
      assert.ok(text.includes(EXIT_HELP), `${spec.name}: no table of exit codes`);
    }
    const all = parseCommandLine(['--help']);
    assert.equal(all.kind, 'help');
    assert.ok((all as { text: string }).text.includes(EXIT_HELP), 'duplex --help: no table of exit codes');
    for (const spec of COMMANDS) assert.ok((all as { text: string }).text.includes(`  ${spec.name}`), spec.name);
    assert.equal(parseCommandLine(['--version']).kind, 'version');
  });
});

describe('exit codes: one per cause, in every command', () => {
  it('each kind of error has its code: usage 2 (bad option, unknown server, bad domain file), no node 3, anything else 1', () => {
    const badFile = (() => {
      try {
        parseDomain('domain: plant\n', 'p.yaml');
      } catch (e) {
        return e;
      }
      return assert.fail('p.yaml was taken');
    })();
    assert.ok(badFile instanceof DomainFileError);
    const cases: [unknown, number][] = [
      [mistake(['status', '--server', 'a']), EXIT.usage],
      [new UnknownServerError('zz', 'p.yaml', ['a', 'b']), EXIT.usage],
      [badFile, EXIT.usage],
      [new NoNodeError('none'), EXIT.noNode],
      [new NoAnswerError('late', 1000), EXIT.noNode],
      [new Error('refused'), EXIT.failed],
      ['not even an Error', EXIT.failed],
    ];
    for (const [e, code] of cases) assert.equal(exitCodeOf(e), code, String((e as Error).message ?? e));
    assert.deepEqual(EXIT, { ok: 0, failed: 1, usage: 2, noNode: 3 }, 'the codes scripts rely on');
  });

  it('an error is printed once with "duplex", never "duplex: duplex"', () => {
    assert.equal(errorLine(mistake(['status', '--server', 'a']).message), 'duplex status needs --domain <file> (or set DUPLEX_DOMAIN)\n');
    assert.equal(errorLine('--timeout needs a value: --timeout <ms>'), 'duplex: --timeout needs a value: --timeout <ms>\n');
    assert.equal(errorLine('server "zz" is not in p.yaml; its servers are: a, b'), 'duplex: server "zz" is not in p.yaml; its servers are: a, b\n');
    for (const spec of COMMANDS) assert.doesNotMatch(errorLine(mistake([...words(spec.name), '--no-such-option']).message), /duplex: duplex/, spec.name);
  });
});

describe('health in words', () => {
  it('OPC UA ServiceLevel ranges: 200-255 healthy, 2-199 degraded, 1 no data, 0 maintenance', () => {
    assert.deepEqual([255, 200, 199, 155, 2, 1, 0, null].map(healthWords), ['healthy 255', 'healthy 200', 'degraded 199', 'degraded 155', 'degraded 2', 'no data 1', 'maintenance 0', 'not heard']);
  });
});

describe('duplex status --all: one table', () => {
  const heard = view({}, { b: 'standby', c: 'inactive' });
  // a hears c's runtime and failures in its heartbeats.
  const a = { ...heard, peers: heard.peers.map((p) => (p.server === 'c' ? { ...p, runtime: { mode: 'stopped' as const, state: 'stopped' as const }, failures: 1 } : p)) };
  const b = view({
    server: 'b', role: 'standby', epoch: 2, health: { score: 155, failing: 'plc1: no reply', isolated: null, probes: [] },
    runtime: { wanted: 'standby', reached: false, state: 'starting', held: null, processes: [{ name: 'scada', runOn: 'both', state: 'starting', mode: null, pid: null, uptimeMs: null, restarts: 0, lastExit: null }], failures: { count: 2, last: 'x', resetInMs: 1000, banned: true } },
    sync: { ...a.sync, revision: { ...a.sync.revision, n: 0 }, state: 'syncing', progress: 40 },
    faults: ['cannot verify 10.0.0.9: is the secret file the same on every server?'],
  });

  it('every server with role, epoch, health in words and number, runtime, revision, failures and quorum', () => {
    const v: DomainView = { domain: 'plant', from: 'a', servers: [{ server: 'a', status: a, error: null }, { server: 'b', status: b, error: null }, { server: 'c', status: null, error: 'did not answer within 4000 ms' }] };
    const lines = formatDomainView(v).split('\n');
    assert.equal(lines[0], 'Domain plant · 3 servers · asked a');
    assert.match(lines[1]!, /^ {2}server {2}role +epoch {2}health +runtime +revision +failures +quorum$/);
    assert.match(lines[2]!, /^ {2}a {7}Active +3 {6}healthy 255 +active running +1 +0 +yes 3\/3$/);
    assert.match(lines[3]!, /^ {2}b +Standby +2 +degraded 155 +standby starting +0 syncing 40% BEHIND +2 BANNED +yes 3\/3$/);
    // c did not answer: shown as a hears it, marked.
    assert.match(lines[4]!, /^ {2}c +Inactive \* +0 +healthy 255 +stopped +\? +1 +\?$/);
    assert.ok(lines.includes('  quorum: 3 voters (a, b, w), 2 make a majority; a supports a (term 3)'));
    assert.ok(lines.includes('  * did not answer: as a last heard it'));
    assert.ok(lines.includes('  b: cannot verify 10.0.0.9: is the secret file the same on every server?'));
    assert.ok(lines.includes('  c: NO ANSWER: did not answer within 4000 ms'));
    // The columns line up: every row's health starts where the heading's does.
    const at = lines[1]!.indexOf('health');
    for (const l of lines.slice(2, 5)) assert.match(l.slice(at), /^(healthy|degraded) \d+/);
  });

  it('no quorum column or line where quorum is off; a server unreachable for the asker shows its last role', () => {
    const off = { ...a.quorum, on: false, has: true, warning: 'two servers' };
    const a2 = view({ quorum: off, peers: [{ ...a.peers[0]!, role: 'unreachable', lastRole: 'standby' }] });
    const text = formatDomainView({ domain: 'plant', from: 'a', servers: [{ server: 'a', status: a2, error: null }, { server: 'b', status: null, error: 'refused' }] });
    assert.doesNotMatch(text, /quorum/);
    assert.match(text, /\n {2}b +unreachable \(was Standby\) \*/);
  });

  it('a server not heard: its runtime is unknown, or fenced once its release said so; never what it last was', () => {
    const off = { ...a.quorum, on: false, has: true, warning: 'two servers' };
    const gone = { ...a.peers[0]!, role: 'unreachable' as const, lastRole: 'active' as const, runtime: { mode: 'active' as const, state: 'running' as const } };
    const row = (peer: typeof gone & { runtimeEnded: 'fenced' | 'stopped' | null }) =>
      formatDomainView({ domain: 'plant', from: 'a', servers: [{ server: 'a', status: view({ quorum: off, peers: [peer] }), error: null }, { server: 'b', status: null, error: 'refused' }] })
        .split('\n').find((l) => l.startsWith('  b '))!;
    assert.match(row({ ...gone, runtimeEnded: null }), /unreachable \(was Active\) \* +\d+ +\S+ \d+ +unknown /);
    assert.match(row({ ...gone, runtimeEnded: 'fenced' }), / fenced /);
    assert.doesNotMatch(row({ ...gone, runtimeEnded: null }), /running/);
  });

  it('runtime in words: its mode and what it does, stopped, none', () => {
    assert.equal(runtimeWords('active', 'running'), 'active running');
    assert.equal(runtimeWords('standby', 'restarting'), 'standby restarting');
    assert.equal(runtimeWords('active', 'held'), 'active HELD');
    assert.equal(runtimeWords('stopped', 'stopped'), 'stopped');
    assert.equal(runtimeWords('standby', 'stopped'), 'stopped');
    assert.equal(runtimeWords('active', 'stopped'), 'active stopped');
    assert.equal(runtimeWords('stopped', 'none'), 'none');
  });
});
