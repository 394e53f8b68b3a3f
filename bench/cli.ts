/**
 * `npm run bench:cli [-- --runs 20]`: wall time and peak RSS of `duplex status --json` against
 * a running node, beside `node -e 0`, on the same machine in one run.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Cluster, CLI, waitForRoles } from '../test/integration/cluster';
import { percentile, summary } from './stats';

function measure(args: string[], runs: number): { ms: number[]; rssMB: number[] } {
  const ms: number[] = [];
  const rssMB: number[] = [];
  for (let i = 0; i < runs; i++) {
    // /usr/bin/time is not everywhere: the child's peak RSS comes from Node itself.
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, ['--require', require.resolve('./rss-report'), ...args], { encoding: 'utf8' });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
    const m = /DUPLEX_RSS_KB=(\d+)/.exec(r.stderr);
    rssMB.push(m ? Number(m[1]) / 1024 : NaN);
  }
  return { ms, rssMB };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
  const runs = Number(values.runs);
  const c = new Cluster(['a', 'b']);
  try {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby' }, 15_000);
    const base = measure(['-e', '0'], runs);
    const cli = measure([CLI, 'status', '--json', '--domain', c.file, '--server', 'a'], runs);
    console.log(summary('node -e 0', base.ms, 'ms'));
    console.log(summary('node -e 0 RSS', base.rssMB, 'MB', 1));
    console.log(summary('duplex status --json', cli.ms, 'ms'));
    console.log(summary('duplex status --json RSS', cli.rssMB, 'MB', 1));
    console.log(`ratio of medians: ${(percentile(cli.ms, 50) / percentile(base.ms, 50)).toFixed(2)} × node -e 0`);
  } finally {
    await c.stop();
  }
}

void main();
