/**
 * The guardian with real nodes on loopback: whatever ends the Active's node (SIGKILL, SIGHUP,
 * an uncaught error, a freeze), its runtime is dead before the Standby's runtime starts in
 * active mode, and the Standby takes over on the release instead of waiting for silence.
 * The runtime stand-in (fixtures/victim) records any moment two active-mode runtimes run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, sleep, waitFor, waitForRoles } from './cluster';
import type { GuardianFile } from '../../main/guardian/protocol';
import { isRunning } from '../../main/util/process';
import { tempDir } from '../fixtures/temp';

const VICTIM = join(__dirname, '..', 'fixtures', 'victim.js');
const THROW_ON_USR2 = join(__dirname, '..', 'fixtures', 'throw-on-usr2.js');


function guardianOf(c: Cluster, server: string): GuardianFile | null {
  try {
    return JSON.parse(readFileSync(c.pathOf(server, 'duplex-state', server, 'guardian.json'), 'utf8')) as GuardianFile;
  } catch {
    return null;
  }
}

/** Two servers with a runtime that registers itself in `ledger` when it runs in active mode. */
async function pair(preload: boolean) {
  const ledger = tempDir('duplex-ledger-');
  const c = new Cluster(['a', 'b'], { runtime: { processes: [{ name: 'scada', command: process.execPath, args: [VICTIM, '--ledger', ledger] }] } });
  c.start('a', { nodeArgs: preload ? ['-r', THROW_ON_USR2] : [] });
  c.start('b');
  await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
  const runtime = await waitFor("a's runtime", 5_000, async () => {
    const p = await c.process('a');
    return p.state === 'running' && p.mode === 'active' ? p.pid! : undefined;
  });
  await waitFor('a to know b as its Standby', 5_000, async () => ((await c.status('a')).peers.find((p) => p.server === 'b')?.role === 'standby' ? true : undefined));
  const guardian = guardianOf(c, 'a');
  assert.ok(guardian && isRunning(guardian.pid), "a's guardian runs");
  return { c, ledger, runtime, guardian: guardian!, cleanup: async () => {
    await c.stop();
    rmSync(ledger, { recursive: true, force: true });
  } };
}

/** Waits for b to run the runtime in active mode; returns how it became Active. */
async function bTakesOver(c: Cluster): Promise<string> {
  return waitFor('b to run the runtime in active mode', 10_000, async () => {
    const s = await c.status('b').catch(() => null);
    const p = s?.runtime.processes[0];
    if (s?.role !== 'active' || p?.state !== 'running' || p.mode !== 'active') return undefined;
    return s.events.filter((e) => e.to === 'active').at(-1)?.reason;
  }, 10);
}

function overlaps(ledger: string): string[] {
  return readdirSync(ledger).filter((f) => f.startsWith('overlap-')).map((f) => readFileSync(join(ledger, f), 'utf8'));
}

describe('the guardian fences the runtime of a node that is gone', () => {
  for (const [how, preload, signal] of [
    ['SIGKILL', false, 'SIGKILL'],
    ['SIGHUP (a closed terminal)', false, 'SIGHUP'],
    ['an uncaught error', true, 'SIGUSR2'],
  ] as const) {
    it(`${how} of the Active's node: its runtime is dead before the Standby's starts, and the release is used`, async () => {
      const { c, ledger, runtime, guardian, cleanup } = await pair(preload);
      try {
        c.kill('a', signal);
        const reason = await bTakesOver(c);
        assert.equal(isRunning(runtime), false, "a's runtime is gone");
        assert.deepEqual(overlaps(ledger), [], 'two runtimes ran in active mode at once');
        assert.match(reason ?? '', /a's guardian killed its runtime and released Active term \d+|released Active term/, `b took over on the release, not on silence: ${reason}`);
        const code = await c.nodes.get('a')!.exited;
        if (signal === 'SIGUSR2') {
          assert.equal(code, 1);
          assert.ok(c.nodes.get('a')!.output.some((l) => /fatal: unexpected error: Error: injected by test\/fixtures\/throw-on-usr2/.test(l)));
        }
        if (signal === 'SIGHUP') assert.equal(code, 0);
        // The guardian ends once nothing of its node is left to guard.
        await waitFor("a's guardian to end", 5_000, async () => (isRunning(guardian.pid) ? undefined : true));
        assert.equal(existsSync(c.pathOf('a', 'duplex-state', 'a', 'guardian.json')), false);
        const log = readFileSync(c.pathOf('a', 'duplex-state', 'a', 'logs', 'guardian.log'), 'utf8');
        if (signal === 'SIGKILL') {
          assert.match(log, /fence: killed scada \(pid \d+, active\) in \d+ ms: the node died \(its connection closed\) while Active; a Standby is ready/);
        } else {
          assert.match(log, /the node stopped cleanly after stopping the runtime/);
        }
        assert.match(log, /release: multicast the release of a's Active term/);
      } finally {
        await cleanup();
      }
    });
  }

  it("SIGSTOP of the Active's node for 3 s: the guardian kills the runtime before the Standby's starts; the node steps down when it wakes", async () => {
    const { c, ledger, runtime, cleanup } = await pair(false);
    try {
      c.kill('a', 'SIGSTOP');
      const stoppedAt = Date.now();
      const reason = await bTakesOver(c);
      assert.equal(isRunning(runtime), false, "a's runtime is gone");
      assert.deepEqual(overlaps(ledger), []);
      assert.match(reason ?? '', /released Active term/, `b took over on the release: ${reason}`);
      await sleep(Math.max(0, 3_000 - (Date.now() - stoppedAt)));
      c.kill('a', 'SIGCONT');
      await waitForRoles(c, { a: 'standby', b: 'active' }, 10_000);
      const a = await c.status('a');
      assert.ok(a.events.some((e) => /the guardian killed the runtime \(the lease ran out/.test(e.reason)), JSON.stringify(a.events));
      await sleep(500);
      assert.deepEqual(overlaps(ledger), [], 'no second active runtime after the frozen node woke');
      assert.equal((await c.status('b')).role, 'active');
    } finally {
      await cleanup();
    }
  });

  it("SIGKILL of the Active's guardian alone: its node makes sure the runtime is gone, multicasts the release itself, and stops; the Standby takes over on it", async () => {
    const { c, ledger, runtime, guardian, cleanup } = await pair(false);
    try {
      const t0 = Date.now();
      process.kill(guardian.pid, 'SIGKILL');
      const reason = await bTakesOver(c);
      const took = Date.now() - t0;
      process.stdout.write(`# b ran the runtime in active mode ${took} ms after a's guardian was killed (failure timeout 800 ms)\n`);
      assert.equal(isRunning(runtime), false, "a's runtime is gone");
      assert.deepEqual(overlaps(ledger), [], 'two runtimes ran in active mode at once');
      assert.match(reason ?? '', /released Active term \d+/, `b took over on the release, not on silence: ${reason}`);
      // On silence it could not be sooner than the failure timeout: the release came first.
      assert.ok(took < 800, `b took over ${took} ms after the kill`);
      assert.equal(await c.nodes.get('a')!.exited, 1);
      const out = c.nodes.get('a')!.output.join('\n');
      assert.match(out, /error \[a\] guardian: the guardian \(pid \d+\) is gone.*the node stops/);
      assert.match(out, /warn \[a\] release: multicast the release of this server's Active term \(epoch \d+\) itself, the guardian being gone/);
    } finally {
      await cleanup();
    }
  });

  it('SIGKILL of the node and a restart within its lease (no Standby to take over): the same runtime runs on, with no handover', async () => {
    const ledger = tempDir('duplex-ledger-');
    const c = new Cluster(['a', 'b'], { runtime: { processes: [{ name: 'scada', command: process.execPath, args: [VICTIM, '--ledger', ledger] }] } });
    // A failure timeout of 3 s gives a lease of 2.25 s: time for the node to start again.
    writeFileSync(c.file, readFileSync(c.file, 'utf8').replace(/failureTimeoutMs: \d+/, 'failureTimeoutMs: 3000'));
    try {
      c.start('a'); // b is declared but down: nobody could take over
      await waitForRoles(c, { a: 'active' }, 10_000);
      const before = await waitFor("a's runtime", 5_000, async () => {
        const s = await c.status('a');
        const p = s.runtime.processes[0]!;
        return p.state === 'running' && p.mode === 'active' ? { pid: p.pid!, epoch: s.epoch } : undefined;
      });
      c.kill('a', 'SIGKILL');
      await c.nodes.get('a')!.exited;
      c.start('a');
      // The runtime must run on without a gap while the node is away.
      let gap = false;
      const watch = setInterval(() => {
        if (!isRunning(before.pid)) gap = true;
      }, 5);
      try {
        const after = await waitFor('a to be back', 10_000, async () => {
          const s = await c.status('a').catch(() => null);
          return s?.role === 'active' ? s : undefined;
        });
        await sleep(3_500); // past the old lease and the failure timeout: nothing fences it later
        assert.equal(gap, false, 'the runtime stopped while the node restarted');
        const now = await c.status('a');
        assert.equal(now.role, 'active');
        assert.equal(now.epoch, before.epoch, 'the same Active term, no new promotion');
        assert.equal(now.runtime.processes[0]!.pid, before.pid);
        assert.equal(now.runtime.processes[0]!.state, 'running');
        assert.match(after.reason, /took Active term \d+ back after a restart of the node: its guardian kept the runtime running/);
        assert.deepEqual(now.events.filter((e) => e.to === 'active'), [], 'no promotion after the restart');
        assert.deepEqual(overlaps(ledger), []);
        const log = readFileSync(c.pathOf('a', 'duplex-state', 'a', 'logs', 'guardian.log'), 'utf8');
        assert.match(log, /keeping its runtime for the rest of the lease \(\d+ ms\) in case it comes back/);
        assert.match(log, /the node is back \(lease 2250 ms\); it finds scada \(pid \d+, active\) running/);
        assert.doesNotMatch(log, /fence:/);
      } finally {
        clearInterval(watch);
      }
    } finally {
      await c.stop();
      rmSync(ledger, { recursive: true, force: true });
    }
  });
});
