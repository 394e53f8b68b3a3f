/**
 * Runtimes under real nodes: a crash loop on the Active moves the runtime to the Standby;
 * a runtime left behind by an earlier Duplex of the server is stopped when the node comes back.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Cluster, runCli, waitFor, waitForRoles } from './cluster';
import { LocalProcessHost, pidFileName } from '../../main/runtime/host';
import { isRunning } from '../../main/util/process';
import { tempDir } from '../fixtures/temp';

const VICTIM = join(__dirname, '..', 'fixtures', 'victim.js');


/** Pids of live processes whose command line contains `text` (Linux /proc). */
function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text)) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

const pidOf = (dir: string, server: string) => {
  try {
    return Number(readFileSync(join(dir, `${server}.pid`), 'utf8'));
  } catch {
    return undefined;
  }
};

describe('runtime supervision with real nodes', () => {
  it('a crash loop on the Active hands over: the Standby runs the runtime in active mode', async () => {
    const c = new Cluster(['a', 'b'], { runtime: { processes: [{ name: 'victim', command: process.execPath, args: [VICTIM, '--crash-on', 'a'] }] } });
    try {
      c.startAll();
      await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
      const b = await waitFor('b to take over after the crash loop on a', 20_000, async () => {
        const s = await c.status('b');
        return s.role === 'active' && s.runtime.processes[0]!.state === 'running' ? s : undefined;
      }, 100);
      assert.equal(b.runtime.processes[0]!.mode, 'active');
      const a = await c.status('a');
      assert.equal(a.role, 'inactive', 'the crash loop bans a from the Active role until duplex clear or runtime.failureResetMs');
      assert.equal(a.runtime.failures.banned, true);
      assert.ok(a.events.some((e) => /runtime crash loop \(victim: 3 exits within 60 s, the last code 7\): handing over to b/.test(e.reason)), JSON.stringify(a.events));
      assert.equal(a.runtime.processes[0]!.state, 'stopped');
    } finally {
      await c.stop();
    }
  });

  it('confirmResume: after a failover the new Active holds its runtime until "duplex resume"; a switchover does not hold', async () => {
    const pids = tempDir('duplex-pids-');
    const c = new Cluster(['a', 'b'], { runtime: { confirmResume: true, processes: [{ name: 'scada', command: process.execPath, args: [VICTIM, '--pid-dir', pids] }] } });
    const cli = (verb: string, server: string) => runCli([verb, '--domain', c.file, '--server', server]);
    try {
      c.startAll();
      await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
      assert.equal((await c.status('a')).runtime.held, null, 'the first start-up does not hold');
      const first = await waitFor("a's runtime pid", 5_000, async () => pidOf(pids, 'a'));
      c.kill('a', 'SIGKILL');
      process.kill(first, 'SIGKILL'); // the server is gone, runtime and all
      const held = await waitFor('b to take over, holding its runtime', 10_000, async () => {
        const s = await c.status('b');
        return s.role === 'active' && s.runtime.held ? s : undefined;
      }, 50);
      assert.match(held.runtime.held!, /took over after a failover \(failover: .*\); confirmResume is set in the domain file/);
      assert.equal(held.runtime.processes[0]!.state, 'stopped');
      const shown = await cli('status', 'b');
      assert.match(shown.stdout, /runtime HELD: took over after a failover/);

      const r = await cli('resume', 'b');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /runtime resumed/);
      const p = await c.process('b');
      assert.deepEqual([p.state, p.mode], ['running', 'active']);
      const again = await cli('resume', 'b');
      assert.equal(again.code, 1);
      assert.match(again.stderr, /nothing to resume: the runtime of b is not held/);

      c.start('a');
      await waitForRoles(c, { a: 'standby', b: 'active' }, 15_000);
      const sw = await cli('activate', 'a');
      assert.equal(sw.code, 0, sw.stderr);
      await waitFor("a's runtime to run in active mode after the switchover", 10_000, async () => {
        const s = await c.status('a');
        return s.role === 'active' && s.runtime.held === null && s.runtime.processes[0]!.state === 'running' ? true : undefined;
      }, 50);
    } finally {
      await c.stop();
      rmSync(pids, { recursive: true, force: true });
    }
  });

  describe('a runtime left running by an earlier Duplex of this server (the runtime orphaned)', () => {
    const pids = tempDir('duplex-pids-');
    const c = new Cluster(['a', 'b'], { runtime: { processes: [{ name: 'victim', command: process.execPath, args: [VICTIM, '--ignore-term', '--grandchild', '--pid-dir', pids] }] } });
    after(async () => {
      await c.stop();
      // No orphans: nothing started with this test's pid folder in its command line survives.
      const left = processesMentioning(pids).join(', ');
      rmSync(pids, { recursive: true, force: true });
      assert.equal(left, '', `orphan runtime processes: ${left}`);
    });

    it('finds the leftover runtime when it comes back and stops it: exactly one runtime', async () => {
      c.start('b');
      await waitForRoles(c, { b: 'active' }, 10_000);
      const survivor = await waitFor("b's runtime pid", 5_000, async () => pidOf(pids, 'b'));
      // The runtime a's guardian would leave when it cannot hold the runtime's tree (no PID
      // namespace, no setpriv: main/runtime/hold.ts) and is killed with its node: started as
      // that guardian starts it, its pid file in a's folder. (Where the guardian holds the
      // tree, killing both leaves nothing: runtime-tree.test.ts.)
      const pidFile = c.pathOf('a', 'duplex-state', 'a', pidFileName('victim'));
      mkdirSync(dirname(pidFile), { recursive: true });
      const env = { ...process.env, DUPLEX_SERVER: 'a', DUPLEX_MODE: 'active', DUPLEX_PROCESS: 'victim' } as Record<string, string>;
      await new LocalProcessHost().start({ name: 'victim', command: process.execPath, args: [VICTIM, '--ignore-term', '--grandchild', '--pid-dir', pids], env, mode: 'active', logFile: join(pids, 'orphan.log'), pidFile });
      const orphan = await waitFor("the orphan's pid", 5_000, async () => pidOf(pids, 'a'));
      const grandchild = Number(readFileSync(join(pids, 'a.child'), 'utf8'));
      assert.ok(isRunning(orphan) && isRunning(grandchild), 'the leftover runtime and its child run');
      c.start('a');
      await waitForRoles(c, { a: 'standby', b: 'active' }, 15_000);
      await waitFor('the leftover runtime and its child to be gone', 10_000, async () => (isRunning(orphan) || isRunning(grandchild) ? undefined : true));
      assert.ok(isRunning(survivor), "b's runtime keeps running");
      assert.ok(c.nodes.get('a')!.output.some((l) => /found the runtime process .* left running by a previous Duplex node of this server; stopping it/.test(l)));
    });
  });
});
