/**
 * The installer configuration, checked here rather than on a plant's server: the
 * electron-builder file validates, and an offline Linux folder pack (with a stand-in for the
 * Electron binary, which cannot be downloaded here) holds everything the app loads.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FIREWALL_RULES } from '../../main/service/plan';
import { ICONS, TRAY_SIZES } from '../../build/icons';
import { tempDir } from '../fixtures/temp';

const ROOT = join(__dirname, '..', '..', '..');
const CONFIG = join(ROOT, 'build', 'electron-builder.yml');

/* eslint-disable @typescript-eslint/no-require-imports */
const { validateConfiguration } = require('app-builder-lib/out/util/config/config') as { validateConfiguration: (c: unknown, l: unknown) => Promise<void> };
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
const asar = require('@electron/asar') as { listPackage: (p: string, o: object) => string[]; extractFile: (p: string, f: string) => Buffer };

describe('installer configuration', () => {
  const work = tempDir('duplex-pack-');
  after(() => rmSync(work, { recursive: true, force: true }));

  it("validates against electron-builder's schema; a misspelt option is refused", async () => {
    const config = parse(readFileSync(CONFIG, 'utf8')) as Record<string, Record<string, unknown>>;
    await validateConfiguration(config, new DebugLogger(false));
    assert.equal(config.nsis!.perMachine, true);
    assert.equal(config.nsis!.include, 'build/installer.nsh');
    await assert.rejects(validateConfiguration({ ...config, nsis: { ...config.nsis, perMachin: true } }, new DebugLogger(false)), /configuration\.nsis/);
  });

  it('the installer script adds firewall rules, puts duplex on PATH and asks about auto-start; uninstall removes the service, rules, PATH entry and login item and says what it keeps', () => {
    const nsh = readFileSync(join(ROOT, 'build', 'installer.nsh'), 'utf8');
    const install = /!macro customInstall([\s\S]*?)!macroend/.exec(nsh)![1]!;
    const uninstall = /!macro customUnInstall([\s\S]*?)!macroend/.exec(nsh)![1]!;
    assert.match(install, /protocol=UDP localport=47800[\s\S]*protocol=TCP localport=47801/);
    assert.match(install, /name="Duplex heartbeats" [^\n]*localport=47800/, 'the rule names duplex service install replaces');
    assert.match(install, /DoNotExpandEnvironmentNames[^\n]*-Type ExpandString[^\n]*\$INSTDIR/, 'PATH stays REG_EXPAND_SZ');
    assert.match(install, /install-options\.json/);
    assert.match(uninstall, /^\s*(;[^\n]*\n\s*)*\$\{ifNot\} \$\{isUpdated\}[\s\S]*duplex\.cmd" service uninstall[\s\S]*\$\{endIf\}\s*$/, 'an update keeps the service');
    for (const name of FIREWALL_RULES) assert.ok(uninstall.includes(`firewall delete rule name="${name}"`), name);
    assert.match(uninstall, /Where-Object[^\n]*-ne ''\$INSTDIR''/);
    assert.match(uninstall, /DeleteRegValue HKCU "Software\\Microsoft\\Windows\\CurrentVersion\\Run" "com\.duplex\.redundancy"/);
    assert.match(uninstall, /Kept: the domain file, the domain secret and the logs/);
  });

  it('the Windows build signs with a certificate from the environment, ships duplex.cmd and the service wrapper', () => {
    const config = parse(readFileSync(CONFIG, 'utf8')) as { win: { signtoolOptions: { signingHashAlgorithms: string[] }; extraFiles: { from: string; to: string }[]; extraResources: { from: string; to: string }[] } };
    assert.deepEqual(config.win.signtoolOptions.signingHashAlgorithms, ['sha256']);
    assert.match(readFileSync(CONFIG, 'utf8'), /CSC_LINK[\s\S]*CSC_KEY_PASSWORD/, 'the certificate\'s variables are documented where the build is configured');
    assert.deepEqual(config.win.extraFiles, [{ from: 'build/duplex.cmd', to: 'duplex.cmd' }]);
    assert.ok(existsSync(join(ROOT, 'build', 'duplex.cmd')));
    assert.equal(config.win.extraResources[0]!.from, 'build/winsw', 'npm run dist puts WinSW there (build/winsw.ts)');
    const shim = readFileSync(join(ROOT, 'build', 'duplex.cmd'), 'utf8');
    assert.match(shim, /set ELECTRON_RUN_AS_NODE=1\r\n"%~dp0Duplex\.exe" "%~dp0resources\\app\.asar\\out\\main\\cli\.js" %\*\r\n/, 'CRLF, as cmd.exe wants');
  });

  it('an offline --linux dir pack holds main, preload, renderer and resources', () => {
    const dist = join(work, 'electron');
    mkdirSync(join(dist, 'resources'), { recursive: true });
    writeFileSync(join(dist, 'electron'), '#!/bin/sh\necho stand-in electron\n');
    chmodSync(join(dist, 'electron'), 0o755);
    writeFileSync(join(dist, 'version'), (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'electron', 'package.json'), 'utf8')) as { version: string }).version);
    const out = join(work, 'dist');
    const r = spawnSync(process.execPath, [require.resolve('electron-builder/cli.js'), '--config', CONFIG, '--linux', 'dir', `-c.electronDist=${dist}`, `-c.directories.output=${out}`],
      { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const archive = join(out, 'linux-unpacked', 'resources', 'app.asar');
    const files = new Set(asar.listPackage(archive, {}).map((f) => f.replace(/\\/g, '/')));
    for (const f of [
      '/out/main/electron/main.js', '/out/main/node/node.js', '/out/main/ui/tray-model.js', '/out/preload/preload.js',
      '/out/web/renderer/index.html', '/out/web/renderer/style.css', '/out/web/renderer/app.js', '/out/web/renderer/view.js', '/out/web/renderer/ws-api.js', '/out/web/main/ui/words.js', '/out/web/main/probes/score.js',
      '/resources/icon.ico', '/resources/icon.png', ...Object.keys(ICONS).flatMap((i) => [`/resources/tray/${i}.png`, `/resources/tray/${i}.ico`]),
      '/node_modules/electron-log/package.json', '/node_modules/ws/package.json',
    ]) assert.ok(files.has(f), `${f} is in app.asar`);
    const ours = [...files].filter((f) => !f.startsWith('/node_modules/'));
    assert.deepEqual(ours.filter((f) => f.startsWith('/test') || f.startsWith('/out/test') || f.startsWith('/out/bench') || f.endsWith('.map') || f.endsWith('.ts')), [], 'no tests, benchmarks, sources or source maps packed');
    // koffi, for the guardian's job object: the Windows binary (unpacked, a .node cannot load from an asar), no other system's but Linux's.
    const koffi = [...files].filter((f) => f.startsWith('/node_modules/koffi/build/koffi/') && f.endsWith('.node')).sort();
    assert.deepEqual(koffi, ['/node_modules/koffi/build/koffi/linux_x64/koffi.node', '/node_modules/koffi/build/koffi/win32_x64/koffi.node']);
    assert.ok(existsSync(join(out, 'linux-unpacked', 'resources', 'app.asar.unpacked', 'node_modules', 'koffi', 'build', 'koffi', 'win32_x64', 'koffi.node')), 'koffi.node is unpacked');
    const pkg = JSON.parse(asar.extractFile(archive, 'package.json').toString()) as { main: string };
    assert.equal(pkg.main, 'out/main/electron/main.js');
  });

  it('tray icons exist for every role at 16, 24 and 32 px, as drawn by build/icons.ts', () => {
    const { render, png } = require('../../build/icons') as typeof import('../../build/icons');
    for (const [name, shape] of Object.entries(ICONS)) {
      for (const size of TRAY_SIZES) {
        const file = readFileSync(join(ROOT, 'resources', 'tray', `${name}-${size}.png`));
        assert.equal(file.readUInt32BE(16), size, `${name}-${size}.png width`);
        assert.ok(file.equals(png(render(shape, size), size)), `${name}-${size}.png is what build/icons.ts draws (npm run icons)`);
      }
      const ico = readFileSync(join(ROOT, 'resources', 'tray', `${name}.ico`));
      assert.equal(ico.readUInt16LE(4), TRAY_SIZES.length, `${name}.ico holds ${TRAY_SIZES.length} sizes`);
    }
  });
});
