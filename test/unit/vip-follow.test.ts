/**
 * The virtual IP beside the runtime on the node's side (main/vip/follow.ts): in what order the
 * VIP and the runtime's mode change, and what status and the log say when the VIP cannot move.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { RuntimeMode } from '../../main/engine/types';
import type { RuntimeControl } from '../../main/node/ports';
import type { Logger } from '../../main/util/logger';
import { VipRuntime } from '../../main/vip/follow';
import type { VipPlan, VipResult } from '../../main/vip/holder';

const PLAN: VipPlan = { vip: { address: '10.20.0.100', prefix: 24 }, card: 'eth0' };

/** A runtime and a guardian that write what they are asked, and when the guardian is done, in order; each answer comes a tick later. */
function world(opts: { vipFails?: string; held?: string } = {}) {
  const did: string[] = [];
  const errors: string[] = [];
  let hold: string | null = opts.held ?? null;
  const later = <T>(v: T) => new Promise<T>((r) => setImmediate(() => r(v)));
  const runtime: RuntimeControl = {
    setMode: (mode: RuntimeMode) => {
      did.push(`runtime ${mode}`);
      return later(undefined);
    },
    hold: (reason) => (hold = reason),
    dropHold: () => (hold = null),
    resume: () => {
      const was = hold !== null;
      hold = null;
      did.push('runtime resumed');
      return later(was);
    },
    held: () => hold,
  };
  const owner = {
    holdVip: (on: boolean): Promise<VipResult> => {
      did.push(`vip ${on ? 'add' : 'remove'}`);
      return later(opts.vipFails && on ? { ok: false, message: opts.vipFails } : { ok: true, message: 'done' }).then((r) => {
        did.push(`vip ${on ? 'add' : 'remove'} done`);
        return r;
      });
    },
  };
  const log: Logger = { info: () => undefined, warn: () => undefined, error: (_e, detail) => errors.push(detail), file: null };
  const vr = new VipRuntime(runtime, owner, PLAN, '10.20.0.100/24', log);
  return { vr, did, errors };
}

describe('the virtual IP beside the runtime', () => {
  it('Active: the VIP is added before the runtime is asked for active mode; any other mode: removed before the runtime leaves it', async () => {
    const { vr, did } = world();
    await vr.setMode('active');
    assert.deepEqual(did, ['vip add', 'vip add done', 'runtime active']);
    assert.equal(vr.vip?.held, true);
    did.length = 0;
    await vr.setMode('standby');
    assert.deepEqual(did, ['vip remove', 'vip remove done', 'runtime standby']);
    assert.equal(vr.vip?.held, false);
  });

  it('a stop asked while the VIP is still being added waits for the add, removes the VIP, and the runtime is never asked for active mode after it', async () => {
    const { vr, did } = world();
    const active = vr.setMode('active');
    const stopped = vr.setMode('stopped');
    await Promise.all([active, stopped]);
    assert.deepEqual(did, ['vip add', 'vip add done', 'vip remove', 'vip remove done', 'runtime stopped']);
    assert.equal(vr.vip?.held, false);
  });

  it('modes asked one after the other, each after the last completed, all reach the runtime in order', async () => {
    const { vr, did } = world();
    await vr.setMode('standby');
    await vr.setMode('active');
    await vr.setMode('stopped');
    assert.deepEqual(did, ['runtime standby', 'vip add', 'vip add done', 'runtime active', 'vip remove', 'vip remove done', 'runtime stopped']);
  });

  it('a VIP that cannot be added does not keep the runtime from starting; status and the log say which command failed', async () => {
    const { vr, did, errors } = world({ vipFails: 'ip address add 10.20.0.100/24 dev eth0 label eth0:dx failed: RTNETLINK answers: Operation not permitted' });
    await vr.setMode('active');
    assert.deepEqual(did, ['vip add', 'vip add done', 'runtime active']);
    assert.deepEqual(vr.vip, { address: '10.20.0.100/24', card: 'eth0', held: false, error: 'ip address add 10.20.0.100/24 dev eth0 label eth0:dx failed: RTNETLINK answers: Operation not permitted' });
    assert.deepEqual(errors, ['could not add 10.20.0.100/24 on eth0: ip address add 10.20.0.100/24 dev eth0 label eth0:dx failed: RTNETLINK answers: Operation not permitted']);
  });

  it('a runtime held for a technician gets no VIP until Resume; then the VIP comes first, then the runtime', async () => {
    const { vr, did } = world({ held: 'crash loop' });
    await vr.setMode('active');
    assert.deepEqual(did, ['runtime active']);
    assert.equal(vr.vip?.held, false);
    assert.equal(await vr.resume(), true);
    assert.deepEqual(did, ['runtime active', 'vip add', 'vip add done', 'runtime resumed']);
    assert.equal(vr.vip?.held, true);
  });

  it('a Resume whose node steps down meanwhile leaves no VIP behind', async () => {
    const { vr, did } = world({ held: 'crash loop' });
    await vr.setMode('active');
    const resumed = vr.resume();
    const standby = vr.setMode('standby');
    await Promise.all([resumed, standby]);
    assert.equal(vr.vip?.held, false, did.join(', '));
    // Asked before the step-down, in turn: added, then removed before the runtime leaves active mode.
    assert.deepEqual(did, ['runtime active', 'vip add', 'vip add done', 'runtime resumed', 'vip remove', 'vip remove done', 'runtime standby']);
  });

  it('a Resume asked after the node stepped down adds no VIP', async () => {
    const { vr, did } = world({ held: 'crash loop' });
    await vr.setMode('active');
    await vr.setMode('standby');
    await vr.resume();
    assert.equal(vr.vip?.held, false);
    assert.ok(!did.includes('vip add'), did.join(', '));
  });
});
