/** The supervisor's plan: every process kind against every mode change. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { step, wantedMode, type PlanSpec, type ProcessMode, type RunOn } from '../../main/runtime/plan';
import type { RuntimeMode } from '../../main/engine/types';

const MODES: RuntimeMode[] = ['stopped', 'standby', 'active'];

describe('supervisor plan', () => {
  it('which mode each kind of process runs in, per server mode', () => {
    const table = (['active', 'standby', 'both'] as RunOn[]).map((r) => [r, ...MODES.map((m) => wantedMode(r, m))]);
    assert.deepEqual(table, [
      ['active', null, null, 'active'],
      ['standby', null, 'standby', null],
      ['both', null, 'standby', 'active'],
    ]);
  });

  const spec = (o: Partial<PlanSpec> = {}): PlanSpec => ({ runOn: 'both', hasActivateHook: false, hasDeactivateHook: false, standbyArgsDiffer: false, ...o });
  const all: (ProcessMode | null)[] = [null, 'standby', 'active'];

  it('starts, stops and leaves alone', () => {
    for (const m of all) assert.equal(step(spec(), m, m), 'none');
    assert.equal(step(spec(), null, 'active'), 'start');
    assert.equal(step(spec(), null, 'standby'), 'start');
    assert.equal(step(spec(), 'active', null), 'stop');
    assert.equal(step(spec(), 'standby', null), 'stop');
  });

  it('moves a running process between modes: hook first, then restart for other args, else keep', () => {
    assert.equal(step(spec({ hasActivateHook: true, standbyArgsDiffer: true }), 'standby', 'active'), 'activate-hook');
    assert.equal(step(spec({ hasDeactivateHook: true, standbyArgsDiffer: true }), 'active', 'standby'), 'deactivate-hook');
    assert.equal(step(spec({ hasActivateHook: true }), 'active', 'standby'), 'keep', 'an activation hook does not demote');
    assert.equal(step(spec({ standbyArgsDiffer: true }), 'standby', 'active'), 'restart');
    assert.equal(step(spec({ standbyArgsDiffer: true, hasActivateHook: true }), 'active', 'standby'), 'restart');
    assert.equal(step(spec(), 'standby', 'active'), 'keep');
    assert.equal(step(spec(), 'active', 'standby'), 'keep');
  });
});
