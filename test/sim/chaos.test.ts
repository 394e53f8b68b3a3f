/**
 * Seeded simulation of whole domains in chaos. SIM_SEEDS sets how many seeds (default 2000); a
 * failure prints the seed and how to replay it. A file of its own, beside sim.test.ts, so that
 * the suite runs the two side by side.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CHAOS, sweep } from './simulator';

const SEEDS = Number(process.env.SIM_SEEDS ?? 2000);

describe('deterministic simulation in chaos', () => {
  it(`chaos: loss, delay, duplication, partitions, pauses, crashes, lost links and commands (${SEEDS} seeds)`, () => {
    const { failures, totals } = sweep(CHAOS, SEEDS, 1);
    // The runs must have exercised what they claim to check.
    assert.ok(totals.failovers > SEEDS, `too few failovers exercised: ${totals.failovers}`);
    assert.ok(totals.switchovers > SEEDS / 2, `too few switchovers exercised: ${totals.switchovers}`);
    assert.ok(totals.incompatible > SEEDS / 5, `too few version mismatches exercised: ${totals.incompatible}`);
    assert.ok(totals.diskFailures > SEEDS / 100, `too few failed state writes exercised: ${totals.diskFailures}`);
    assert.ok(totals.crashLoopHandovers > SEEDS / 5, `too few crash-loop handovers exercised: ${totals.crashLoopHandovers}`);
    assert.deepEqual(failures, [], `${failures.length} seeds broke an invariant:\n${failures.slice(0, 5).join('\n')}`);
  });
});
