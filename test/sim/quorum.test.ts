/**
 * Seeded simulation of domains with quorum (3 to 5 voters, witnesses among them). SIM_SEEDS
 * sets the scale as in sim.test.ts (default 2000: 1000 seeds with partitions of every shape,
 * 250 of long clean partitions); a failure prints the seed and how to replay it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAJORITY, QUORUM, sweep } from './simulator';

const SEEDS = Number(process.env.SIM_SEEDS ?? 2000);

describe('deterministic simulation with quorum', () => {
  it(`quorum: never two active runtimes, nor the virtual IP on two servers, in partitions of every shape, with loss, pauses, crashes and commands (${Math.ceil(SEEDS / 2)} seeds)`, () => {
    const { failures, totals } = sweep(QUORUM, Math.ceil(SEEDS / 2), 200_001);
    // Cut-off Actives must actually have lost the majority's support and been fenced for it.
    assert.ok(totals.quorumFences > SEEDS / 8, `too few fences for lost quorum exercised: ${totals.quorumFences}`);
    assert.ok(totals.failovers > SEEDS / 4, `too few failovers exercised: ${totals.failovers}`);
    // The virtual IP moved with the runtime (never on two servers is checked at every step).
    assert.ok(totals.vipAdds > SEEDS / 2, `too few virtual IP moves exercised: ${totals.vipAdds}`);
    // Voters whose disk was full went on voting (within the promise kept on disk), and restarted meanwhile.
    assert.ok(totals.diskFailures > SEEDS / 20, `too few failed state writes exercised: ${totals.diskFailures}`);
    assert.ok(totals.unkeptVotes > SEEDS / 20, `too few votes given by voters that could not write exercised: ${totals.unkeptVotes}`);
    assert.ok(totals.unkeptRestarts > SEEDS / 400, `too few restarts of voters that could not write exercised: ${totals.unkeptRestarts}`);
    assert.deepEqual(failures, [], `${failures.length} seeds broke an invariant:\n${failures.slice(0, 5).join('\n')}`);
  });

  it(`quorum: the majority side of a partition has an Active within the failover bound (${Math.ceil(SEEDS / 8)} seeds)`, () => {
    const { failures, totals } = sweep(MAJORITY, Math.ceil(SEEDS / 8), 300_001);
    assert.ok(totals.quorumFences > SEEDS / 40, `too few fences for lost quorum exercised: ${totals.quorumFences}`);
    assert.deepEqual(failures, [], `${failures.length} seeds broke an invariant:\n${failures.slice(0, 5).join('\n')}`);
  });
});
