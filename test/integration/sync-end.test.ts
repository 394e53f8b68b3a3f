/**
 * The end line, the settle time and rollback with real nodes on loopback, each server with
 * its own folder: a domain file cut short on one server is never spread (peers keep the
 * previous revision byte for byte; the editing server keeps the last good revision in force
 * and shows the problem); an edit still changing is taken once, when it has stopped; a kept
 * revision is put back on every server as a new revision.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseDocument } from 'yaml';
import { Cluster, runCli, sleep, waitFor, waitForRoles } from './cluster';
import { END_LINE } from '../../main/domain/end';
import { SYNC_SETTLE_MS } from '../../main/defaults';

const SERVERS = ['a', 'b', 'c'];

describe('a domain file cut short is never spread; rollback puts a kept revision back everywhere', () => {
  const c = new Cluster(SERVERS, {
    separate: true,
    runtime: { processes: [{ name: 'plant', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }] },
  });
  after(() => c.stop());

  const revisionOf = async (s: string) => (await c.status(s)).sync.revision;
  const identical = (want: Buffer) => waitFor('the same domain file on every server', 10_000, async () =>
    (SERVERS.every((s) => readFileSync(c.fileOf(s)).equals(want)) ? true : undefined), 20);
  const edit = (server: string, change: (doc: ReturnType<typeof parseDocument>) => void): Buffer => {
    const doc = parseDocument(readFileSync(c.fileOf(server), 'utf8'));
    change(doc);
    const bytes = Buffer.from(doc.toString());
    writeFileSync(c.fileOf(server), bytes);
    return bytes;
  };

  it('cut short on a (before the runtime section, inside a comment, inside the end line): a keeps its revision and says why; b and c keep theirs byte for byte', async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 10_000);
    const whole = readFileSync(c.fileOf('a'));
    const text = whole.toString('utf8');
    const before = Object.fromEntries(SERVERS.map((s) => [s, readFileSync(c.fileOf(s))]));
    const rev0 = await revisionOf('a');
    const cuts = {
      'before the runtime section': text.indexOf('\nruntime:') + 1,
      'inside the comment above the end line': text.indexOf('written or cut short'),
      'inside the end line': text.lastIndexOf(END_LINE) + 20,
    };
    for (const [where, at] of Object.entries(cuts)) {
      assert.ok(at > 0, where);
      writeFileSync(c.fileOf('a'), whole.subarray(0, at));
      const st = await waitFor(`a to refuse the file cut ${where}`, 10_000, async () => {
        const s = await c.status('a');
        return s.sync.state === 'error' ? s : undefined;
      });
      assert.match(st.sync.message!, new RegExp(`the domain file was edited but is not finished: it does not end with the line "${END_LINE.replace(/[()]/g, '\\$&')}": it may still be being written or was cut short; finish the edit and keep that line last.*; revision ${rev0.n} stays in force and the edit is not sent to the other servers`));
      assert.deepEqual(st.sync.revision, rev0, `${where}: the last good revision stays in force on a`);
      assert.equal(st.runtime.processes.length, 1, 'the runtime section is still in force on a');
      if (where === 'before the runtime section') {
        const shown = await runCli(['status', '--domain', c.fileOf('a'), '--server', 'a']);
        assert.equal(shown.code, 0, shown.stderr);
        assert.match(shown.stdout, new RegExp(`domain: revision ${rev0.n} .*error: the domain file was edited but is not finished`));
        assert.match(shown.stderr, /warning: the domain file .*plant\.yaml does not end with the line/);
      }
      // Put right: back to the revision in force, no new revision.
      writeFileSync(c.fileOf('a'), whole);
      await waitFor('a back in sync', 10_000, async () => ((await c.status('a')).sync.state === 'in-sync' ? true : undefined));
    }
    await sleep(2 * SYNC_SETTLE_MS);
    for (const s of SERVERS) {
      assert.ok(readFileSync(c.fileOf(s)).equals(before[s]!), `${s} has its previous domain file byte for byte`);
      assert.deepEqual(await revisionOf(s), rev0, `${s} is on revision ${rev0.n}`);
    }
    assert.ok(c.nodes.get('a')!.output.some((l) => /the domain file was edited but is not finished/.test(l)), 'a logs why');
    assert.deepEqual(await c.roles(), { a: 'active', b: 'standby', c: 'inactive' });
  });

  it('an edit saved again and again is taken once, when it has stopped changing', async (t) => {
    const rev0 = await revisionOf('a');
    const versions = Array.from({ length: 8 }, (_, i) => Buffer.from(readFileSync(c.fileOf('a'), 'utf8').replace(/failbackDelayMs: \d+/, `failbackDelayMs: ${50_001 + i}`)));
    let last = performance.now();
    let widestGap = 0;
    for (const v of versions) {
      writeFileSync(c.fileOf('a'), v);
      const now = performance.now();
      widestGap = Math.max(widestGap, now - last);
      last = now;
      await sleep(40);
    }
    await identical(versions[versions.length - 1]!);
    const rev = await revisionOf('a');
    // A writer paused longer than the settle time has stopped changing the file: that is not what this tests.
    if (widestGap >= SYNC_SETTLE_MS - 50) return t.skip(`the writes were ${Math.round(widestGap)} ms apart on this loaded machine`);
    assert.equal(rev.n, rev0.n + 1, 'one revision for the whole burst of saves');
  });

  it('duplex domain rollback <N> after two edits: every server gets the old content as a new, higher revision', async () => {
    const r0 = await revisionOf('a');
    const old = readFileSync(c.fileOf('a'));
    // One edit made on a (kept on a by the local edit), one on b (kept on a when fetched).
    const e1 = edit('a', (d) => d.setIn(['timings', 'failbackDelayMs'], 61_000));
    await identical(e1);
    const e2 = edit('b', (d) => d.set('failback', 'auto'));
    await identical(e2);
    const r2 = await revisionOf('a');
    assert.equal(r2.n, r0.n + 2);
    assert.ok(readFileSync(`${c.fileOf('a')}.rev${r0.n}`).equals(old), 'a keeps the revision before its own edit');
    assert.ok(readFileSync(`${c.fileOf('a')}.rev${r0.n + 1}`).equals(e1), 'a keeps the revision replaced by a fetched one');

    const missing = await runCli(['domain', 'rollback', String(r2.n + 5), '--domain', c.fileOf('a'), '--server', 'a']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`revision ${r2.n + 5} is not kept beside .*plant\\.yaml; the kept revisions are .*\\b${r0.n}, ${r0.n + 1}\\b`));
    assert.ok(readFileSync(c.fileOf('a')).equals(e2), 'nothing written');

    const r = await runCli(['domain', 'rollback', String(r0.n), '--domain', c.fileOf('a'), '--server', 'a']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^ok: revision ${r0.n} is put back as revision ${r2.n + 1}, in force on a, b, c`));
    await identical(old);
    const revs = await Promise.all(SERVERS.map(revisionOf));
    for (const [i, rv] of revs.entries()) {
      assert.equal(rv.n, r2.n + 1, `${SERVERS[i]}: a new, higher revision`);
      assert.equal(rv.hash, revs[0]!.hash);
      assert.equal(rv.by, 'a');
    }
    assert.equal(revs[0]!.hash, r0.hash, 'the same content as the revision put back');
    assert.ok(existsSync(`${c.fileOf('c')}.rev${r2.n}`), 'c keeps the revision the rollback replaced');
    assert.equal((await c.status('b')).sync.state, 'in-sync');
  });
});
