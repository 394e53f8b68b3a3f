#!/usr/bin/env node
// Runs every compiled test file (out/test/**/*.test.js) with Node's test runner, then the
// browser tests (out/test/ui/*.spec.js) with Playwright in Debian's Chromium.
// Then the Windows scenario under Wine (test/windows/run.js).
// `node test/run.js unit` runs only the files whose path contains "unit"; `ui` only the browser
// tests; `windows` only the Windows scenario.
// First it checks the programs the chosen tests need (test/tools.js): as root it installs the
// missing Debian packages, otherwise it stops (exit 2) naming them and the apt-get line.
'use strict';
const { readdirSync, statSync } = require('node:fs');
const { join, relative, sep } = require('node:path');
const { spawnSync } = require('node:child_process');
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
const chosen = filter ? files.filter((f) => f.includes(filter)) : files;
const browser = !filter || filter === 'ui';
if (filter === 'windows') chosen.length = 0;
if (!chosen.length && !browser && filter !== 'windows') {
  console.error(`no test files${filter ? ` matching "${filter}"` : ''} under ${root}; run npm run build first`);
  process.exit(1);
}
const windows = !filter || filter === 'windows';
ensureTools({ files: chosen.map((f) => relative(root, f).split(sep).join('/')), ui: browser, windows, root: process.getuid?.() === 0, env: process.env });
let status = 0;
if (chosen.length) {
  const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...chosen], { stdio: 'inherit' });
  status = r.status ?? 1;
}
if (browser) {
  const cli = require.resolve('@playwright/test/cli');
  const r = spawnSync(process.execPath, [cli, 'test', '-c', join(root, 'ui', 'playwright.config.js')], { stdio: 'inherit' });
  status = status || (r.status ?? 1);
}
if (windows) {
  // The Windows code paths, under Wine with the Windows build of Node (test/windows/run.js).
  const r = spawnSync(process.execPath, [join(__dirname, 'windows', 'run.js')], { stdio: 'inherit' });
  status = status || (r.status ?? 1);
}
process.exit(status);
