/**
 * Replays one simulation seed with a full trace:
 *   SIM_SEED=123 [SIM_FAULTS=connected|quorum|majority] node out/test/sim/replay.js
 */
import { CHAOS, CONNECTED, MAJORITY, QUORUM, Simulation, Violation } from './simulator';

const seed = Number(process.env.SIM_SEED ?? process.argv[2] ?? 1);
// Seeds of the connected class in sim.test.ts start at 100001, those of quorum.test.ts at 200001 and 300001.
const named = { connected: CONNECTED, quorum: QUORUM, majority: MAJORITY, chaos: CHAOS }[process.env.SIM_FAULTS ?? ''];
const faults = named ?? (seed > 300_000 ? MAJORITY : seed > 200_000 ? QUORUM : seed > 100_000 ? CONNECTED : CHAOS);
const sim = new Simulation({ seed, faults, trace: process.env.SIM_TRACE !== '0' });
process.stdout.write(`seed ${seed}: ${sim.describe()}\n`);
try {
  sim.run();
  process.stdout.write(`${sim.log.join('\n')}\nseed ${seed} passed: ${JSON.stringify(sim.stats)}\n`);
} catch (e) {
  process.stdout.write(`${sim.log.join('\n')}\n`);
  if (e instanceof Violation) {
    process.stdout.write(`VIOLATION ${e.message}\n`);
    process.exitCode = 1;
  } else throw e;
}
