#!/usr/bin/env node
// `npm run test:windows`: runs test/windows/scenario.ts (compiled) with the Windows build of Node
// under Wine, through ../shared/windows/wine-node (WINE_NODE overrides the path), within a time
// limit. Afterwards every process left in the Wine prefix (all of them started by this run) is
// ended with `wineserver -k`, which also ends a hung run.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const { existsSync, readdirSync, rmSync, statSync } = require('node:fs');
const { join } = require('node:path');

const LIMIT_MS = 4 * 60_000;
const root = join(__dirname, '..', '..');
const wineNode = process.env.WINE_NODE ?? join(root, '..', 'shared', 'windows', 'wine-node');
if (!existsSync(wineNode)) {
  console.error(`test:windows needs ${wineNode} (it installs Wine and the Windows build of Node); set WINE_NODE to its path`);
  process.exit(2);
}
const prefix = process.env.WINEPREFIX ?? join(process.env.WINE_NODE_HOME ?? join(process.env.HOME ?? '/root', '.cache', 'duplex-wine'), 'prefix');
const env = { ...process.env, WINEPREFIX: prefix };
const setup = spawnSync(wineNode, ['--setup'], { stdio: 'inherit', env });
if (setup.status !== 0) process.exit(setup.status ?? 1);
const run = spawn(wineNode, [join('out', 'test', 'windows', 'scenario.js')], { cwd: root, stdio: 'inherit', env });
const limit = setTimeout(() => {
  console.error(`test:windows: no end after ${LIMIT_MS / 1000} s; ending every process in the Wine prefix`);
  spawnSync('wineserver', ['-k'], { env, stdio: 'inherit' });
}, LIMIT_MS);
const started = Date.now();
run.once('exit', (code) => {
  clearTimeout(limit);
  spawnSync('wineserver', ['-k'], { env, stdio: 'inherit' });
  // The scenario's folders that Windows would not let it remove while its processes ran.
  const temp = join(prefix, 'drive_c', 'users', require('node:os').userInfo().username, 'Temp');
  for (const name of existsSync(temp) ? readdirSync(temp) : []) {
    const p = join(temp, name);
    if (name.startsWith('duplex-') && statSync(p).mtimeMs >= started - 1_000) rmSync(p, { recursive: true, force: true });
  }
  process.exit(code ?? 1);
});
