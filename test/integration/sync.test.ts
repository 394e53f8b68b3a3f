/**
 * Domain sync with real nodes on loopback, each server with its own folder (as on real
 * servers, where the path is the same on every machine): edits propagate byte for byte and
 * reconfigure the domain live; invalid edits stay local; concurrent edits converge with a
 * conflict copy; cut transfers leave old or new files, never partial ones; read-only
 * folders, wrong secrets and path traversal are refused.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { Cluster, runCli, sleep, waitFor, waitForRoles } from './cluster';
import { request, syncKey } from '../../main/sync/wire';
import { loadSecret } from '../../main/domain/secret';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Edits a server's domain file the way a technician would: read, change, save. */
function edit(c: Cluster, server: string, change: (doc: ReturnType<typeof parseDocument>) => void): Buffer {
  const doc = parseDocument(readFileSync(c.fileOf(server), 'utf8'));
  change(doc);
  const bytes = Buffer.from(doc.toString());
  writeFileSync(c.fileOf(server), bytes);
  return bytes;
}

function identical(c: Cluster, servers: string[], want: Buffer): Promise<true> {
  return waitFor(`the same domain file on ${servers.join(', ')}`, 10_000, async () =>
    (servers.every((s) => readFileSync(c.fileOf(s)).equals(want)) ? true : undefined), 10);
}

describe('domain sync between three servers', () => {
  const c = new Cluster(['a', 'b', 'c'], { separate: true });
  after(() => c.stop());

  it('an edit on any server reaches every server byte for byte; roles follow without a restart', async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
    const pidC = c.nodes.get('c')!.proc.pid;
    // On b: b becomes inactive, c the backup.
    const bytes = edit(c, 'b', (d) => {
      d.setIn(['servers', 1, 'role'], 'inactive');
      d.setIn(['servers', 2, 'role'], 'backup');
    });
    await identical(c, ['a', 'b', 'c'], bytes);
    await waitForRoles(c, { a: 'active', b: 'inactive', c: 'standby' }, 10_000);
    assert.equal(c.nodes.get('c')!.proc.pid, pidC);
    assert.equal(c.nodes.get('c')!.proc.exitCode, null, 'c was not restarted');
    for (const s of ['a', 'b', 'c']) {
      const st = await c.status(s);
      assert.equal(st.sync.revision.n, 1);
      assert.equal(st.sync.revision.by, 'b');
      assert.equal(st.sync.state, 'in-sync');
    }
    const c2 = await c.status('c');
    assert.ok(c2.events.some((e) => e.from === 'inactive' && e.to === 'standby'), JSON.stringify(c2.events));
  });

  it('duplex domain status shows every server with its revision; domain check validates', async () => {
    const r = await runCli(['domain', 'status', '--domain', c.fileOf('a'), '--server', 'a']);
    assert.equal(r.code, 0, r.stderr);
    for (const s of ['a', 'b', 'c']) assert.match(r.stdout, new RegExp(`^  ${s} +\\S+ +1 +[0-9a-f]{16} +in-sync`, 'm'));
    assert.doesNotMatch(r.stdout, /OUT OF SYNC/);
    const ok = await runCli(['domain', 'check', c.fileOf('a')]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^ok: .* is a valid domain file: domain plant, servers a \(main\), b \(inactive\), c \(backup\)/);
    assert.match(ok.stdout, /^quorum: 3 voters \(a, b, c\); a server takes over, and an Active keeps its runtime, only with 2 of them$/m);
    // Two servers: the warning, and what prevents a split brain.
    const pairFile = join(c.dir, 'pair.yaml');
    writeFileSync(pairFile, readFileSync(c.fileOf('a'), 'utf8').replace(/^ {2}- name: b\n {4}role: .*\n( {4}adminPort: .*\n)?/m, ''));
    const pair = await runCli(['domain', 'check', pairFile]);
    assert.equal(pair.code, 0, pair.stderr);
    assert.match(pair.stdout, /^warning: no quorum \(only 2 voters \(a, c\)\): a cut redundancy network gives two Actives until it heals\. A witness prevents this/m);
    const badFile = join(c.dir, 'bad.yaml');
    writeFileSync(badFile, readFileSync(c.fileOf('a'), 'utf8').replace('failback: manual', 'failback: sometimes'));
    const bad = await runCli(['domain', 'check', badFile]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /line \d+: failback: failback must be manual or auto/);
  });

  it('an invalid edit is not sent; the last good revision stays in force and the error shows in status', async () => {
    const before = readFileSync(c.fileOf('b'));
    writeFileSync(c.fileOf('a'), readFileSync(c.fileOf('a'), 'utf8').replace('failback: manual', 'failback: sometimes'));
    const st = await waitFor('a to report the invalid edit', 5_000, async () => {
      const s = await c.status('a');
      return s.sync.state === 'error' ? s : undefined;
    });
    assert.match(st.sync.message!, /the domain file was edited but is not valid \(line \d+: failback: failback must be manual or auto\); revision 1 stays in force/);
    assert.equal(st.sync.revision.n, 1);
    const shown = await runCli(['status', '--domain', c.fileOf('a'), '--server', 'a']);
    assert.equal(shown.code, 0, 'the node stays reachable from its invalid domain file');
    assert.match(shown.stderr, /warning: .* is not a valid domain file/);
    assert.match(shown.stdout, /domain: revision 1 .*error: the domain file was edited but is not valid/);
    await sleep(1_000);
    assert.ok(readFileSync(c.fileOf('b')).equals(before), 'b did not get the invalid edit');
    assert.equal((await c.status('b')).sync.revision.n, 1);
    // Put right: the fixed edit travels.
    const fixed = edit(c, 'a', (d) => {
      d.set('failback', 'manual');
      d.setIn(['timings', 'failbackDelayMs'], 40000);
    });
    await identical(c, ['a', 'b', 'c'], fixed);
    await waitFor('a to be in sync again', 5_000, async () => ((await c.status('a')).sync.state === 'in-sync' ? true : undefined));
  });

  it('concurrent edits on two servers converge on one winner; the loser is kept as a conflict copy', async () => {
    const start = (await c.status('a')).sync.revision.n;
    const onA = edit(c, 'a', (d) => d.setIn(['timings', 'failbackDelayMs'], 41000));
    const onC = edit(c, 'c', (d) => d.setIn(['timings', 'failbackDelayMs'], 42000));
    const winner = await waitFor('one content everywhere', 10_000, async () => {
      const files = ['a', 'b', 'c'].map((s) => readFileSync(c.fileOf(s)));
      return files.every((f) => f.equals(files[0]!)) && (files[0]!.equals(onA) || files[0]!.equals(onC)) ? files[0]! : undefined;
    }, 10);
    const [winnerServer, loserServer, loser] = winner.equals(onA) ? ['a', 'c', onC] : ['c', 'a', onA];
    const statuses = await Promise.all(['a', 'b', 'c'].map((s) => c.status(s)));
    assert.equal(new Set(statuses.map((s) => s.sync.revision.hash)).size, 1, 'one revision everywhere');
    assert.ok(statuses[0]!.sync.revision.n > start);
    const copies = readdirSync(c.pathOf(loserServer)).filter((f) => f.startsWith(`plant.yaml.conflict-${loserServer}-`));
    assert.equal(copies.length, 1, `conflict copy on ${loserServer} (winner ${winnerServer}): ${readdirSync(c.pathOf(loserServer)).join(', ')}`);
    assert.ok(readFileSync(c.pathOf(loserServer, copies[0]!)).equals(loser), 'the conflict copy holds the losing edit');
    const ls = await waitFor(`${loserServer} to report the conflict`, 5_000, async () => {
      const s = await c.status(loserServer);
      return s.sync.state === 'conflict' ? s : undefined;
    });
    assert.deepEqual(ls.sync.conflicts, [copies[0]]);
    assert.match(ls.sync.message!, /concurrent edits: the losing version is kept in plant\.yaml\.conflict-/);
    assert.ok(c.nodes.get(loserServer)!.output.some((l) => /conflict: revision \d+ from \w replaced content edited here/.test(l)));
    // Reviewed and deleted: back in sync.
    rmSync(c.pathOf(loserServer, copies[0]!));
    await waitFor(`${loserServer} back in sync`, 6_000, async () => ((await c.status(loserServer)).sync.state === 'in-sync' ? true : undefined), 100);
  });
});

describe('project files', () => {
  const c = new Cluster(['a', 'b'], { separate: true, sync: { port: 0, files: ['project/'] }, appVersion: 'files' });
  const old = randomBytes(1 << 20);
  for (const s of ['a', 'b']) {
    mkdirSync(c.pathOf(s, 'project', 'screens'), { recursive: true });
    writeFileSync(c.pathOf(s, 'project', 'app.cfg'), 'version 1\n');
    // 64 MB, the same on both at the start.
    writeFileSync(c.pathOf(s, 'project', 'big.bin'), Buffer.concat(Array.from({ length: 64 }, () => old)));
  }
  const oldHash = sha(readFileSync(c.pathOf('a', 'project', 'big.bin')));
  let immutable: string | null = null;
  after(async () => {
    if (immutable) execFileSync('chattr', ['-i', immutable]);
    await c.stop();
  });

  it('start in sync with the same application version', async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
    const [a, b] = [await c.status('a'), await c.status('b')];
    assert.equal(a.sync.revision.hash, b.sync.revision.hash);
    assert.match(a.sync.appVersion, /^[0-9a-f]{16}$/);
    assert.equal(a.sync.appVersion, b.sync.appVersion);
  });

  it('SIGKILL of the receiver in the middle of a large transfer leaves the old file, never a partial one; temp files go at restart', async () => {
    const fresh = randomBytes(1 << 20);
    writeFileSync(c.pathOf('a', 'project', 'big.bin'), Buffer.concat(Array.from({ length: 64 }, (_, i) => (i % 2 ? fresh : old))));
    const newHash = sha(readFileSync(c.pathOf('a', 'project', 'big.bin')));
    const folder = c.pathOf('b', 'project');
    const temp = await waitFor('b to be writing a temp file', 10_000, async () => readdirSync(folder).find((f) => f.endsWith('.duplex-tmp')), 2);
    c.kill('b', 'SIGKILL');
    await c.nodes.get('b')!.exited;
    const h = sha(readFileSync(join(folder, 'big.bin')));
    assert.ok(h === oldHash || h === newHash, 'big.bin is whole: the old or the new');
    assert.equal(h, oldHash, 'killed mid-transfer: still the old file');
    assert.ok(existsSync(join(folder, temp)), 'the cut transfer left its temp file');
    c.start('b');
    await waitFor('b to get the new file', 20_000, async () => (sha(readFileSync(join(folder, 'big.bin'))) === newHash ? true : undefined), 100);
    assert.ok(!readdirSync(folder).some((f) => f.endsWith('.duplex-tmp')), 'no temp file left');
    assert.ok(c.nodes.get('b')!.output.some((l) => l.includes(`removed ${join(folder, temp)}, left by a transfer that was cut`)));
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
  });

  it('a read-only folder: clear error, old file intact, out of sync and incompatible (not Standby) until it is writable', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('needs root for chattr');
    immutable = c.pathOf('b', 'project');
    execFileSync('chattr', ['+i', immutable]);
    writeFileSync(c.pathOf('a', 'project', 'app.cfg'), 'version 2\n');
    const b = await waitFor('b to report that it cannot write', 10_000, async () => {
      const s = await c.status('b');
      return s.sync.state === 'error' ? s : undefined;
    }, 50);
    assert.match(b.sync.message!, new RegExp(`cannot write ${immutable.replace(/[/.]/g, '\\$&')} \\(.*(EPERM|operation not permitted).*\\); give Duplex write access to it\\. The old files are unchanged`));
    assert.equal(readFileSync(c.pathOf('b', 'project', 'app.cfg'), 'utf8'), 'version 1\n');
    await waitFor('b to be incompatible and Inactive', 10_000, async () => {
      const s = await c.status('b');
      return s.role === 'inactive' && /incompatible: application version [0-9a-f]{16} here, [0-9a-f]{16} on the Active a/.test(s.reason) ? true : undefined;
    }, 50);
    const a = await waitFor("a to show b's error", 5_000, async () => {
      const s = await c.status('a');
      return s.peers[0]!.sync === 'error' ? s : undefined;
    });
    assert.notEqual(a.peers[0]!.revision!.n, a.sync.revision.n);
    const table = await runCli(['domain', 'status', '--domain', c.fileOf('a'), '--server', 'a']);
    assert.match(table.stdout, /^ {2}b +inactive +\d+ +[0-9a-f]{16} +error .*OUT OF SYNC$/m);
    execFileSync('chattr', ['-i', immutable]);
    immutable = null;
    await waitFor('b to catch up and be Standby again', 15_000, async () => {
      const s = await c.status('b');
      return s.role === 'standby' && s.sync.state === 'in-sync' ? true : undefined;
    }, 100);
    assert.equal(readFileSync(c.pathOf('b', 'project', 'app.cfg'), 'utf8'), 'version 2\n');
  });

  it('a peer with a wrong secret gets nothing; path traversal is refused and logged', async () => {
    const a = await c.status('a');
    const where = { host: '127.0.0.1', port: a.sync.port, domain: 'plant', timeoutMs: 3_000 };
    await assert.rejects(request({ ...where, key: randomBytes(32) }, { op: 'revision' }), /sync with 127\.0\.0\.1:\d+: /);
    await waitFor('the handshake failure in the log', 5_000, async () =>
      (c.nodes.get('a')!.output.some((l) => /failed the TLS handshake .*a peer with another domain secret gets nothing/.test(l)) ? true : undefined));
    const key = syncKey('plant', loadSecret(c.pathOf('a', 'duplex.secret')).secret);
    for (const path of ['../duplex.secret', 'project/../../../etc/passwd', '/etc/passwd', 'duplex-state/a/state.json', 'project/nothere.bin']) {
      await assert.rejects(request({ ...where, key }, { op: 'file', path, hash: '0'.repeat(64) }), /refused/, path);
    }
    assert.ok(c.nodes.get('a')!.output.some((l) => /refused a sync request from 127\.0\.0\.1 for "\.\.\/duplex\.secret": .*has empty, "\." or "\.\." parts/.test(l)));
    // The right key and a real file: served.
    const ok = await request({ ...where, key }, { op: 'revision' });
    assert.equal(ok.header.ok, true);
    ok.body.destroy();
  });
});
