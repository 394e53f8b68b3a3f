/**
 * The runtime dies with the last Duplex process (main/runtime/hold.ts): whatever kills a node
 * and its guardian together (`kill -9` of both, the OOM killer) leaves nothing of the runtime
 * running, what it started included, and nothing runs beside the new Active's runtime.
 * Linux; the Windows job object is tested under Wine (test/windows/scenario.ts).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Cluster, waitFor, waitForRoles } from './cluster';
import { procStat, isRunning } from '../../main/util/process';
import { tempDir } from '../fixtures/temp';

const VICTIM = join(__dirname, '..', 'fixtures', 'victim.js');
const linux = process.platform === 'linux';

const guardianPid = (c: Cluster, server: string) => (JSON.parse(readFileSync(c.pathOf(server, 'duplex-state', server, 'guardian.json'), 'utf8')) as { pid: number }).pid;
const readPid = (file: string) => {
  try {
    return Number(readFileSync(file, 'utf8')) || undefined;
  } catch {
    return undefined;
  }
};

/** Polls every 2 ms until none of `pids` runs (a zombie counts as gone); the ms it took, or null after `limitMs`. */
async function goneWithin(pids: number[], limitMs: number): Promise<number | null> {
  const t0 = performance.now();
  while (pids.some(isRunning)) {
    if (performance.now() - t0 > limitMs) return null;
    await new Promise((r) => setTimeout(r, 2));
  }
  return performance.now() - t0;
}

/** A domain whose runtime (the victim) starts a child; both write their pids as the machine sees them. */
function domain(servers: string[]) {
  const pids = tempDir('duplex-tree-');
  const ledger = tempDir('duplex-ledger-');
  const c = new Cluster(servers, { runtime: { processes: [{ name: 'scada', command: process.execPath, args: [VICTIM, '--grandchild', '--pid-dir', pids, '--ledger', ledger] }] } });
  const runtimeOf = (server: string) => waitFor(`${server}'s runtime and its child`, 10_000, async () => {
    const child = readPid(join(pids, `${server}.child`));
    const runtime = readPid(join(pids, `${server}.pid`));
    return runtime && child ? { runtime, child } : undefined;
  });
  return { c, pids, ledger, runtimeOf, cleanup: async () => {
    await c.stop();
    // What a failure left running (the pids the runtimes wrote), by pid.
    for (const f of readdirSync(pids)) {
      const pid = readPid(join(pids, f));
      if (pid && isRunning(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(pids, { recursive: true, force: true });
    rmSync(ledger, { recursive: true, force: true });
  } };
}

/** Kills every Duplex process of `server` at once: the node frozen first, so that it cannot act on its guardian's death. */
function killDuplex(c: Cluster, server: string): number[] {
  const guardian = guardianPid(c, server);
  c.kill(server, 'SIGSTOP');
  process.kill(guardian, 'SIGKILL');
  c.kill(server, 'SIGKILL');
  return [guardian, c.nodes.get(server)!.proc.pid!];
}

describe('the runtime dies with the last Duplex process', { skip: !linux && 'Linux (the Windows job object runs in test:windows)' }, () => {
  it('SIGKILL of the node and its guardian together: the runtime and its child are gone within 1 s, with no Duplex process left', async (t) => {
    const { c, runtimeOf, cleanup } = domain(['a']);
    try {
      c.start('a');
      await waitForRoles(c, { a: 'active' }, 10_000);
      const { runtime, child } = await runtimeOf('a');
      assert.equal((await c.process('a')).pid, runtime, 'the status shows the runtime\'s own pid');
      assert.ok(isRunning(runtime) && isRunning(child));
      const log = readFileSync(c.pathOf('a', 'duplex-state', 'a', 'logs', 'guardian.log'), 'utf8');
      assert.match(log, /info \[a\] guardian: runtime processes: each runtime process runs in a (user and )?PID namespace of its own/);
      const duplex = killDuplex(c, 'a');
      const took = await goneWithin([runtime, child], 1_000);
      // SIGKILLed (the node frozen before), neither could act; a process exits a moment after its SIGKILL.
      assert.notEqual(await goneWithin(duplex, 1_000), null, 'the node and its guardian are gone');
      assert.notEqual(took, null, `the runtime (${isRunning(runtime) ? 'runs' : 'gone'}) and its child (${isRunning(child) ? 'runs' : 'gone'}) outlived their node and guardian by 1 s`);
      t.diagnostic(`runtime and child gone ${took!.toFixed(1)} ms after the kill`);
    } finally {
      await cleanup();
    }
  });

  it('every Duplex process of the Active killed at once: its runtime and its child are gone before the Standby\'s runtime starts (0 ms of two runtimes)', async (t) => {
    const { c, ledger, runtimeOf, cleanup } = domain(['a', 'b']);
    try {
      c.start('a');
      await waitForRoles(c, { a: 'active' }, 10_000);
      c.start('b');
      await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
      const old = await runtimeOf('a');
      killDuplex(c, 'a');
      const killedAt = Date.now();
      const took = await goneWithin([old.runtime, old.child], 1_000);
      const goneAt = Date.now();
      assert.notEqual(took, null, "a's runtime tree outlived its node and guardian by 1 s");
      const next = await runtimeOf('b');
      // b registered its active-mode runtime in the ledger when it started (and would have recorded an overlap).
      const startedAt = await waitFor("b's runtime in the ledger", 5_000, async () => Number(readFileSync(join(ledger, `${next.runtime}.active`), 'utf8').split(' ')[1]) || undefined);
      assert.deepEqual(readdirSync(ledger).filter((f) => f.startsWith('overlap-')), [], 'two runtimes ran in active mode at once');
      assert.ok(goneAt <= startedAt, `a's runtime was seen gone at ${goneAt}, b's started at ${startedAt}`);
      t.diagnostic(`a's runtime tree gone ${took!.toFixed(1)} ms after the kill; b's runtime started ${startedAt - killedAt} ms after it`);
    } finally {
      await cleanup();
    }
  });

  it('not root: the runtime is held in a user namespace where the kernel allows one, and its child dies with its holder too', { skip: process.getuid?.() !== 0 && 'needs root to act as another user' }, async () => {
    // hold.ts needs nothing outside Node, so a copy in a folder anyone can read runs as nobody.
    const dir = tempDir('duplex-nobody-');
    chmodSync(dir, 0o755);
    copyFileSync(join(__dirname, '..', '..', 'main', 'runtime', 'hold.js'), join(dir, 'hold.js'));
    const holder = `
      const { spawn } = require('node:child_process');
      const hold = require('./hold.js').holdRuntimeTree();
      if (!hold.wrap) { console.log(JSON.stringify({ kind: hold.kind })); process.exit(0); }
      const run = hold.wrap('sh', ['-c', 'sleep 60 & wait']);
      const p = spawn(run.command, run.args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe'], detached: true });
      p.stdio[3].once('data', (b) => console.log(JSON.stringify({ kind: hold.kind, said: b.toString().trim() })));
      setInterval(() => {}, 1000);`;
    const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '-e', holder];
    const userns = Number(readFileSync('/proc/sys/user/max_user_namespaces', 'utf8')) > 0 && spawnSync('setpriv', [...asNobody.slice(0, 4), 'unshare', '--user', 'true']).status === 0;
    const p = spawn('setpriv', asNobody, { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const said = await new Promise<{ kind: string; said?: string }>((resolveSaid, reject) => {
        p.stdout.once('data', (b: Buffer) => resolveSaid(JSON.parse(b.toString()) as { kind: string; said?: string }));
        p.once('exit', (code) => reject(new Error(`the holder ended with ${code}`)));
      });
      assert.equal(said.kind, userns ? 'user-namespace' : 'parent-death-signal');
      if (!userns) return;
      const runtime = Number(/^pid (\d+)$/.exec(said.said ?? '')?.[1]);
      const child = await waitFor('the runtime\'s sleep', 5_000, async () => readdirSync('/proc').filter((f) => /^\d+$/.test(f)).map(Number).find((pid) => procStat(pid)?.[1] === String(runtime)));
      assert.ok(isRunning(runtime) && isRunning(child));
      p.kill('SIGKILL');
      assert.notEqual(await goneWithin([runtime, child], 1_000), null, 'the runtime and its child outlived their holder by 1 s');
    } finally {
      p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
