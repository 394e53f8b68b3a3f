/** `npm run demo` (out/main/demo.js) driven through its keyboard commands. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from './cluster';

describe('the demo', () => {
  it('starts a working domain, switches over, fails over and quits cleanly', async () => {
    const p = spawn(process.execPath, [join(__dirname, '..', '..', 'main', 'demo.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const seen = (re: RegExp, what: string) => waitFor(what, 15_000, async () => (re.test(out) ? true : undefined));
    try {
      await seen(/\[a\] role: starting → active/, 'a to become Active');
      await seen(/\[b\] role: starting → standby/, 'b to become Standby');
      await seen(/\[stand-in runtime on a\] running in active mode/, 'the stand-in runtime on a');
      assert.match(out, /Commands \(type and press Enter\)/);
      // Each server's status window, served for a browser with the admin token in the address.
      await seen(/status window of c: http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]{64}/, "c's status window address");
      const page = /status window of a: (http:\/\/127\.0\.0\.1:\d+\/)#token=/.exec(out)![1]!;
      const html = await (await fetch(page)).text();
      assert.match(html, /<title>Duplex status<\/title>/);
      assert.equal((await fetch(`${page}app.js`)).status, 200);
      p.stdin.write('switch\n');
      await seen(/-- activate b: b is Active \(epoch \d+\)/, 'the switchover to b');
      await seen(/\[stand-in runtime on b\] running in active mode/, 'the runtime to move to b');
      p.stdin.write('kill\n');
      await seen(/-- SIGKILL node b \(the Active\)/, 'the kill');
      await seen(/\[a\] role: standby → active \(epoch \d+\): failover/, 'a to take over');
      p.stdin.write('start b\n');
      await seen(/\[b\] role: starting → standby/, 'b to come back as Standby');
      p.stdin.write('quit\n');
      const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
      assert.equal(code, 0);
    } finally {
      if (p.exitCode === null) p.kill('SIGTERM');
    }
  });
});
