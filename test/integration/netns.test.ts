/**
 * Real partitions: three servers in network namespaces this test creates (and removes),
 * joined by a Linux bridge in a fourth. Traffic stays inside those namespaces.
 * Needs root, iproute2 and nftables (CI has them); skipped with the reason otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newSecretText } from '../../main/domain/secret';
import { END_LINE } from '../../main/domain/end';
import { CLI, sleep, waitFor } from './cluster';
import { bridge, canRunNetns as canRun, ip, unbridge } from './netns';
import { tempDir } from '../fixtures/temp';

const tag = `dpx${process.pid % 100000}`;
const BR = `${tag}-br`;
const HOSTS = { a: '10.231.77.1', b: '10.231.77.2', c: '10.231.77.3' } as const;
type Host = keyof typeof HOSTS;
const ns = (h: Host) => `${tag}-${h}`;

describe('partitions between network namespaces', { skip: canRun === true ? false : canRun }, () => {
  const dir = tempDir('duplex-netns-');
  const file = join(dir, 'plant.yaml');
  const procs = new Map<Host, ChildProcess>();

  const status = (h: Host): { role: string; epoch: number; linkUp: boolean } => {
    const out = execFileSync('ip', ['netns', 'exec', ns(h), process.execPath, CLI, 'status', '--domain', file, '--server', h, '--json'], { encoding: 'utf8' });
    return JSON.parse(out) as { role: string; epoch: number; linkUp: boolean };
  };
  const roles = () => Object.fromEntries((Object.keys(HOSTS) as Host[]).map((h) => [h, (() => { try { return status(h).role; } catch { return 'no answer'; } })()]));
  const waitRoles = (want: Record<string, string>, ms: number) =>
    waitFor(`roles ${JSON.stringify(want)}`, ms, async () => {
      const r = roles();
      return Object.entries(want).every(([k, v]) => r[k] === v) ? r : undefined;
    }, 100);

  before(() => {
    bridge(BR, HOSTS, ns);
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    writeFileSync(join(dir, 'duplex.secret'), newSecretText(), { mode: 0o600 });
    writeFileSync(file, `domain: plant
servers:
  - { name: a, role: main, address: ${HOSTS.a} }
  - { name: b, role: backup, address: ${HOSTS.b} }
  - { name: c, role: inactive, address: ${HOSTS.c} }
multicast: { group: 239.255.77.7, port: ${port} }
${END_LINE}
`, { mode: 0o644 });
    for (const h of Object.keys(HOSTS) as Host[]) {
      procs.set(h, spawn('ip', ['netns', 'exec', ns(h), process.execPath, CLI, 'run', '--domain', file, '--server', h], { stdio: 'ignore' }));
    }
  });

  after(async () => {
    for (const p of procs.values()) p.kill('SIGTERM');
    await sleep(1_500);
    for (const p of procs.values()) if (p.exitCode === null) p.kill('SIGKILL');
    unbridge([BR, ...(Object.keys(HOSTS) as Host[]).map(ns)]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('three servers across a bridge: one Active, one Standby, one Inactive', async () => {
    await waitRoles({ a: 'active', b: 'standby', c: 'inactive' }, 15_000);
  });

  it('cut the Active off: it fences its runtime (three voters: quorum), the Standby takes over; heal: one Active', async () => {
    const before = status('a').epoch;
    ip('-n', BR, 'link', 'set', 'v-a', 'down');
    await waitRoles({ b: 'active', c: 'inactive' }, 5_000);
    assert.equal(status('a').role, 'standby', 'a hears no majority: its lease ran out and it stepped down');
    assert.ok(status('b').epoch > before);
    ip('-n', BR, 'link', 'set', 'v-a', 'up');
    const r = await waitRoles({ a: 'standby', b: 'active', c: 'inactive' }, 5_000);
    assert.deepEqual(r, { a: 'standby', b: 'active', c: 'inactive' });
  });

  it('a Standby whose own network card goes down does not take over', async () => {
    // a is the Standby now; take its own card down and stop the Active at the same time.
    ip('-n', ns('a'), 'link', 'set', 'eth0', 'down');
    procs.get('b')!.kill('SIGKILL');
    await sleep(3_000);
    const a = status('a');
    assert.equal(a.linkUp, false);
    assert.equal(a.role, 'standby');
    // Card back: it now takes over (b is gone).
    ip('-n', ns('a'), 'link', 'set', 'eth0', 'up');
    await waitRoles({ a: 'active' }, 5_000);
  });
});

describe('domain edits on both sides of a partition', { skip: canRun === true ? false : canRun }, () => {
  const t2 = `dpy${process.pid % 100000}`;
  const br = `${t2}-br`;
  const hosts = { a: '10.231.78.1', b: '10.231.78.2' } as const;
  type H = keyof typeof hosts;
  const nsOf = (h: H) => `${t2}-${h}`;
  const dir = tempDir('duplex-netns-sync-');
  const fileOf = (h: H) => join(dir, h, 'plant.yaml');
  const procs: ChildProcess[] = [];
  const status = (h: H) => JSON.parse(execFileSync('ip', ['netns', 'exec', nsOf(h), process.execPath, CLI, 'status', '--domain', fileOf(h), '--server', h, '--json'], { encoding: 'utf8' })) as {
    role: string; sync: { revision: { n: number; by: string; hash: string }; state: string; conflicts: string[] };
  };

  before(() => {
    bridge(br, hosts, nsOf);
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const secret = newSecretText();
    for (const h of Object.keys(hosts) as H[]) {
      mkdirSync(join(dir, h));
      writeFileSync(join(dir, h, 'duplex.secret'), secret, { mode: 0o600 });
      writeFileSync(fileOf(h), `domain: plant
servers:
  - { name: a, role: main, address: ${hosts.a} }
  - { name: b, role: backup, address: ${hosts.b} }
multicast: { group: 239.255.78.8, port: ${port} }
failback: manual
${END_LINE}
`, { mode: 0o644 });
      procs.push(spawn('ip', ['netns', 'exec', nsOf(h), process.execPath, CLI, 'run', '--domain', fileOf(h), '--server', h], { stdio: 'ignore' }));
    }
  });

  after(async () => {
    for (const p of procs) p.kill('SIGTERM');
    await sleep(1_500);
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    unbridge([br, nsOf('a'), nsOf('b')]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('both sides edit while cut off; after the heal one revision wins everywhere and the other is a conflict copy', async () => {
    await waitFor('a Active and b Standby', 15_000, async () => {
      try {
        return status('a').role === 'active' && status('b').role === 'standby' ? true : undefined;
      } catch {
        return undefined;
      }
    }, 200);
    ip('-n', br, 'link', 'set', 'v-a', 'down');
    const onA = `${readFileSync(fileOf('a'), 'utf8').replace('failback: manual', 'failback: manual\n# edited on a')}`;
    const onB = `${readFileSync(fileOf('b'), 'utf8').replace('failback: manual', 'failback: manual\n# edited on b')}`;
    writeFileSync(fileOf('a'), onA);
    writeFileSync(fileOf('b'), onB);
    await waitFor('each side to make its own revision', 10_000, async () =>
      (status('a').sync.revision.by === 'a' && status('b').sync.revision.by === 'b' ? true : undefined), 200);
    ip('-n', br, 'link', 'set', 'v-a', 'up');
    const winner = await waitFor('one content on both', 15_000, async () => {
      const [fa, fb] = [readFileSync(fileOf('a'), 'utf8'), readFileSync(fileOf('b'), 'utf8')];
      return fa === fb ? fa : undefined;
    }, 100);
    assert.ok(winner === onA || winner === onB);
    const loser = winner === onA ? 'b' : 'a';
    const copies = readdirSync(join(dir, loser)).filter((f) => f.startsWith(`plant.yaml.conflict-${loser}-`));
    assert.equal(copies.length, 1, `conflict copy on ${loser}`);
    assert.equal(readFileSync(join(dir, loser, copies[0]!), 'utf8'), winner === onA ? onB : onA);
    const [sa, sb] = [status('a'), status('b')];
    assert.equal(sa.sync.revision.hash, sb.sync.revision.hash);
    assert.equal((loser === 'a' ? sa : sb).sync.state, 'conflict');
  });
});
