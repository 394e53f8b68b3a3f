/**
 * npm run bench:failover [-- --trials 10] [-- --servers 2] [-- --soak 10] [-- --idle-only] [-- --idle-seconds 60]
 *
 * Real `duplex run` processes on loopback with default timings, a runtime stand-in on each:
 *  - failover: SIGKILL, SIGHUP, SIGSTOP of the Active's node, SIGKILL of its guardian alone, of
 *    its node and guardian together (the runtime left to die with them), and a machine crash →
 *    the Standby logs "→ active" and starts its runtime; overlaps of two active runtimes are counted;
 *  - switchover: admin-API activate on the Standby → the call returns with the new Active in place;
 *  - idle: CPU% of one core and RSS of each idle node with its guardian over 60 s, after 60 s;
 *  - soak (optional): 3 idle nodes for N minutes with both cores saturated; counts role changes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Cluster, sleep, waitFor, waitForRoles, type RunningNode } from '../test/integration/cluster';
import { loadDomain } from '../main/domain/load';
import { askNode } from '../main/node/admin-client';
import { summary } from './stats';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '10' }, soak: { type: 'string' }, 'idle-seconds': { type: 'string', default: '60' }, 'idle-only': { type: 'boolean' }, servers: { type: 'string', default: '3' } } });
/** The fault trials run with three servers (quorum: three voters), or with two (no quorum) for comparison. */
const SERVERS = values.servers === '2' ? ['a', 'b'] : ['a', 'b', 'c'];
const TRIALS = Number(values.trials);
const VICTIM = join(__dirname, '..', 'test', 'fixtures', 'victim.js');

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
  // A Standby that was frozen itself a moment ago (the SIGSTOP trials) stretches its failure
  // timeout for a while (awareness, README "Roles"); each trial starts from a settled one.
  await waitFor(`${standby}'s awareness back to 0`, 60_000, async () => ((await c.status(standby)).awareness === 0 ? true : undefined), 200);
  // With quorum a node restarted a moment ago (the last trial's victim) supports nobody, itself
  // included, until the promises of its previous run are over (at most 3.2 s): that is not
  // the failover being measured.
  if (SERVERS.length > 2) await waitFor(`${standby} settled for 3.5 s`, 60_000, async () => ((await c.status(standby)).roleForMs >= 3_500 ? true : undefined), 200);
  return [active, standby];
}

type Fault = 'SIGKILL' | 'SIGHUP' | 'SIGSTOP' | 'guardian' | 'duplex' | 'machine';

/** The pid of `server`'s guardian. */
function guardianOf(c: Cluster, server: string): number {
  return (JSON.parse(readFileSync(c.pathOf(server, 'duplex-state', server, 'guardian.json'), 'utf8')) as { pid: number }).pid;
}

/** The fault, ready to strike at once. */
async function striker(c: Cluster, fault: Fault, active: string): Promise<() => void> {
  if (fault === 'machine') return c.crasher(active);
  const guardian = guardianOf(c, active);
  if (fault === 'guardian') return () => process.kill(guardian, 'SIGKILL');
  // Node and guardian together, the node frozen first so that it cannot act on the guardian's death.
  if (fault === 'duplex') {
    return () => {
      c.kill(active, 'SIGSTOP');
      process.kill(guardian, 'SIGKILL');
      c.kill(active, 'SIGKILL');
    };
  }
  return () => c.kill(active, fault);
}

interface FaultFigures {
  role: number[];
  runtime: number[];
  /** Milliseconds two runtimes ran in active mode at once, per trial (0 when they never did). */
  overlap: number[];
  released: number;
}

/**
 * One kind of fault on the Active, `TRIALS` times: SIGKILL / SIGHUP / SIGSTOP (3 s) of its node,
 * or a machine crash (node, guardian and runtime killed at once). Measured from the fault to the
 * Standby's "→ active" and to its runtime started in active mode; the runtime stand-in records
 * any overlap of two active runtimes in the ledger.
 */
async function faults(c: Cluster, fault: Fault, ledger: string): Promise<FaultFigures> {
  const out: FaultFigures = { role: [], runtime: [], overlap: [], released: 0 };
  for (let i = 0; i < TRIALS; i++) {
    const [active, standby] = await activeAndStandby(c);
    await sleep(300 + Math.random() * 200);
    const node = c.nodes.get(standby)!;
    const promoted = whenLogged(node, /role: \w+ → active/);
    const started = whenLogged(node, /runtime: started \S+ .* in active mode/);
    const before = new Set(readdirSync(ledger));
    const strike = await striker(c, fault, active);
    const t0 = performance.now();
    strike();
    const [t1, t2] = await Promise.all([promoted, started].map((p) => Promise.race([p, sleep(10_000).then(() => NaN)])));
    if (Number.isNaN(t1!) || Number.isNaN(t2!)) throw new Error(`${fault} trial ${i}: ${standby} did not take over within 10 s`);
    out.role.push(t1! - t0);
    out.runtime.push(t2! - t0);
    const reason = (await c.status(standby)).events.filter((e) => e.to === 'active').at(-1)?.reason ?? '';
    if (/released Active term/.test(reason)) out.released += 1;
    await sleep(300); // an overlap is measured until the older runtime is gone
    const overlaps = readdirSync(ledger).filter((f) => f.startsWith('overlap-') && !before.has(f));
    out.overlap.push(Math.max(0, ...overlaps.map((f) => (JSON.parse(readFileSync(join(ledger, f), 'utf8')) as { ms: number | null }).ms ?? Infinity)));
    if (fault === 'SIGSTOP') {
      await sleep(Math.max(0, 3_000 - (performance.now() - t0)));
      c.kill(active, 'SIGCONT');
    } else {
      await c.nodes.get(active)!.exited;
      c.start(active);
    }
    await waitForRoles(c, { [active]: 'standby', [standby]: 'active' }, 15_000);
  }
  return out;
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

/**
 * CPU time (ns) and RSS of a process. The time is the sum of its threads' run time as the
 * scheduler counts it (`/proc/<pid>/task/<tid>/schedstat`), exact to the nanosecond: the 10 ms ticks
 * of utime + stime mis-attribute short, timer-aligned bursts such as a heartbeat's, and differed
 * from it by up to half a percent of a core here.
 */
function usage(pid: number): { cpuNs: number; rssKb: number } {
  const cpuNs = readdirSync(`/proc/${pid}/task`).reduce((sum, t) => sum + Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]), 0);
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuNs, rssKb: Number(rss?.[1] ?? 0) };
}

async function idle(seconds: number): Promise<{ cpu: number[]; rssMb: number[] }> {
  const c = new Cluster(['a', 'b', 'c']);
  c.startAll();
  try {
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
    // Past start-up: V8 goes on compiling and optimising for about a minute (measured right
    // after start, the same nodes use about a third more CPU), and the first awareness decay.
    await sleep(60_000);
    // Each server is its node and its guardian together.
    const guardians = [...c.nodes.keys()].map((s) => (JSON.parse(readFileSync(c.pathOf(s, 'duplex-state', s, 'guardian.json'), 'utf8')) as { pid: number }).pid);
    const pairs = [...c.nodes.values()].map((n, i) => [n.proc.pid!, guardians[i]!]);
    const stat = () => pairs.map(([a, b]) => {
      const x = usage(a!);
      const y = usage(b!);
      return { cpuNs: x.cpuNs + y.cpuNs, rssKb: x.rssKb + y.rssKb };
    });
    const cpu: number[] = [];
    const rssMb: number[] = [];
    let prev = stat();
    let prevT = performance.now();
    // 10-second windows.
    for (let s = 0; s < seconds; s += 10) {
      await sleep(10_000);
      const now = stat();
      const dt = (performance.now() - prevT) / 1000;
      now.forEach((st, i) => {
        cpu.push(((st.cpuNs - prev[i]!.cpuNs) / 1e9 / dt) * 100);
        rssMb.push(st.rssKb / 1024);
      });
      prev = now;
      prevT = performance.now();
    }
    const names = [...c.nodes.keys()];
    for (let i = 0; i < names.length; i++) {
      const mine = cpu.filter((_, k) => k % names.length === i);
      process.stdout.write(`  idle ${names[i]}: CPU ${mine.map((v) => v.toFixed(1)).join(' ')} % per 10 s window\n`);
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
  if (values['idle-only']) return report(await idle(Number(values['idle-seconds'])));
  process.stdout.write(`bench:failover — ${TRIALS} trials each, default timings, ${SERVERS.length} servers (${SERVERS.length >= 3 ? 'quorum' : 'no quorum'}), real processes on loopback multicast\n`);
  const ledger = mkdtempSync(join(tmpdir(), 'duplex-bench-ledger-'));
  const c = new Cluster(SERVERS, { runtime: { processes: [{ name: 'scada', command: process.execPath, args: [VICTIM, '--ledger', ledger] }] } });
  c.startAll();
  try {
    await waitForRoles(c, { a: 'active', b: 'standby', ...(SERVERS.length > 2 ? { c: 'inactive' } : {}) }, 10_000);
    const labels: Record<Fault, string> = {
      SIGKILL: 'node SIGKILL (fast release)', SIGHUP: 'node SIGHUP (clean stop)', SIGSTOP: 'node SIGSTOP 3 s (lease)',
      guardian: 'guardian SIGKILL alone (the node releases)', duplex: 'node+guardian SIGKILL (the runtime dies with them)', machine: 'machine crash (node+guardian+runtime)',
    };
    for (const fault of ['SIGKILL', 'SIGHUP', 'SIGSTOP', 'guardian', 'duplex', 'machine'] as const) {
      const f = await faults(c, fault, ledger);
      process.stdout.write(`${summary(`${labels[fault]} → new Active`, f.role, 'ms')}\n`);
      process.stdout.write(`${summary(`${labels[fault]} → its runtime started`, f.runtime, 'ms')}\n`);
      process.stdout.write(`  ${fault}: two active runtimes at once in ${f.overlap.filter((v) => v > 0).length} of ${f.overlap.length} trials (longest ${Math.max(...f.overlap).toFixed(0)} ms); took over on the release in ${f.released} of ${f.overlap.length}\n`);
    }
    const s = await switchovers(c);
    process.stdout.write(`${summary('switchover (activate → new Active)', s, 'ms')}\n`);
  } finally {
    await c.stop();
    rmSync(ledger, { recursive: true, force: true });
  }
  if (SERVERS.length > 2) report(await idle(Number(values['idle-seconds']))); // idle cost is measured on the usual three
}

function report(i: { cpu: number[]; rssMb: number[] }): void {
  process.stdout.write(`${summary(`idle node+guardian CPU (% of one core, ${values['idle-seconds']} s)`, i.cpu, '%', 2)}\n`);
  process.stdout.write(`${summary('idle node+guardian RSS', i.rssMb, 'MB', 1)}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`bench failed: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
