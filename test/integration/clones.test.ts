/**
 * Clones and wrong secrets with real `duplex run` processes on loopback (issue 11, section 4):
 * a clone of the Active started later, and a server with another secret, never make a second
 * Active and never disturb the running domain. Bounds here catch hangs; nothing measures speed.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, Cluster, sleep, waitFor } from './cluster';

/** Samples the roles of the running nodes until `done` resolves; every sample is kept. */
async function watchRoles(c: Cluster, done: Promise<unknown>): Promise<Record<string, string>[]> {
  const samples: Record<string, string>[] = [];
  let finished = false;
  void done.finally(() => (finished = true));
  while (!finished) {
    samples.push(await c.roles());
    await sleep(50);
  }
  samples.push(await c.roles());
  return samples;
}

describe('a clone of the Active started later', () => {
  // A clone runs on another machine; here it takes a free admin port as every test node does.
  const c = new Cluster(['a', 'b'], { separate: true });
  after(() => c.stop());

  it('exits non-zero naming the address; the Active stays Active, the Standby stays Standby', async () => {
    c.startAll();
    const settled = await waitFor('one Active and one Standby', 10_000, async () => {
      const r = await c.roles();
      return Object.values(r).sort().join() === 'active,standby' ? r : undefined;
    });
    const active = Object.keys(settled).find((s) => settled[s] === 'active')!;
    const standby = active === 'a' ? 'b' : 'a';
    const epoch = (await c.status(active)).epoch;
    const standbyEvents = (await c.status(standby)).events.length;
    // A clone: the Active's folder copied to another place (its own state), started under the same name.
    // At least a second later, so that its boot counter is higher than the original's.
    await sleep(1_100);
    const dir = join(c.dir, 'clone');
    mkdirSync(dir);
    copyFileSync(c.fileOf(active), join(dir, 'plant.yaml'));
    copyFileSync(c.pathOf(active, 'duplex.secret'), join(dir, 'duplex.secret'));
    const clone = spawn(process.execPath, [CLI, 'run', '--domain', join(dir, 'plant.yaml'), '--server', active], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    clone.stdout.on('data', (b: Buffer) => (out += b.toString()));
    clone.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => clone.once('exit', (code) => r(code)));
    const bounded = Promise.race([exited, sleep(20_000).then(() => {
      clone.kill('SIGKILL');
      return 'still running after 20 s' as const;
    })]);
    const samples = await watchRoles(c, bounded);
    const code = await bounded;
    // Then a failure timeout and more, to see that nothing moves after it is gone.
    for (let i = 0; i < 30; i++) {
      samples.push(await c.roles());
      await sleep(50);
    }

    assert.notEqual(code, 'still running after 20 s', out);
    assert.notEqual(code, 0, 'the clone exits with an error');
    assert.match(out, new RegExp(`another Duplex node is already running as server ${active} at 127\\.0\\.0\\.1 .*this node stops\\. Give every server its own name`), out);
    assert.doesNotMatch(out, /→ active/, 'the clone never claimed the Active role');
    for (const s of samples) assert.deepEqual(s, { [active]: 'active', [standby]: 'standby' }, JSON.stringify(samples));
    assert.equal((await c.status(active)).epoch, epoch);
    assert.equal((await c.status(standby)).events.length, standbyEvents, 'the Standby changed no role');
    // The Active saw the clone and said so.
    const activeLog = c.nodes.get(active)!.output;
    assert.ok(activeLog.some((l) => new RegExp(`warn \\[${active}\\] fault: another Duplex node also runs as server ${active} at 127\\.0\\.0\\.1`).test(l)), activeLog.join('\n'));
    // The Standby heard two processes called `active` and kept following the first.
    const st = await c.status(standby);
    assert.ok(st.dropped['name-conflict']! > 0, `name-conflict drops at the Standby: ${st.dropped['name-conflict']}`);
    const standbyLog = c.nodes.get(standby)!.output;
    assert.ok(standbyLog.some((l) => new RegExp(`two processes call themselves "${active}"`).test(l)), standbyLog.join('\n'));
  });
});

describe('a server with the wrong secret', () => {
  // w is the main: with a wrong secret it hears no Active and, unguarded, claims at start-up.
  const c = new Cluster(['w', 'b', 'c'], { separate: true });
  after(() => c.stop());

  it('never becomes Active and says it cannot verify; the domain is not disturbed', async () => {
    c.start('b');
    c.start('c');
    await waitFor('b Active (no main running), c Inactive', 10_000, async () => {
      const r = await c.roles();
      return r.b === 'active' && r.c === 'inactive' ? r : undefined;
    });
    const active = 'b';
    const epoch = (await c.status(active)).epoch;
    // w's secret file differs from the others'.
    writeFileSync(c.pathOf('w', 'duplex.secret'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    c.start('w');
    const samples: Record<string, string>[] = [];
    // Long enough for discovery, the failure timeout and more, several times over.
    const until = Date.now() + 6_000;
    let sawText = false;
    while (Date.now() < until) {
      samples.push(await c.roles());
      const s = await c.status('w').catch(() => null);
      if (s && s.faults.includes('cannot verify 127.0.0.1: is the secret file the same on every server?')) sawText = true;
      await sleep(50);
    }
    for (const s of samples) {
      assert.equal(Object.values(s).filter((r) => r === 'active').length, 1, JSON.stringify(s));
      assert.equal(s[active], 'active', JSON.stringify(s));
      assert.notEqual(s.w, 'active');
    }
    // The end state, once w answers (a loaded machine may leave one status request unanswered).
    const end = await waitFor('every node to answer', 10_000, async () => {
      const r = await c.roles();
      return Object.values(r).includes('no answer') ? undefined : r;
    });
    assert.deepEqual(end, { b: 'active', c: 'inactive', w: 'standby' });
    assert.ok(sawText, 'w shows "cannot verify 127.0.0.1: is the secret file the same on every server?"');
    const cs = await c.status('w');
    assert.match(cs.reason, /^cannot verify 127\.0\.0\.1: is the secret file the same on every server\?/, cs.reason);
    assert.ok(c.nodes.get('w')!.output.some((l) => /warn \[w\] fault: cannot verify 127\.0\.0\.1: is the secret file the same on every server\?/.test(l)));
    assert.equal(cs.events.some((e) => e.to === 'active'), false, 'w never claimed');
    assert.equal((await c.status(active)).epoch, epoch, 'the Active kept its term');
    // The correctly configured servers see w's datagrams fail too, and say so.
    assert.ok((await c.status(active)).faults.includes('cannot verify 127.0.0.1: is the secret file the same on every server?'));
  });
});
