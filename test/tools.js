// The programs the tests need beyond Node and npm, in one list: which program, its Debian
// package, and which tests need it. test/run.js checks them before any test runs: as root it
// installs the missing packages with apt-get; otherwise it stops at once (exit 2) naming them
// and the apt-get line to run. DUPLEX_NO_INSTALL=1 never installs (it only names them).
'use strict';
const { accessSync, constants } = require('node:fs');
const { delimiter, join } = require('node:path');
const { spawnSync } = require('node:child_process');

/**
 * `tests`: the test files (paths under out/test/ starting so) that need the program, `:ui` the
 * browser tests, `:windows` the Windows scenario, `:bench:vip` the virtual IP bench (bench/vip.ts,
 * which checks its programs here too); `root`: needed only as root (the tests that use it skip
 * otherwise).
 */
const TOOLS = [
  { program: 'ping', pkg: 'iputils-ping', why: 'the ping witness probe', tests: ['integration/health'], root: false },
  { program: 'chromium', pkg: 'chromium', why: 'the browser tests of the status window', tests: [':ui'], root: false },
  { program: 'wine', pkg: 'wine64', why: 'the Windows scenario under Wine', tests: [':windows', 'integration/clone'], root: false },
  { program: 'git', pkg: 'git', why: 'cloning this repository into a folder of its own (the fresh-clone test)', tests: ['integration/clone'], root: false },
  { program: 'ip', pkg: 'iproute2', why: 'network namespaces (partitions, quorum, the virtual IP and its bench)', tests: ['integration/netns', 'integration/quorum', 'integration/vip', ':bench:vip'], root: true },
  { program: 'nft', pkg: 'nftables', why: 'cut links and loss between namespaces', tests: ['integration/netns', 'integration/quorum', 'integration/vip'], root: true },
  { program: 'setpriv', pkg: 'util-linux', why: 'the runtime held in a PID namespace of its own (setpriv, unshare, setsid)', tests: ['integration/runtime-tree', 'integration/runtime.test'], root: false },
  { program: 'unshare', pkg: 'util-linux', why: 'the runtime held in a PID namespace of its own', tests: ['integration/runtime-tree', 'integration/runtime.test'], root: false },
  { program: 'chattr', pkg: 'e2fsprogs', why: 'the read-only folder test of domain sync', tests: ['integration/sync.test'], root: true },
  { program: 'keepalived', pkg: 'keepalived', why: "keepalived's half of the virtual IP bench (VRRP)", tests: [':bench:vip'], root: true },
  { program: 'arping', pkg: 'iputils-arping', why: 'the virtual IP\'s announcement (unsolicited ARP), and who answers ARP for it in its bench', tests: ['integration/vip', ':bench:vip'], root: true },
];

/** Whether `program` is an executable file on PATH; Chromium is where the browser tests look for it. */
function present(program, env) {
  const candidates = program === 'chromium'
    ? [env.CHROMIUM || '/usr/bin/chromium']
    : (env.PATH || '').split(delimiter).filter(Boolean).map((dir) => join(dir, program));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The tools missing for these parts of the run: `files` the test files chosen (relative to
 * out/test, with /), `ui` and `windows` whether the browser tests and the Windows scenario run,
 * `root` whether as root.
 */
function missingTools({ files, ui, windows, root, env }) {
  const parts = [...files, ...(ui ? [':ui'] : []), ...(windows ? [':windows'] : [])];
  return TOOLS.filter((t) => (root || !t.root) && parts.some((p) => t.tests.some((s) => p.startsWith(s))) && !present(t.program, env));
}

/** How long the installer waits for the dpkg lock (another apt-get, unattended-upgrades) before it gives up. */
const LOCK_WAIT_S = 600;

/** The command npm test runs as root: quiet, and waiting for the dpkg lock instead of stopping at once. */
function installCommand(missing) {
  const wait = `-o DPkg::Lock::Timeout=${LOCK_WAIT_S}`;
  return `apt-get ${wait} update -qq && DEBIAN_FRONTEND=noninteractive apt-get ${wait} install -y -qq ${missing.map((t) => t.pkg).join(' ')}`;
}

/** The apt-get line that installs them. */
function installLine(missing) {
  return `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing.map((t) => t.pkg).join(' ')}`;
}

/**
 * Makes sure the tools are there: returns when they are (installed now as root), else prints
 * what is missing and the line to install it, and exits 2.
 */
function ensureTools(need) {
  const missing = missingTools(need);
  if (!missing.length) return;
  const list = missing.map((t) => `  ${t.program} (Debian package ${t.pkg}): ${t.why}`).join('\n');
  const canInstall = need.root && need.env.DUPLEX_NO_INSTALL !== '1' && present('apt-get', need.env);
  if (canInstall) {
    console.log(`The tests need programs that are not installed; installing them:\n${list}\n` +
      `(apt-get waits up to ${LOCK_WAIT_S / 60} minutes for the dpkg lock if another installer, such as unattended-upgrades, holds it)`);
    const r = spawnSync('sh', ['-c', installCommand(missing)], { stdio: 'inherit', env: need.env });
    const still = missingTools(need);
    if (r.status === 0 && !still.length) return;
    console.error(`installing failed (apt-get exit ${r.status}); still missing: ${still.map((t) => t.program).join(', ') || 'none'}`);
    process.exit(2);
  }
  console.error(`The tests need programs that are not installed:\n${list}\nInstall them (as root) with:\n  ${installLine(missing)}\nthen run the tests again.${need.root ? '' : ' As root, npm test installs them itself.'}`);
  process.exit(2);
}

module.exports = { TOOLS, missingTools, installLine, installCommand, ensureTools };
