/**
 * The installer configuration, checked here rather than on a plant's server: the
 * electron-builder file validates, and an offline Linux folder pack (with a stand-in for the
 * Electron binary, which cannot be downloaded here) holds everything the app loads.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ICONS, TRAY_SIZES } from '../../build/icons';

const ROOT = join(__dirname, '..', '..', '..');
const CONFIG = join(ROOT, 'build', 'electron-builder.yml');

/* eslint-disable @typescript-eslint/no-require-imports */
const { validateConfiguration } = require('app-builder-lib/out/util/config/config') as { validateConfiguration: (c: unknown, l: unknown) => Promise<void> };
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
const asar = require('@electron/asar') as { listPackage: (p: string, o: object) => string[]; extractFile: (p: string, f: string) => Buffer };

describe('installer configuration', () => {
  const work = mkdtempSync(join(tmpdir(), 'duplex-pack-'));
  after(() => rmSync(work, { recursive: true, force: true }));

  it("validates against electron-builder's schema; a misspelt option is refused", async () => {
    const config = parse(readFileSync(CONFIG, 'utf8')) as Record<string, Record<string, unknown>>;
    await validateConfiguration(config, new DebugLogger(false));
    assert.equal(config.nsis!.perMachine, true);
    assert.equal(config.nsis!.include, 'build/installer.nsh');
    await assert.rejects(validateConfiguration({ ...config, nsis: { ...config.nsis, perMachin: true } }, new DebugLogger(false)), /configuration\.nsis/);
  });

  it('the installer script adds firewall rules for the heartbeat and sync ports and asks about auto-start', () => {
    const nsh = readFileSync(join(ROOT, 'build', 'installer.nsh'), 'utf8');
    assert.match(nsh, /!macro customInstall[\s\S]*protocol=UDP localport=47800[\s\S]*protocol=TCP localport=47801[\s\S]*install-options\.json[\s\S]*!macroend/);
    assert.match(nsh, /!macro customUnInstall[\s\S]*firewall delete rule[\s\S]*!macroend/);
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
      '/out/web/renderer/index.html', '/out/web/renderer/style.css', '/out/web/renderer/app.js', '/out/web/renderer/view.js', '/out/web/renderer/ws-api.js',
      '/resources/icon.ico', '/resources/icon.png', ...Object.keys(ICONS).flatMap((i) => [`/resources/tray/${i}.png`, `/resources/tray/${i}.ico`]),
      '/node_modules/electron-log/package.json', '/node_modules/ws/package.json',
    ]) assert.ok(files.has(f), `${f} is in app.asar`);
    const ours = [...files].filter((f) => !f.startsWith('/node_modules/'));
    assert.deepEqual(ours.filter((f) => f.startsWith('/test') || f.startsWith('/out/test') || f.startsWith('/out/bench') || f.endsWith('.map') || f.endsWith('.ts')), [], 'no tests, benchmarks, sources or source maps packed');
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
