/**
 * The engine's rules, one engine driven by hand with the heartbeats its peers would send.
 * Stories across several engines on a network are scenario files: test/scenarios/*.txt.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { duplexCompatible } from '../../main/engine/compatibility';
import { nextEpoch } from '../../main/engine/servers';
import type { Engine } from '../../main/engine/engine';
import type { NodeInfo } from '../../main/engine/types';
import { effectsOf, engine, hb, roles, T, TICK, tickUntil } from './harness';

const ABC = { a: 'main', b: 'backup', c: 'inactive' } as const;

/** An engine that has settled as Standby behind Active `a` (epoch 3) at time 1000. */
function standbyBehindA(kinds: Record<string, 'main' | 'backup' | 'inactive'> = ABC, opts = {}): Engine {
  const b = engine('b', kinds, opts);
  tickUntil(b, 0, 1000, TICK, (now) => (now % 100 === 0 && now > 0 ? [hb('a', 'active', 3)] : []));
  assert.equal(b.currentRole, 'standby');
  assert.equal(b.status(1000).awareness, 0);
  return b;
}

/** The main, Active with epoch 3 and a Standby `b`, at time 1000. */
function activeA(kinds: Record<string, 'main' | 'backup' | 'inactive'> = ABC, opts = {}): Engine {
  const a = engine('a', kinds, opts);
  tickUntil(a, 0, T.discoveryMs + TICK);
  assert.equal(a.currentRole, 'active');
  assert.equal(a.currentEpoch, 3);
  tickUntil(a, T.discoveryMs + 2 * TICK, 1000, TICK, (now) => (now % 100 === 0 ? [hb('b', 'standby')] : []));
  return a;
}

describe('start-up', () => {
  it('listens for the discovery window before claiming, then the main becomes Active', () => {
    const a = engine('a', ABC);
    const early = tickUntil(a, 0, T.discoveryMs - TICK);
    assert.equal(a.currentRole, 'starting');
    assert.equal(roles(early).length, 0);
    assert.ok(early.send.length > 0, 'a starting node still heartbeats so peers see it');
    const out = a.tick(T.discoveryMs);
    assert.equal(a.currentRole, 'active');
    const kinds = out.effects.map((e) => e.kind);
    assert.deepEqual(kinds.slice(0, 3), ['persist', 'role', 'runtime'], 'the epoch is persisted before the runtime starts');
    const role = roles(out)[0]!;
    assert.equal(role.kind === 'role' && role.cause, 'startup');
    assert.deepEqual(effectsOf(out, 'runtime')[0], { kind: 'runtime', mode: 'active' });
  });

  it('a backup does not take over while the main is still starting', () => {
    const b = engine('b', ABC);
    const out = tickUntil(b, 0, 3000, TICK, (now) => [hb('a', 'starting')].filter(() => now % 100 === 0));
    assert.equal(b.currentRole, 'standby');
    assert.equal(roles(out).filter((r) => r.kind === 'role' && r.to === 'active').length, 0);
  });
});

describe('failover', () => {
  it('local trouble (late ticks) stretches the failure timeout (Lifeguard awareness)', () => {
    const b = standbyBehindA();
    const due = b.tick(1000).wakeAt;
    assert.ok(due <= 1000 + T.heartbeatIntervalMs, `next tick asked for at ${due}`);
    b.tick(due + 200); // the timer fired 200 ms late: the event loop stalled
    assert.equal(b.status(due + 200).awareness, 1);
    assert.equal(b.status(due + 200).effectiveTimeoutMs, 2 * T.failureTimeoutMs);
    tickUntil(b, due + 225, 1000 + 2 * T.failureTimeoutMs - 1, 1);
    assert.equal(b.currentRole, 'standby');
    tickUntil(b, 1000 + 2 * T.failureTimeoutMs, 1000 + 2 * T.failureTimeoutMs + 30);
    assert.equal(b.currentRole, 'active');
  });
});

describe('epochs', () => {
  it('nextEpoch gives every server its own epochs, always above the base', () => {
    for (let n = 1; n <= 6; n++) {
      const seen = new Set<number>();
      for (let base = 0; base < 40; base++) {
        for (let slot = 0; slot < n; slot++) {
          const e = nextEpoch(base, slot, n);
          assert.ok(e > base && e <= base + n);
          assert.equal(e % n, slot % n);
          seen.add(e * 100 + slot);
        }
      }
    }
  });
});

describe('switchover', () => {
  it('activate with no Active reachable but other eligible servers announces, then takes over', () => {
    const b = engine('b', ABC);
    const feed = (now: number) => (now % 200 === 0 ? [hb('a', 'standby')] : []);
    tickUntil(b, 0, T.discoveryMs + 100, TICK, feed);
    const at = T.discoveryMs + 110;
    const r = b.command({ kind: 'activate' }, at);
    assert.ok(r.accepted);
    assert.equal(b.currentRole, 'activating', 'a Standby timing out at this moment hears us first');
    assert.equal(r.send[0]?.wantId !== undefined && r.send[0]?.wantFrom, undefined);
    const out = tickUntil(b, at + 15, at + 2 * T.heartbeatIntervalMs + TICK, TICK, feed);
    assert.equal(b.currentRole, 'active');
    assert.deepEqual(effectsOf(out, 'done').map((d) => d.ok), [true]);
  });

  it('a Standby defers its failover to a server a technician is activating', () => {
    const b = standbyBehindA({ a: 'main', b: 'backup', d: 'backup' });
    const out = tickUntil(b, 1025, 1000 + 3 * T.failureTimeoutMs, TICK, (now) => (now % 200 === 0 ? [hb('d', 'activating', 0, { wantId: 1 })] : []));
    assert.equal(roles(out).filter((e) => e.kind === 'role' && e.to === 'active').length, 0);
  });

  it('ignores a request addressed to another Active', () => {
    const a = activeA();
    a.receive(hb('b', 'activating', 0, { wantId: 1, wantFrom: 'x' }), 1100);
    assert.equal(a.currentRole, 'active');
  });

  it('ignores a stale grant (older than the newest epoch it knows)', () => {
    const b = standbyBehindA();
    b.receive(hb('d', 'active', 9, { maxEpoch: 9 }), 1010);
    tickUntil(b, 1025, 3000);
    // a's old grant from epoch 3 arrives late: no promotion on it
    const out = b.receive(hb('a', 'standby', 3, { grantTo: 'b', grantEpoch: 3, maxEpoch: 3 }), 3010);
    assert.equal(roles(out).filter((r) => r.kind === 'role' && r.to === 'active' && r.cause === 'switchover').length, 0);
  });
});

describe('maintenance', () => {
  it('maintenance persists across a restart and is left by command', () => {
    const b = engine('b', ABC, { persisted: { maintenance: true } });
    tickUntil(b, 0, 3000);
    assert.equal(b.currentRole, 'maintenance');
    const r = b.command({ kind: 'maintenance', on: false }, 3010);
    assert.ok(r.accepted);
    assert.equal(b.currentRole, 'starting');
    assert.equal(effectsOf(r, 'persist').at(-1)?.state.maintenance, false);
  });
});

describe('version compatibility', () => {
  const info = (app: string, ver = '1.0.0'): NodeInfo => ({ ver, app, rev: { n: 1, t: 0, h: '0' }, sync: 'in-sync', port: 1 });

  it('duplexCompatible: the same Duplex major.minor, whatever the patch release (test/scenarios/compat-patch-release.txt for the roles)', () => {
    assert.equal(duplexCompatible('1.2.3', '1.2.10'), true);
    assert.equal(duplexCompatible('1.2.3-beta.1', '1.2.0'), true);
    assert.equal(duplexCompatible('1.2.3', '1.20.3'), false);
    assert.equal(duplexCompatible('2.2.3', '1.2.3'), false);
  });

  it('is decided on every heartbeat of an Active: another Duplex version, or none said', () => {
    const b = standbyBehindA();
    b.setInfo(info('1'), 1005);
    b.receive(hb('a', 'active', 3, { info: info('1', '0.9.0') }), 1010);
    assert.equal(b.status(1010).incompatible, 'Duplex 1.0.0 here, 0.9.0 on the Active a: servers must run the same Duplex major.minor (patch releases may differ); install 0.9.x here or upgrade every server');
    b.receive(hb('a', 'active', 3), 1020);
    assert.equal(b.status(1020).incompatible, 'the Active a does not say which Duplex version it runs (older than 1.0.0?)');
    b.receive(hb('a', 'active', 3, { info: info('1') }), 1030);
    assert.equal(b.status(1030).incompatible, null);
    assert.equal(b.currentRole, 'standby');
  });

  it('an Active does not judge itself against others', () => {
    const a = activeA();
    a.setInfo(info('2'), 1005);
    const out = a.receive(hb('c', 'active', 1, { info: info('1') }), 1010);
    assert.equal(effectsOf(out, 'compatibility').length, 0);
    assert.equal(a.status(1010).incompatible, null);
  });

  it('the Active refuses a switchover to a peer that is not eligible', () => {
    const a = activeA();
    a.receive(hb('b', 'activating', 0, { wantId: 1, wantFrom: 'a', eligible: false }), 1010);
    assert.equal(a.currentRole, 'active');
    const sent = a.tick(1400).send.at(-1)!;
    assert.equal(sent.refuseTo, 'b');
    assert.match(sent.refuseReason!, /cannot take over/);
  });
});

describe('health: isolation', () => {
  it('a witness failure does not keep a server from promoting while it hears a peer (it is not the one cut off)', () => {
    const a = engine('a', ABC);
    a.observe({ kind: 'health', score: 155, failing: 'gateway', isolated: 'gateway: unreachable' }, 0);
    tickUntil(a, 0, T.discoveryMs + TICK, TICK, (now) => (now % 100 === 0 ? [hb('b', 'starting', 0, { eligible: false })] : []));
    assert.equal(a.currentRole, 'active');
    const alone = engine('a', ABC);
    alone.observe({ kind: 'health', score: 155, failing: 'gateway', isolated: 'gateway: unreachable' }, 0);
    tickUntil(alone, 0, T.discoveryMs + 2 * T.failureTimeoutMs);
    assert.notEqual(alone.currentRole, 'active', 'alone and cut off from its witness: no claim');
  });
});

describe('guardian: lease, fence and fast release', () => {
  it('the Active gives its guardian a release notice and says whether a Standby is ready; a follower gives none', () => {
    const a = activeA();
    const lease = a.tick(1000).lease;
    assert.equal(lease.standbyReady, true);
    assert.deepEqual({ ...lease.notice, info: undefined }, { kind: 'heartbeat', from: 'a', role: 'inactive', epoch: 3, maxEpoch: 3, eligible: false, awareness: 0, released: 'b', ended: 'fenced', info: undefined });
    assert.equal(engine('a', ABC).tick(0).lease.notice, null);
    assert.deepEqual(standbyBehindA().tick(1000).lease, { notice: null, standbyReady: false, quorumUntil: null });
    const alone = engine('a', ABC);
    tickUntil(alone, 0, 1000);
    assert.equal(alone.tick(1000).lease.standbyReady, false);
  });

  it('a release of an older term than the newest known is ignored (stale or replayed)', () => {
    const b = standbyBehindA();
    b.receive(hb('c', 'inactive', 0, { maxEpoch: 7 }), 1005);
    b.receive(hb('a', 'inactive', 3, { eligible: false, released: 'b' }), 1010);
    assert.equal(b.currentRole, 'standby');
  });

  it('only the Standby the release names takes over: another that also believes it is the Standby waits', () => {
    const b = standbyBehindA();
    b.receive(hb('a', 'inactive', 3, { eligible: false, released: 'c' }), 1010);
    assert.equal(b.currentRole, 'standby');
  });

  it('an Active without a Standby leaves a notice that names nobody', () => {
    const alone = engine('a', ABC);
    tickUntil(alone, 0, 1000);
    assert.equal(alone.tick(1000).lease.notice?.released, undefined);
  });

  it('an Inactive server next in line does not take over on a release', () => {
    const c = engine('c', { a: 'main', b: 'backup', c: 'backup' });
    tickUntil(c, 0, 1000, TICK, (now) => (now % 100 === 0 && now > 0 ? [hb('a', 'active', 3), hb('b', 'standby')] : []));
    assert.equal(c.currentRole, 'inactive');
    c.receive(hb('a', 'inactive', 3, { eligible: false, released: 'b' }), 1010);
    assert.equal(c.currentRole, 'inactive');
  });

  it('a fenced Active ends its term: follows, asks for the standby runtime, and does not claim again before the failure timeout', () => {
    const a = activeA();
    const out = a.observe({ kind: 'fenced', reason: 'lease ran out: the node did not renew it for 700 ms' }, 1010);
    assert.equal(a.currentRole, 'standby');
    const role = roles(out)[0];
    assert.match(role?.kind === 'role' ? role.reason : '', /Active term 3 ended: the guardian killed the runtime \(lease ran out/);
    assert.deepEqual(effectsOf(out, 'runtime'), [{ kind: 'runtime', mode: 'standby' }]);
    assert.equal(out.lease.notice, null);
    // b stays silent: a may fail over again only after the full failure timeout.
    tickUntil(a, 1020, 1010 + T.failureTimeoutMs - TICK);
    assert.equal(a.currentRole, 'standby');
  });
});

describe('guardian: which releases count', () => {
  it('a release from a server that was not heard as the Active of that term is ignored', () => {
    const b = standbyBehindA({ a: 'main', b: 'backup', c: 'backup' });
    b.receive(hb('c', 'inactive', 3, { eligible: false, released: 'b' }), 1010);
    assert.equal(b.currentRole, 'standby');
  });
});

describe('after a freeze', () => {
  it('an activate command that waited out a freeze announces itself instead of taking over at once', () => {
    const b = standbyBehindA();
    const woke = 1000 + T.failureTimeoutMs;
    b.tick(woke);
    const r = b.command({ kind: 'activate' }, woke);
    assert.equal(r.accepted, true);
    assert.equal(b.currentRole, 'activating');
  });

  it('an announced activation does not take over on waking from a freeze: the Active that appeared meanwhile is heard first', () => {
    const b = engine('b', ABC);
    const feed = (now: number) => (now % 200 === 0 ? [hb('a', 'standby')] : []);
    tickUntil(b, 0, T.discoveryMs + 100, TICK, feed);
    const at = T.discoveryMs + 110;
    assert.equal(b.command({ kind: 'activate' }, at).accepted, true);
    assert.equal(b.currentRole, 'activating');
    // Frozen from here; meanwhile a took over. Waking, the overdue tick comes before a's heartbeats.
    const woke = at + 2 * T.failureTimeoutMs;
    b.tick(woke);
    assert.equal(b.currentRole, 'activating', 'no promotion on the tick that notices the freeze');
    b.receive(hb('a', 'active', 3), woke + 1);
    assert.notEqual(b.currentRole, 'active');
  });
});
