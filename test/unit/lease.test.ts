/** The guardian's lease rule (main/guardian/lease.ts), which the guardian and the simulation both run. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { expiryReason, Lease } from '../../main/guardian/lease';

const LEASE = 2_250;

describe("the guardian's lease", () => {
  it('holds nothing before the first renewal', () => {
    const l = new Lease(LEASE);
    assert.equal(l.leftMs(0), 0);
    assert.equal(l.expiry(0)?.cause, 'lease');
  });

  it('a renewal holds for leaseMs: left until then, ran out at the deadline itself', () => {
    const l = new Lease(LEASE);
    l.renew(1_000, null);
    assert.equal(l.deadline(), 3_250);
    assert.equal(l.leftMs(1_000), LEASE);
    assert.equal(l.leftMs(3_000), 250);
    assert.equal(l.expiry(3_249.5), null);
    assert.deepEqual(l.expiry(3_250), { cause: 'lease', silentMs: LEASE });
    assert.deepEqual(l.expiry(3_400), { cause: 'lease', silentMs: 2_400 });
    assert.equal(l.leftMs(3_400), 0);
  });

  it('each renewal moves the deadline on from its own time', () => {
    const l = new Lease(LEASE);
    l.renew(1_000, null);
    l.renew(3_000, null);
    assert.equal(l.expiry(3_250), null);
    assert.equal(l.deadline(), 5_250);
  });

  it("the majority's support ends the lease early, and is then the cause", () => {
    const l = new Lease(LEASE);
    l.renew(1_000, 800);
    assert.equal(l.deadline(), 1_800);
    assert.equal(l.leaseEnd(), 3_250, 'the lease alone is unchanged');
    assert.equal(l.leftMs(1_500), 300);
    assert.equal(l.expiry(1_799), null);
    assert.deepEqual(l.expiry(1_850), { cause: 'quorum', sinceMs: 50 });
  });

  it('support longer than the lease changes nothing: the lease runs out, and is the cause', () => {
    const l = new Lease(LEASE);
    l.renew(1_000, 5_000);
    assert.equal(l.deadline(), 3_250);
    assert.deepEqual(l.expiry(3_250), { cause: 'lease', silentMs: LEASE });
    // Support that ends exactly with the lease: the node stopped renewing, not the voters.
    l.renew(1_000, LEASE);
    assert.equal(l.expiry(3_250)?.cause, 'lease');
  });

  it('a renewal replaces the support before it: shorter, longer, or none (quorum ended)', () => {
    const l = new Lease(LEASE);
    l.renew(1_000, 2_000);
    l.renew(1_100, 300);
    assert.equal(l.deadline(), 1_400);
    l.renew(1_200, null);
    assert.equal(l.quorumUntil, Infinity);
    assert.equal(l.deadline(), 3_450);
  });

  it('a node that comes back with another lease length moves the lease end', () => {
    const l = new Lease(LEASE);
    l.renew(1_000, null);
    l.leaseMs = 1_000;
    assert.equal(l.deadline(), 2_000);
    assert.deepEqual(l.expiry(2_000), { cause: 'lease', silentMs: 1_000 });
  });

  it('says why it kills, in whole milliseconds', () => {
    assert.equal(expiryReason({ cause: 'lease', silentMs: 2_300.6 }, LEASE, true), 'the lease ran out: the node did not renew it for 2301 ms (frozen or hung)');
    assert.equal(
      expiryReason({ cause: 'quorum', sinceMs: 12.2 }, LEASE, true),
      "the majority's support ran out 12 ms ago (the voters' acknowledgements stopped: cut off, or the node is frozen)",
    );
    assert.equal(expiryReason({ cause: 'quorum', sinceMs: 12 }, LEASE, false), 'the node did not come back within its lease (2250 ms)');
  });
});
