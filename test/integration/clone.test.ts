/**
 * A clone of this repository in a folder with nothing beside it (no ../shared, no WINE_NODE)
 * finds everything its Windows stage needs inside itself: test/windows/wine-node.js sets Wine
 * and the Windows build of Node up and answers.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../fixtures/temp';

const REPO = join(__dirname, '..', '..', '..');
const isCheckout = spawnSync('git', ['-C', REPO, 'rev-parse', '--is-inside-work-tree'], { encoding: 'utf8' }).stdout?.trim() === 'true';

describe('a fresh clone', { skip: isCheckout ? false : 'not a git checkout: there is nothing to clone' }, () => {
  it('sets its Wine and Windows Node up from inside the project, with nothing beside it', { timeout: 15 * 60_000 }, () => {
    const parent = tempDir('duplex-clone-');
    const clone = join(parent, 'duplex');
    const c = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', REPO, clone], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    assert.deepEqual(readdirSync(parent), ['duplex'], 'nothing beside the clone');
    assert.ok(!existsSync(join(parent, 'shared')));
    const env = { ...process.env };
    delete env.WINE_NODE;
    const r = spawnSync(process.execPath, [join(clone, 'test', 'windows', 'wine-node.js'), '--setup'], { cwd: clone, encoding: 'utf8', env });
    assert.equal(r.status, 0, `wine-node --setup in the clone: ${r.stderr}${r.stdout}`);
    assert.match(r.stdout, /^wine-node ready: .*node\.exe \(win32 v\d+\.\d+\.\d+,/m);
  });
});
