/**
 * Seeded simulation of whole domains on a connected network. SIM_SEEDS sets the scale (default
 * 2000: half as many connected seeds; the chaotic ones are in chaos.test.ts, a file of their own
 * so that the two run side by side); a failure prints the seed and how to replay it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHAOS, CONNECTED, Simulation, sweep } from './simulator';

const SEEDS = Number(process.env.SIM_SEEDS ?? 2000);

describe('deterministic simulation', () => {
  it(`connected network: never two active runtimes, nor the virtual IP on two servers, during switchovers, node deaths and pauses (${Math.ceil(SEEDS / 2)} seeds)`, () => {
    const { failures, totals } = sweep(CONNECTED, Math.ceil(SEEDS / 2), 100_001);
    assert.ok(totals.switchovers > SEEDS / 2, `too few switchovers exercised: ${totals.switchovers}`);
    // The guardian must actually have fenced frozen and dead nodes, and Standbys taken over on its release.
    assert.ok(totals.fences > SEEDS / 4, `too few fences exercised: ${totals.fences}`);
    assert.ok(totals.releases > SEEDS / 8, `too few fast releases exercised: ${totals.releases}`);
    assert.ok(totals.resumes > SEEDS / 100, `too few nodes back within their lease exercised: ${totals.resumes}`);
    assert.ok(totals.vipAdds > SEEDS / 2, `too few virtual IP moves exercised: ${totals.vipAdds}`);
    assert.deepEqual(failures, [], `${failures.length} seeds broke an invariant:\n${failures.slice(0, 5).join('\n')}`);
  });

  it('the same seed replays the same run', () => {
    const a = new Simulation({ seed: 77, faults: CHAOS, trace: true });
    const b = new Simulation({ seed: 77, faults: CHAOS, trace: true });
    a.run();
    b.run();
    assert.ok(a.log.length > 20);
    assert.deepEqual(a.log, b.log);
  });
});
