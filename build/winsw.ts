/**
 * `npm run dist` step: puts WinSW, the Windows service wrapper, in build/winsw/ for the
 * installer (electron-builder.yml extraResources), taken from the npm package node-windows,
 * which ships it (bin/winsw/winsw.exe and its .config). node-windows itself is not a dependency:
 * npm refuses to install it on anything but Windows, and only the wrapper is needed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PACKAGE = 'node-windows@0.1.14';
const out = join(__dirname, '..', '..', 'build', 'winsw');
const files = ['winsw.exe', 'winsw.exe.config'];

if (files.every((f) => existsSync(join(out, f)))) {
  process.stdout.write(`WinSW is in ${out}\n`);
} else {
  const work = mkdtempSync(join(tmpdir(), 'duplex-winsw-'));
  try {
    const run = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { cwd: work, stdio: 'inherit', shell: process.platform === 'win32' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}); WinSW is needed for the Duplex service`);
    };
    run('npm', ['pack', PACKAGE, '--silent']);
    const tgz = readdirSync(work).find((f) => f.endsWith('.tgz'))!;
    run('tar', ['-xzf', tgz]);
    mkdirSync(out, { recursive: true });
    for (const f of files) copyFileSync(join(work, 'package', 'bin', 'winsw', f), join(out, f));
    process.stdout.write(`WinSW from ${PACKAGE} is in ${out}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
