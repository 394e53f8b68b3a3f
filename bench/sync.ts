/**
 * npm run bench:sync [-- --edits 20] [-- --bulk-trials 5] [-- --mb 200]
 *
 * Three servers on loopback, each with its own folder:
 *  - propagation: a 100 KB domain file edited on a (save → byte-identical at b's and c's
 *    paths), 20 edits;
 *  - bulk: a 200 MB project file saved on a until both b and c have the revision in force
 *    (end to end, a's hashing included), and the transfer alone as the receivers log it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, watch, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Cluster, sleep, waitFor, waitForRoles } from '../test/integration/cluster';
import { insertBeforeEnd } from '../main/domain/end';
import { summary } from './stats';

const { values } = parseArgs({ options: { edits: { type: 'string', default: '20' }, 'bulk-trials': { type: 'string', default: '5' }, mb: { type: 'string', default: '200' } } });
const EDITS = Number(values.edits);
const BULK = Number(values['bulk-trials']);
const MB = Number(values.mb);

/** Resolves when every file equals `want`, checked on file events and every 20 ms. */
function whenIdentical(files: string[], want: Buffer): Promise<number> {
  return new Promise((resolveWhen) => {
    const watchers = files.map((f) => watch(dirname(f), () => check()));
    const timer = setInterval(() => check(), 20);
    let done = false;
    function check() {
      if (done) return;
      if (files.every((f) => {
        try {
          return readFileSync(f).equals(want);
        } catch {
          return false;
        }
      })) {
        done = true;
        const t = performance.now();
        clearInterval(timer);
        for (const w of watchers) w.close();
        resolveWhen(t);
      }
    }
    check();
  });
}

async function propagation(): Promise<number[]> {
  const c = new Cluster(['a', 'b', 'c'], { separate: true });
  // Pad every copy to 100 KB with comments (the same on every server, so all start in sync).
  const pad = Array.from({ length: 1600 }, (_, i) => `# padding line ${String(i).padStart(4, '0')} ${'x'.repeat(40)}`).join('\n');
  for (const s of c.servers) writeFileSync(c.fileOf(s), insertBeforeEnd(readFileSync(c.fileOf(s), 'utf8'), pad));
  const times: number[] = [];
  try {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
    const size = readFileSync(c.fileOf('a')).length;
    process.stdout.write(`domain file ${(size / 1024).toFixed(0)} KB\n`);
    for (let i = 0; i < EDITS; i++) {
      const text = readFileSync(c.fileOf('a'), 'utf8').replace(/failbackDelayMs: \d+/, `failbackDelayMs: ${30000 + i + 1}`);
      const bytes = Buffer.from(text);
      const arrived = whenIdentical([c.fileOf('b'), c.fileOf('c')], bytes);
      const t0 = performance.now();
      writeFileSync(c.fileOf('a'), bytes);
      times.push((await arrived) - t0);
      await sleep(300);
    }
  } finally {
    await c.stop();
  }
  return times;
}

async function bulk(): Promise<{ endToEnd: number; transfer: number }> {
  const c = new Cluster(['a', 'b', 'c'], { separate: true, sync: { port: 0, files: ['project/'], maxFileBytes: 4 * 1024 ** 3 } });
  for (const s of c.servers) mkdirSync(c.pathOf(s, 'project'), { recursive: true });
  try {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
    const before = (await c.status('a')).sync.revision.n;
    const block = randomBytes(1 << 20);
    const file = c.pathOf('a', 'project', 'big.bin');
    const fd = openSync(file, 'w');
    for (let i = 0; i < MB; i++) {
      block.writeUInt32BE(i, 0); // every MB differs
      writeSync(fd, block);
    }
    closeSync(fd);
    const t0 = performance.now();
    const hash = await waitFor('a to make the new revision', 60_000, async () => {
      const s = await c.status('a');
      return s.sync.revision.n > before ? s.sync.revision.hash : undefined;
    }, 20);
    await waitFor('b and c to have it', 120_000, async () => {
      const [b, cc] = [await c.status('b'), await c.status('c')];
      return b.sync.revision.hash === hash && cc.sync.revision.hash === hash ? true : undefined;
    }, 20);
    const endToEnd = performance.now() - t0;
    const logged = ['b', 'c'].map((s) => {
      const line = c.nodes.get(s)!.output.find((l) => /in force \(1 project files, \d+ bytes, \d+ ms\)/.test(l))!;
      return Number(/bytes, (\d+) ms\)/.exec(line)![1]);
    });
    const want = createHash('sha256').update(readFileSync(file)).digest('hex');
    for (const s of ['b', 'c']) {
      if (createHash('sha256').update(readFileSync(c.pathOf(s, 'project', 'big.bin'))).digest('hex') !== want) throw new Error(`${s} has a different file`);
    }
    return { endToEnd, transfer: Math.max(...logged) };
  } finally {
    await c.stop();
  }
}

async function main(): Promise<void> {
  process.stdout.write(`bench:sync — ${EDITS} edits of a 100 KB domain file to 2 peers; ${BULK} × ${MB} MB project file to 2 peers\n`);
  const prop = await propagation();
  process.stdout.write(`${summary('edit → byte-identical on 2 peers', prop, 'ms')}\n`);
  const e2e: number[] = [];
  const xfer: number[] = [];
  for (let i = 0; i < BULK; i++) {
    const r = await bulk();
    e2e.push(r.endToEnd);
    xfer.push(r.transfer);
  }
  // Rates: MB delivered per second, to each peer and to both together (the slowest trial is the worst).
  const mbps = (ms: number[], peers: number) => ms.map((m) => (peers * MB) / (m / 1000));
  process.stdout.write(`${summary(`${MB} MB save → both peers (ms)`, e2e, 'ms')}\n`);
  process.stdout.write(`${summary('  end to end, both peers together', mbps(e2e, 2), 'MB/s', 1)}\n`);
  process.stdout.write(`${summary('  end to end, each peer', mbps(e2e, 1), 'MB/s', 1)}\n`);
  process.stdout.write(`${summary(`${MB} MB transfer only (ms)`, xfer, 'ms')}\n`);
  process.stdout.write(`${summary('  transfer, both peers together', mbps(xfer, 2), 'MB/s', 1)}\n`);
  process.stdout.write(`${summary('  transfer, each peer', mbps(xfer, 1), 'MB/s', 1)}\n`);
}

void main();
