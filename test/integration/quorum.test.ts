/**
 * Quorum on real partitions, in network namespaces: three servers (main, backup, inactive),
 * and two servers with a witness. Both domains run side by side, each on its own bridge.
 * Needs root, iproute2 and nftables (CI has them); skipped with the reason otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TIMINGS, leaseMs } from '../../main/defaults';
import { sleep, waitFor } from './cluster';
import { canRunNetns, NsDomain } from './netns';

const F = DEFAULT_TIMINGS.failureTimeoutMs;
const MARGIN = F - leaseMs(DEFAULT_TIMINGS);
const tag = process.pid % 10000;

describe('quorum in network namespaces: three servers, and two servers with a witness', { skip: canRunNetns === true ? false : canRunNetns }, () => {
  let three: NsDomain;
  let witness: NsDomain;
  /** The third voter of each domain: c (inactive) or w (witness). */
  const third = (d: NsDomain) => (d === three ? 'c' : 'w');
  const both = <T>(fn: (d: NsDomain) => Promise<T>) => Promise.all([fn(three), fn(witness)]);

  before(async () => {
    three = new NsDomain(`dq${tag}`, { a: { role: 'main', addresses: ['10.231.81.1'] }, b: { role: 'backup', addresses: ['10.231.81.2'] }, c: { role: 'inactive', addresses: ['10.231.81.3'] } }, '239.255.81.1');
    witness = new NsDomain(`dw${tag}`, { a: { role: 'main', addresses: ['10.231.82.1'] }, b: { role: 'backup', addresses: ['10.231.82.2'] }, w: { role: 'witness', addresses: ['10.231.82.3'] } }, '239.255.82.1');
    // The main and the third voter first (a majority), b once a is Active: started all at once on
    // a busy machine, b's discovery could run out before a's node was up, and b rightly became
    // Active (a clean-clone run, 2026-12-08); the tests below start from a Active, b Standby.
    for (const d of [three, witness]) {
      d.start('a');
      d.start(third(d));
    }
    await both((d) => d.waitRoles({ a: 'active' }, 15_000));
    for (const d of [three, witness]) d.start('b');
    await both((d) => d.waitRoles({ a: 'active', b: 'standby', [third(d)]: 'inactive' }, 15_000));
  });

  after(async () => {
    await Promise.all([three?.close(), witness?.close()]);
  });

  it('status shows the voters and quorum; the witness votes and runs no runtime', async () => {
    for (const d of [three, witness]) {
      const a = d.status('a');
      assert.equal(a.quorum.on, true);
      assert.deepEqual(a.quorum.voters, ['a', 'b', third(d)]);
      assert.equal(a.quorum.has, true);
      assert.ok(a.quorum.leaseMs !== null && a.quorum.leaseMs > 0);
      const t = d.status(third(d));
      assert.match(t.quorum.supports ?? '', /^a \(term \d+, acknowledged\)$/);
      assert.ok(t.runtime.processes.every((p) => p.state !== 'running'), JSON.stringify(t.runtime.processes));
    }
  });

  it('the Active cut off from all fences its runtime before the other side\'s starts, and the majority side takes over in time', async () => {
    await both(async (d) => {
      const cutAt = Date.now();
      d.isolate('a', true);
      await d.waitRoles({ b: 'active' }, 5_000);
      // The cut-off Active lost its lease: it is Standby, its runtime killed, and it says why.
      const a = await d.waitRoles({ a: 'standby' }, 3_000).then(() => d.status('a'));
      assert.ok(a.events.some((e) => e.from === 'active' && /lost the majority's support|the majority's support ran out/.test(e.reason)), JSON.stringify(a.events));
      // It stops hearing the others once they have been silent for the failure timeout.
      await waitFor(`${d.tag}: a to report no quorum`, 5_000, async () => (d.status('a').quorum.has === false ? true : undefined), 100);
      // 0 ms of two runtimes: no runtime in active mode found another one alive when it started.
      assert.deepEqual(d.overlaps(), [], `${d.tag}: two runtimes ran in active mode at once`);
      // b took over within the failure timeout plus the margin, counted from the cut.
      const promoted = Date.parse(d.status('b').events.filter((e) => e.to === 'active').at(-1)!.at);
      assert.ok(promoted - cutAt <= F + MARGIN, `${d.tag}: b became Active ${promoted - cutAt} ms after the cut`);
      d.heal();
      await d.waitRoles({ a: 'standby', b: 'active', [third(d)]: 'inactive' }, 5_000);
      assert.deepEqual(d.overlaps(), []);
    });
  });

  it('the Active↔Standby link cut while both reach the third voter: no role change', async () => {
    await both(async (d) => {
      const at = Date.now();
      d.cutLink('a', 'b');
      await sleep(5_000);
      const b = d.status('b');
      assert.equal(b.role, 'active');
      assert.match(d.status('a').reason, /asking the voters/);
      d.heal();
      await sleep(1_000);
      assert.deepEqual(d.eventsSince(at), [], `${d.tag}: roles moved`);
      assert.deepEqual(d.overlaps(), []);
    });
  });

  it('the third voter (the witness, or the inactive server) down on its own: no role change', async () => {
    await both(async (d) => {
      const at = Date.now();
      d.isolate(third(d), true);
      await sleep(5_000);
      d.heal();
      await sleep(1_000);
      assert.deepEqual(d.eventsSince(at), [], `${d.tag}: roles moved`);
    });
  });

  it('20 % random loss on every link for 60 s: no role change', async () => {
    await both(async (d) => {
      const at = Date.now();
      d.loss(20);
      await sleep(60_000);
      d.heal();
      await sleep(1_000);
      assert.deepEqual(d.eventsSince(at), [], `${d.tag}: roles moved`);
      assert.deepEqual(d.overlaps(), []);
    });
  });
});

describe('heartbeats over two networks, in network namespaces', { skip: canRunNetns === true ? false : canRunNetns }, () => {
  let d: NsDomain;
  const NET1 = ['10.231.85.1', '10.231.85.2', '10.231.85.3'];
  const NET2 = ['10.231.86.1', '10.231.86.2', '10.231.86.3'];

  before(async () => {
    d = new NsDomain(`dn${tag}`, {
      a: { role: 'main', addresses: [NET1[0]!, NET2[0]!] }, b: { role: 'backup', addresses: [NET1[1]!, NET2[1]!] }, c: { role: 'inactive', addresses: [NET1[2]!, NET2[2]!] },
    }, '239.255.85.1');
    d.startAll();
    await d.waitRoles({ a: 'active', b: 'standby', c: 'inactive' }, 30_000);
  });

  after(async () => {
    await d?.close();
  });

  it('every peer is heard on both networks, and the copies are not counted as replays', async () => {
    await sleep(1_000);
    const a = d.status('a');
    for (const p of a.peers) {
      assert.deepEqual(p.links.map((l) => [l.network, l.up]), [[NET1[0], true], [NET2[0], true]], p.server);
    }
    assert.equal(a.dropped.replayed, 0);
    assert.deepEqual(a.faults, []);
  });

  for (const k of [1, 0]) {
    it(`network ${k + 1} of 2 cut: no role change, and a link fault in status naming it`, async () => {
      const at = Date.now();
      d.cutNetwork(k);
      await sleep(3_000);
      for (const h of ['a', 'b', 'c']) {
        const s = d.status(h);
        const mine = (k === 0 ? NET1 : NET2)[['a', 'b', 'c'].indexOf(h)]!;
        assert.ok(s.faults.some((f) => f.startsWith(`network ${mine}: no heartbeat from`)), `${h}: ${JSON.stringify(s.faults)}`);
        assert.ok(s.peers.every((p) => p.role !== 'unreachable' && p.links[k]!.up === false && p.links[1 - k]!.up), `${h}: ${JSON.stringify(s.peers.map((p) => p.links))}`);
        assert.equal(s.dropped.replayed, 0);
      }
      d.heal();
      await sleep(2_000);
      assert.deepEqual(d.eventsSince(at), [], 'roles moved');
      assert.deepEqual(d.status('a').faults, [], 'the fault ends once the network is back');
    });
  }
});
