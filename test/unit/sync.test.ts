/** Revisions (which wins, what descends), paths from the network, the settle time of an edit, kept versions and rollback. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SettleWatch } from '../../main/sync/settle';
import { keptVersions, rollbackText, RollbackError } from '../../main/sync/versions';
import { END_LINE } from '../../main/domain/end';
import { advertOf, compareAdverts, contentHash, descends, initialRevision, LINEAGE, nextRevision, pickSource } from '../../main/sync/revision';
import { isOwnFile, resolveSyncPath } from '../../main/sync/paths';
import { tempDir } from '../fixtures/temp';

const h = (c: string) => c.repeat(64);

describe('revisions', () => {
  it('a revision descends from the one it was edited from and from their ancestors', () => {
    const r0 = initialRevision(h('0'));
    const r1 = nextRevision(r0, h('1'), 'a', 100);
    const r2 = nextRevision(r1, h('2'), 'b', 200);
    assert.deepEqual([r2.n, r2.by, r2.lineage], [2, 'b', [h('1'), h('0')]]);
    assert.ok(descends(r2, r0.hash) && descends(r2, r1.hash) && descends(r2, r2.hash));
    assert.ok(!descends(r1, r2.hash));
    const far = Array.from({ length: LINEAGE + 5 }).reduce<typeof r0>((r, _, i) => nextRevision(r, `${i}`.padStart(64, 'f'), 'a', i), r0);
    assert.equal(far.lineage.length, LINEAGE, 'the lineage is bounded');
    assert.ok(!descends(far, r0.hash), 'too far back counts as concurrent: a conflict copy, never a loss');
  });

  it('concurrent edits: higher number, then later edit, then hash — the same winner everywhere', () => {
    const base = initialRevision(h('0'));
    const onA = nextRevision(base, h('a'), 'a', 1000);
    const onB = nextRevision(base, h('b'), 'b', 1001);
    assert.ok(compareAdverts(advertOf(onB), advertOf(onA)) > 0);
    const twiceOnA = nextRevision(onA, h('c'), 'a', 900);
    assert.ok(compareAdverts(advertOf(twiceOnA), advertOf(onB)) > 0, 'more edits win over a later single one');
    const sameTime = nextRevision(base, h('d'), 'b', 1000);
    assert.ok(compareAdverts(advertOf(sameTime), advertOf(onA)) > 0, 'then the hash decides');
    assert.equal(compareAdverts(advertOf(onA), advertOf(onA)), 0);
  });

  it('picks the greatest newer revision to fetch, and nothing when ours is newest', () => {
    const mine = { n: 3, t: 5, h: 'a'.repeat(16) };
    assert.equal(pickSource(mine, [{ server: 'b', rev: { n: 2, t: 9, h: 'f'.repeat(16) } }]), null);
    const p = pickSource(mine, [{ server: 'b', rev: { n: 4, t: 1, h: 'b'.repeat(16) } }, { server: 'c', rev: { n: 4, t: 2, h: 'c'.repeat(16) } }]);
    assert.equal(p?.server, 'c');
  });

  it('the content hash ignores file order', () => {
    const f1 = { path: 'p/a', size: 1, hash: h('1') };
    const f2 = { path: 'p/b', size: 2, hash: h('2') };
    assert.equal(contentHash({ domain: { size: 3, hash: h('9') }, files: [f1, f2] }), contentHash({ domain: { size: 3, hash: h('9') }, files: [f2, f1] }));
    assert.notEqual(contentHash({ domain: { size: 3, hash: h('9') }, files: [f1] }), contentHash({ domain: { size: 3, hash: h('8') }, files: [f1] }));
  });
});

describe('paths from the network', () => {
  const root = '/plant';
  it('accepts paths inside the configured files and folders', () => {
    assert.deepEqual(resolveSyncPath(root, ['project/', 'extra.cfg'], 'project/screens/main.scr'), { ok: true, path: '/plant/project/screens/main.scr' });
    assert.deepEqual(resolveSyncPath(root, ['project/', 'extra.cfg'], 'extra.cfg'), { ok: true, path: '/plant/extra.cfg' });
  });
  it('refuses everything that could escape or is not configured', () => {
    for (const bad of ['../etc/passwd', 'project/../../etc/passwd', '/etc/passwd', 'C:/Windows/win.ini', 'project\\..\\x', 'project//a', 'project/./a', 'other/a', 'projectX/a', '', 'a\0b', 'project/a.duplex-tmp']) {
      const r = resolveSyncPath(root, ['project/', 'extra.cfg'], bad);
      assert.equal(r.ok, false, bad);
    }
    assert.equal(resolveSyncPath(root, ['project/'], 42).ok, false);
  });
  it("knows Duplex's own files", () => {
    assert.ok(isOwnFile('.big.bin.1a2b3c4d.duplex-tmp'));
    assert.ok(isOwnFile('plant.yaml.conflict-b-20261122T031500'));
    assert.ok(isOwnFile('plant.yaml.rev12'));
    assert.ok(!isOwnFile('plant.yaml'));
  });
});

describe('an edit of the domain file is taken once it has stopped changing', () => {
  const SETTLE = 300;
  const f = (hash: string, mtimeMs: number, size = 10) => ({ hash, size, mtimeMs });

  it('a file modified just now waits the rest of the settle time; an old one is taken at once', () => {
    const w = new SettleWatch(SETTLE);
    assert.equal(w.observe(f('x', 10_000), 10_050, 0), 250);
    assert.equal(w.observe(f('x', 10_000), 10_300, 250), 0);
    const fresh = new SettleWatch(SETTLE);
    assert.equal(fresh.observe(f('y', 5_000), 10_000, 0), 0, 'last modified 5 s ago');
  });

  it('every change starts the wait again', () => {
    const w = new SettleWatch(SETTLE);
    assert.equal(w.observe(f('a', 1_000), 1_100, 100), 200);
    assert.equal(w.observe(f('b', 1_250), 1_290, 290), 260, 'changed again: wait from its new time');
    assert.equal(w.observe(f('b', 1_250, 11), 1_400, 400), 150, 'same time, other size: still changing');
    assert.equal(w.observe(f('b', 1_250, 11), 1_560, 560), 0);
  });

  it('a modification time in the future (another clock) is settled by watching the file for the settle time', () => {
    const w = new SettleWatch(SETTLE);
    assert.equal(w.observe(f('z', 99_999), 1_000, 0), SETTLE);
    assert.equal(w.observe(f('z', 99_999), 1_200, 200), 100);
    assert.equal(w.observe(f('z', 99_999), 1_300, 300), 0);
    w.reset();
    assert.equal(w.observe(f('z', 99_999), 1_400, 400), SETTLE, 'after a reset the watch starts over');
  });
});

describe('kept versions and rollback', () => {
  const body = 'domain: plant\nservers:\n  - name: a\n    role: main\nmulticast:\n  interface: 127.0.0.1\n';

  it('lists the kept revisions; rollback of one that is not kept names the ones that are', () => {
    const dir = tempDir('duplex-rev-');
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, `${body}${END_LINE}\n`);
    assert.throws(() => rollbackText(file, 1), (e: Error) => e instanceof RollbackError && /^no previous revisions are kept beside .*plant\.yaml/.test(e.message));
    for (const n of [3, 12, 4]) writeFileSync(`${file}.rev${n}`, `${body}failback: auto\n${END_LINE}\n`, { mode: 0o644 });
    writeFileSync(`${file}.rev7.tmp`, 'x');
    writeFileSync(join(dir, 'other.yaml.rev5'), 'x');
    assert.deepEqual(keptVersions(file), [3, 4, 12]);
    assert.throws(() => rollbackText(file, 5), (e: Error) => e instanceof RollbackError && e.message.endsWith('revision 5 is not kept beside ' + file + '; the kept revisions are 3, 4, 12 (duplex domain rollback <one of them>)'));
    const r = rollbackText(file, 4);
    assert.equal(r.text, `${body}failback: auto\n${END_LINE}\n`);
    assert.equal(r.addedEndLine, false);
  });

  it('a kept version without the end line gets it; an invalid one is refused with its problems', () => {
    const dir = tempDir('duplex-rev-');
    const file = join(dir, 'plant.yaml');
    writeFileSync(`${file}.rev2`, body, { mode: 0o644 });
    const r = rollbackText(file, 2);
    assert.equal(r.text, `${body}${END_LINE}\n`);
    assert.equal(r.addedEndLine, true);
    writeFileSync(`${file}.rev3`, `${body}failback: sometimes\n${END_LINE}\n`, { mode: 0o644 });
    assert.throws(() => rollbackText(file, 3), /revision 3 \(.*plant\.yaml\.rev3\) is not a valid domain file for this Duplex, so it is not put back:\n {2}line 7: failback: /);
  });
});
