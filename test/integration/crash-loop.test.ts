/**
 * A runtime that cannot start anywhere (it exits at once) on real nodes: the Active hands over
 * once, the server that handed over is banned from the Active role (Pacemaker's
 * migration-threshold), and the last eligible server keeps restarting its runtime with backoff
 * instead of handing it back. `duplex clear` lifts the ban.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, runCli, sleep, waitFor, waitForRoles } from './cluster';
import type { StatusView } from '../../main/ui/contract';

/** Role changes into `deactivating` because of a crash loop, from each node's own events. */
const handovers = (s: StatusView) => s.events.filter((e) => e.to === 'deactivating' && e.reason.startsWith('runtime crash loop'));

describe('a runtime that crash-loops on every server (real nodes)', () => {
  it('a crash loop on every server: at most one handover, then restarts with backoff; duplex clear lifts the ban', async () => {
    const c = new Cluster(['a', 'b'], { runtime: { processes: [{ name: 'fails', command: process.execPath, args: ['-e', 'process.exit(1)'] }] } });
    try {
      c.startAll();
      await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
      // a's runtime crash-loops (3 exits within a minute): a hands over to b and is banned.
      await waitFor('b to be Active after the crash loop on a', 20_000, async () => ((await c.status('b')).role === 'active' ? true : undefined), 100);
      const restartsAtTakeover = (await c.process('b')).restarts;
      // b's runtime crash-loops as well: with a banned there is no Standby, so b keeps it and restarts with backoff.
      const b = await waitFor('b to report its own crash loop and keep the runtime', 20_000, async () => {
        const s = await c.status('b');
        return s.runtime.failures.count >= 1 ? s : undefined;
      }, 100);
      assert.equal(b.role, 'active');
      assert.match(b.reason, /runtime crash loop \(fails: \d+ exits within 60 s, the last code 1\); no Standby to hand over to, so it keeps restarting here/);
      await sleep(5_000); // more exits and restarts: the role stays where it is
      const [a2, b2] = [await c.status('a'), await c.status('b')];
      assert.equal(b2.role, 'active');
      assert.ok(b2.runtime.processes[0]!.restarts > restartsAtTakeover + 2, `b restarted its runtime ${b2.runtime.processes[0]!.restarts - restartsAtTakeover} times since taking over`);
      assert.equal(b2.runtime.failures.banned, false);
      assert.equal(a2.role, 'inactive');
      assert.equal(a2.runtime.failures.banned, true);
      assert.equal(a2.runtime.failures.count, 1);
      assert.ok(a2.runtime.failures.resetInMs! > 500_000, `resets in ${a2.runtime.failures.resetInMs} ms (failureResetMs 600000 by default)`);
      assert.equal(a2.peers[0]!.role, 'active');
      assert.equal(b2.peers[0]!.eligible, false, 'b sees a as not eligible');
      assert.equal(handovers(a2).length + handovers(b2).length, 1, JSON.stringify([...a2.events, ...b2.events]));

      const shown = await runCli(['status', '--domain', c.file, '--server', 'a']);
      assert.match(shown.stdout, /runtime failures: 1 crash loop, resets in (9|10) min \d+ s \(the last: fails: 3 exits within 60 s, the last code 1\); NOT ELIGIBLE for Active or Standby until then \(duplex clear --server a lifts it\)/);
      const refused = await runCli(['activate', '--domain', c.file, '--server', 'a']);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /a handed the Active role over because of a runtime crash loop .* or until duplex clear --server a/);

      const cleared = await runCli(['clear', '--domain', c.file, '--server', 'a']);
      assert.equal(cleared.code, 0, cleared.stderr);
      assert.match(cleared.stdout, /a: 1 runtime crash loop forgotten \(the last: fails: 3 exits within 60 s, the last code 1\); a may be Active or Standby again/);
      await waitForRoles(c, { a: 'standby', b: 'active' }, 5_000);
      assert.deepEqual((await c.status('a')).runtime.failures, { count: 0, last: null, resetInMs: null, banned: false });
    } finally {
      await c.stop();
    }
  });
});
