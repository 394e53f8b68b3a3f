/**
 * `npm run demo`: a 3-server domain on loopback (main a, backup b, inactive c) with a
 * stand-in runtime. Prints role changes live; type commands to kill the Active or switch over.
 * Every run has its own temporary folder (printed at the start, removed when the demo quits),
 * so a second demo or a test run never touches it.
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

function start(server: string): void {
  const p = spawn(process.execPath, [CLI, 'run', '--domain', file, '--server', server], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.set(server, p);
  const show = (b: Buffer) => {
    for (const line of b.toString('utf8').split('\n')) {
      if (/ role: | runtime: | command: |stand-in| warn | error |duplex:/.test(line)) process.stdout.write(`${line}\n`);
    }
  };
  p.stdout!.on('data', show);
  p.stderr!.on('data', show);
  p.once('exit', (code, signal) => {
    if (procs.get(server) === p) procs.delete(server);
    frozen.delete(server);
    process.stdout.write(`-- node ${server} exited (${signal ?? `code ${code}`}); type "start ${server}" to bring it back\n`);
  });
}

/** Shows what the runtimes write to their own log files (`<stateDir>/<server>/logs/runtime-plant-runtime.log`). */
function tailRuntimeLogs(): void {
  const offsets = new Map<string, number>();
  setInterval(() => {
    for (const s of SERVERS) {
      const f = join(dir, 'duplex-state', s, 'logs', 'runtime-plant-runtime.log');
      let size: number;
      try {
        size = statSync(f).size;
      } catch {
        continue;
      }
      const from = offsets.get(f) ?? 0;
      if (size <= from) continue;
      const buf = Buffer.alloc(size - from);
      const fd = openSync(f, 'r');
      readSync(fd, buf, 0, buf.length, from);
      closeSync(fd);
      offsets.set(f, size);
      process.stdout.write(buf.toString('utf8'));
    }
  }, 300).unref();
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
        process.stdout.write(`  ${server}: ${line}\n`);
      }
      break;
    }
    case 'kill': {
      const a = await find('active');
      if (!a) return void process.stdout.write('no Active right now\n');
      process.stdout.write(`-- SIGKILL node ${a} (the Active)\n`);
      procs.get(a)?.kill('SIGKILL');
      break;
    }
    case 'freeze': {
      const a = arg ?? (await find('active'));
      if (!a) return void process.stdout.write('no Active right now\n');
      if (!procs.has(a)) return void process.stdout.write(`${a} ${SERVERS.includes(a) ? 'is not running' : 'is not a server'}; the servers are ${SERVERS.join(', ')}\n`);
      procs.get(a)!.kill('SIGSTOP');
      frozen.delete(a);
      frozen.add(a);
      process.stdout.write(`-- SIGSTOP node ${a}: it is frozen until "thaw ${a}"\n`);
      break;
    }
    case 'thaw': {
      const a = arg ?? [...frozen].pop();
      if (!a || !frozen.has(a)) return void process.stdout.write(frozen.size ? `frozen: ${[...frozen].join(', ')}\n` : 'no node is frozen\n');
      procs.get(a)?.kill('SIGCONT');
      frozen.delete(a);
      process.stdout.write(`-- SIGCONT node ${a}\n`);
      break;
    }
    case 'switch': {
      const s = await find('standby');
      if (!s) return void process.stdout.write('no Standby right now\n');
      const r = await askNode(loadDomain(file), s, 'POST', '/command', { kind: 'activate' });
      process.stdout.write(`-- activate ${s}: ${(r.body as { message: string }).message}\n`);
      break;
    }
    case 'start':
      if (!arg || !SERVERS.includes(arg)) return void process.stdout.write(`start which server? ${SERVERS.join(', ')}\n`);
      if (procs.has(arg)) return void process.stdout.write(`${arg} is running\n`);
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
      process.stdout.write(`unknown command "${cmd}"; the commands are ${COMMAND_WORDS.join(', ')}\n${HELP}`);
  }
}

/** Each running node serves its status window; the address carries its admin token. */
async function printPages(): Promise<void> {
  const d = loadDomain(file);
  for (const s of SERVERS) {
    if (!procs.has(s)) continue;
    try {
      const url = await waitForPage(d, s);
      process.stdout.write(`  status window of ${s}: ${url}\n`);
    } catch {
      process.stdout.write(`  ${s} has no status window yet\n`);
    }
  }
}

async function waitForPage(d: ReturnType<typeof loadDomain>, server: string): Promise<string> {
  for (let i = 0; i < 50; i++) {
    try {
      const ep = readEndpoint(nodePaths(d, server).admin);
      await askNode(d, server, 'GET', '/status', undefined, 1_000);
      return pageUrl(ep);
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('no page');
}

/** Stops every node (a frozen one is continued first), then removes the demo's folder. */
async function quit(): Promise<void> {
  const running = [...procs.values()];
  for (const p of running) {
    p.kill('SIGCONT');
    p.kill('SIGTERM');
  }
  await Promise.race([
    Promise.all(running.map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(null) : p.once('exit', r))))),
    new Promise((r) => setTimeout(r, 10_000)),
  ]);
  for (const p of running) p.kill('SIGKILL');
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
  for (const s of SERVERS) start(s);
  tailRuntimeLogs();
  await printPages();
  process.stdout.write(HELP);
  process.once('SIGINT', () => void quit());
  process.once('SIGTERM', () => void quit());
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => void handle(line).catch((e: Error) => process.stdout.write(`error: ${e.message}\n`)));
  rl.on('close', () => {
    if (!process.stdin.isTTY) process.stdout.write('(no keyboard input: the demo runs until Ctrl-C)\n');
  });
}

void main();
