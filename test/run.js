#!/usr/bin/env node
// Runs every compiled test file (out/test/**/*.test.js) with Node's test runner, several files
// at a time (each file its own process; files never share ports, multicast groups or network
// namespaces); then the Windows scenario under Wine (test/windows/run.js); then the browser tests
// (out/test/ui/*.spec.js) with Playwright in Debian's Chromium.
//   node test/run.js            everything (npm test)
//   node test/run.js quick      the unit, engine and simulation tests (npm run test:quick)
//   node test/run.js <text>     only the test files whose path contains <text>
//   node test/run.js ui         only the browser tests; `windows` only the Windows scenario
// DUPLEX_TEST_JOBS sets how many test files run at once (default 2).
// First it checks the programs the chosen tests need (test/tools.js): as root it installs the
// missing Debian packages, otherwise it stops (exit 2) naming them and the apt-get line.
// Every test runs with a temporary folder of the suite's own (TMPDIR): at the end, anything a
// test left there is named and fails the run, and the folder is removed.
'use strict';
const { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, relative, sep } = require('node:path');
const { spawn } = require('node:child_process');
const { ensureTools } = require('./tools');

const root = join(__dirname, '..', 'out', 'test');
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(root);
const filter = process.argv[2];
const rel = (f) => relative(root, f).split(sep).join('/');
const QUICK = ['unit/', 'sim/'];
const chosen = filter === 'quick' ? files.filter((f) => QUICK.some((q) => rel(f).startsWith(q)))
  : filter === 'windows' || filter === 'ui' ? []
  : filter ? files.filter((f) => f.includes(filter)) : files;
// The longest files start first, so that the last ones to finish are short; the simulations,
// which keep a core busy from start to end, come last: real nodes beside them would be starved
// of the CPU they need to keep their heartbeats, and a test of real nodes would see what a
// starved server does.
const LONGEST_FIRST = ['integration/quorum', 'integration/guardian', 'integration/health', 'integration/netns', 'integration/supervision', 'integration/packaging', 'integration/crash-loop'];
const LAST = ['sim/chaos', 'sim/quorum', 'sim/sim'];
const rank = (f) => {
  const r = rel(f);
  const first = LONGEST_FIRST.findIndex((p) => r.startsWith(p));
  const last = LAST.findIndex((p) => r.startsWith(p));
  return first !== -1 ? first : last !== -1 ? 100 + last : 50;
};
chosen.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const browser = !filter || filter === 'ui';
const windows = !filter || filter === 'windows';
if (!chosen.length && !browser && !windows) {
  console.error(`no test files${filter ? ` matching "${filter}"` : ''} under ${root}; run npm run build first`);
  process.exit(1);
}
ensureTools({ files: chosen.map(rel), ui: browser, windows, root: process.getuid?.() === 0, env: process.env });

const jobs = Math.max(1, Number(process.env.DUPLEX_TEST_JOBS) || 2);
const suiteTmp = mkdtempSync(join(tmpdir(), 'duplex-suite-'));
chmodSync(suiteTmp, 0o1777); // as /tmp is: tests that run a program as another user (nobody) use it too
const env = { ...process.env, TMPDIR: suiteTmp };
const started = Date.now();
const took = () => `${Math.round((Date.now() - started) / 1000)} s`;

/** Runs a stage, its output straight to ours; resolves with its exit code. */
function stage(name, args) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env, stdio: 'inherit' });
    child.once('exit', (code, signal) => {
      console.log(`---- ${name}: ${code === 0 ? 'passed' : `FAILED (${signal ?? `exit ${code}`})`}, ${took()} into the run`);
      resolve(code ?? 1);
    });
  });
}

function leftovers() {
  const left = readdirSync(suiteTmp);
  rmSync(suiteTmp, { recursive: true, force: true });
  const ours = left.filter((n) => n.startsWith('duplex-'));
  if (left.length > ours.length) console.log(`(the browser or Wine left ${left.length - ours.length} entries in the suite's temp folder, removed: ${left.filter((n) => !ours.includes(n)).join(', ')})`);
  if (!ours.length) return 0;
  console.error(`FAILED: the tests left ${ours.length} folders or files in the temp folder (removed now; each test must remove its own, see test/fixtures/temp.ts):\n  ${ours.join('\n  ')}`);
  return 1;
}

process.once('SIGINT', () => {
  rmSync(suiteTmp, { recursive: true, force: true });
  process.exit(130);
});

(async () => {
  // The stages run one after the other. The Windows scenario once ran beside Node's tests: on two
  // cores, Wine's start-up and the real nodes of the first files starved each other, and a node
  // under Wine that did not renew its guardian's lease for 600 ms was fenced, as it should be on a
  // server that stalls so (CI, 2026-12-08). A test of failover must not run on a starved machine.
  let status = 0;
  if (chosen.length) status = await stage('Node tests', ['--test', `--test-concurrency=${jobs}`, '--test-timeout=300000', ...chosen]);
  if (windows) status = (await stage('Windows scenario under Wine', [join(__dirname, 'windows', 'run.js')])) || status;
  if (browser) {
    const cli = require.resolve('@playwright/test/cli');
    status = (await stage('browser tests', [cli, 'test', '-c', join(root, 'ui', 'playwright.config.js')])) || status;
  }
  status = leftovers() || status;
  console.log(`${status === 0 ? 'all tests passed' : 'some tests FAILED'} in ${took()}`);
  process.exit(status);
})();
