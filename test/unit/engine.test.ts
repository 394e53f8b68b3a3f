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

  it('a node that hears an Active during discovery follows at once', () => {
    const b = engine('b', ABC);
    b.tick(0);
    const out = b.receive(hb('a', 'active', 3), 50);
    assert.equal(b.currentRole, 'standby');
    assert.deepEqual(effectsOf(out, 'runtime')[0], { kind: 'runtime', mode: 'standby' });
    const c = engine('c', ABC);
    c.tick(0);
    c.receive(hb('a', 'active', 3), 50);
    assert.equal(c.currentRole, 'inactive');
    assert.match(c.status(50).reason, /declared "inactive"/);
  });

  it('a backup that finds no Active waits discovery plus failure timeout, then takes over', () => {
    const b = engine('b', ABC);
    tickUntil(b, 0, T.discoveryMs + T.failureTimeoutMs - TICK);
    assert.equal(b.currentRole, 'standby');
    tickUntil(b, T.discoveryMs + T.failureTimeoutMs, T.discoveryMs + T.failureTimeoutMs + TICK);
    assert.equal(b.currentRole, 'active');
  });

  it('a backup does not take over while the main is still starting', () => {
    const b = engine('b', ABC);
    const out = tickUntil(b, 0, 3000, TICK, (now) => [hb('a', 'starting')].filter(() => now % 100 === 0));
    assert.equal(b.currentRole, 'standby');
    assert.equal(roles(out).filter((r) => r.kind === 'role' && r.to === 'active').length, 0);
  });

  it('only one Standby: the second backup waits as Inactive, next in line', () => {
    const kinds = { a: 'main', b: 'backup', d: 'backup' } as const;
    const d = engine('d', kinds);
    d.tick(0);
    d.receive(hb('a', 'active', 3), 10);
    d.receive(hb('b', 'standby'), 20);
    assert.equal(d.currentRole, 'inactive');
    assert.match(d.status(20).reason, /b is the Standby/);
    // b goes silent: d moves up to Standby
    tickUntil(d, 25, 20 + T.failureTimeoutMs + 50, TICK, (now) => (now % 100 === 0 ? [hb('a', 'active', 3)] : []));
    assert.equal(d.currentRole, 'standby');
  });

  it('a server in maintenance in the domain file starts in Maintenance and takes no role', () => {
    const b = engine('b', ABC, { maintenanceDecl: ['b'] });
    tickUntil(b, 0, 5000);
    assert.equal(b.currentRole, 'maintenance');
  });
});

describe('failover', () => {
  it('the Standby promotes after the failure timeout of silence, not before', () => {
    const b = standbyBehindA();
    tickUntil(b, 1025, 1000 + T.failureTimeoutMs - 1, 1);
    assert.equal(b.currentRole, 'standby');
    const out = b.tick(1000 + T.failureTimeoutMs);
    assert.equal(b.currentRole, 'active');
    const r = roles(out)[0]!;
    assert.ok(r.kind === 'role' && r.cause === 'failover' && new RegExp(`no heartbeat from the Active for ${T.failureTimeoutMs} ms`).test(r.reason));
    assert.ok(b.currentEpoch > 3, 'a promotion takes a higher epoch than any known');
  });

  it('a Standby that joined moments ago fails over on time (no extra discovery wait)', () => {
    const b = engine('b', ABC);
    b.tick(0);
    b.receive(hb('a', 'active', 3), 50); // heard the Active at once: Standby from 50 ms on
    b.receive(hb('a', 'active', 3), 150);
    tickUntil(b, 175, 150 + T.failureTimeoutMs - 1, 1);
    assert.equal(b.currentRole, 'standby');
    b.tick(150 + T.failureTimeoutMs);
    assert.equal(b.currentRole, 'active');
  });

  it('does not promote while its own network is down', () => {
    const b = standbyBehindA();
    b.observe({ kind: 'link', up: false }, 1010);
    tickUntil(b, 1025, 10_000);
    assert.equal(b.currentRole, 'standby');
    b.observe({ kind: 'link', up: true }, 10_010);
    tickUntil(b, 10_025, 10_100);
    assert.equal(b.currentRole, 'active');
  });

  it('an Inactive server never promotes', () => {
    const c = engine('c', ABC);
    tickUntil(c, 0, 20_000);
    assert.equal(c.currentRole, 'inactive');
  });

  it('a frozen Standby does not fail over on waking: it judges only what arrives after', () => {
    const b = standbyBehindA();
    // Frozen from 1000 to 5000; the overdue tick runs first, then the queued heartbeat.
    b.tick(5000);
    assert.equal(b.currentRole, 'standby');
    b.receive(hb('a', 'active', 3), 5001);
    tickUntil(b, 5025, 5500, TICK, (now) => (now % 100 === 0 ? [hb('a', 'active', 3)] : []));
    assert.equal(b.currentRole, 'standby');
  });

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

  it('awareness decays back after a quiet spell', () => {
    const b = standbyBehindA();
    b.tick(b.tick(1000).wakeAt + 200);
    assert.equal(b.status(1300).awareness, 1);
    tickUntil(b, 1325, 1325 + 5100, TICK, (now) => (now % 100 === 0 ? [hb('a', 'active', 3)] : []));
    assert.equal(b.status(6400).awareness, 0);
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

  it('when two Actives meet, the lower epoch steps down, stopping its runtime first', () => {
    const a = activeA();
    const out = a.receive(hb('b', 'active', 7), 1100);
    assert.equal(a.currentRole, 'deactivating');
    assert.deepEqual(effectsOf(out, 'runtime'), [{ kind: 'runtime', mode: 'standby' }]);
    a.tick(1125);
    assert.equal(a.currentRole, 'deactivating', 'stays deactivating until the runtime has left active mode');
    a.observe({ kind: 'runtime', mode: 'standby' }, 1150);
    assert.equal(a.currentRole, 'standby');
  });

  it('the higher epoch stays Active', () => {
    const a = activeA();
    a.receive(hb('b', 'active', 2), 1100);
    assert.equal(a.currentRole, 'active');
  });

  it('persisted epochs survive a restart: the next promotion is higher', () => {
    const b = engine('b', ABC, { persisted: { maxEpoch: 40 } });
    tickUntil(b, 0, 2000);
    assert.equal(b.currentRole, 'active');
    assert.ok(b.currentEpoch > 40);
  });

  it('a restarted node names its last Active term in its role lines, not 0, and keeps it in its state', () => {
    const a = engine('a', ABC);
    const promoted = tickUntil(a, 0, T.discoveryMs + TICK);
    assert.equal(a.currentRole, 'active');
    assert.deepEqual(effectsOf(promoted, 'persist').at(-1)?.state, { maxEpoch: 3, maintenance: false, epoch: 3 });
    const again = engine('a', ABC, { persisted: { maxEpoch: 9, epoch: 3 } });
    const out = tickUntil(again, 0, 400, TICK, (now) => (now % 100 === 0 ? [hb('b', 'active', 9)] : []));
    const first = roles(out)[0]!;
    assert.ok(first.kind === 'role' && first.to === 'standby' && first.epoch === 3, JSON.stringify(first));
    assert.equal(again.status(400).epoch, 3);
  });

  it('a higher epoch heard from any peer is persisted', () => {
    const c = engine('c', ABC);
    const out = c.receive(hb('a', 'active', 9, { maxEpoch: 9 }), 10);
    assert.deepEqual(effectsOf(out, 'persist'), [{ kind: 'persist', state: { maxEpoch: 9, maintenance: false }, critical: true }]);
  });
});

describe('switchover', () => {
  it('activate on the Standby: the Active stops its runtime, then hands over; never two Actives', () => {
    const a = activeA();
    const b = standbyBehindA();
    const r = b.command({ kind: 'activate' }, 1010);
    assert.ok(r.accepted, r.message);
    assert.equal(b.currentRole, 'activating');
    const want = r.send[0]!;
    assert.equal(want.wantFrom, 'a');
    let out = a.receive(want, 1011);
    assert.equal(a.currentRole, 'deactivating');
    assert.deepEqual(effectsOf(out, 'runtime'), [{ kind: 'runtime', mode: 'standby' }]);
    // Until the runtime has stopped, no grant goes out.
    assert.equal(out.send.some((m) => m.grantTo), false);
    out = a.observe({ kind: 'runtime', mode: 'standby' }, 1200);
    const grant = out.send.find((m) => m.grantTo === 'b');
    assert.ok(grant, 'the grant follows the runtime stop');
    assert.notEqual(a.currentRole, 'active');
    out = b.receive(grant, 1201);
    assert.equal(b.currentRole, 'active');
    assert.ok(b.currentEpoch > 3);
    assert.deepEqual(effectsOf(out, 'done'), [{ kind: 'done', id: 0, command: 'activate', ok: true, message: `b is Active (epoch ${b.currentEpoch})` }]);
    const r2 = roles(out)[0]!;
    assert.ok(r2.kind === 'role' && r2.cause === 'switchover');
  });

  it('handing back to a server of higher precedence goes straight to Standby: one role change, no pass through Inactive', () => {
    const a = activeA();
    const b = standbyBehindA();
    const grant = a.observe({ kind: 'runtime', mode: 'standby' }, a.receive(b.command({ kind: 'activate' }, 1010).send[0]!, 1011) && 1200).send.find((m) => m.grantTo === 'b')!;
    b.receive(grant, 1201);
    assert.equal(b.currentRole, 'active');
    // Now a (the main) asks b to hand back.
    a.receive(hb('b', 'active', b.currentEpoch), 1250);
    const want = a.command({ kind: 'activate' }, 1260).send.find((m) => m.wantFrom === 'b')!;
    assert.ok(want, 'a asks b to hand over');
    const out = b.receive(want, 1261);
    const stopped = b.observe({ kind: 'runtime', mode: 'standby' }, 1400);
    const path = [...roles(out), ...roles(stopped)].map((r) => (r.kind === 'role' ? r.to : ''));
    assert.deepEqual(path, ['deactivating', 'standby']);
    assert.ok(stopped.send.some((m) => m.grantTo === 'a'));
  });

  it('deactivate on the Active hands over to the Standby and finishes when it reports Active', () => {
    const a = activeA();
    const r = a.command({ kind: 'deactivate' }, 1010);
    assert.ok(r.accepted, r.message);
    assert.equal(a.currentRole, 'deactivating');
    const out = a.observe({ kind: 'runtime', mode: 'standby' }, 1100);
    assert.equal(out.send.find((m) => m.grantTo)?.grantTo, 'b');
    const done = a.receive(hb('b', 'active', 4), 1150);
    assert.deepEqual(effectsOf(done, 'done'), [{ kind: 'done', id: 0, command: 'deactivate', ok: true, message: 'b is Active (epoch 4)' }]);
  });

  it('a handover nobody picks up fails and the old Active takes over again later', () => {
    const a = activeA();
    a.command({ kind: 'deactivate' }, 1010);
    a.observe({ kind: 'runtime', mode: 'standby' }, 1100);
    const out = tickUntil(a, 1125, 1100 + T.handoverTimeoutMs + 25);
    assert.deepEqual(effectsOf(out, 'done').map((d) => d.ok), [false]);
    tickUntil(a, 1100 + T.handoverTimeoutMs + 50, 1100 + T.handoverTimeoutMs + T.failureTimeoutMs + 100);
    assert.equal(a.currentRole, 'active');
  });

  it('activate with no Active reachable and nobody else eligible promotes at once', () => {
    const b = engine('b', ABC);
    tickUntil(b, 0, T.discoveryMs + 100, TICK, (now) => (now % 200 === 0 ? [hb('c', 'inactive', 0, { eligible: false })] : []));
    assert.equal(b.currentRole, 'standby');
    const r = b.command({ kind: 'activate' }, T.discoveryMs + 110);
    assert.ok(r.accepted);
    assert.equal(b.currentRole, 'active');
    const role = roles(r)[0]!;
    assert.ok(role.kind === 'role' && role.cause === 'manual');
  });

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

  it('an activation the Active does not answer times out with a reason', () => {
    const b = standbyBehindA();
    b.command({ kind: 'activate' }, 1010);
    const out = tickUntil(b, 1025, 1010 + T.handoverTimeoutMs + 25, TICK, (now) => (now % 100 === 0 ? [hb('a', 'active', 3)] : []));
    const done = effectsOf(out, 'done');
    assert.equal(done.length, 1);
    assert.equal(done[0]!.ok, false);
    assert.match(done[0]!.message, /did not hand over within/);
    assert.equal(b.currentRole, 'standby');
  });

  it('the Active refuses a request from a server its domain file does not allow', () => {
    const a = activeA({ a: 'main', b: 'backup', c: 'inactive' });
    const out = a.receive(hb('c', 'activating', 0, { wantId: 1, wantFrom: 'a' }), 1100);
    assert.equal(a.currentRole, 'active');
    const m = out.send[0]!;
    assert.equal(m.refuseTo, 'c');
    assert.match(m.refuseReason ?? '', /not a main or backup/);
    const c = engine('c', { a: 'main', b: 'backup', c: 'backup' });
    c.tick(0);
    c.receive(hb('a', 'active', 3), 10);
    c.receive(hb('b', 'standby'), 10);
    c.receive(hb('a', 'active', 3), 690);
    assert.ok(c.command({ kind: 'activate' }, 700).accepted);
    assert.equal(c.currentRole, 'activating');
    const fail = c.receive(m, 720);
    assert.equal(effectsOf(fail, 'done')[0]?.ok, false);
    assert.match(effectsOf(fail, 'done')[0]?.message ?? '', /a refused: c is not a main or backup/);
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

describe('runtime crash loop', () => {
  it('the Active hands over to the Standby, stopping its runtime first', () => {
    const a = activeA();
    const out = a.observe({ kind: 'runtime-failed', reason: '3 exits within 60 s' }, 1010);
    assert.equal(a.currentRole, 'deactivating');
    assert.match(a.status(1010).reason, /runtime crash loop \(3 exits within 60 s\): handing over to b/);
    assert.deepEqual(effectsOf(out, 'runtime'), [{ kind: 'runtime', mode: 'standby' }]);
    const done = a.observe({ kind: 'runtime', mode: 'standby' }, 1100);
    assert.equal(done.send.find((m) => m.grantTo)?.grantTo, 'b');
  });

  it('with no Standby the Active stays and says why', () => {
    const a = engine('a', ABC);
    tickUntil(a, 0, 1000);
    a.observe({ kind: 'runtime-failed', reason: '3 exits within 60 s' }, 1010);
    assert.equal(a.currentRole, 'active');
    assert.match(a.status(1010).reason, /no Standby to hand over to, so it keeps restarting here/);
  });

  it('is ignored by a server that is not Active', () => {
    const b = standbyBehindA();
    b.observe({ kind: 'runtime-failed', reason: 'x' }, 1010);
    assert.equal(b.currentRole, 'standby');
  });
});

describe('runtime crash loop: the ban (Pacemaker migration-threshold)', () => {
  const RESET = 5_000;
  /** Active a hands over to b on a crash loop at 1010; b is heard Active from 1100 on. */
  function bannedA(): Engine {
    const a = activeA(ABC, { failureResetMs: RESET });
    a.observe({ kind: 'runtime-failed', reason: 'scada: 3 exits within 60 s' }, 1010);
    a.observe({ kind: 'runtime', mode: 'standby' }, 1050);
    a.receive(hb('b', 'active', 4), 1100);
    return a;
  }
  const bActive = (now: number) => (now % 100 === 0 ? [hb('b', 'active', 4)] : []);

  it('a server that handed over because of a crash loop is neither Active nor Standby, and says why', () => {
    const a = activeA(ABC, { failureResetMs: RESET });
    const out = a.observe({ kind: 'runtime-failed', reason: 'scada: 3 exits within 60 s' }, 1010);
    const kept = effectsOf(out, 'persist').at(-1)!.state.failures;
    assert.deepEqual(kept, { count: 1, last: 'scada: 3 exits within 60 s', resetAt: 1010 + RESET, banned: true }, 'the ban is persisted');
    assert.equal(out.send.at(-1)!.eligible, false, 'peers hear at once that it is not eligible');
    a.observe({ kind: 'runtime', mode: 'standby' }, 1050);
    a.receive(hb('b', 'active', 4), 1100);
    assert.equal(a.currentRole, 'inactive');
    const st = a.status(1100);
    assert.match(st.reason, /handed the Active role over because of a runtime crash loop \(scada: 3 exits within 60 s\); it is not eligible for 5 s after its last crash loop, or until duplex clear --server a/);
    assert.deepEqual(st.failures, { count: 1, last: 'scada: 3 exits within 60 s', resetInMs: RESET - 90, banned: true });
    const r = a.command({ kind: 'activate' }, 1110);
    assert.equal(r.accepted, false);
    assert.match(r.message, /not eligible .* or until duplex clear --server a/);
  });

  it('a banned server does not fail over when the Active goes silent, and the Active does not hand back to it', () => {
    const a = bannedA();
    const out = tickUntil(a, 1125, 1010 + RESET - TICK);
    assert.equal(a.currentRole, 'inactive', 'no failover while banned');
    assert.equal(roles(out).length, 0);
    assert.ok(out.send.every((m) => !m.eligible));
    // The Active b: a's heartbeat says not eligible, so b has no Standby and keeps its runtime on its own crash loop.
    const b = engine('b', ABC);
    tickUntil(b, 0, 400, TICK, (now) => (now % 100 === 0 ? [hb('a', 'starting')] : []));
    b.receive(hb('a', 'active', 3), 420);
    tickUntil(b, 425, 1000, TICK, (now) => (now % 100 === 0 ? [hb('a', 'active', 3)] : []));
    assert.equal(b.currentRole, 'standby');
    b.receive(hb('a', 'deactivating', 3, { eligible: false }), 1010);
    b.receive(hb('a', 'inactive', 3, { eligible: false, grantTo: 'b', grantEpoch: 3 }), 1050);
    assert.equal(b.currentRole, 'active');
    tickUntil(b, 1075, 2000, TICK, (now) => (now % 100 === 0 ? [hb('a', 'inactive', 3, { eligible: false })] : []));
    b.observe({ kind: 'runtime-failed', reason: 'scada: 3 exits within 60 s' }, 2010);
    const again = b.observe({ kind: 'runtime-failed', reason: 'scada: 4 exits within 60 s' }, 4010);
    assert.equal(b.currentRole, 'active', 'the last eligible server keeps the runtime');
    assert.match(b.status(4010).reason, /no Standby to hand over to, so it keeps restarting here \(crash loop 2 here\)/);
    assert.deepEqual(b.status(4010).failures, { count: 2, last: 'scada: 4 exits within 60 s', resetInMs: 600_000, banned: false });
    assert.equal(effectsOf(again, 'runtime').length, 0, 'the runtime is not moved');
  });

  it('the ban ends failureResetMs after the last crash loop: the server is Standby again', () => {
    const a = bannedA();
    const last = tickUntil(a, 1125, 1010 + RESET - TICK, TICK, bActive);
    assert.equal(a.currentRole, 'inactive');
    assert.ok(last.wakeAt <= 1010 + RESET, 'the engine asks to be woken when the ban ends');
    const out = a.tick(1010 + RESET);
    assert.equal(a.currentRole, 'standby');
    assert.equal(out.send.at(-1)!.eligible, true);
    assert.equal(effectsOf(out, 'persist').at(-1)!.state.failures, undefined, 'the end of the ban is persisted');
    assert.deepEqual(a.status(1010 + RESET).failures, { count: 0, last: null, resetInMs: null, banned: false });
  });

  it('duplex clear lifts the ban at once; with nothing counted it says so', () => {
    const a = bannedA();
    const r = a.command({ kind: 'clear' }, 1200, 7);
    assert.equal(r.accepted, true);
    assert.equal(a.currentRole, 'standby');
    assert.deepEqual(effectsOf(r, 'done'), [{ kind: 'done', id: 7, command: 'clear', ok: true, message: 'a: 1 runtime crash loop forgotten (the last: scada: 3 exits within 60 s); a may be Active or Standby again' }]);
    assert.equal(effectsOf(r, 'persist').at(-1)!.state.failures, undefined);
    assert.equal(r.send.at(-1)!.eligible, true);
    const twice = a.command({ kind: 'clear' }, 1210);
    assert.equal(twice.accepted, true);
    assert.equal(twice.message, 'a has no runtime crash loops counted; nothing to clear');
    assert.equal(effectsOf(twice, 'persist').length, 0);
  });

  it('the ban survives a restart (persisted), capped at failureResetMs when the stored time is further away', () => {
    const failures = { count: 2, last: 'scada: 3 exits within 60 s', resetAt: 50_000, banned: true };
    const a = engine('a', ABC, { failureResetMs: RESET, persisted: { maxEpoch: 3, failures } }, 0);
    tickUntil(a, 0, RESET - TICK);
    assert.equal(a.currentRole, 'inactive', 'the main does not claim at start-up while banned');
    assert.equal(a.status(RESET - TICK).failures.resetInMs, TICK, 'capped at failureResetMs from the start');
    tickUntil(a, RESET, RESET + T.failureTimeoutMs + T.discoveryMs);
    assert.equal(a.currentRole, 'active', 'alone and no longer banned: it takes over');
  });
});

describe('refusals', () => {
  const refused = (e: Engine, cmd: Parameters<Engine['command']>[0], now: number, pattern: RegExp) => {
    const r = e.command(cmd, now);
    assert.equal(r.accepted, false, `expected a refusal, got: ${r.message}`);
    assert.match(r.message, pattern);
    return r;
  };

  it('activate on the Active, and maintenance on twice, are done already: ok, and say so', () => {
    const a = activeA();
    const r = a.command({ kind: 'activate' }, 1010, 7);
    assert.equal(r.accepted, true);
    assert.equal(r.message, 'a is already Active (epoch 3)');
    assert.deepEqual(effectsOf(r, 'done'), [{ kind: 'done', id: 7, command: 'activate', ok: true, message: 'a is already Active (epoch 3)' }]);
    assert.deepEqual(roles(r), []);
    const b = standbyBehindA();
    b.command({ kind: 'maintenance', on: true }, 1010);
    const again = b.command({ kind: 'maintenance', on: true }, 1020, 8);
    assert.deepEqual(effectsOf(again, 'done'), [{ kind: 'done', id: 8, command: 'maintenance-on', ok: true, message: 'b is already in Maintenance' }]);
  });
  it('the verdicts the status window shows are the refusals the commands get, without changing anything', () => {
    const a = activeA();
    const b = standbyBehindA();
    const va = a.commandVerdicts(1010);
    assert.equal(va.activate, 'a is already Active (epoch 3)');
    assert.equal(va.deactivate, null);
    assert.equal(va['maintenance-on'], null);
    assert.equal(va['maintenance-off'], 'a is not in Maintenance');
    assert.equal(va.clear, 'a has no runtime crash loops counted; nothing to clear');
    const vb = b.commandVerdicts(1010);
    assert.equal(vb.activate, null);
    assert.equal(vb.deactivate, 'only the Active can be deactivated; b is standby');
    assert.equal(b.currentRole, 'standby');
    assert.equal(a.currentRole, 'active');
    // A verdict and the command's refusal are the same words.
    const lone = engine('a', ABC);
    tickUntil(lone, 0, 1000);
    assert.equal(lone.commandVerdicts(1010).deactivate, lone.command({ kind: 'deactivate' }, 1010).message);
    assert.match(lone.commandVerdicts(1010)['maintenance-on']!, /no Standby can take over.*--force/);
  });
  it('activate: in Maintenance', () => {
    const b = standbyBehindA();
    b.command({ kind: 'maintenance', on: true }, 1010);
    refused(b, { kind: 'activate' }, 1020, /in Maintenance; leave it first/);
  });
  it('activate: declared inactive', () => {
    const c = engine('c', ABC);
    tickUntil(c, 0, 1000);
    refused(c, { kind: 'activate' }, 1010, /declared "inactive".*only the main and backup/);
  });
  it('activate: own network down', () => {
    const b = standbyBehindA();
    b.observe({ kind: 'link', up: false }, 1010);
    refused(b, { kind: 'activate' }, 1020, /lost its own network/);
  });
  it('activate: still discovering', () => {
    refused(engine('b', ABC), { kind: 'activate' }, 100, new RegExp(`still discovering its peers; try again in ${T.discoveryMs - 100} ms`));
  });
  it('activate: switchover already in progress', () => {
    const b = standbyBehindA();
    b.command({ kind: 'activate' }, 1010);
    refused(b, { kind: 'activate' }, 1020, /already in progress/);
  });
  it('activate: another server is about to claim', () => {
    const b = standbyBehindA();
    tickUntil(b, 1025, 1300);
    b.receive(hb('a', 'starting'), 1650);
    refused(b, { kind: 'activate' }, 1660, /starting or taking over right now/);
  });
  it('activate: the Active is already handing over', () => {
    const b = standbyBehindA();
    b.receive(hb('a', 'deactivating', 3), 1010);
    refused(b, { kind: 'activate' }, 1020, /already handing over/);
  });
  it('deactivate: not the Active', () => {
    refused(standbyBehindA(), { kind: 'deactivate' }, 1010, /only the Active can be deactivated; b is standby/);
  });
  it('deactivate: no Standby', () => {
    const a = engine('a', ABC);
    tickUntil(a, 0, 1000);
    refused(a, { kind: 'deactivate' }, 1010, /no Standby is ready to take over/);
    assert.equal(a.currentRole, 'active');
  });
  it('maintenance on: the Active without a Standby needs --force', () => {
    const a = engine('a', ABC);
    tickUntil(a, 0, 1000);
    refused(a, { kind: 'maintenance', on: true }, 1010, /no Standby can take over.*--force/);
    const r = a.command({ kind: 'maintenance', on: true, force: true }, 1020);
    assert.ok(r.accepted);
    assert.deepEqual(effectsOf(r, 'runtime'), [{ kind: 'runtime', mode: 'stopped' }]);
    a.observe({ kind: 'runtime', mode: 'stopped' }, 1100);
    assert.equal(a.currentRole, 'maintenance');
  });
  it('maintenance on: refused while a switchover runs', () => {
    const a = activeA();
    a.command({ kind: 'deactivate' }, 1010);
    refused(a, { kind: 'maintenance', on: true }, 1020, /switchover is in progress/);
  });
  it('maintenance off: refused when the domain file sets it', () => {
    const b = engine('b', ABC, { maintenanceDecl: ['b'] });
    refused(b, { kind: 'maintenance', on: false }, 10, /set for b in the domain file/);
  });
});

describe('maintenance', () => {
  it('putting the Active in Maintenance hands over first', () => {
    const a = activeA();
    const r = a.command({ kind: 'maintenance', on: true }, 1010);
    assert.ok(r.accepted);
    assert.equal(a.currentRole, 'deactivating');
    const out = a.observe({ kind: 'runtime', mode: 'stopped' }, 1100);
    assert.equal(a.currentRole, 'maintenance');
    assert.equal(out.send.find((m) => m.grantTo)?.grantTo, 'b');
    assert.deepEqual(effectsOf(out, 'persist').at(-1)?.state.maintenance, true);
  });

  it('maintenance persists across a restart and is left by command', () => {
    const b = engine('b', ABC, { persisted: { maintenance: true } });
    tickUntil(b, 0, 3000);
    assert.equal(b.currentRole, 'maintenance');
    const r = b.command({ kind: 'maintenance', on: false }, 3010);
    assert.ok(r.accepted);
    assert.equal(b.currentRole, 'starting');
    assert.equal(effectsOf(r, 'persist').at(-1)?.state.maintenance, false);
  });

  it('a Standby in maintenance stops its runtime and stays out of failover', () => {
    const b = standbyBehindA();
    const r = b.command({ kind: 'maintenance', on: true }, 1010);
    assert.deepEqual(effectsOf(r, 'runtime'), [{ kind: 'runtime', mode: 'stopped' }]);
    tickUntil(b, 1025, 10_000);
    assert.equal(b.currentRole, 'maintenance');
  });
});

describe('failback', () => {
  it('with failback manual the main stays Standby behind a backup', () => {
    const a = engine('a', ABC);
    a.tick(0);
    a.receive(hb('b', 'active', 4), 10);
    const out = tickUntil(a, 25, 120_000, 25, (now) => (now % 100 === 0 ? [hb('b', 'active', 4)] : []));
    assert.equal(a.currentRole, 'standby');
    assert.equal(out.send.some((m) => m.wantId !== undefined), false);
  });

  it('with failback auto the main asks for the Active role back after the delay', () => {
    const a = engine('a', ABC, { failback: 'auto' });
    a.tick(0);
    a.receive(hb('b', 'active', 4), 10);
    tickUntil(a, 25, 10 + T.failbackDelayMs - 50, 25, (now) => (now % 100 === 0 ? [hb('b', 'active', 4)] : []));
    assert.equal(a.currentRole, 'standby');
    tickUntil(a, 10 + T.failbackDelayMs, 10 + T.failbackDelayMs + 100, 25, (now) => (now % 100 === 0 ? [hb('b', 'active', 4)] : []));
    assert.equal(a.currentRole, 'activating');
    assert.match(a.status(T.failbackDelayMs + 200).pending ?? '', /failback/);
  });

  it('no failback after the main was deactivated by hand', () => {
    const a = activeA(ABC, { failback: 'auto' });
    a.command({ kind: 'deactivate' }, 1010);
    a.observe({ kind: 'runtime', mode: 'standby' }, 1100);
    a.receive(hb('b', 'active', 4), 1150);
    tickUntil(a, 1175, 1175 + 2 * T.failbackDelayMs, 25, (now) => (now % 100 === 0 ? [hb('b', 'active', 4)] : []));
    assert.equal(a.currentRole, 'standby');
  });
});

describe('live reconfiguration (a new domain revision)', () => {
  const cfgOf = (self: string, kinds: Record<string, 'main' | 'backup' | 'inactive'>, maintenance: string[] = []) => ({
    self,
    servers: Object.entries(kinds).map(([name, kind]) => ({ name, kind, maintenance: maintenance.includes(name) })),
    failback: 'manual' as const,
    quorum: 'off' as const,
    timings: T,
  });

  it('an Inactive made backup becomes Standby when the Standby is gone from the list', () => {
    const c = engine('c', ABC);
    tickUntil(c, 0, 1000, TICK, (now) => (now % 100 === 0 && now > 0 ? [hb('a', 'active', 3), hb('b', 'standby')] : []));
    assert.equal(c.currentRole, 'inactive');
    const out = c.reconfigure(cfgOf('c', { a: 'main', c: 'backup' }), 1010);
    assert.equal(c.currentRole, 'standby');
    assert.deepEqual(effectsOf(out, 'runtime')[0], { kind: 'runtime', mode: 'standby' });
    assert.ok(out.send.length > 0, 'the new role is announced at once');
    assert.deepEqual(c.status(1010).peers.map((p) => p.server), ['a'], 'a removed server is no longer a peer');
  });

  it('an Active removed from the domain hands over to the Standby and ends Inactive', () => {
    const a = activeA();
    const out = a.reconfigure(cfgOf('a', { b: 'main', c: 'backup' }), 1010);
    assert.equal(a.currentRole, 'deactivating');
    assert.match(a.status(1010).reason, /removed from the domain file: handing over to b/);
    assert.deepEqual(effectsOf(out, 'runtime')[0], { kind: 'runtime', mode: 'standby' });
    const granted = a.observe({ kind: 'runtime', mode: 'standby' }, 1020);
    assert.equal(granted.send.at(-1)!.grantTo, 'b', 'the handover is granted to b once the runtime left active mode');
    tickUntil(a, 1050, 1200, TICK, (now) => (now % 100 === 0 ? [hb('b', 'active', 4)] : []));
    assert.equal(a.currentRole, 'inactive');
    assert.match(a.status(1200).reason, /not in the domain file any more/);
    assert.equal(a.command({ kind: 'activate' }, 1210).accepted, false);
  });

  it('maintenance set and cleared in the domain file is entered and left without a restart', () => {
    const b = standbyBehindA();
    b.reconfigure(cfgOf('b', ABC, ['b']), 1010);
    assert.equal(b.currentRole, 'maintenance');
    assert.match(b.status(1010).reason, /maintenance is set for this server in the domain file/);
    b.reconfigure(cfgOf('b', ABC), 1020);
    assert.equal(b.currentRole, 'starting');
    tickUntil(b, 1025, 1400, TICK, (now) => (now % 100 === 0 ? [hb('a', 'active', 3)] : []));
    assert.equal(b.currentRole, 'standby');
  });

  it('new timings are used at once', () => {
    const b = standbyBehindA();
    b.reconfigure({ ...cfgOf('b', ABC), timings: { ...T, failureTimeoutMs: 2000, handoverTimeoutMs: 10000 } }, 1000);
    tickUntil(b, 1000, 1000 + 1900);
    assert.equal(b.currentRole, 'standby', 'no failover before the new, longer timeout');
    tickUntil(b, 2925, 3100);
    assert.equal(b.currentRole, 'active');
  });
});

describe('outputs for the driver', () => {
  it('a done effect carries the id of the request it finishes', () => {
    const b = standbyBehindA();
    assert.ok(b.command({ kind: 'activate' }, 1010, 7).accepted);
    const refused = b.command({ kind: 'activate' }, 1020, 8);
    assert.equal(refused.accepted, false);
    assert.equal(effectsOf(refused, 'done').length, 0, 'a refusal is answered at once, not by a done effect');
    const out = b.receive(hb('a', 'standby', 3, { grantTo: 'b', grantEpoch: 3 }), 1100);
    assert.deepEqual(effectsOf(out, 'done').map((d) => [d.id, d.command, d.ok]), [[7, 'activate', true]]);
  });

  it('confirmResume: a failover holds the runtime (before it is asked to run active); leaving Active drops the hold', () => {
    const b = standbyBehindA(ABC, { confirmResume: true });
    const out = tickUntil(b, 1025, 1000 + T.failureTimeoutMs + TICK);
    assert.equal(b.currentRole, 'active');
    const kinds = out.effects.filter((e) => e.kind === 'hold' || e.kind === 'runtime').map((e) => e.kind);
    assert.deepEqual(kinds, ['hold', 'runtime'], 'the hold comes before the runtime effect it concerns');
    assert.match(effectsOf(out, 'hold')[0]!.reason!, /^took over after a failover \(failover: no heartbeat from the Active for \d+ ms\); confirmResume is set in the domain file$/);
    const stepDown = b.receive(hb('a', 'active', 9), 2000);
    assert.deepEqual(effectsOf(stepDown, 'hold'), [{ kind: 'hold', reason: null }]);
  });

  it('confirmResume: a switchover or start-up never holds', () => {
    const a = engine('a', ABC, { confirmResume: true });
    const startup = tickUntil(a, 0, T.discoveryMs + TICK);
    assert.equal(a.currentRole, 'active');
    assert.equal(effectsOf(startup, 'hold').length, 0);
    const b = standbyBehindA(ABC, { confirmResume: true });
    b.command({ kind: 'activate' }, 1010);
    const out = b.receive(hb('a', 'standby', 3, { grantTo: 'b', grantEpoch: 3 }), 1100);
    assert.equal(b.currentRole, 'active');
    assert.equal(effectsOf(out, 'hold').length, 0);
  });
});

describe('version compatibility', () => {
  const info = (app: string, ver = '1.0.0'): NodeInfo => ({ ver, app, rev: { n: 1, t: 0, h: '0' }, sync: 'in-sync', port: 1 });

  it('a Standby whose versions differ from the Active is Inactive, not eligible, and refuses activate', () => {
    const b = standbyBehindA();
    b.receive(hb('a', 'active', 3, { info: info('1') }), 1005);
    assert.equal(b.currentRole, 'standby', 'nothing to compare before this server knows its own versions');
    const out = b.setInfo(info('2'), 1010);
    assert.equal(b.currentRole, 'inactive');
    assert.match(b.status(1010).reason, /incompatible: application version 2 here, 1 on the Active a/);
    assert.equal(b.status(1010).incompatible, 'application version 2 here, 1 on the Active a');
    assert.deepEqual(effectsOf(out, 'compatibility'), [{ kind: 'compatibility', active: 'a', incompatible: 'application version 2 here, 1 on the Active a' }]);
    assert.equal(out.send.at(-1)!.eligible, false);
    const r = b.command({ kind: 'activate' }, 1020);
    assert.equal(r.accepted, false);
    assert.match(r.message, /incompatible with the Active/);
    const aLive = (now: number) => (now % 100 === 0 ? [hb('a', 'active', 3, { info: info('1') })] : []);
    const meanwhile = tickUntil(b, 1025, 1000 + 3 * T.failureTimeoutMs, TICK, aLive);
    assert.equal(b.currentRole, 'inactive', 'never Standby while the Active it differs from is heard');
    assert.ok(meanwhile.send.every((m) => !m.eligible));
    const back = b.setInfo(info('1'), 3500);
    assert.deepEqual(effectsOf(back, 'compatibility'), [{ kind: 'compatibility', active: 'a', incompatible: null }]);
    assert.equal(b.currentRole, 'standby', 'compatible again: Standby at once');
  });

  it('a patch release is compatible (same major.minor), a minor release is not', () => {
    const b = standbyBehindA();
    b.setInfo(info('1', '1.2.4'), 1005);
    b.receive(hb('a', 'active', 3, { info: info('1', '1.2.3') }), 1010);
    assert.equal(b.status(1010).incompatible, null);
    assert.equal(b.currentRole, 'standby', 'a rolling patch upgrade changes no role');
    b.receive(hb('a', 'active', 3, { info: info('1', '1.3.0') }), 1020);
    assert.equal(b.status(1020).incompatible, 'Duplex 1.2.4 here, 1.3.0 on the Active a: servers must run the same Duplex major.minor (patch releases may differ); install 1.3.x here or upgrade every server');
    assert.equal(b.currentRole, 'inactive');
    assert.equal(duplexCompatible('1.2.3', '1.2.10'), true);
    assert.equal(duplexCompatible('1.2.3-beta.1', '1.2.0'), true);
    assert.equal(duplexCompatible('1.2.3', '1.20.3'), false);
    assert.equal(duplexCompatible('2.2.3', '1.2.3'), false);
  });

  it('no deadlock: an incompatible server whose Active goes silent becomes eligible, fails over, and accepts activate', () => {
    const b = standbyBehindA();
    b.setInfo(info('2'), 1005);
    b.receive(hb('a', 'active', 3, { info: info('1') }), 1010);
    assert.equal(b.currentRole, 'inactive');
    // a dies at 1010. At 1010 + failureTimeout it is no longer a live Active: the verdict ends.
    tickUntil(b, 1025, 1010 + T.failureTimeoutMs - TICK);
    assert.equal(b.status(1010 + T.failureTimeoutMs - TICK).incompatible, 'application version 2 here, 1 on the Active a');
    const freed = b.tick(1010 + T.failureTimeoutMs);
    assert.deepEqual(effectsOf(freed, 'compatibility'), [{ kind: 'compatibility', active: 'a', incompatible: null, activeGone: true }]);
    assert.equal(b.currentRole, 'standby');
    assert.equal(freed.send.at(-1)!.eligible, true);
    // A Standby that was compatible all along fails over now; this one waits one more failure timeout.
    tickUntil(b, 1010 + T.failureTimeoutMs + TICK, 1010 + 2 * T.failureTimeoutMs - TICK);
    assert.equal(b.currentRole, 'standby');
    const out = tickUntil(b, 1010 + 2 * T.failureTimeoutMs, 1010 + 2 * T.failureTimeoutMs + TICK);
    assert.equal(b.currentRole, 'active', 'fails over: nothing else runs the plant');
    assert.equal(roles(out).find((r) => r.kind === 'role' && r.to === 'active')!.kind === 'role' && (roles(out)[0] as { cause?: string }).cause, 'failover');
    // The old Active comes back with its versions: the higher epoch stays Active; b is judged against a again only if a wins.
    assert.ok(b.currentEpoch > 3);
  });

  it('no deadlock: activate works on an incompatible server once no Active is reachable', () => {
    const b = standbyBehindA({ a: 'main', b: 'backup', c: 'backup' });
    b.setInfo(info('2'), 1005);
    b.receive(hb('a', 'active', 3, { info: info('1') }), 1010);
    const refused = b.command({ kind: 'activate' }, 1020);
    assert.equal(refused.accepted, false);
    assert.match(refused.message, /incompatible with the Active/);
    // a falls silent; c (compatible with a) is not heard either: b is alone.
    tickUntil(b, 1025, 1010 + T.failureTimeoutMs + TICK);
    const r = b.command({ kind: 'activate' }, 1010 + T.failureTimeoutMs + 2 * TICK);
    assert.equal(r.accepted, true, r.message);
    assert.equal(b.currentRole, 'active');
  });

  it('the verdict holds through a switchover (a handover is under way), and follows the new Active', () => {
    const c = engine('c', { a: 'main', b: 'backup', c: 'backup' });
    c.setInfo(info('2'), 0);
    tickUntil(c, 0, 1000, TICK, (now) => (now % 100 === 0 ? [hb('a', 'active', 3, { info: info('1') }), hb('b', 'standby', 0, { info: info('1') })] : []));
    assert.equal(c.currentRole, 'inactive');
    // a hands over to b: deactivating, then inactive with a grant; b's first heartbeat as Active comes later.
    const feed = (now: number) => {
      if (now % 100 !== 0) return [];
      if (now < 1300) return [hb('a', 'deactivating', 3, { info: info('1') }), hb('b', 'standby', 0, { info: info('1') })];
      if (now < 1600) return [hb('a', 'inactive', 3, { info: info('1'), grantTo: 'b', grantEpoch: 3 }), hb('b', 'standby', 0, { info: info('1') })];
      return [hb('a', 'standby', 3, { info: info('1') }), hb('b', 'active', 4, { info: info('1') })];
    };
    const out = tickUntil(c, 1025, 3000, TICK, feed);
    assert.deepEqual(effectsOf(out, 'compatibility').map((e) => e.incompatible), ['application version 2 here, 1 on the Active b'], 'never compatible during the handover: only the Active named changes');
    assert.equal(roles(out).length, 0);
    assert.equal(c.status(3000).incompatible, 'application version 2 here, 1 on the Active b');
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

  it('info set by the node travels in heartbeats and shows in the peers of the receiver', () => {
    const a = activeA();
    const info = { ver: '0.1.0', app: 'x', rev: { n: 2, t: 5, h: '0123456789abcdef' }, sync: 'in-sync' as const, port: 47801 };
    const out = a.setInfo(info, 1010);
    assert.deepEqual(out.send[0]!.info, info, 'a change is sent at once');
    assert.equal(a.setInfo(info, 1011).send.length, 0, 'no change, no extra heartbeat');
    const b = standbyBehindA();
    b.receive(out.send[0]!, 1012);
    assert.deepEqual(b.status(1012).peers.find((p) => p.server === 'a')!.info, info);
  });
});

describe('health: rated failover, isolation, reported failures', () => {
  const rated = { marginPoints: 50, holdMs: 2000 };
  /** Active a (epoch 3) with Standby b sending `health`, rated failover on. */
  function ratedActive(): Engine {
    const a = engine('a', ABC, { rated });
    tickUntil(a, 0, T.discoveryMs + TICK);
    tickUntil(a, T.discoveryMs + 2 * TICK, 1000, TICK, (now) => (now % 100 === 0 ? [hb('b', 'standby', 0, { health: 255 })] : []));
    return a;
  }
  const feedB = (now: number) => (now % 100 === 0 ? [hb('b', 'standby', 0, { health: 255 })] : []);

  it('the Active hands over when its health stays below the Standby by the margin for the hold time', () => {
    const a = ratedActive();
    a.observe({ kind: 'health', score: 120, failing: 'PLC1: BadCommunicationError', isolated: null }, 1000);
    tickUntil(a, 1025, 1000 + rated.holdMs - TICK, TICK, feedB);
    assert.equal(a.currentRole, 'active', 'not before the hold time');
    tickUntil(a, 1000 + rated.holdMs, 1000 + rated.holdMs + 100, TICK, feedB);
    assert.equal(a.currentRole, 'deactivating');
    assert.match(a.status(3100).reason, /rated failover: health 120 here \(PLC1: BadCommunicationError\), 255 on b, for 2000 ms: handing over to b/);
  });

  it('a probe that flaps faster than the hold time never moves the role', () => {
    const a = ratedActive();
    for (let t = 1000; t < 9000; t += 1000) {
      a.observe({ kind: 'health', score: t % 2000 === 0 ? 120 : 255, failing: null, isolated: null }, t);
      tickUntil(a, t + TICK, t + 1000 - TICK, TICK, feedB);
    }
    assert.equal(a.currentRole, 'active');
  });

  it('no data yet (probes not answered, score 1) is not a reason to hand over', () => {
    const a = ratedActive();
    a.observe({ kind: 'health', score: 1, failing: 'no probe has reported yet', isolated: null }, 1000);
    tickUntil(a, 1025, 1000 + 3 * rated.holdMs, TICK, feedB);
    assert.equal(a.currentRole, 'active');
  });

  it('a smaller gap than the margin does not hand over', () => {
    const a = ratedActive();
    a.observe({ kind: 'health', score: 210, failing: 'disk', isolated: null }, 1000);
    tickUntil(a, 1025, 6000, TICK, feedB);
    assert.equal(a.currentRole, 'active');
  });

  it('an isolated Standby (its network or witness checks fail, no peer heard) does not promote, and says it is not eligible', () => {
    const b = standbyBehindA();
    const out = b.observe({ kind: 'health', score: 150, failing: 'witness 10.0.0.1: unreachable', isolated: 'witness 10.0.0.1: unreachable' }, 1010);
    assert.equal(out.send.at(-1)!.eligible, false);
    tickUntil(b, 1025, 1000 + 4 * T.failureTimeoutMs);
    assert.equal(b.currentRole, 'standby', 'the Active is silent, but b may be the isolated one');
    b.observe({ kind: 'health', score: 255, failing: null, isolated: null }, 5000);
    tickUntil(b, 5000, 5100);
    assert.equal(b.currentRole, 'active');
  });

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

  it('report-failure hands over to a healthy Standby, and is refused otherwise', () => {
    const a = activeA();
    assert.equal(engine('b', ABC).command({ kind: 'report-failure', reason: 'x' }, 0).accepted, false);
    const sick = activeA();
    sick.receive(hb('b', 'standby', 0, { health: 120 }), 1010);
    const r = sick.command({ kind: 'report-failure', reason: 'database lost' }, 1020);
    assert.equal(r.accepted, false);
    assert.match(r.message, /the Standby b is not healthy \(health 120\)/);
    const ok = a.command({ kind: 'report-failure', reason: 'database lost' }, 1020);
    assert.equal(ok.accepted, true);
    assert.equal(a.currentRole, 'deactivating');
    assert.match(a.status(1020).reason, /the application reported a failure \(database lost\): handing over to b/);
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

  it('a Standby that receives the release takes over at once, as a failover with a higher epoch', () => {
    const b = standbyBehindA();
    const out = b.receive(hb('a', 'inactive', 3, { eligible: false, released: 'b' }), 1010);
    assert.equal(b.currentRole, 'active');
    assert.ok(b.currentEpoch > 3);
    const role = roles(out)[0];
    assert.equal(role?.kind === 'role' && role.cause, 'failover');
    assert.match(b.status(1010).reason, /a's guardian killed its runtime and released Active term 3/);
    assert.deepEqual(effectsOf(out, 'runtime'), [{ kind: 'runtime', mode: 'active' }]);
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

  it('a fence is ignored by a server that is not Active', () => {
    const b = standbyBehindA();
    const out = b.observe({ kind: 'fenced', reason: 'x' }, 1010);
    assert.equal(b.currentRole, 'standby');
    assert.deepEqual(effectsOf(out, 'runtime'), []);
  });
});

describe('guardian: which releases count', () => {
  it('a release from a server that was not heard as the Active of that term is ignored', () => {
    const b = standbyBehindA({ a: 'main', b: 'backup', c: 'backup' });
    b.receive(hb('c', 'inactive', 3, { eligible: false, released: 'b' }), 1010);
    assert.equal(b.currentRole, 'standby');
  });

  it('a release that piled up while this process was frozen is ignored: only what arrives afterwards counts', () => {
    const b = standbyBehindA();
    b.tick(1000 + T.failureTimeoutMs); // the first tick after a freeze comes late
    b.receive(hb('a', 'inactive', 3, { eligible: false, released: 'b' }), 1000 + T.failureTimeoutMs);
    assert.equal(b.currentRole, 'standby');
  });
});

describe('after a freeze', () => {
  it('a grant that piled up while frozen is not taken; the same grant heard afterwards is', () => {
    const b = standbyBehindA();
    const woke = 1000 + T.failureTimeoutMs;
    b.tick(woke);
    b.receive(hb('a', 'standby', 3, { grantTo: 'b', grantEpoch: 3 }), woke);
    assert.notEqual(b.currentRole, 'active');
    b.receive(hb('a', 'standby', 3, { grantTo: 'b', grantEpoch: 3 }), woke + T.heartbeatIntervalMs);
    assert.equal(b.currentRole, 'active');
  });

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

  it('an activation is given up when this server turns out to be incompatible with the Active', () => {
    const b = standbyBehindA();
    assert.equal(b.command({ kind: 'activate' }, 1000).accepted, true);
    assert.equal(b.currentRole, 'activating');
    // a's heartbeats carry no versions: once b knows its own, it cannot be compared with a's.
    b.setInfo({ ver: '1.0.0', app: 'B', rev: { n: 1, t: 0, h: '0000000000000000' }, sync: 'in-sync', port: 1 }, 1010);
    assert.equal(b.currentRole, 'inactive');
  });
});
