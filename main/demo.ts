/**
 * `npm run demo`: a 3-server domain on loopback (main a, backup b, inactive c) with a
 * stand-in runtime. Prints role changes live; type commands to kill the Active or switch over.
 * Every run has its own temporary folder (printed at the start, removed when the demo quits),
 * so a second demo or a test run never touches it.
 *
 * What it prints comes from three places: each node's output, each guardian's log (its fences
 * and releases, as they happen, even while its node is frozen or dead) and each runtime's log.
 * The lines are printed in the order of their times (each is held back a moment for that), and
 * after a kill, switch or freeze of the Active the demo says how long the takeover took: from
 * its action to the new Active's runtime started, by that node's own log line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { ADMIN_PORT_BASE } from './defaults';
import { initDomain } from './domain/init';
import { loadDomain } from './domain/load';
import { askNode, pageUrl, readEndpoint } from './node/admin-client';
import { nodePaths } from './node/paths';
import type { StatusView } from './ui/contract';

const CLI = join(__dirname, 'cli.js');
const SERVERS = ['a', 'b', 'c'];
const dir = mkdtempSync(join(tmpdir(), 'duplex-demo-'));
const file = join(dir, 'plant.yaml');
const procs = new Map<string, ChildProcess>();
/** Nodes this demo has stopped with SIGSTOP and not continued. */
const frozen = new Set<string>();
/** Set by quit: the nodes that end now were stopped by the demo. */
let quitting = false;

// ------------------------------------------------------------------ printing in time order

/**
 * How long a line is held back before it is printed: a guardian's line (read from its log
 * file every POLL_MS) is printed before a node's line of a moment later, which comes at once
 * through the node's output.
 */
const HOLD_MS = 250;
const POLL_MS = 50;
const held: { at: number; n: number; text: string }[] = [];
let nextLine = 0;

/** The time a log line says it happened (`YYYY-MM-DD HH:MM:SS.mmm` on this computer's clock); null when it has none. */
function stampOf(line: string): number | null {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}) /.exec(line);
  return m ? new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!).getTime() : null;
}

/** Prints `text` (one line) in the order of `at`: a log line's own time, else now. */
function say(text: string, at = stampOf(text) ?? Date.now()): void {
  held.push({ at, n: nextLine++, text });
}

/** Prints what has been held long enough (everything, with `all`), oldest first. */
function flush(all = false): void {
  held.sort((x, y) => x.at - y.at || x.n - y.n);
  const due = Date.now() - HOLD_MS;
  let n = 0;
  while (n < held.length && (all || held[n]!.at <= due)) n++;
  if (!n) return;
  process.stdout.write(held.splice(0, n).map((l) => `${l.text}\n`).join(''));
}

// ------------------------------------------------------------------ takeovers

/** A kill, switch or freeze of the Active: timed until another server's runtime starts in active mode. */
let takeover: { action: string; at: number; from: string; timer: NodeJS.Timeout } | null = null;
const TAKEOVER_WAIT_MS = 30_000;
/** A node's line that says its runtime now runs in active mode (started so, moved by a hook, or kept). */
const ACTIVE_START = /^\S+ \S+ \w+ \[(\w+)\] runtime: (?:started \S+ .* in active mode|\S+ moved to active mode|\S+ runs the same in both modes; keeping pid \d+ in active mode)/;

function timeTakeover(action: string, from: string, at: number): void {
  if (takeover) clearTimeout(takeover.timer);
  const timer = setTimeout(() => {
    if (takeover?.timer !== timer) return;
    takeover = null;
    say(`-- no server's runtime started in active mode within ${TAKEOVER_WAIT_MS / 1000} s of the ${action}`);
  }, TAKEOVER_WAIT_MS);
  timer.unref();
  takeover = { action, at, from, timer };
}

function checkTakeover(line: string): void {
  const m = ACTIVE_START.exec(line);
  const t = takeover;
  const at = stampOf(line);
  if (!m || !t || at === null || m[1] === t.from || at < t.at) return;
  clearTimeout(t.timer);
  takeover = null;
  say(`-- ${m[1]} took over in ${at - t.at} ms (runtime started)`, at);
}

// ------------------------------------------------------------------ the nodes and their logs

function start(server: string): void {
  const p = spawn(process.execPath, [CLI, 'run', '--domain', file, '--server', server], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.set(server, p);
  let rest = '';
  const show = (b: Buffer) => {
    const lines = (rest + b.toString('utf8')).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      // A fence is shown once, by the guardian's own line (tailGuardianLogs), at the time it was done.
      if (/\] fence: /.test(line)) continue;
      if (/ role: | runtime: | command: |stand-in| warn | error |duplex:/.test(line)) say(line);
      checkTakeover(line);
    }
  };
  p.stdout!.on('data', show);
  p.stderr!.on('data', show);
  p.once('exit', (code, signal) => {
    if (procs.get(server) === p) procs.delete(server);
    frozen.delete(server);
    const how = signal ?? `code ${code}`;
    say(quitting ? `-- the demo stopped node ${server} (${how})` : `-- node ${server} exited (${how}); type "start ${server}" to bring it back`);
  });
}

/** Calls `onLine` with each whole line appended to `f` since the last call (nothing while it does not exist). */
function follower(f: string, onLine: (line: string) => void): () => void {
  let offset = 0;
  let rest = '';
  return () => {
    let size: number;
    try {
      size = statSync(f).size;
    } catch {
      return;
    }
    if (size < offset) offset = 0; // rotated
    if (size === offset) return;
    const buf = Buffer.alloc(size - offset);
    const fd = openSync(f, 'r');
    try {
      readSync(fd, buf, 0, buf.length, offset);
    } finally {
      closeSync(fd);
    }
    offset = size;
    const lines = (rest + buf.toString('utf8')).split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line) onLine(line);
  };
}

/** Shows what the runtimes write to their own log files (`<stateDir>/<server>/logs/runtime-plant-runtime.log`). */
function tailRuntimeLogs(): void {
  const follows = SERVERS.map((s) => follower(join(dir, 'duplex-state', s, 'logs', 'runtime-plant-runtime.log'), (line) => say(line)));
  setInterval(() => follows.forEach((f) => f()), POLL_MS).unref();
}

/**
 * Shows each guardian's warnings as they happen (`<stateDir>/<server>/logs/guardian.log`): its
 * fences and releases, written while its node may be frozen or dead.
 */
function tailGuardianLogs(): void {
  const follows = SERVERS.map((s) => follower(join(dir, 'duplex-state', s, 'logs', 'guardian.log'), (line) => {
    if (/^\S+ \S+ (warn|error) /.test(line)) say(line);
  }));
  setInterval(() => follows.forEach((f) => f()), POLL_MS).unref();
}

/** The status of every running node that is not frozen (a frozen one would only make us wait). */
async function statuses(): Promise<StatusView[]> {
  const domain = loadDomain(file);
  const out: StatusView[] = [];
  for (const s of [...procs.keys()].filter((x) => !frozen.has(x))) {
    try {
      out.push((await askNode(domain, s, 'GET', '/status', undefined, 1_000)).body as StatusView);
    } catch {
      // not up yet
    }
  }
  return out;
}

async function find(role: string): Promise<string | null> {
  return (await statuses()).find((s) => s.role === role)?.server ?? null;
}

const HELP = `
Commands (type and press Enter):
  status          roles of all servers (a frozen one is shown as frozen)
  kill            SIGKILL the Active's node: the Standby takes over in under a second
  switch          activate the Standby: a graceful switchover
  freeze [name]   SIGSTOP a node, the Active's by default (a hung server)
  thaw [name]     SIGCONT a frozen node, the last one frozen by default
  start <name>    start a node that was killed
  pages           the status window of each server, to open in a browser
  quit            stop everything and remove the demo's folder
The same from another terminal:
  node ${CLI} status --all --domain ${file}
  node ${CLI} activate --domain ${file} --server b
`;

const COMMAND_WORDS = ['status', 'kill', 'switch', 'freeze', 'thaw', 'start', 'pages', 'quit'];

async function handle(line: string): Promise<void> {
  const [cmd, arg] = line.trim().split(/\s+/);
  switch (cmd) {
    case 'status': {
      const answers = new Map((await statuses()).map((s) => [s.server, s]));
      for (const server of SERVERS) {
        const s = answers.get(server);
        const line = frozen.has(server) ? `FROZEN (SIGSTOP by this demo; type "thaw ${server}")`
          : !procs.has(server) ? `not running (type "start ${server}")`
          : s ? `${s.role}${s.role === 'active' ? ` (epoch ${s.epoch})` : ''} — ${s.reason}` : 'no answer yet';
        say(`  ${server}: ${line}`);
      }
      break;
    }
    case 'kill': {
      const a = await find('active');
      if (!a) return say('no Active right now');
      say(`-- SIGKILL node ${a} (the Active)`);
      timeTakeover('kill', a, Date.now());
      procs.get(a)?.kill('SIGKILL');
      break;
    }
    case 'freeze': {
      const active = await find('active');
      const a = arg ?? active;
      if (!a) return say('no Active right now');
      if (!procs.has(a)) return say(`${a} ${SERVERS.includes(a) ? 'is not running' : 'is not a server'}; the servers are ${SERVERS.join(', ')}`);
      say(`-- SIGSTOP node ${a}: it is frozen until "thaw ${a}"`);
      if (a === active) timeTakeover('freeze', a, Date.now());
      procs.get(a)!.kill('SIGSTOP');
      frozen.delete(a);
      frozen.add(a);
      break;
    }
    case 'thaw': {
      const a = arg ?? [...frozen].pop();
      if (!a || !frozen.has(a)) return say(frozen.size ? `frozen: ${[...frozen].join(', ')}` : 'no node is frozen');
      say(`-- SIGCONT node ${a}`);
      procs.get(a)?.kill('SIGCONT');
      frozen.delete(a);
      break;
    }
    case 'switch': {
      const s = await find('standby');
      if (!s) return say('no Standby right now');
      const active = await find('active');
      say(`-- activate ${s}`);
      if (active) timeTakeover('switch', active, Date.now());
      const r = await askNode(loadDomain(file), s, 'POST', '/command', { kind: 'activate' });
      say(`-- activate ${s}: ${(r.body as { message: string }).message}`);
      break;
    }
    case 'start':
      if (!arg || !SERVERS.includes(arg)) return say(`start which server? ${SERVERS.join(', ')}`);
      if (procs.has(arg)) return say(`${arg} is running`);
      start(arg);
      break;
    case 'pages':
      await printPages();
      break;
    case 'quit':
      await quit();
      break;
    case '':
    case undefined:
      break;
    default:
      say(`unknown command "${cmd}"; the commands are ${COMMAND_WORDS.join(', ')}\n${HELP}`);
  }
}

/** Each running node serves its status window; the address carries its admin token. */
async function printPages(): Promise<void> {
  const d = loadDomain(file);
  for (const s of SERVERS) {
    if (!procs.has(s)) continue;
    try {
      const url = await waitForPage(d, s);
      say(`  status window of ${s}: ${url}`);
    } catch (e) {
      say(`  ${s} has no status window yet: ${(e as Error).message}`);
    }
  }
}

/** A node that has just started (on a busy machine, several seconds) may not answer yet: asks until PAGE_WAIT_MS. */
const PAGE_WAIT_MS = 30_000;
async function waitForPage(d: ReturnType<typeof loadDomain>, server: string): Promise<string> {
  const until = Date.now() + PAGE_WAIT_MS;
  for (;;) {
    try {
      const ep = readEndpoint(nodePaths(d, server).admin);
      await askNode(d, server, 'GET', '/status', undefined, 1_000);
      return pageUrl(ep);
    } catch (e) {
      if (Date.now() >= until) throw new Error(`no answer to GET /status within ${PAGE_WAIT_MS / 1000} s (last: ${(e as Error).message})`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Stops every node (a frozen one is continued first), then removes the demo's folder. */
async function quit(): Promise<void> {
  quitting = true;
  if (takeover) clearTimeout(takeover.timer);
  takeover = null;
  const running = [...procs.values()];
  say(`-- stopping the nodes ${[...procs.keys()].sort().join(', ') || '(none runs)'}`);
  for (const p of running) {
    p.kill('SIGCONT');
    p.kill('SIGTERM');
  }
  await Promise.race([
    Promise.all(running.map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r))))),
    new Promise((r) => setTimeout(r, 10_000)),
  ]);
  for (const p of running) p.kill('SIGKILL');
  // What the guardians logged as the nodes stopped (their fence of a frozen node's runtime, say).
  await new Promise((r) => setTimeout(r, HOLD_MS + POLL_MS));
  flush(true);
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  process.stdout.write(`removed the demo's folder ${dir}\n`);
  process.exit(0);
}

/** Whether nothing listens on 127.0.0.1:`port`. */
function free(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function main(): Promise<void> {
  const port = 40_000 + Math.floor(Math.random() * 20_000);
  // The status windows' fixed addresses, unless another demo (or anything) holds them: a node
  // refuses a taken fixed port, so this demo's servers then take free ones.
  const fixed = (await Promise.all(SERVERS.map((_, i) => free(ADMIN_PORT_BASE + i)))).every(Boolean);
  initDomain({
    file, servers: SERVERS, port, interface: '127.0.0.1', anyAdminPort: !fixed,
    runtime: { processes: [{ name: 'plant-runtime', command: process.execPath, args: [join(__dirname, 'runtime', 'standin.js')] }] },
  });
  if (!fixed) process.stdout.write(`The status windows' fixed ports ${ADMIN_PORT_BASE}-${ADMIN_PORT_BASE + SERVERS.length - 1} are taken (another demo?): this demo's servers take free ones (type pages for the addresses)\n`);
  process.stdout.write(`Duplex demo in ${dir} (this run's own folder, removed when the demo quits)\n`);
  process.stdout.write(`Domain file ${file} (multicast 239.255.80.1:${port} on 127.0.0.1)\n`);
  process.stdout.write('Starting servers a (main), b (backup), c (inactive)...\n');
  process.stdout.write('Lines come from each server\'s node, its guardian (fence, release: from guardian.log, as they happen) and its runtime, in the order of their times\n');
  setInterval(() => flush(), POLL_MS).unref();
  for (const s of SERVERS) start(s);
  tailRuntimeLogs();
  tailGuardianLogs();
  await printPages();
  say(HELP);
  process.once('SIGINT', () => void quit());
  process.once('SIGTERM', () => void quit());
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => void handle(line).catch((e: Error) => say(`error: ${e.message}`)));
  rl.on('close', () => {
    if (!process.stdin.isTTY) say('(no keyboard input: the demo runs until Ctrl-C)');
  });
}

void main();
