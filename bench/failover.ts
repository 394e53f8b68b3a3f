/**
 * npm run bench:failover [-- --trials 20] [-- --soak 10]
 *
 * Real `duplex run` processes on loopback with default timings:
 *  - failover: SIGKILL of the Active → the Standby logs "→ active";
 *  - switchover: admin-API activate on the Standby → the call returns with the new Active in place;
 *  - idle: CPU% of one core and RSS of each idle node over 30 s;
 *  - soak (optional): 3 idle nodes for N minutes with both cores saturated; counts role changes.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Cluster, sleep, waitForRoles, type RunningNode } from '../test/integration/cluster';
import { loadDomain } from '../main/domain/load';
import { askNode } from '../main/node/admin-client';
import { summary } from './stats';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '20' }, soak: { type: 'string' }, 'idle-seconds': { type: 'string', default: '30' } } });
const TRIALS = Number(values.trials);

/** Resolves with performance.now() when `node` prints a line matching `re`. */
function whenLogged(node: RunningNode, re: RegExp): Promise<number> {
  return new Promise((resolveLine) => {
    const onData = (b: Buffer) => {
      if (re.test(b.toString('utf8'))) {
        const t = performance.now();
        node.proc.stdout!.off('data', onData);
        resolveLine(t);
      }
    };
    node.proc.stdout!.on('data', onData);
  });
}

async function activeAndStandby(c: Cluster): Promise<[string, string]> {
  const r = await c.roles();
  const active = Object.keys(r).find((s) => r[s] === 'active');
  const standby = Object.keys(r).find((s) => r[s] === 'standby');
  if (!active || !standby) throw new Error(`no Active/Standby pair: ${JSON.stringify(r)}`);
  return [active, standby];
}

async function failovers(c: Cluster): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const [active, standby] = await activeAndStandby(c);
    await sleep(300 + Math.random() * 200);
    const promoted = whenLogged(c.nodes.get(standby)!, new RegExp(`role: \\w+ → active`));
    const t0 = performance.now();
    c.kill(active, 'SIGKILL');
    const t1 = await Promise.race([promoted, sleep(10_000).then(() => NaN)]);
    if (Number.isNaN(t1)) throw new Error(`trial ${i}: ${standby} did not take over within 10 s`);
    times.push(t1 - t0);
    await c.nodes.get(active)!.exited;
    c.start(active);
    await waitForRoles(c, { [active]: 'standby', [standby]: 'active' }, 10_000);
  }
  return times;
}

async function switchovers(c: Cluster): Promise<number[]> {
  const times: number[] = [];
  const domain = loadDomain(c.file);
  for (let i = 0; i < TRIALS; i++) {
    const [, standby] = await activeAndStandby(c);
    await sleep(200);
    const t0 = performance.now();
    const r = await askNode(domain, standby, 'POST', '/command', { kind: 'activate' });
    const t1 = performance.now();
    if (r.status !== 200) throw new Error(`switchover ${i} failed: ${JSON.stringify(r.body)}`);
    times.push(t1 - t0);
  }
  return times;
}

function procStat(pid: number): { cpuTicks: number; rssKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuTicks, rssKb: Number(rss?.[1] ?? 0) };
}

async function idle(seconds: number): Promise<{ cpu: number[]; rssMb: number[] }> {
  const c = new Cluster(['a', 'b', 'c']);
  c.startAll();
  try {
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
    await sleep(10_000); // past start-up compilation and the first awareness decay
    const pids = [...c.nodes.values()].map((n) => n.proc.pid!);
    const cpu: number[] = [];
    const rssMb: number[] = [];
    let prev = pids.map(procStat);
    let prevT = performance.now();
    // 5-second windows: the kernel counts CPU in 10 ms ticks, too coarse for 1-second samples.
    for (let s = 0; s < seconds; s += 5) {
      await sleep(5_000);
      const now = pids.map(procStat);
      const dt = (performance.now() - prevT) / 1000;
      now.forEach((st, i) => {
        cpu.push(((st.cpuTicks - prev[i]!.cpuTicks) / 100 / dt) * 100); // CLK_TCK = 100
        rssMb.push(st.rssKb / 1024);
      });
      prev = now;
      prevT = performance.now();
    }
    const names = [...c.nodes.keys()];
    for (let i = 0; i < names.length; i++) {
      const mine = cpu.filter((_, k) => k % names.length === i);
      process.stdout.write(`  idle ${names[i]}: CPU ${mine.map((v) => v.toFixed(1)).join(' ')} % per 5 s window\n`);
    }
    return { cpu, rssMb };
  } finally {
    await c.stop();
  }
}

async function soak(minutes: number): Promise<void> {
  const c = new Cluster(['a', 'b', 'c']);
  c.startAll();
  const burners = [0, 1].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  try {
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 20_000);
    const before = [...c.nodes.values()].map((n) => n.output.filter((l) => / role: /.test(l)).length);
    process.stdout.write(`soak: ${minutes} min, 3 idle nodes, 2 busy loops saturating both cores...\n`);
    let maxAwareness = 0;
    const end = Date.now() + minutes * 60_000;
    while (Date.now() < end) {
      await sleep(5_000);
      for (const st of (await c.sample()).values()) maxAwareness = Math.max(maxAwareness, st?.awareness ?? 0);
    }
    const changes = [...c.nodes.values()].map((n, i) => n.output.filter((l) => / role: /.test(l)).slice(before[i]));
    const total = changes.reduce((n, l) => n + l.length, 0);
    process.stdout.write(`soak result: ${total} role changes in ${minutes} min under full CPU load (highest awareness seen: ${maxAwareness})\n`);
    for (const l of changes.flat()) process.stdout.write(`  ${l}\n`);
  } finally {
    for (const b of burners) b.kill('SIGKILL');
    await c.stop();
  }
}

async function main(): Promise<void> {
  if (values.soak) return soak(Number(values.soak));
  process.stdout.write(`bench:failover — ${TRIALS} trials each, default timings, real processes on loopback multicast\n`);
  const c = new Cluster(['a', 'b', 'c']);
  c.startAll();
  try {
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
    const f = await failovers(c);
    process.stdout.write(`${summary('failover (SIGKILL → new Active)', f, 'ms')}\n`);
    const s = await switchovers(c);
    process.stdout.write(`${summary('switchover (activate → new Active)', s, 'ms')}\n`);
  } finally {
    await c.stop();
  }
  const idleSeconds = Number(values['idle-seconds']);
  const i = await idle(idleSeconds);
  process.stdout.write(`${summary(`idle node CPU (% of one core, ${idleSeconds} s)`, i.cpu, '%', 2)}\n`);
  process.stdout.write(`${summary('idle node RSS', i.rssMb, 'MB', 1)}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
