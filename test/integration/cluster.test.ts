/**
 * Real `duplex run` processes on loopback multicast: start-up, SIGKILL failover,
 * SIGSTOP/SIGCONT, switchover through the CLI, and hostile datagrams.
 * Time bounds here are generous (they catch hangs); speed is measured by bench:failover.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { Cluster, runCli, sleep, waitFor, waitForRoles } from './cluster';
import { deriveKeys, encode } from '../../main/net/codec';
import { loadSecret } from '../../main/domain/secret';
import { join } from 'node:path';
import { mkdirSync, rmSync } from 'node:fs';
import type { StatusView } from '../../main/ui/contract';

/** Time intervals during which each server was Active, from its own role events (one machine, one clock). */
function activeIntervals(statuses: StatusView[]): { server: string; from: number; to: number }[] {
  const out: { server: string; from: number; to: number }[] = [];
  for (const s of statuses) {
    let start: number | null = null;
    for (const e of s.events) {
      const t = Date.parse(e.at);
      if (e.to === 'active') start = t;
      if (e.from === 'deactivating' || (e.from === 'active' && e.to !== 'deactivating')) {
        if (start !== null) out.push({ server: s.server, from: start, to: t });
        start = null;
      }
    }
    if (start !== null) out.push({ server: s.server, from: start, to: Infinity });
  }
  return out;
}

describe('three real nodes on loopback multicast', () => {
  const c = new Cluster(['a', 'b', 'c']);
  before(() => c.startAll());
  after(() => c.stop());

  it('start 3: one Active (the main), one Standby, one Inactive', async () => {
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
    const a = await c.status('a');
    assert.ok(a.epoch > 0);
    assert.deepEqual(a.peers.map((p) => [p.server, p.role]), [['b', 'standby'], ['c', 'inactive']]);
    assert.ok(a.peers.every((p) => p.lastHeardMs !== null && p.lastHeardMs < 1000));
    assert.ok(c.nodes.get('a')!.output.some((l) => /info \[a\] role: starting → active \(epoch \d+\): no Active found/.test(l)), 'role changes are logged with their reason');
  });

  it('duplex activate on the Standby swaps roles; no sample ever shows two Actives', async () => {
    let sampling = true;
    const doubles: string[] = [];
    let samples = 0;
    const sampler = (async () => {
      while (sampling) {
        const m = await c.sample();
        samples++;
        const actives = [...m.entries()].filter(([, s]) => s?.role === 'active').map(([n]) => n);
        if (actives.length > 1) doubles.push(actives.join('+'));
        await sleep(5);
      }
    })();
    const r = await runCli(['activate', '--domain', c.file, '--server', 'b']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /b is Active \(epoch \d+\)/);
    await waitForRoles(c, { a: 'standby', b: 'active', c: 'inactive' }, 5_000);
    await sleep(200);
    sampling = false;
    await sampler;
    assert.ok(samples > 10, `only ${samples} samples taken`);
    assert.deepEqual(doubles, []);
    // Stronger: from each node's own role events, the Active intervals never overlap.
    const all = await Promise.all(['a', 'b', 'c'].map((s) => c.status(s)));
    const spans = activeIntervals(all).sort((x, y) => x.from - y.from);
    for (let i = 1; i < spans.length; i++) {
      assert.ok(spans[i]!.from >= spans[i - 1]!.to, `Active on ${spans[i - 1]!.server} until ${spans[i - 1]!.to} overlaps ${spans[i]!.server} from ${spans[i]!.from}`);
    }
  });

  it('refusals come back with a reason and exit code 1', async () => {
    const r1 = await runCli(['deactivate', '--domain', c.file, '--server', 'a']);
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /refused: only the Active can be deactivated; a is standby/);
    const r2 = await runCli(['activate', '--domain', c.file, '--server', 'c']);
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /c is declared "inactive" in the domain file/);
  });

  it("SIGKILL of the Active: the Standby becomes Active at once on the release b's guardian multicasts", async () => {
    const before = await c.status('b');
    c.kill('b', 'SIGKILL');
    await waitForRoles(c, { a: 'active', c: 'inactive' }, 5_000);
    const a = await c.status('a');
    assert.ok(a.epoch > before.epoch, 'the new Active has a higher epoch');
    assert.match(a.events.filter((e) => e.to === 'active').at(-1)?.reason ?? '', /failover: b's guardian killed its runtime and released Active term \d+/);
    // b's last word was the release (inactive); silent for the failure timeout, it is unreachable.
    await waitFor('b to be unreachable', 3_000, async () => ((await c.status('a')).peers.find((p) => p.server === 'b')!.role === 'unreachable' ? true : undefined));
  });

  it('the killed server comes back as Standby (no automatic failback)', async () => {
    c.start('b');
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
  });

  it('SIGSTOP the Active past the timeout, then SIGCONT: exactly one Active after it resumes', async () => {
    c.kill('a', 'SIGSTOP');
    const frozenEpoch = (await c.status('b')).peers.find((p) => p.server === 'a')!.epoch;
    await waitFor('b to take over from the frozen a', 5_000, async () => ((await c.status('b')).role === 'active' ? true : undefined));
    await sleep(500);
    c.kill('a', 'SIGCONT');
    const roles = await waitForRoles(c, { a: 'standby', b: 'active', c: 'inactive' }, 5_000);
    assert.deepEqual(roles, { a: 'standby', b: 'active', c: 'inactive' });
    const a = await c.status('a');
    assert.ok((await c.status('b')).epoch > frozenEpoch);
    // On waking it learns that its guardian fenced it, that b holds a higher epoch, or that its lease ran out; whichever it reads first ends its term.
    // With quorum (three voters) its lease from the others' acknowledgements ran out first.
    assert.ok(a.events.some((e) => e.from === 'active' && ((e.to === 'deactivating' && /higher epoch/.test(e.reason)) || /the guardian killed the runtime \(the lease ran out|the majority's support ran out/.test(e.reason) || /lost the majority's support/.test(e.reason))), JSON.stringify(a.events));
    // It stays that way.
    await sleep(1_000);
    assert.deepEqual(await c.roles(), { a: 'standby', b: 'active', c: 'inactive' });
  });

  it('forged, replayed, oversized and foreign datagrams are dropped and counted; roles unchanged', async () => {
    const rolesBefore = await c.roles();
    const epochBefore = (await c.status('b')).epoch;
    const sock = createSocket({ type: 'udp4', reuseAddr: true });
    await new Promise<void>((r) => sock.bind(c.port, c.group, () => r()));
    sock.addMembership(c.group, '127.0.0.1');
    sock.setMulticastInterface('127.0.0.1');
    sock.setMulticastLoopback(true);
    // Capture one genuine heartbeat of the Active to replay it later.
    const genuine = await new Promise<Buffer>((r) => sock.once('message', (m) => r(Buffer.from(m))));
    await sleep(300);
    const send = (buf: Buffer) => new Promise<void>((r) => sock.send(buf, c.port, c.group, () => r()));
    const forgedKeys = deriveKeys('plant', randomBytes(32));
    const realKeys = deriveKeys('plant', loadSecret(join(c.dir, 'duplex.secret')).secret);
    for (let i = 0; i < 5; i++) {
      // Forged: claims to be the Active with a huge epoch, signed with the wrong key.
      await send(encode({ incarnation: 4_000_000_000, seq: i + 1, msg: { kind: 'heartbeat', from: 'a', role: 'active', epoch: 999, maxEpoch: 999, eligible: true, awareness: 0 } }, forgedKeys));
      await send(genuine); // replayed
      await send(randomBytes(1500)); // oversized
      await send(encode({ incarnation: 1, seq: i + 1, msg: { kind: 'heartbeat', from: 'a', role: 'active', epoch: 999, maxEpoch: 999, eligible: true, awareness: 0 } }, deriveKeys('other', randomBytes(32)))); // foreign domain
      await send(encode({ incarnation: 1, seq: i + 1, msg: { kind: 'heartbeat', from: 'intruder', role: 'active', epoch: 999, maxEpoch: 999, eligible: true, awareness: 0 } }, realKeys)); // unknown sender
    }
    sock.close();
    // A node's counts are in its status with the next view of its heartbeat path (within a second).
    await waitFor('every node to have counted the forged datagrams', 5_000, async () => {
      for (const s of ['a', 'b', 'c']) if (!((await c.status(s)).dropped['bad-auth']! >= 5)) return undefined;
      return true;
    }, 100);
    for (const s of ['a', 'b', 'c']) {
      const st = await c.status(s);
      assert.ok(st.dropped['bad-auth'] >= 5, `${s} bad-auth ${st.dropped['bad-auth']}`);
      assert.ok(st.dropped.oversized >= 5, `${s} oversized ${st.dropped.oversized}`);
      assert.ok(st.dropped['foreign-domain'] >= 5, `${s} foreign-domain ${st.dropped['foreign-domain']}`);
      assert.ok(st.dropped['unknown-sender'] >= 5, `${s} unknown-sender ${st.dropped['unknown-sender']}`);
      // The captured datagram came from one sender; the other two nodes see its replays.
      if (st.peers.length) assert.ok(st.dropped.replayed >= 5 || st.server === genuineSender(genuine), `${s} replayed ${st.dropped.replayed}`);
      assert.ok(st.maxEpoch < 999, 'no forged epoch was believed');
    }
    assert.deepEqual(await c.roles(), rolesBefore);
    assert.equal((await c.status('b')).epoch, epochBefore);
    const logA = c.nodes.get('a')!.output;
    assert.ok(logA.some((l) => /warn \[a\] network: heartbeat from "intruder", which is not in this server's domain file/.test(l)));
    assert.equal(logA.filter((l) => /datagrams from 127\.0\.0\.1 are dropped \(bad-auth\): they fail authentication; is the domain secret file the same on every server\?/.test(l)).length, 1, 'a wrong secret is logged once, then counted');
    assert.ok(logA.some((l) => /\(foreign-domain\): they belong to another domain/.test(l)));
  });
});

function genuineSender(buf: Buffer): string {
  const len = buf.readUInt16BE(20);
  return (JSON.parse(buf.subarray(22, 22 + len).toString('utf8')) as { from: string }).from;
}

describe('the CLI without a node, and a second node for the same server', () => {
  const c = new Cluster(['a', 'b']);
  after(() => c.stop());

  it('status with no node running exits 3 and says how to start one', async () => {
    const r = await runCli(['status', '--domain', c.file, '--server', 'a']);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no Duplex node is running for server a .* start it with: duplex run --domain .* --server a/);
  });

  it('an unknown server or a bad domain file exits 2 with the reason', async () => {
    const r = await runCli(['status', '--domain', c.file, '--server', 'zz']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /server "zz" is not in .*; its servers are: a, b/);
    const r2 = await runCli(['run', '--domain', join(c.dir, 'missing.yaml'), '--server', 'a']);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /the domain file .*missing\.yaml does not exist\. Check the path/);
  });

  it('a second node for the same server refuses to start', async () => {
    c.start('a');
    await waitFor('a to answer', 5_000, async () => (await c.status('a')) ?? undefined);
    const r = await runCli(['run', '--domain', c.file, '--server', 'a']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a Duplex node for server a is already running \(pid \d+\); stop it first/);
  });

  it('status --json has the documented fields', async () => {
    await waitFor('a to become Active', 5_000, async () => ((await c.status('a')).role === 'active' ? true : undefined));
    const r = await runCli(['status', '--domain', c.file, '--server', 'a', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(j.server, 'a');
    assert.equal(j.role, 'active');
    assert.equal(typeof j.epoch, 'number');
    assert.ok(Array.isArray(j.peers));
    assert.deepEqual(Object.keys((j.peers as object[])[0]!).sort(), ['address', 'awareness', 'eligible', 'epoch', 'failures', 'health', 'lastHeardAt', 'lastHeardMs', 'lastRole', 'links', 'probes', 'progress', 'revision', 'role', 'runtime', 'runtimeEnded', 'server', 'sync', 'versions']);
    assert.deepEqual(Object.keys(j.commands as object).sort(), ['activate', 'clear', 'deactivate', 'maintenance-off', 'maintenance-on', 'report-failure', 'resume']);
    assert.deepEqual(Object.keys(j.runtime as object).sort(), ['failures', 'held', 'processes', 'reached', 'state', 'wanted']);
    assert.deepEqual(Object.keys(((j.peers as { links: object[] }[])[0]!.links)[0]!).sort(), ['lastHeardMs', 'network', 'up']);
    assert.deepEqual(Object.keys(j.quorum as object).sort(), ['has', 'heard', 'leaseMs', 'majority', 'mode', 'on', 'supports', 'voters', 'warning']);
    assert.equal(typeof (j.dropped as Record<string, number>)['bad-auth'], 'number');
    assert.deepEqual(Object.keys(j.sync as object).sort(), ['appVersion', 'conflicts', 'file', 'message', 'port', 'progress', 'revision', 'state']);
    assert.equal((j.sync as { state: string }).state, 'in-sync');
  });
});

describe('a node that cannot keep its state', () => {
  const c = new Cluster(['a', 'b']);
  after(() => c.stop());

  it('keeps running and says why, never takes the Active role with an epoch it cannot keep, and takes over once it can write', async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
    const state = join(c.dir, 'duplex-state', 'b', 'state.json');
    // Writing the state file now fails. The node may write it between the two calls (an atomic
    // rename puts a file back): again until the folder stands in its place.
    for (;;) {
      rmSync(state, { force: true });
      try {
        mkdirSync(state);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    c.kill('a', 'SIGKILL');
    // b would take over now, but cannot keep the new epoch: it stays up, not Active, and says why.
    const st = await waitFor('b to show that it cannot write its state', 10_000, async () => {
      const s = await c.status('b');
      return s.faults.some((f) => /^cannot write state on b: .*state\.json/.test(f)) ? s : undefined;
    });
    assert.notEqual(st.role, 'active');
    assert.match(st.commands.activate ?? '', /b cannot write its state/);
    await sleep(1_500);
    assert.equal(c.nodes.get('b')!.proc.exitCode, null, 'b keeps running');
    assert.notEqual((await c.status('b')).role, 'active');
    const out = c.nodes.get('b')!.output;
    assert.ok(out.some((l) => /error \[b\] state: .*cannot write .*state\.json.*: this server keeps voting within what is on disk, but takes neither the Active role nor Maintenance/.test(l)), out.join('\n'));
    assert.equal(out.some((l) => /role: \w+ → active/.test(l)), false, 'it never announced itself Active');
    // The disk works again: the next write succeeds, and b takes over.
    rmSync(state, { recursive: true, force: true });
    await waitForRoles(c, { b: 'active' }, 10_000);
    assert.deepEqual((await c.status('b')).faults, []);
    assert.ok(c.nodes.get('b')!.output.some((l) => /info \[b\] state: the state can be written again/.test(l)));
  });
});
