#!/usr/bin/env node
// `npm run test:windows`: runs test/windows/scenario.ts (compiled) with the Windows build of Node
// under Wine, set up by the project's own test/windows/wine-node.js (WINE_NODE may name another
// program that takes the same arguments: `--setup`, then node's arguments), within a time limit.
// Afterwards every process left in the Wine prefix (all of them started by this run) is ended
// with `wineserver -k`, which also ends a hung run.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } = require('node:fs');
const { tmpdir, userInfo } = require('node:os');
const { join } = require('node:path');
const { ensureTools } = require('../tools');
const { setupWineNode, wineNodePaths } = require('./wine-node');

const LIMIT_MS = 7 * 60_000; // beyond the scenario's own 6 minutes: only a run that cannot end itself is ended here
const root = join(__dirname, '..', '..');
const scenario = join('out', 'test', 'windows', 'scenario.js');

ensureTools({ files: [], ui: false, windows: true, root: process.getuid?.() === 0, env: process.env });
let command;
let args;
const { env, exe, prefix } = wineNodePaths();
if (process.env.WINE_NODE) {
  if (!existsSync(process.env.WINE_NODE)) {
    console.error(`test:windows: WINE_NODE names ${process.env.WINE_NODE}, which does not exist; unset it to use test/windows/wine-node.js`);
    process.exit(2);
  }
  const setup = spawnSync(process.env.WINE_NODE, ['--setup'], { stdio: 'inherit', env });
  if (setup.status !== 0) process.exit(setup.status ?? 1);
  [command, args] = [process.env.WINE_NODE, [scenario]];
} else {
  const s = setupWineNode();
  console.log(`wine-node ready: ${s.answer} under Wine (first answer in ${s.warmUpMs} ms)`);
  [command, args] = ['wine', [exe, scenario]];
}

// Wine's node.exe cannot write to a pipe: its output goes to files, printed when it ends.
const outDir = mkdtempSync(join(tmpdir(), 'duplex-wine-run-'));
const outFile = join(outDir, 'out');
const errFile = join(outDir, 'err');
const fo = openSync(outFile, 'w');
const fe = openSync(errFile, 'w');
const run = spawn(command, args, { cwd: root, stdio: ['ignore', fo, fe], env });
let timedOut = false;
const limit = setTimeout(() => {
  timedOut = true;
  console.error(`test:windows: no end after ${LIMIT_MS / 1000} s; ending every process in the Wine prefix`);
  spawnSync('wineserver', ['-k'], { env, stdio: 'inherit' });
}, LIMIT_MS);
const started = Date.now();
run.once('exit', (code) => {
  clearTimeout(limit);
  closeSync(fo);
  closeSync(fe);
  const out = readFileSync(outFile, 'utf8');
  process.stdout.write(out);
  process.stderr.write(readFileSync(errFile, 'utf8'));
  rmSync(outDir, { recursive: true, force: true });
  spawnSync('wineserver', ['-k'], { env, stdio: 'inherit' });
  // The scenario's folders that Windows would not let it remove while its processes ran.
  const temp = join(prefix, 'drive_c', 'users', userInfo().username, 'Temp');
  for (const name of existsSync(temp) ? readdirSync(temp) : []) {
    const p = join(temp, name);
    if (name.startsWith('duplex-') && statSync(p).mtimeMs >= started - 1_000) rmSync(p, { recursive: true, force: true });
  }
  // A run ended by wineserver -k may still exit 0: only a run that ended by itself with every test passed passes.
  const passed = code === 0 && !timedOut && /^# fail 0$/m.test(out) && !/^not ok /m.test(out);
  if (!passed && code === 0) console.error(`test:windows: FAILED (${timedOut ? 'ended after the time limit' : 'a test failed, or no TAP summary'})`);
  process.exit(passed ? 0 : code || 1);
});
