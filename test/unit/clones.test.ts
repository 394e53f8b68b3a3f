/**
 * Clones and wrong secrets (issue 11, section 4): the replay guard keeps following the process
 * it heard first; a node that hears its own name before claiming anything yields; an address
 * whose datagrams fail authentication blocks a take-over on the silence of the servers that
 * may be behind it, and nothing else.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Engine } from '../../main/engine/engine';
import type { Observation, Output } from '../../main/engine/types';
import { ReplayGuard } from '../../main/net/replay';
import { suspectsOf } from '../../main/node/clones';
import { effectsOf, engine, hb, T, TICK, tickUntil } from './harness';

const AB = { a: 'main', b: 'backup' } as const;
const ABC = { a: 'main', b: 'backup', c: 'backup' } as const;
const HOLD = 2 * T.heartbeatIntervalMs;

describe('replay guard with two processes under one name', () => {
  it('a clone started later (higher boot) is dropped while the original talks; the original is never dropped as stale', () => {
    const g = new ReplayGuard(HOLD);
    let now = 0;
    let seqA = 0;
    let seqB = 0;
    assert.equal(g.check('s1', 100, ++seqA, now), null);
    for (let i = 0; i < 50; i++) {
      now += 100;
      assert.equal(g.check('s1', 200, ++seqB, now), 'name-conflict', `clone datagram ${i}`);
      now += 100;
      assert.equal(g.check('s1', 100, ++seqA, now), null, `original datagram ${i}`);
    }
    assert.equal(g.rival('s1', now), 200, 'two live processes are reported');
  });

  it('a restart (the old process silent) is taken after the hold, and reports no rival', () => {
    const g = new ReplayGuard(HOLD);
    assert.equal(g.check('s1', 100, 1, 0), null);
    assert.equal(g.check('s1', 100, 2, 200), null);
    // The new process's first datagram within the hold of the old one's last.
    assert.equal(g.check('s1', 101, 1, 300), 'name-conflict');
    assert.equal(g.rival('s1', 300), null, 'the old process never spoke after the new one appeared');
    assert.equal(g.check('s1', 101, 2, 200 + HOLD), null, 'taken once the old one has been silent for the hold');
    assert.equal(g.check('s1', 100, 3, 200 + HOLD + 10), 'stale-boot', 'the old boot is stale now');
    assert.equal(g.check('s1', 101, 2, 200 + HOLD + 20), 'replayed');
  });

  it('after a switch, the original may be followed again once the newcomer is silent, with growing seq only', () => {
    const g = new ReplayGuard(HOLD);
    assert.equal(g.check('s1', 100, 1, 0), null);
    assert.equal(g.check('s1', 200, 1, HOLD + 1), null, 'the original was silent for the hold (lost datagrams)');
    assert.equal(g.check('s1', 100, 2, HOLD + 50), 'stale-boot', 'while the newcomer talks, the original is not taken back');
    assert.equal(g.check('s1', 100, 2, 3 * HOLD), null, 'the newcomer went silent: the original, followed before, is taken back');
    assert.equal(g.check('s1', 100, 2, 3 * HOLD + 10), 'replayed');
  });

  it('an older boot never followed stays stale-boot; without a hold the guard behaves as before', () => {
    const g = new ReplayGuard(HOLD);
    assert.equal(g.check('s1', 100, 1, 0), null);
    assert.equal(g.check('s1', 50, 7, 10 * HOLD), 'stale-boot');
    const plain = new ReplayGuard();
    assert.equal(plain.check('a', 5, 1), null);
    assert.equal(plain.check('a', 6, 1), null, 'a higher boot is taken at once');
    assert.equal(plain.check('a', 5, 9), 'stale-boot');
  });
});

/** Ticks `e` from `from` to `to`, observing `fact` every 100 ms; all outputs merged. */
function observing(e: Engine, from: number, to: number, fact: Observation | null): Output {
  const merged: Output = { send: [], effects: [], lease: { notice: null, standbyReady: false, quorumUntil: null }, wakeAt: Infinity };
  for (let now = from; now <= to; now += TICK) {
    const outs = [e.tick(now)];
    if (fact && now % 100 === 0) outs.push(e.observe(fact, now));
    for (const o of outs) {
      merged.send.push(...o.send);
      merged.effects.push(...o.effects);
    }
  }
  return merged;
}

/** Active `a` (epoch 3) as heard by Standby `b`, heartbeats every 100 ms until `until`. */
function standbyB(kinds: Record<string, 'main' | 'backup'> = AB, until = 1000): Engine {
  const b = engine('b', kinds);
  tickUntil(b, 0, until, TICK, (now) => (now % 100 === 0 && now > 0 ? [hb('a', 'active', 3)] : []));
  assert.equal(b.currentRole, 'standby');
  return b;
}

describe('engine: another process with this server name', () => {
  it('a starting node yields (and never claims) when it hears its own name', () => {
    const a = engine('a', AB);
    a.tick(0);
    const out = a.observe({ kind: 'name-conflict', address: '10.0.0.7' }, 100);
    const y = effectsOf(out, 'yield');
    assert.equal(y.length, 1);
    assert.match(y[0]!.reason, /another Duplex node is already running as server a at 10\.0\.0\.7 .*this node stops\. Give every server its own name/);
    // Even if the node went on, it would not claim while the conflict lasts.
    const later = observing(a, 125, T.discoveryMs + 4 * T.failureTimeoutMs, { kind: 'name-conflict', address: '10.0.0.7' });
    assert.notEqual(a.currentRole, 'active');
    assert.equal(effectsOf(later, 'role').some((r) => r.to === 'active'), false);
  });

  it('a node started in Maintenance yields within discoveryMs of its start, not after', () => {
    const early = engine('a', AB, { persisted: { maintenance: true } });
    early.tick(0);
    assert.equal(effectsOf(early.observe({ kind: 'name-conflict', address: '10.0.0.7' }, T.discoveryMs - 1), 'yield').length, 1);
    const late = engine('a', AB, { persisted: { maintenance: true } });
    late.tick(0);
    const out = late.observe({ kind: 'name-conflict', address: '10.0.0.7' }, T.discoveryMs + 1);
    assert.equal(effectsOf(out, 'yield').length, 0);
    assert.equal(late.currentRole, 'maintenance');
  });

  it('an Active keeps its role and shows the fault; it ends after the failure timeout without it', () => {
    const a = engine('a', AB);
    tickUntil(a, 0, T.discoveryMs + TICK);
    assert.equal(a.currentRole, 'active');
    const out = a.observe({ kind: 'name-conflict', address: '10.0.0.7' }, 1000);
    assert.equal(effectsOf(out, 'yield').length, 0);
    assert.deepEqual(effectsOf(out, 'fault').map((f) => f.on), [true]);
    assert.equal(a.currentRole, 'active');
    assert.match(a.status(1000).faults.join('\n'), /another Duplex node also runs as server a at 10\.0\.0\.7/);
    const after = tickUntil(a, 1000 + TICK, 1000 + T.failureTimeoutMs + 2 * TICK);
    assert.equal(a.currentRole, 'active');
    assert.deepEqual(effectsOf(after, 'fault').map((f) => f.on), [false]);
    assert.deepEqual(a.status(1000 + T.failureTimeoutMs + 2 * TICK).faults, []);
  });

  it('a Standby that hears its own name does not fail over while it lasts', () => {
    const b = standbyB();
    // The Active goes silent; a clone of b keeps talking.
    observing(b, 1000 + TICK, 1000 + 3 * T.failureTimeoutMs, { kind: 'name-conflict', address: '10.0.0.8' });
    assert.equal(b.currentRole, 'standby');
  });
});

describe('engine: an address whose datagrams fail authentication', () => {
  it('the wrong-secret server itself (it cannot verify anyone) never promotes, at start-up or later', () => {
    // b with another secret: every peer's datagrams fail authentication at b; it has heard no Active.
    const b = engine('b', AB);
    const out = observing(b, 0, 10 * T.failureTimeoutMs, { kind: 'unverifiable', address: '192.168.10.11', suspects: ['a'] });
    assert.equal(b.currentRole, 'standby');
    assert.equal(effectsOf(out, 'role').some((r) => r.to === 'active'), false);
    const s = b.status(10 * T.failureTimeoutMs);
    assert.match(s.reason, /^cannot verify 192\.168\.10\.11: is the secret file the same on every server\?/);
    assert.deepEqual(s.faults, ['cannot verify 192.168.10.11: is the secret file the same on every server?']);
    assert.equal(effectsOf(out, 'fault').filter((f) => f.on).length, 1, 'logged once, not per datagram');
  });

  it('a main with a wrong secret does not claim at start-up', () => {
    const a = engine('a', AB);
    const out = observing(a, 0, 4 * T.failureTimeoutMs, { kind: 'unverifiable', address: '192.168.10.12', suspects: ['b'] });
    assert.equal(effectsOf(out, 'role').some((r) => r.to === 'active'), false);
    assert.match(a.status(4 * T.failureTimeoutMs).reason, /cannot verify 192\.168\.10\.12/);
  });

  it('a Standby does not fail over when the silent Active may be the unverifiable sender', () => {
    const b = standbyB();
    // The Active stops verifying (its secret file was changed) and its datagrams now fail here.
    const out = observing(b, 1000 + TICK, 1000 + 4 * T.failureTimeoutMs, { kind: 'unverifiable', address: '192.168.10.11', suspects: ['a'] });
    assert.equal(b.currentRole, 'standby');
    assert.equal(effectsOf(out, 'role').some((r) => r.to === 'active'), false);
    assert.match(b.status(1000 + 4 * T.failureTimeoutMs).reason, /cannot verify 192\.168\.10\.11: is the secret file the same on every server\? Not taking over on the silence of a/);
  });

  it('a misconfigured third server does not stop the Standby from failing over when the Active dies', () => {
    const b = standbyB(ABC);
    // c (another secret) keeps sending from its own address; a dies at 1000.
    const out = observing(b, 1000 + TICK, 1000 + 2 * T.failureTimeoutMs, { kind: 'unverifiable', address: '192.168.10.13', suspects: ['c'] });
    assert.equal(b.currentRole, 'active');
    const promoted = effectsOf(out, 'role').find((r) => r.to === 'active')!;
    assert.match(promoted.reason, /failover: no heartbeat from the Active/);
    assert.deepEqual(b.status(1000 + 2 * T.failureTimeoutMs).faults, ['cannot verify 192.168.10.13: is the secret file the same on every server?']);
  });

  it('the block ends once the address has been quiet for the failure timeout', () => {
    const b = standbyB();
    b.observe({ kind: 'unverifiable', address: '192.168.10.11', suspects: ['a'] }, 1000);
    // a is silent from 1000: no failover until the unverifiable address has been quiet for the timeout.
    tickUntil(b, 1000 + TICK, 1000 + T.failureTimeoutMs - TICK);
    assert.equal(b.currentRole, 'standby');
    const out = tickUntil(b, 1000 + T.failureTimeoutMs, 1000 + T.failureTimeoutMs + 4 * TICK);
    assert.equal(b.currentRole, 'active');
    assert.deepEqual(effectsOf(out, 'fault').map((f) => f.on), [false]);
  });
});

describe('suspects of an unverifiable address', () => {
  const servers = [{ name: 'a' }, { name: 'b' }, { name: 'c' }];
  it('without declared addresses: servers last heard there, and servers never heard', () => {
    assert.deepEqual(suspectsOf('10.0.0.3', servers, 'b', new Map([['a', '10.0.0.1']])), ['c']);
    assert.deepEqual(suspectsOf('10.0.0.1', servers, 'b', new Map([['a', '10.0.0.1']])), ['a', 'c']);
    assert.deepEqual(suspectsOf('10.0.0.9', servers, 'b', new Map([['a', '10.0.0.1'], ['c', '10.0.0.3']])), []);
  });
  it('declared addresses decide alone; an address of no server blocks nothing', () => {
    const declared = [{ name: 'a', address: '10.0.0.1' }, { name: 'b', address: '10.0.0.2' }, { name: 'c', address: '10.0.0.3' }];
    assert.deepEqual(suspectsOf('10.0.0.3', declared, 'b', new Map()), ['c']);
    assert.deepEqual(suspectsOf('10.0.0.9', declared, 'b', new Map()), []);
    assert.deepEqual(suspectsOf('10.0.0.2', declared, 'b', new Map()), [], 'never itself');
  });
});
