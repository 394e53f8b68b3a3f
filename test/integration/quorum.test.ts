/**
 * Quorum on real partitions, in network namespaces: three servers (main, backup, inactive),
 * and two servers with a witness. Both domains run side by side, each on its own bridge.
 * Needs root, iproute2 and nftables (CI has them); skipped with the reason otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TIMINGS, leaseMs } from '../../main/defaults';
import { sleep } from './cluster';
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
    three = new NsDomain(`dq${tag}`, { a: { role: 'main', address: '10.231.81.1' }, b: { role: 'backup', address: '10.231.81.2' }, c: { role: 'inactive', address: '10.231.81.3' } }, '239.255.81.1');
    witness = new NsDomain(`dw${tag}`, { a: { role: 'main', address: '10.231.82.1' }, b: { role: 'backup', address: '10.231.82.2' }, w: { role: 'witness', address: '10.231.82.3' } }, '239.255.82.1');
    three.startAll();
    witness.startAll();
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
      assert.equal(a.quorum.has, false);
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
