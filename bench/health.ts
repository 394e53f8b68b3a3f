/**
 * npm run bench:health [-- --trials 10] [-- --hold 5000]
 *
 * Two servers on loopback, each probing its own "PLC" (an OPC UA server run here) with the
 * default probe interval (1 s) and timeout (2 s). The Active's PLC is stopped; the figure is
 * the time until the Standby is Active — the probe noticing, the rated failover's hold time
 * (default 5 s), then the switchover.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Cluster, waitFor, waitForRoles } from '../test/integration/cluster';
import { FakePlc } from '../test/fixtures/plc';
import { summary } from './stats';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '10' }, hold: { type: 'string', default: '5000' } } });
const TRIALS = Number(values.trials);
const HOLD = Number(values.hold);

async function trial(): Promise<number> {
  const port = () => 21_000 + Math.floor(Math.random() * 30_000);
  const plcA = new FakePlc(port());
  const plcB = new FakePlc(port());
  await Promise.all([plcA.start(), plcB.start()]);
  const probe = (name: string, server: string, plc: FakePlc) => ({ name, kind: 'opcua', endpoint: plc.endpoint, nodeId: FakePlc.NODE, requireChange: true, servers: [server] });
  const c = new Cluster(['a', 'b'], { extra: `probes: ${JSON.stringify([probe('plc-a', 'a', plcA), probe('plc-b', 'b', plcB)])}\nhealth: { holdMs: ${HOLD} }` });
  try {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby' }, 15_000);
    await waitFor('both healthy', 20_000, async () => ((await c.status('a')).health.score === 255 && (await c.status('b')).health.score === 255 ? true : undefined), 100);
    const t0 = performance.now();
    await plcA.stop();
    await waitFor('b Active', 60_000, async () => ((await c.status('b')).role === 'active' ? true : undefined), 20);
    return performance.now() - t0;
  } finally {
    await c.stop();
    await Promise.all([plcA.stop(), plcB.stop()]);
  }
}

async function main(): Promise<void> {
  process.stdout.write(`bench:health — ${TRIALS} trials, probe every 1 s (timeout 2 s), rated failover hold ${HOLD} ms\n`);
  const times: number[] = [];
  for (let i = 0; i < TRIALS; i++) times.push(await trial());
  process.stdout.write(`${summary('PLC lost on Active → Standby Active', times, 'ms')}\n`);
}

void main();
