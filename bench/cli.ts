/**
 * `npm run bench:cli [-- --runs 20]`: wall time and peak RSS of `duplex status --json` against
 * a running node, beside `node -e 0`, on the same machine in one run; then, on a three-server
 * domain, the operator's view: `duplex status --all --json` (every server's status through one
 * node), a switchover of another server relayed by a node (`duplex activate --server X --via a`),
 * `--timeout 1000` against a frozen node, and one Prometheus scrape.
 */
import { spawnSync } from 'node:child_process';
import { get } from 'node:http';
import { parseArgs } from 'node:util';
import { Cluster, CLI, waitForRoles } from '../test/integration/cluster';
import { percentile, summary } from './stats';

/** Wall time of one CLI run and its exit code. */
function timed(args: string[]): { ms: number; code: number | null } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, code: r.status };
}

function scrape(url: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolveScrape, reject) => {
    get(url, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolveScrape(Number(process.hrtime.bigint() - t0) / 1e6) : reject(new Error(`scrape answered ${res.statusCode}`))));
    }).on('error', reject);
  });
}

async function operatorsView(runs: number): Promise<void> {
  const c = new Cluster(['a', 'b', 'c'], { separate: true, extra: 'metrics: { port: 0, address: 127.0.0.1 }' });
  try {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 15_000);
    const d = (s: string) => ['--domain', c.fileOf(s)];
    const all: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = timed(['status', '--all', '--json', ...d('a'), '--server', 'a']);
      if (r.code !== 0) throw new Error('status --all failed');
      all.push(r.ms);
    }
    console.log(summary('duplex status --all --json (3 servers, via a)', all, 'ms'));
    // Switchovers back and forth, each asked on a for the other two.
    const relayed: number[] = [];
    for (let i = 0; i < runs; i++) {
      const target = i % 2 === 0 ? 'b' : 'a';
      const r = timed(['activate', ...d('c'), '--server', target, '--via', 'c']);
      if (r.code !== 0) throw new Error(`relayed activate of ${target} failed`);
      relayed.push(r.ms);
      await waitForRoles(c, { [target]: 'active' }, 10_000);
    }
    console.log(summary('duplex activate --server X --via c (relayed switchover, CLI wall time)', relayed, 'ms'));
    const url = (await c.status('a')).metrics!.url;
    const scrapes: number[] = [];
    for (let i = 0; i < runs * 5; i++) scrapes.push(await scrape(url));
    console.log(summary('GET /metrics', scrapes, 'ms', 2));
    c.kill('c', 'SIGSTOP');
    const frozen: number[] = [];
    try {
      for (let i = 0; i < Math.min(runs, 10); i++) {
        const r = timed(['status', ...d('c'), '--server', 'c', '--timeout', '1000']);
        if (r.code !== 3) throw new Error(`status of a frozen node exited ${r.code}, not 3`);
        frozen.push(r.ms);
      }
    } finally {
      c.kill('c', 'SIGCONT');
    }
    console.log(summary('duplex status --timeout 1000, node frozen (exit 3)', frozen, 'ms'));
  } finally {
    await c.stop();
  }
}

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
  await operatorsView(runs);
}

void main();
