/** test/tools.js: the programs the tests need, checked before any test runs (test/run.js). */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../fixtures/temp';

const REPO = join(__dirname, '..', '..', '..');
interface Tool { program: string; pkg: string }
interface Need { files: string[]; ui: boolean; windows: boolean; root: boolean; env: NodeJS.ProcessEnv }
// test/tools.js is plain JavaScript, beside test/run.js (which runs before anything is built).
const tools = require(join(REPO, 'test', 'tools.js')) as { TOOLS: Tool[]; missingTools: (n: Need) => Tool[]; installLine: (m: Tool[]) => string };

/** A folder with an executable file for each of these programs. */
function fakeBin(programs: string[]): string {
  const dir = tempDir('duplex-bin-');
  for (const p of programs) {
    writeFileSync(join(dir, p), '#!/bin/sh\n');
    chmodSync(join(dir, p), 0o755);
  }
  return dir;
}

const programs = (m: Tool[]) => m.map((t) => t.program);

describe('the programs the tests need', () => {
  const empty = fakeBin([]);
  const all = fakeBin(tools.TOOLS.map((t) => t.program));
  const none = { PATH: empty, CHROMIUM: join(empty, 'chromium') };
  after(() => {
    rmSync(empty, { recursive: true, force: true });
    rmSync(all, { recursive: true, force: true });
  });

  it('each chosen test asks only for what it uses; the root-only ones only as root', () => {
    const unit = { files: ['unit/codec.test.js', 'sim/sim.test.js'], ui: false, windows: false, env: none };
    assert.deepEqual(programs(tools.missingTools({ ...unit, root: true })), []);
    const it = { files: ['integration/health.test.js', 'integration/netns.test.js', 'integration/sync.test.js'], ui: false, windows: false, env: none };
    assert.deepEqual(programs(tools.missingTools({ ...it, root: false })), ['ping']);
    assert.deepEqual(programs(tools.missingTools({ ...it, root: true })), ['ping', 'ip', 'nft', 'chattr']);
    assert.deepEqual(programs(tools.missingTools({ files: [], ui: true, windows: true, root: false, env: none })), ['chromium', 'wine']);
    const vip = { files: [':bench:vip'], ui: false, windows: false, env: none };
    assert.deepEqual(programs(tools.missingTools({ ...vip, root: true })), ['ip', 'keepalived', 'arping']);
    assert.deepEqual(programs(tools.missingTools({ ...vip, root: false })), []);
  });

  it('a program on PATH (Chromium at $CHROMIUM) is not missing', () => {
    const env = { PATH: `${empty}:${all}`, CHROMIUM: join(all, 'chromium') };
    assert.deepEqual(programs(tools.missingTools({ files: ['integration/health.test.js', 'integration/quorum.test.js', 'integration/sync.test.js'], ui: true, windows: true, root: true, env })), []);
  });

  it('the apt-get line names the Debian packages', () => {
    assert.equal(tools.installLine(tools.TOOLS.filter((t) => t.program === 'ping' || t.program === 'nft')), 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y iputils-ping nftables');
  });

  it('npm test without ping on PATH stops at once, exit 2, naming it and the line to install it (DUPLEX_NO_INSTALL: as if not root)', () => {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [join(REPO, 'test', 'run.js'), 'integration/health'], { encoding: 'utf8', env: { ...process.env, PATH: empty, DUPLEX_NO_INSTALL: '1' } });
    assert.equal(r.status, 2, r.stderr + r.stdout);
    assert.match(r.stderr, /The tests need programs that are not installed:\n {2}ping \(Debian package iputils-ping\): the ping witness probe\nInstall them \(as root\) with:\n {2}apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y iputils-ping\n/);
    assert.equal(r.stdout, '', 'no test ran');
    assert.ok(Date.now() - t0 < 10_000);
  });

  it('as root it installs what is missing with apt-get, waiting for the dpkg lock instead of stopping at once, and says so', () => {
    // A fake apt-get that records its arguments and "installs" ping.
    const bin = fakeBin([]);
    const log = join(bin, 'apt-get.log');
    symlinkSync('/bin/sh', join(bin, 'sh'));
    writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "$*" >> ${log}\ncase "$*" in *install*) printf '#!/bin/sh\\n' > ${join(bin, 'ping')}; /bin/chmod 755 ${join(bin, 'ping')};; esac\n`);
    chmodSync(join(bin, 'apt-get'), 0o755);
    const need = JSON.stringify({ files: ['integration/health.test.js'], ui: false, windows: false, root: true, env: { PATH: bin } });
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(join(REPO, 'test', 'tools.js'))}).ensureTools(${need})`], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /installing them:\n {2}ping \(Debian package iputils-ping\)/);
    assert.match(r.stdout, /waits up to 10 minutes for the dpkg lock/);
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    assert.deepEqual(calls, ['-o DPkg::Lock::Timeout=600 update -qq', '-o DPkg::Lock::Timeout=600 install -y -qq iputils-ping']);
  });
});
