/**
 * npm run bench:partition [-- --trials 5] [-- --loss-minutes 5]
 *
 * Real `duplex run` processes in network namespaces (root, iproute2 and nftables), default
 * timings, a runtime stand-in on each server that records any time two of them run in active
 * mode at once. Three domains side by side: three servers (main, backup, inactive), two
 * servers with a witness, and two servers alone (no quorum: today's behaviour, for comparison).
 * For each partition scenario: milliseconds of two runtimes at once, time from the cut to the
 * new Active, and moves of the Active role (median and p99 of the trials). Then random loss on
 * every link: moves of the Active role in each minute. Last, three servers on two networks:
 * one network cut at a time (`--networks-only` runs just that).
 */
import { parseArgs } from 'node:util';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from '../test/integration/cluster';
import { canRunNetns, NsDomain } from '../test/integration/netns';
import { percentile } from './stats';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '5' }, 'loss-minutes': { type: 'string', default: '5' }, 'networks-only': { type: 'boolean' } } });
const TRIALS = Number(values.trials);
const LOSS_MINUTES = Number(values['loss-minutes']);

interface Shape {
  name: string;
  d: NsDomain;
  third: string | null;
}

interface Trial {
  overlapMs: number;
  toActiveMs: number | null;
  moves: number;
}

const fmt = (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : '—');

function report(label: string, trials: Trial[]): void {
  const col = (xs: number[]) => `median ${fmt(percentile(xs, 50))} p99 ${fmt(percentile(xs, 99))}`;
  const to = trials.map((t) => t.toActiveMs).filter((x): x is number => x !== null);
  process.stdout.write(`${label.padEnd(58)} two runtimes ms: ${col(trials.map((t) => t.overlapMs))}   ` +
    `to new Active ms: ${to.length ? col(to) : '— (none)'}   Active moves: ${col(trials.map((t) => t.moves))}   (n=${trials.length})\n`);
}

/** Who is Active and who is Standby now (waits until there is one of each). */
async function settled(s: Shape): Promise<{ active: string; standby: string }> {
  for (let i = 0; i < 100; i++) {
    const roles = s.d.roles();
    const active = Object.keys(roles).filter((h) => roles[h] === 'active');
    const standby = Object.keys(roles).filter((h) => roles[h] === 'standby');
    if (active.length === 1 && standby.length === 1) return { active: active[0]!, standby: standby[0]! };
    await sleep(200);
  }
  throw new Error(`${s.name}: no settled Active and Standby: ${JSON.stringify(s.d.roles())}`);
}

/** Total ms of two runtimes at once recorded since the ledger was last cleared, then clears it. */
function takeOverlaps(d: NsDomain): number {
  let total = 0;
  for (const text of d.overlaps()) total += (JSON.parse(text) as { ms: number | null }).ms ?? Infinity;
  for (const f of readdirSync(d.ledger)) if (f.startsWith('overlap-')) rmSync(join(d.ledger, f));
  return total;
}

async function scenario(s: Shape, cut: (active: string, standby: string) => void, holdMs: number): Promise<Trial> {
  const { active, standby } = await settled(s);
  takeOverlaps(s.d);
  const at = Date.now();
  cut(active, standby);
  await sleep(holdMs);
  s.d.heal();
  await sleep(2_500); // a split brain ends, and the loser stops its runtime
  await settled(s);
  const moves = s.d.eventsSince(at).filter((e) => e.to === 'active');
  const first = moves.map((e) => Date.parse(e.at)).sort((x, y) => x - y)[0];
  return { overlapMs: takeOverlaps(s.d), toActiveMs: first === undefined ? null : first - at, moves: moves.length };
}

/** Three servers on two networks: each network cut for 5 s in turn. */
async function networks(tag: number): Promise<void> {
  const nets: Shape = {
    name: 'three servers, two networks',
    d: new NsDomain(`bn${tag}`, {
      a: { role: 'main', addresses: ['10.231.94.1', '10.231.95.1'] }, b: { role: 'backup', addresses: ['10.231.94.2', '10.231.95.2'] }, c: { role: 'inactive', addresses: ['10.231.94.3', '10.231.95.3'] },
    }, '239.255.94.1'),
    third: 'c',
  };
  process.once('SIGINT', () => void nets.d.close().then(() => process.exit(130)));
  try {
    nets.d.startAll();
    await settled(nets);
    for (const k of [0, 1]) {
      const trials: Trial[] = [];
      for (let i = 0; i < TRIALS; i++) trials.push(await scenario(nets, () => nets.d.cutNetwork(k), 5_000));
      report(`network ${k + 1} of 2 cut for 5 s, ${nets.name}`, trials);
    }
  } finally {
    await nets.d.close();
  }
}

async function main(): Promise<void> {
  if (canRunNetns !== true) throw new Error(`bench:partition ${canRunNetns}`);
  const tag = process.pid % 10000;
  if (values['networks-only']) return networks(tag);
  const shapes: Shape[] = [
    { name: 'three servers', d: new NsDomain(`bq${tag}`, { a: { role: 'main', addresses: ['10.231.91.1'] }, b: { role: 'backup', addresses: ['10.231.91.2'] }, c: { role: 'inactive', addresses: ['10.231.91.3'] } }, '239.255.91.1'), third: 'c' },
    { name: 'two servers + witness', d: new NsDomain(`bw${tag}`, { a: { role: 'main', addresses: ['10.231.92.1'] }, b: { role: 'backup', addresses: ['10.231.92.2'] }, w: { role: 'witness', addresses: ['10.231.92.3'] } }, '239.255.92.1'), third: 'w' },
    { name: 'two servers, no witness', d: new NsDomain(`bp${tag}`, { a: { role: 'main', addresses: ['10.231.93.1'] }, b: { role: 'backup', addresses: ['10.231.93.2'] } }, '239.255.93.1'), third: null },
  ];
  // Ctrl-C: stop the nodes and remove the namespaces before leaving.
  process.once('SIGINT', () => void Promise.all(shapes.map((s) => s.d.close())).then(() => process.exit(130)));
  try {
    for (const s of shapes) s.d.startAll();
    await Promise.all(shapes.map(settled));
    process.stdout.write(`bench:partition: ${TRIALS} trials per scenario, default timings, domains side by side\n`);
    const run = async (label: string, only: Shape[], cut: (s: Shape, active: string, standby: string) => void, holdMs: number) => {
      const results = new Map<Shape, Trial[]>(only.map((s) => [s, []]));
      for (let i = 0; i < TRIALS; i++) {
        const got = await Promise.all(only.map((s) => scenario(s, (a, b) => cut(s, a, b), holdMs)));
        only.forEach((s, k) => results.get(s)!.push(got[k]!));
      }
      for (const s of only) report(`${label}, ${s.name}`, results.get(s)!);
    };
    await run('Active cut off from all for 3 s', shapes, (s, a) => s.d.isolate(a, true), 3_000);
    await run('Active-Standby link cut for 5 s', shapes, (s, a, b) => s.d.cutLink(a, b), 5_000);
    const voted = shapes.filter((s) => s.third !== null);
    await run('third voter cut off for 5 s', voted, (s) => s.d.isolate(s.third!, true), 5_000);
    for (const pct of [20, 40]) {
      const perMinute = new Map<Shape, number[]>(voted.map((s) => [s, []]));
      for (const s of voted) s.d.loss(pct);
      for (let m = 0; m < LOSS_MINUTES; m++) {
        const at = Date.now();
        await sleep(60_000);
        for (const s of voted) perMinute.get(s)!.push(s.d.eventsSince(at).filter((e) => e.to === 'active').length);
      }
      for (const s of voted) {
        s.d.heal();
        const xs = perMinute.get(s)!;
        process.stdout.write(`${`${pct} % loss on every link, ${s.name}`.padEnd(58)} Active moves per minute: ${xs.join(' ')} (median ${fmt(percentile(xs, 50))}, max ${Math.max(...xs)})   two runtimes ms: ${takeOverlaps(s.d)}\n`);
      }
      await Promise.all(voted.map(settled));
    }
  } finally {
    await Promise.all(shapes.map((s) => s.d.close()));
  }
  await networks(tag);
}

main().catch((e: Error) => {
  process.stderr.write(`bench:partition: ${e.message}\n`);
  process.exitCode = 1;
});
