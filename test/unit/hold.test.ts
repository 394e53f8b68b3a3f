/**
 * The pure parts of holding runtime processes (main/runtime/hold.ts) and of starting one through
 * a wrapper (main/util/spawn.ts): how an exit reads, and a program that could not be started.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exitText } from '../../main/runtime/hold';
import { cannotSpawn } from '../../main/util/spawn';
import { tempDir } from '../fixtures/temp';

describe('exitText', () => {
  it('reads a code, a signal, and a signal through the namespace\'s sh (128+N)', () => {
    assert.equal(exitText(3, null, false), 'code 3');
    assert.equal(exitText(null, 'SIGKILL', true), 'signal SIGKILL');
    assert.equal(exitText(143, null, true), 'signal SIGTERM');
    assert.equal(exitText(137, null, true), 'signal SIGKILL');
    assert.equal(exitText(143, null, false), 'code 143', 'a process spawned as it is says its own code');
    assert.equal(exitText(128, null, true), 'code 128');
    assert.equal(exitText(255, null, true), 'code 255', 'no signal 127');
    assert.equal(exitText(0, null, true), 'code 0');
  });
});

describe('cannotSpawn', () => {
  const dir = tempDir('duplex-spawn-');
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\n');
  chmodSync(join(dir, 'run.sh'), 0o755);
  writeFileSync(join(dir, 'data.txt'), 'not a program');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds a program by path (from the folder it runs in) or in PATH, as execvp does', { skip: process.platform === 'win32' }, () => {
    assert.equal(cannotSpawn(join(dir, 'run.sh'), undefined, ''), null);
    assert.equal(cannotSpawn('./run.sh', dir, ''), null);
    assert.equal(cannotSpawn('run.sh', '/', `/nonexistent:${dir}`), null);
    assert.equal(cannotSpawn('run.sh', dir, '/nonexistent'), 'spawn run.sh ENOENT', 'a bare name is not looked for in the folder');
    assert.equal(cannotSpawn('./nothing', dir, ''), 'spawn ./nothing ENOENT');
    assert.equal(cannotSpawn('./data.txt', dir, ''), 'spawn ./data.txt EACCES');
    assert.equal(cannotSpawn('./run.sh', join(dir, 'gone'), ''), `spawn ./run.sh ENOENT (no folder ${join(dir, 'gone')})`);
    assert.equal(cannotSpawn(dir, undefined, ''), `spawn ${dir} ENOENT`, 'a folder is not a program');
  });
});
