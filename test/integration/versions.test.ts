/**
 * Versions with real processes: a rolling patch upgrade changes no role; a minor release is
 * incompatible while the Active is heard, and takes over once it is gone (no deadlock).
 *
 * Each Duplex version is a real install: this build's compiled main/ copied into its own
 * folder beside a package.json of that version (where main/version.ts reads VERSION), so
 * nothing in Duplex itself is bent for the test.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, runCli, sleep, waitFor, waitForRoles } from './cluster';
import { tempDir } from '../fixtures/temp';

const BUILD = join(__dirname, '..', '..');
const REPO = join(BUILD, '..');
const installs = tempDir('duplex-versions-');

/** Installs this build as Duplex `version`; returns its cli.js. */
function install(version: string): string {
  const root = join(installs, version);
  cpSync(join(BUILD, 'main'), join(root, 'out', 'main'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'duplex', version }));
  symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
  return join(root, 'out', 'main', 'cli.js');
}

describe('Duplex versions side by side (real nodes)', () => {
  const v123 = install('1.2.3');
  const v124 = install('1.2.4');
  const v130 = install('1.3.0');
  const c = new Cluster(['a', 'b']);
  let sampling = true;
  const seen: string[] = [];
  let sampler: Promise<void> = Promise.resolve();

  before(async () => {
    c.start('a', { cli: v123 });
    c.start('b', { cli: v123 });
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
    // Every role the Active shows from here until the minor release is tried.
    sampler = (async () => {
      while (sampling) {
        const s = await c.status('a', 1_000).catch(() => null);
        if (s) seen.push(`${s.role}@${s.epoch}`);
        await sleep(20);
      }
    })();
  });
  after(async () => {
    sampling = false;
    await sampler;
    await c.stop();
    rmSync(installs, { recursive: true, force: true });
  });

  it('a rolling patch upgrade: no role change (Active on 1.2.3, Standby upgraded to 1.2.4)', async () => {
    const before = await c.status('a');
    assert.equal(before.version, '1.2.3');
    c.kill('b', 'SIGTERM');
    await c.nodes.get('b')!.exited;
    c.start('b', { cli: v124 });
    const b = await waitFor('b on 1.2.4 to be Standby', 10_000, async () => {
      const s = await c.status('b');
      return s.version === '1.2.4' && s.role === 'standby' ? s : undefined;
    });
    assert.equal(b.incompatible, null);
    assert.equal(b.peers.find((p) => p.server === 'a')!.versions!.duplex, '1.2.3');
    await sleep(2_000); // a few failure timeouts: nothing moves
    const a = await c.status('a');
    assert.equal(a.role, 'active');
    assert.equal(a.epoch, before.epoch);
    assert.deepEqual(a.peers.map((p) => [p.server, p.role, p.versions?.duplex]), [['b', 'standby', '1.2.4']]);
    assert.equal((await c.status('b')).role, 'standby');
    assert.deepEqual([...new Set(seen)], [`active@${before.epoch}`], 'the Active never changed role or epoch');
  });

  it('a minor release is incompatible while the Active is heard; when the Active is gone it takes over', async () => {
    sampling = false;
    await sampler;
    c.kill('b', 'SIGTERM');
    await c.nodes.get('b')!.exited;
    const node = c.start('b', { cli: v130 });
    const b = await waitFor('b on 1.3.0 to be Inactive, incompatible', 10_000, async () => {
      const s = await c.status('b');
      return s.version === '1.3.0' && s.role === 'inactive' && s.incompatible ? s : undefined;
    });
    assert.equal(b.incompatible, 'Duplex 1.3.0 here, 1.2.3 on the Active a: servers must run the same Duplex major.minor (patch releases may differ); install 1.2.x here or upgrade every server');
    const refused = await runCli(['activate', '--domain', c.file, '--server', 'b']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /b is incompatible with the Active: Duplex 1\.3\.0 here, 1\.2\.3 on the Active a/);
    assert.equal((await c.status('a')).peers[0]!.eligible, false, 'the Active sees it as not eligible');

    c.kill('a', 'SIGKILL');
    const took = await waitFor('b to take over once a is gone', 10_000, async () => {
      const s = await c.status('b');
      return s.role === 'active' ? s : undefined;
    }, 50);
    assert.equal(took.incompatible, null);
    assert.ok(took.events.some((e) => e.to === 'active' && /failover/.test(e.reason)), JSON.stringify(took.events));
    assert.ok(node.output.some((l) => /the Active a is no longer heard: versions are judged only against a live Active/.test(l)), node.output.join('\n'));
  });
});
