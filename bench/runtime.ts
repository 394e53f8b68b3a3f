/**
 * npm run bench:runtime [-- --trials 10]
 *
 * Real nodes with the test runtime on loopback, default restart policy (1 s, doubling;
 * 3 exits in 60 s = crash loop). Each trial uses a fresh two-server domain:
 *  - local restart: SIGKILL of the Active's runtime → its runtime running again;
 *  - crash loop: runtime first started on the Active (which crashes it every time) →
 *    the Standby's runtime running in active mode.
 */
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster, sleep, waitFor, waitForRoles } from '../test/integration/cluster';
import { summary } from './stats';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '10' } } });
const TRIALS = Number(values.trials);
const VICTIM = join(__dirname, '..', 'test', 'fixtures', 'victim.js');

async function localRestart(): Promise<number> {
  const c = new Cluster(['a', 'b'], { runtime: { processes: [{ name: 'victim', command: process.execPath, args: [VICTIM] }] } });
  c.startAll();
  try {
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
    const pid = await waitFor('the runtime', 5_000, async () => (await c.process('a')).pid ?? undefined, 10);
    await sleep(300);
    const t0 = performance.now();
    process.kill(pid, 'SIGKILL');
    await waitFor('the runtime to run again', 10_000, async () => {
      const r = await c.process('a');
      return r.state === 'running' && r.pid !== pid ? true : undefined;
    }, 10);
    return performance.now() - t0;
  } finally {
    await c.stop();
  }
}

async function crashLoop(): Promise<number> {
  const c = new Cluster(['a', 'b'], { runtime: { processes: [{ name: 'victim', command: process.execPath, args: [VICTIM, '--crash-on', 'a'] }] } });
  c.startAll();
  try {
    const t0 = await waitFor('a to start its runtime', 10_000, async () => ((await c.process('a')).restarts === 0 && (await c.status('a')).role === 'active' ? performance.now() : undefined), 10);
    await waitFor('b to run the runtime as Active', 30_000, async () => {
      const s = await c.status('b');
      return s.role === 'active' && s.runtime.processes[0]!.state === 'running' ? true : undefined;
    }, 10);
    return performance.now() - t0;
  } finally {
    await c.stop();
  }
}

async function main(): Promise<void> {
  process.stdout.write(`bench:runtime — ${TRIALS} trials each, fresh two-server domain per trial\n`);
  const restart: number[] = [];
  for (let i = 0; i < TRIALS; i++) restart.push(await localRestart());
  process.stdout.write(`${summary('local restart (SIGKILL → running)', restart, 'ms')}\n`);
  const loop: number[] = [];
  for (let i = 0; i < TRIALS; i++) loop.push(await crashLoop());
  process.stdout.write(`${summary('crash loop → Standby runs it active', loop, 'ms')}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
