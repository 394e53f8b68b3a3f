/**
 * The Windows code paths, run by the Windows build of Node under Wine (`npm run test:windows`,
 * through test/windows/wine-node.js). Node's test runner runs in this one process: Wine's
 * node.exe cannot write to a pipe, so `node --test` (which reads its children through pipes)
 * cannot be used, and every process started here writes to files.
 *
 * What Wine cannot run (WinSW needs .NET, icacls and eventcreate are stubs or missing, taskkill
 * has no /T) is listed in the README; the paths that fall back where Wine lacks a tool are
 * exercised here through the fallback.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, test } from 'node:test';
import { insertBeforeEnd } from '../../main/domain/end';
import { LocalProcessHost, killTree, pidFileName } from '../../main/runtime/host';
import { descendantsOf, isAlive, windowsProcesses } from '../../main/util/process';
import { spawnProgram } from '../../main/util/spawn';
import { VERSION } from '../../main/version';
import { runCommand, VipHolder } from '../../main/vip/holder';
import { Cluster, sleep, waitFor, waitForRoles } from '../integration/cluster';

if (process.platform !== 'win32') {
  console.error('test/windows/scenario.js runs under the Windows build of Node: npm run test:windows');
  process.exit(2);
}

const RUNTIME_DIR = 'My Runtime'; // a path with a space, as C:\Program Files\… is

/**
 * A runtime folder with a space in its path: `runtime.cmd` runs a Node child that holds on
 * (the tree a .cmd runtime makes: cmd.exe and what it started); `takeover.cmd` is the
 * onActivate hook and writes what it was given to takeover.log.
 */
function writeRuntime(dir: string): { runtime: string; takeover: string; log: string; children: string } {
  const folder = join(dir, RUNTIME_DIR);
  mkdirSync(folder, { recursive: true });
  const children = join(folder, 'children');
  mkdirSync(children);
  writeFileSync(join(folder, 'hold.js'), `require('fs').writeFileSync(require('path').join(${JSON.stringify(children)}, String(process.pid)), process.argv.slice(2).join(' ')); setInterval(() => {}, 1000);\n`);
  writeFileSync(join(folder, 'runtime.cmd'), `@echo off\r\n"${process.execPath}" "%~dp0hold.js" %*\r\n`);
  writeFileSync(join(folder, 'takeover.cmd'), '@echo off\r\necho %DUPLEX_SERVER% %DUPLEX_MODE% %1>> "%~dp0takeover.log"\r\nexit /b 0\r\n');
  return { runtime: join(folder, 'runtime.cmd'), takeover: join(folder, 'takeover.cmd'), log: join(folder, 'takeover.log'), children };
}

/** The pids of the Node children the runtime .cmd started (each writes a file named by its pid). */
const holders = (children: string): number[] => readdirSync(children).map(Number);

/** The runtime section, in the server's domain file (JSON is YAML). */
function addRuntime(c: Cluster, server: string, runtime: Record<string, unknown>): void {
  const file = c.fileOf(server);
  writeFileSync(file, insertBeforeEnd(readFileSync(file, 'utf8'), `runtime: ${JSON.stringify(runtime)}\n`));
}

// A bound that catches a hang, not a figure: warm, everything here ends in about 2.5 minutes,
// cold (a Wine prefix just made) in about 3.5; test/windows/run.js ends a run that does not.
const LIMIT_S = 360;
setTimeout(() => {
  console.error(`test:windows: the scenario did not end within ${LIMIT_S} s`);
  process.exit(1);
}, LIMIT_S * 1000).unref();

const clusters: Cluster[] = [];
after(async () => {
  // All at once: each may wait for processes Wine ends slowly, and for files they held.
  await Promise.all(clusters.map((c) => c.stop().catch((e: Error) => console.error(`cleanup of ${c.dir}: ${e.message}`))));
});

test('failover with a .cmd onActivate hook and a runtime path with a space', { timeout: 120_000 }, async () => {
  const c = new Cluster(['a', 'b'], { separate: true });
  clusters.push(c);
  const rt = writeRuntime(c.dir);
  // Both servers use the same runtime folder: what runs where is told by the hook's log and the status.
  // The hook's bound is a minute: under Wine on a busy machine cmd.exe can take seconds to start,
  // and a hook that runs out of time restarts the process, which this test would read as failure.
  const runtime = { processes: [{ name: 'scada', command: rt.runtime, args: ['active'], standbyArgs: ['standby'], runOn: 'both', onActivate: [rt.takeover, '--now'], hookTimeoutMs: 60_000 }] };
  for (const s of c.servers) addRuntime(c, s, runtime);
  c.start('a');
  await waitForRoles(c, { a: 'active' }, 30_000);
  c.start('b');
  await waitForRoles(c, { a: 'active', b: 'standby' }, 30_000);
  const standby = await waitFor('b runs its runtime in standby mode', 30_000, async () => {
    const p = await c.process('b');
    return p.state === 'running' && p.mode === 'standby' && p.pid ? p : undefined;
  });

  c.kill('a', 'SIGKILL'); // TerminateProcess: the node is gone, its guardian fences a's runtime
  await waitForRoles(c, { b: 'active' }, 30_000);
  const promoted = await waitFor('b reaches active mode through its hook', 30_000, async () => {
    const { runtime } = await c.status('b');
    return runtime.wanted === 'active' && runtime.reached && runtime.processes[0]!.mode === 'active' ? runtime.processes[0]! : undefined;
  });
  const hookLines = () => readFileSync(c.pathOf('b', 'duplex-state', 'b', 'logs', 'duplex.log'), 'utf8').split('\n').filter((l) => /hook|runtime:|role:|guardian|fence/.test(l)).join('\n');
  assert.equal(promoted.pid, standby.pid, `the hook promoted the running process; it was not restarted. b's log:\n${hookLines()}`);
  assert.match(readFileSync(rt.log, 'utf8'), /^b active --now\s*$/m, 'takeover.cmd ran on b with its argument');
  // a's runtime, the program its .cmd started included, is gone: one runtime in active mode.
  const actives = () => holders(rt.children).filter((pid) => readFileSync(join(rt.children, String(pid)), 'utf8') === 'active' && isAlive(pid));
  await waitFor('a\'s runtime program is stopped', 20_000, async () => (actives().length === 0 ? true : undefined));
  const log = readFileSync(c.pathOf('b', 'duplex-state', 'b', 'logs', 'duplex.log'), 'utf8');
  assert.doesNotMatch(log, /EINVAL|could not reach active mode/, 'no spawn error in b\'s log');
});

test('a .cmd runtime tree is stopped as a whole (taskkill /T /F, or the process table where taskkill has no /T)', { timeout: 60_000 }, async () => {
  const c = new Cluster(['x']);
  clusters.push(c);
  const rt = writeRuntime(c.dir);
  const host = new LocalProcessHost();
  const started = await host.start({ name: 'tree', command: rt.runtime, args: ['tree'], env: { ...process.env } as Record<string, string>, mode: 'active', logFile: join(c.dir, 'tree.log'), pidFile: join(c.dir, pidFileName('tree')) });
  const [child] = await waitFor('the .cmd started its child', 20_000, async () => (holders(rt.children).length ? holders(rt.children) : undefined));
  assert.ok(isAlive(started.pid) && isAlive(child!), 'cmd.exe and its child run');
  killTree(started.pid, 'SIGKILL');
  await waitFor('cmd.exe and its child are gone', 20_000, async () => (!isAlive(started.pid) && !isAlive(child!) ? true : undefined));
  assert.equal(await Promise.race([started.exited, sleep(5_000).then(() => 'still running')]) !== 'still running', true);
});

test('node and guardian killed together: the guardian\'s job object ends the runtime and what it started', { timeout: 120_000 }, async (t) => {
  const c = new Cluster(['solo']);
  clusters.push(c);
  const rt = writeRuntime(c.dir);
  addRuntime(c, 'solo', { processes: [{ name: 'scada', command: rt.runtime, args: ['job'] }] });
  c.start('solo');
  await waitForRoles(c, { solo: 'active' }, 30_000);
  const runtime = await waitFor('the runtime runs', 30_000, async () => {
    const p = await c.process('solo');
    return p.state === 'running' && p.pid ? p.pid : undefined;
  });
  const [child] = await waitFor('the runtime\'s child runs', 20_000, async () => (holders(rt.children).length ? holders(rt.children) : undefined));
  const log = readFileSync(c.pathOf('solo', 'duplex-state', 'solo', 'logs', 'guardian.log'), 'utf8');
  assert.match(log, /info \[solo\] guardian: runtime processes: the guardian and every process it starts run in a job object that ends them all when the guardian ends/);
  const guardian = (JSON.parse(readFileSync(c.pathOf('solo', 'duplex-state', 'solo', 'guardian.json'), 'utf8')) as { pid: number }).pid;
  // TerminateProcess of both, the node first: a guardian whose node dies with no Standby keeps
  // the runtime for the rest of its lease, so only the job can end it here.
  c.kill('solo', 'SIGKILL');
  process.kill(guardian, 'SIGKILL');
  const t0 = performance.now();
  await waitFor('cmd.exe and the program it started to be gone', 1_000, async () => (!isAlive(runtime) && !isAlive(child!) ? true : undefined), 5);
  t.diagnostic(`the runtime tree was gone ${Math.round(performance.now() - t0)} ms after the guardian was killed`);
});

test('a runtime left running by an earlier Duplex of this server is stopped by the next node', { timeout: 120_000 }, async () => {
  const c = new Cluster(['solo']);
  clusters.push(c);
  const rt = writeRuntime(c.dir);
  addRuntime(c, 'solo', { processes: [{ name: 'scada', command: rt.runtime, args: ['leftover'] }] });
  // What a guardian that could not make its job object (hold.ts) leaves when it is killed with
  // its node: the runtime, started as that guardian starts it, its pid file in solo's folder.
  // The record names its parent (here this process) and, where wmic gives it, its creation time.
  const pidFile = c.pathOf('solo', 'duplex-state', 'solo', pidFileName('scada'));
  mkdirSync(dirname(pidFile), { recursive: true });
  const started = await new LocalProcessHost().start({ name: 'scada', command: rt.runtime, args: ['leftover'], env: { ...process.env } as Record<string, string>, mode: 'active', logFile: join(c.dir, 'leftover.log'), pidFile });
  const first = started.pid;
  const [child] = await waitFor('the runtime\'s child runs', 20_000, async () => (holders(rt.children).length ? holders(rt.children) : undefined));
  const record = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number; parent: number };
  assert.deepEqual([record.pid, record.parent], [first, process.pid]);

  c.start('solo');
  await waitFor('the leftover runtime and its child are stopped', 30_000, async () => (!isAlive(first) && !isAlive(child!) ? true : undefined));
  const log = await waitFor('the node logs the stop', 10_000, async () => {
    const text = readFileSync(c.pathOf('solo', 'duplex-state', 'solo', 'logs', 'duplex.log'), 'utf8');
    return /leftover runtime .* stopped/.test(text) ? text : undefined;
  });
  assert.match(log, new RegExp(`left running by a previous Duplex node[^\\n]*\\n[\\s\\S]*leftover runtime pid (${first}|[\\d, ]*\\b${child}\\b[\\d, ]*, started by pid ${first}) stopped`));
  await waitForRoles(c, { solo: 'active' }, 30_000);
});

test('wmic gives the process table the tree stop and the leftover check read', { timeout: 30_000 }, async () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore', windowsHide: true });
  try {
    await new Promise((r) => child.once('spawn', r));
    const table = await windowsProcesses();
    assert.ok(table, 'wmic ran');
    const row = table.find((p) => p.pid === child.pid);
    assert.deepEqual([row?.pid, row?.ppid], [child.pid, process.pid]);
    assert.ok(row!.created === null || Math.abs(row!.created - Date.now()) < 60_000, `a creation time wmic gives is read (${row!.created})`);
    assert.deepEqual(descendantsOf(process.pid, table).includes(child.pid!), true);
  } finally {
    child.kill();
  }
});

test('duplex.cmd, the installed command, runs the bundled program as Node with the arguments as given, and passes the exit code on', { timeout: 60_000 }, async () => {
  // An install folder as the installer lays it out, with a space in its path: Duplex.exe (here
  // this node.exe), the shim beside it, and the app under resources\app.asar (a folder here:
  // plain Node reads no asar). Packages come from this checkout through NODE_PATH.
  const c = new Cluster(['x']);
  clusters.push(c);
  const inst = join(c.dir, 'Program Files', 'Duplex');
  const app = join(inst, 'resources', 'app.asar', 'out');
  mkdirSync(app, { recursive: true });
  cpSync(join(__dirname, '..', '..', 'main'), join(app, 'main'), { recursive: true });
  copyFileSync(join(__dirname, '..', '..', '..', 'package.json'), join(app, '..', 'package.json'));
  copyFileSync(process.execPath, join(inst, 'Duplex.exe'));
  copyFileSync(join(__dirname, '..', '..', '..', 'build', 'duplex.cmd'), join(inst, 'duplex.cmd'));
  const duplex = (args: string[]) => new Promise<{ code: number | null; out: string }>((done) => {
    const outFile = join(c.dir, `shim-${Math.random()}.out`);
    const fd = openSync(outFile, 'w');
    const env = { ...process.env, NODE_PATH: join(__dirname, '..', '..', '..', 'node_modules') };
    const p = spawnProgram(join(inst, 'duplex.cmd'), args, { stdio: ['ignore', fd, fd], env });
    closeSync(fd);
    p.once('exit', (code) => done({ code, out: readFileSync(outFile, 'utf8') }));
  });
  const version = await duplex(['--version']);
  assert.deepEqual(version, { code: 0, out: `${VERSION}\n` });
  const checked = await duplex(['domain', 'check', c.file]);
  assert.equal(checked.code, 0, checked.out);
  assert.match(checked.out, /^ok: .*plant\.yaml is a valid domain file/);
  const none = await duplex(['status', '--domain', c.file, '--server', 'x']);
  assert.equal(none.code, 3, 'no node: exit 3 comes through the shim');
  assert.match(none.out, /no Duplex node is running for server x/);
  const bad = await duplex(['maintenance', 'sideways', '--domain', c.file, '--server', 'x']);
  assert.equal(bad.code, 2);
});

// Wine's netsh is a stub: it exits 0 and changes nothing. What runs here is the Windows path up
// to the program: Node for Windows finds netsh and runs the command lines the plan built (an
// alias with a space, the mask, skipassource). That the address is added is on paper.
test('the virtual IP: netsh runs the add and delete command lines under Windows', async () => {
  let on: string | null = null;
  const h = new VipHolder(runCommand, async () => on, 'win32');
  await h.configure({ vip: { address: '10.20.0.100', prefix: 24 }, card: 'Plant LAN' });
  assert.deepEqual(await h.add(), { ok: true, message: 'added 10.20.0.100/24 on Plant LAN' });
  on = 'Plant LAN';
  assert.deepEqual(await h.remove(), { ok: true, message: 'removed 10.20.0.100/24 from Plant LAN' });
  const missing = new VipHolder(async (argv) => runCommand(['netsh-missing', ...argv.slice(1)]), async () => null, 'win32');
  await missing.configure({ vip: { address: '10.20.0.100', prefix: 24 }, card: 'Plant LAN' });
  const r = await missing.add();
  assert.equal(r.ok, false);
  assert.match(r.message, /^netsh-missing interface ipv4 add address name=Plant LAN address=10.20.0.100 mask=255.255.255.0 skipassource=true failed: /);
});
