/**
 * Quorum in one engine, its voters played by hand: claims, acknowledgements, leases, promises.
 * Quorum across several engines on a network (partitions, one-way cuts, a witness, a slow kill)
 * is in the scenario files, test/scenarios/quorum-*.txt.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leaseMs } from '../../main/defaults';
import type { Engine } from '../../main/engine/engine';
import type { Effect, Heartbeat } from '../../main/engine/types';
import { engine, hb, T } from './harness';

const F = T.failureTimeoutMs;

const MBW = { a: 'main', b: 'backup', w: 'witness' } as const;

describe('quorum: claims', () => {
  it('supports given to an earlier claim never count for a later one with the same epoch', () => {
    const a = engine('a', MBW, { quorum: 'auto', boot: 7 });
    const { claim } = firstClaim(a);
    const vote = (n: number) => ({ kind: 'heartbeat' as const, from: 'w', role: 'inactive' as const, epoch: 0, maxEpoch: 0, eligible: false, awareness: 0, ack: { to: 'a', epoch: claim.claim!, boot: 7, n, ms: 3 * F } });
    // An Active appears: a drops its claim; later it asks again for the same epoch.
    a.receive(hb('b', 'active', 1, { maxEpoch: 1 }), 1000);
    assert.equal(a.status(1000).quorum.supports, null);
    let again: Heartbeat | undefined;
    for (let t = 1025; !again && t < 1000 + 3 * F; t += 25) again = a.tick(t).send.find((m) => m.claim !== undefined);
    assert.ok(again, 'a asks again once b is silent');
    // The vote w gave to the first claim arrives late: it must not make a Active.
    a.receive(vote(claim.n!), 2000 + F);
    assert.notEqual(a.currentRole, 'active');
    a.receive(vote(again.n!), 2000 + F + 1);
    assert.equal(a.currentRole, 'active');
  });
});

/** Ticks a starting engine until it asks the voters for a term: that heartbeat and when it was built. */
function firstClaim(a: Engine): { claim: Heartbeat; at: number } {
  for (let at = 0; at < 2000; at += 25) {
    const claim = a.tick(at).send.find((m) => m.claim !== undefined);
    if (claim) return { claim, at };
  }
  throw new Error('no claim within 2 s');
}

describe('quorum: the lease and the votes', () => {
  it('the lease runs from the send time of the heartbeat acknowledged, stretched by the voter\'s awareness', () => {
    const a = engine('a', MBW, { quorum: 'auto', boot: 7 });
    // Discovery over: a asks the voters for a term; b and w support it from that heartbeat on.
    const { claim, at: t0 } = firstClaim(a);
    const ack = (from: string, ms: number, at: number) => a.receive({ kind: 'heartbeat', from, role: 'standby', epoch: 0, maxEpoch: 0, eligible: from !== 'w', awareness: 0, ack: { to: 'a', epoch: claim.claim!, boot: 7, n: claim.n!, ms } }, at);
    ack('b', F, 950);
    assert.equal(a.currentRole, 'active');
    assert.equal(a.status(950).quorum.leaseMs, t0 + leaseMs(T) - 950);
    // A voter with awareness 1 promises twice the failure timeout.
    ack('w', 2 * F, 960);
    assert.equal(a.status(960).quorum.leaseMs, t0 + F + leaseMs(T) - 960);
    // A voter that stops acknowledging takes its support away; the other holds it for a while.
    a.receive({ kind: 'heartbeat', from: 'w', role: 'inactive', epoch: 0, maxEpoch: 0, eligible: false, awareness: 0 }, 970);
    assert.equal(a.status(970).quorum.leaseMs, t0 + leaseMs(T) - 970);
    // It runs out: the runtime is killed now (a fence effect, before the runtime leaves active mode).
    const end = a.tick(t0 + leaseMs(T));
    const kinds = end.effects.map((e) => e.kind);
    assert.ok(kinds.includes('fence'), JSON.stringify(end.effects));
    assert.ok(kinds.indexOf('fence') < kinds.indexOf('runtime'));
    // The term is held (its heartbeats still claim it, it votes for nobody) until the guardian says the runtime is dead.
    assert.equal(a.currentRole, 'deactivating');
    assert.equal(end.send.at(-1)?.role, 'deactivating');
    a.observe({ kind: 'runtime', mode: 'standby' }, t0 + leaseMs(T) + 5);
    assert.equal(a.currentRole, 'deactivating', 'the runtime reaching standby is not enough: the kill must be confirmed');
    const done = a.observe({ kind: 'fenced', reason: 'killed' }, t0 + leaseMs(T) + 10);
    assert.equal(a.currentRole, 'standby');
    const role = done.effects.find((e) => e.kind === 'role') as Extract<Effect, { kind: 'role' }>;
    assert.match(role.reason, /Active term \d+ ended: lost the majority's support: b, w acknowledged none of its recent heartbeats .*; the guardian killed the runtime/);
  });

  it('an acknowledgement of another boot counts for nothing (a restarted node numbers its heartbeats afresh)', () => {
    const a = engine('a', MBW, { quorum: 'auto', boot: 8 });
    const { claim } = firstClaim(a);
    a.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 0, eligible: true, awareness: 0, ack: { to: 'a', epoch: claim.claim!, boot: 7, n: claim.n!, ms: F } }, 950);
    assert.notEqual(a.currentRole, 'active');
  });

  it('a voter that hears the Active does not vote for a candidate', () => {
    const w = engine('w', MBW, { quorum: 'auto', boot: 1 });
    let n = 0;
    for (let t = 0; t <= 2000; t += 100) {
      n += 1;
      w.receive({ kind: 'heartbeat', from: 'a', role: 'active', epoch: 3, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n }, t);
      const out = w.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n, claim: 4 }, t);
      for (const m of out.send) assert.notEqual(m.ack?.to, 'b', `voted for b at ${t}`);
      w.tick(t);
    }
    // Silent for the failure timeout: the promise has run out and the vote goes to b.
    const sent: Heartbeat[] = [];
    for (let t = 2025; t <= 2000 + F + 100; t += 25) {
      n += 1;
      sent.push(...w.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n, claim: 4 }, t).send);
      sent.push(...w.tick(t).send);
    }
    assert.ok(sent.some((m) => m.ack?.to === 'b' && m.ack.epoch === 4));
  });

  it('after a restart a server supports no one until its forgotten promises have run out', () => {
    const w = engine('w', MBW, { quorum: 'auto', boot: 2, persisted: { maxEpoch: 3, promiseMs: 4 * F } });
    const vote = (t: number) => [...w.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n: t, claim: 4 }, t).send, ...w.tick(t).send];
    for (let t = 0; t < 4 * F; t += 50) for (const m of vote(t)) assert.equal(m.ack, undefined, `supported ${m.ack?.to} at ${t}`);
    const later = vote(4 * F + 10);
    assert.ok(later.some((m) => m.ack?.to === 'b'), 'voted after the blackout');
    // A fresh server (never supported anyone) may vote at once.
    const fresh = engine('w', MBW, { quorum: 'auto', boot: 1 });
    const outs = [fresh.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 0, eligible: true, awareness: 0, boot: 1, n: 1, claim: 1 }, 0), fresh.tick(0)];
    assert.ok(outs.flatMap((o) => o.send).some((m) => m.ack?.to === 'b'));
    // The first support is persisted, so the next restart keeps the blackout.
    assert.ok(outs.flatMap((o) => o.effects).some((e) => e.kind === 'persist' && e.state.promiseMs === F));
    // A longer promise (awareness raised) is persisted before it is sent.
    const grown = fresh.observe({ kind: 'send-failed' }, 10);
    assert.equal(grown.send.at(-1)?.ack?.ms, 2 * F);
    assert.ok(grown.effects.some((e) => e.kind === 'persist' && e.state.promiseMs === 2 * F));
  });

  it('a release heard while a restarted Standby still waits out its old promises is acted on as soon as they have run out', () => {
    const b = engine('b', MBW, { quorum: 'auto', boot: 2, persisted: { maxEpoch: 3, promiseMs: 1000 } });
    const fromA = (t: number, extra: Partial<Heartbeat>) => b.receive({ kind: 'heartbeat', from: 'a', role: 'active', epoch: 3, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n: t, ...extra }, t);
    for (let t = 0; t <= 400; t += 25) {
      if (t % 200 === 0) fromA(t, {});
      b.tick(t);
    }
    assert.equal(b.currentRole, 'standby');
    // a's guardian releases the term to b at 450; b may ask the voters only from 1000 on.
    fromA(450, { role: 'inactive', eligible: false, released: 'b', n: 451 });
    let claimedAt: number | null = null;
    for (let t = 475; t < 1300 && claimedAt === null; t += 25) if (b.tick(t).send.some((m) => m.claim !== undefined)) claimedAt = t;
    assert.ok(claimedAt !== null && claimedAt >= 1000 && claimedAt < 1100, `claimed at ${claimedAt}`);
  });

  it('two or more heartbeats lost in a row from a peer raise awareness; one does not, nor a gap after a long silence', () => {
    const w = engine('w', MBW, { quorum: 'auto', boot: 1 });
    const from = (n: number, t: number) => w.receive({ kind: 'heartbeat', from: 'a', role: 'active', epoch: 3, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n }, t);
    from(1, 0);
    from(3, 400); // n 2 lost
    assert.equal(w.status(400).awareness, 0);
    from(6, 1000); // n 4 and 5 lost
    assert.equal(w.status(1000).awareness, 1);
    // Back after a silence longer than the failure timeout (cut off, not lossy): no raise.
    from(30, 1000 + F + 10);
    assert.equal(w.status(1000 + F + 10).awareness, 1);
  });
});
