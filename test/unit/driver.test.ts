/** The engine driver on recording ports: persist before send, a state it cannot write, one timer, answers by request id. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EngineDriver, type DriverPorts } from '../../main/node/driver';
import type { Heartbeat, PersistedState, RuntimeMode } from '../../main/engine/types';
import { engine, hb, T } from './harness';

function rig(opts: { failWrites?: boolean } = {}) {
  let failing = opts.failWrites ?? false;
  const calls: string[] = [];
  let now = 0;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  let fatal: string | null = null;
  const modes: RuntimeMode[] = [];
  const ports: DriverPorts = {
    clock: {
      now: () => now,
      wallMs: () => now,
      setTimer: (at, fn) => {
        const t = { at, fn, live: true };
        timers.push(t);
        return () => {
          t.live = false;
        };
      },
    },
    transport: { send: (m: Heartbeat) => calls.push(`send ${m.role} e${m.maxEpoch}`), rejoin: () => calls.push('rejoin') },
    runtime: {
      setMode: (mode) => {
        modes.push(mode);
        calls.push(`runtime ${mode}`);
        return Promise.resolve();
      },
      hold: () => undefined, dropHold: () => undefined, resume: () => Promise.resolve(false), held: () => null,
    },
    store: {
      write: (s: PersistedState) => {
        if (failing) throw new Error('disk full: cannot write state.json');
        calls.push(`persist e${s.epoch}`);
      },
    },
    link: { up: () => true, detail: '127.0.0.1' },
    lease: {
      renew: (notice, standbyReady) => calls.push(`renew ${notice ? `release of term ${notice.epoch}` : 'no release'}${standbyReady ? ', standby ready' : ''}`),
      fence: (why) => calls.push(`fence: ${why}`),
    },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined, file: null },
    onFatal: (m) => {
      fatal = m;
    },
  };
  const d = new EngineDriver(engine('a', { a: 'main', b: 'backup' }), ports, 'a');
  /** Runs the due timers up to `to`, as the clock would. */
  const advance = (to: number) => {
    for (;;) {
      const next = timers.filter((t) => t.live).sort((x, y) => x.at - y.at)[0];
      if (!next || next.at > to) break;
      next.live = false;
      now = next.at;
      next.fn();
    }
    now = to;
  };
  return { d, calls, timers, advance, modes, fatal: () => fatal, disk: (works: boolean) => (failing = !works) };
}

describe('engine driver', () => {
  it('persists the new epoch before the heartbeat that announces it, and keeps one timer', () => {
    const r = rig();
    r.d.start();
    r.advance(T.discoveryMs + 50);
    assert.equal(r.d.role, 'active');
    const persist = r.calls.findIndex((c) => /^persist e[1-9]/.test(c));
    const announce = r.calls.findIndex((c) => /^send active/.test(c));
    assert.ok(persist >= 0 && announce > persist, r.calls.join(', '));
    assert.deepEqual(r.modes, ['active']);
    assert.ok(r.timers.filter((t) => t.live).length <= 1, 'one tick timer at a time');
  });

  it("renews the guardian's lease after every heartbeat; the Active's renewal carries its release before its runtime goes active", () => {
    const r = rig();
    r.d.start();
    r.advance(T.discoveryMs - 50);
    const sends = r.calls.filter((c) => c.startsWith('send')).length;
    assert.ok(sends >= 3);
    assert.equal(r.calls.filter((c) => c === 'renew no release').length, sends, r.calls.join(', '));
    r.advance(T.discoveryMs + 50);
    const announce = r.calls.findIndex((c) => /^send active/.test(c));
    const renew = r.calls.findIndex((c) => /^renew release of term [1-9]/.test(c));
    const runtime = r.calls.indexOf('runtime active');
    assert.ok(announce >= 0 && renew === announce + 1 && runtime > renew, r.calls.join(', '));
    // A Standby becoming ready is told at once, without waiting for the next heartbeat.
    r.d.receive(hb('b', 'standby'));
    assert.match(r.calls.at(-1) ?? '', /^renew release of term [1-9], standby ready$/);
  });

  it('cannot write its state: sends nothing it could not keep, never runs active, keeps sending, and takes over once it can write', () => {
    const r = rig({ failWrites: true });
    r.d.start();
    r.advance(T.discoveryMs + 50);
    assert.equal(r.fatal(), null, 'the node goes on (its vote is needed)');
    assert.equal(r.calls.some((c) => /^send active/.test(c)), false, r.calls.join(', '));
    assert.equal(r.modes.includes('active'), false, 'the runtime never went active');
    assert.notEqual(r.d.role, 'active');
    assert.equal(r.d.events().some((e) => e.to === 'active'), false, 'no role change to Active was seen');
    assert.match(r.d.status().faults.join('\n'), /cannot write state on a: disk full: cannot write state\.json/);
    assert.match(r.d.verdicts()['maintenance-on'] ?? '', /cannot write its state/);
    const sent = r.calls.filter((c) => c.startsWith('send')).length;
    r.advance(T.discoveryMs + 1_000);
    assert.ok(r.calls.filter((c) => c.startsWith('send')).length > sent + 3, 'heartbeats go on');
    assert.ok(r.calls.filter((c) => c.startsWith('send')).every((c) => / e0$/.test(c)), `no epoch announced that is not on disk: ${r.calls.join(', ')}`);
    assert.equal(r.timers.filter((t) => t.live).length, 1, 'one tick timer');
    // The disk works again: the next heartbeat's write succeeds, the fault ends, and it takes the Active role.
    r.disk(true);
    r.advance(T.discoveryMs + 2_000);
    assert.equal(r.d.role, 'active');
    assert.deepEqual(r.d.status().faults, []);
    const persist = r.calls.findIndex((c) => /^persist e[1-9]/.test(c));
    const announce = r.calls.findIndex((c) => /^send active/.test(c));
    assert.ok(persist >= 0 && announce > persist, r.calls.join(', '));
    assert.deepEqual(r.modes.filter((m) => m === 'active'), ['active']);
  });

  it('answers each command by its own request id', async () => {
    const r = rig();
    r.d.start();
    r.advance(200);
    r.d.receive(hb('b', 'active', 1));
    r.advance(400);
    const first = r.d.command({ kind: 'maintenance', on: true });
    const second = r.d.command({ kind: 'maintenance', on: true });
    assert.deepEqual(await first, { ok: true, message: 'a is in Maintenance' });
    assert.deepEqual(await second, { ok: true, message: 'a is already in Maintenance' });
    const refused = await r.d.command({ kind: 'deactivate' });
    assert.equal(refused.ok, false);
    assert.match(refused.message, /only the Active can be deactivated/);
  });
});
