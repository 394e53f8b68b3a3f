/**
 * Control from any console, on real nodes: every server's status asked by one node, commands
 * for another server relayed by a node over the domain's authenticated channel, the verdicts
 * the status window enables its buttons by, the runtime state and probes heartbeats carry,
 * one role change per switchover, and a restarted node's epoch.
 * Each server has its own folder, as on real machines: a node reaches another only over the network.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, waitFor, waitForRoles } from './cluster';
import { askNode } from '../../main/node/admin-client';
import { locateDomain } from '../../main/domain/load';
import type { CommandOutcome, DomainView } from '../../main/ui/contract';

describe('control from any console', () => {
  const c = new Cluster(['a', 'b', 'c'], {
    separate: true,
    extra: 'probes:\n  - name: host\n    kind: system\n    maxMemoryPercent: 100\n',
    runtime: { processes: [{ name: 'scada', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }] },
  });
  /** An admin call to the node of `via`. */
  const ask = (via: string, method: string, path: string, body?: unknown, timeoutMs?: number) =>
    askNode(locateDomain(c.fileOf(via)).domain, via, method, path, body, timeoutMs);

  before(async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 15_000);
  });
  after(() => c.stop());

  it('one node shows every server as that server itself says, and heartbeats carry each runtime state', async () => {
    // The runtime's state travels in heartbeats: b's view of a matches a's own, once a's runtime runs.
    await waitFor('a runs its runtime, as b sees it', 10_000, async () => ((await c.status('b')).peers.find((p) => p.server === 'a')?.runtime?.state === 'running' ? true : undefined), 100);
    const r = await ask('b', 'GET', '/domain');
    assert.equal(r.status, 200);
    const view = r.body as DomainView;
    assert.equal(view.from, 'b');
    assert.deepEqual(view.servers.map((s) => s.server), ['a', 'b', 'c']);
    for (const s of view.servers) {
      assert.equal(s.error, null, `${s.server}: ${s.error}`);
      const own = await c.status(s.server);
      assert.equal(s.status!.server, s.server);
      assert.equal(s.status!.role, own.role);
      assert.equal(s.status!.epoch, own.epoch);
      assert.equal(s.status!.sync.revision.n, own.sync.revision.n);
    }
    const a = view.servers[0]!.status!;
    assert.equal(a.runtime.state, 'running');
    const bSeesA = (await c.status('b')).peers.find((p) => p.server === 'a')!;
    assert.deepEqual(bSeesA.runtime, { mode: 'active', state: 'running' });
    assert.equal(bSeesA.failures, 0);
    assert.deepEqual(a.health.probes.map((p) => p.name), ['host']);
    await waitFor('a\'s probe verdict, as b sees it', 5_000, async () => ((await c.status('b')).peers.find((p) => p.server === 'a')?.probes?.length ? true : undefined), 100);
    assert.deepEqual((await c.status('b')).peers.find((p) => p.server === 'a')!.probes, (await c.status('a')).health.probes.map((p) => ({ name: p.name, ok: p.ok })));
    const bSeesC = (await c.status('b')).peers.find((p) => p.server === 'c')!;
    assert.deepEqual(bSeesC.runtime, { mode: 'stopped', state: 'stopped' });
  });

  it('the verdicts say which commands can be carried out, in the words of their refusals', async () => {
    const a = await c.status('a');
    const b = await c.status('b');
    const cc = await c.status('c');
    assert.match(a.commands.activate!, /^a is already Active \(epoch \d+\)$/);
    assert.equal(a.commands.deactivate, null);
    assert.equal(b.commands.activate, null);
    assert.equal(b.commands.deactivate, 'only the Active can be deactivated; b is standby');
    assert.match(cc.commands.activate!, /c is declared "inactive" in the domain file/);
    assert.equal(b.commands.resume, 'nothing to resume: the runtime of b is not held');
    // The refusal a command gets is the verdict the status showed.
    const refused = await ask('c', 'POST', '/command', { kind: 'activate' });
    assert.equal(refused.status, 409);
    assert.equal((refused.body as CommandOutcome).message, cc.commands.activate);
  });

  it('a command for another server is relayed by this node, gets that server\'s refusals, and is logged with where it came from', async () => {
    const refused = await ask('a', 'POST', '/command', { kind: 'activate', server: 'c' });
    assert.equal(refused.status, 409);
    assert.match((refused.body as CommandOutcome).message, /c is declared "inactive" in the domain file/);
    const unknown = await ask('a', 'POST', '/command', { kind: 'activate', server: 'zz' });
    assert.equal(unknown.status, 409);
    assert.match((unknown.body as CommandOutcome).message, /server "zz" is not in the domain file; its servers are: a, b, c/);
    const bad = await ask('a', 'POST', '/command', { kind: 'activate', server: '../x' });
    assert.equal(bad.status, 400);

    const done = await ask('a', 'POST', '/command', { kind: 'activate', server: 'b' });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.match((done.body as CommandOutcome).message, /^b is Active \(epoch \d+\)$/);
    await waitForRoles(c, { a: 'standby', b: 'active' }, 10_000);
    assert.match(c.log('a'), /info \[a\] command: activate for b asked here; relaying it to b's node/);
    assert.match(c.log('b'), /info \[b\] command: activate asked from the console of a \(127\.0\.0\.1\), relayed by its node/);
    // Already so: ok, and said.
    const again = await ask('c', 'POST', '/command', { kind: 'activate', server: 'b' });
    assert.equal(again.status, 200);
    assert.match((again.body as CommandOutcome).message, /^b is already Active/);
  });

  it('handing back to the main is one role change on the old Active: deactivating, then Standby (never Inactive)', async () => {
    const before = (await c.status('b')).events.length;
    const r = await ask('b', 'POST', '/command', { kind: 'activate', server: 'a' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
    const path = (await c.status('b')).events.slice(before).map((e) => `${e.from}→${e.to}`);
    assert.deepEqual(path, ['active→deactivating', 'deactivating→standby']);
  });

  it('a server that does not answer is named in the domain view, and a command for it is said to be undeliverable', async () => {
    c.kill('c', 'SIGSTOP');
    try {
      const t0 = Date.now();
      const view = (await ask('a', 'GET', '/domain?timeoutMs=500')).body as DomainView;
      assert.ok(Date.now() - t0 < 3_000, 'the view does not wait for the frozen server much beyond its timeout');
      const frozen = view.servers.find((s) => s.server === 'c')!;
      assert.equal(frozen.status, null);
      assert.match(frozen.error!, /no answer within 500 ms/);
      assert.ok(view.servers.find((s) => s.server === 'b')!.status);
      const bad = await ask('a', 'GET', '/domain?timeoutMs=abc');
      assert.equal(bad.status, 400);
    } finally {
      c.kill('c', 'SIGCONT');
    }
  });

  it('a restarted node names its last Active term, not 0', async () => {
    const b = await c.status('b');
    assert.ok(b.epoch > 0, 'b was Active in this test');
    c.kill('b', 'SIGKILL');
    await c.nodes.get('b')!.exited;
    c.start('b');
    await waitForRoles(c, { b: 'standby' }, 15_000);
    const again = await c.status('b');
    assert.equal(again.epoch, b.epoch);
    const toStandby = again.events.find((e) => e.to === 'standby')!;
    assert.equal(toStandby.epoch, b.epoch);
  });
});

