/** The demo's console (out/main/demo.js): what its commands say about a name that is not a server. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from './cluster';

describe('the demo console', () => {
  it('freeze zz says zz is not a server, not that it is not running', async () => {
    const p = spawn(process.execPath, [join(__dirname, '..', '..', 'main', 'demo.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
    try {
      // Read once the demo has started its servers; the line waits in the pipe until then.
      p.stdin.write('freeze zz\n');
      await waitFor('the answer to freeze zz', 30_000, async () => (/^zz is not/m.test(out) ? true : undefined));
      assert.match(out, /^zz is not a server; the servers are a, b, c$/m);
      p.stdin.write('quit\n');
      // quit waits at most 10 s for the nodes to stop.
      const code = await Promise.race([exited, new Promise<'late'>((r) => setTimeout(() => r('late'), 30_000).unref())]);
      assert.equal(code, 0, out.slice(-500));
    } finally {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    }
  });
});
