/** `npm run demo` (out/main/demo.js) driven through its keyboard commands. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './cluster';

describe('the demo', () => {
  it('starts a working domain in its own folder, switches over, fails over, shows a frozen node, quits cleanly and removes its folder', async () => {
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
      // This run's own folder: a second demo or a test run gets another one.
      const dir = /^Duplex demo in (.+) \(this run's own folder, removed when the demo quits\)$/m.exec(out)?.[1];
      assert.ok(dir && dir.startsWith(join(tmpdir(), 'duplex-demo-')) && dir !== join(tmpdir(), 'duplex-demo-'), out.slice(0, 300));
      assert.ok(existsSync(join(dir, 'plant.yaml')));
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
      p.stdin.write('frobnicate\n');
      await seen(/unknown command "frobnicate"; the commands are status, kill, switch, freeze, thaw, start, pages, quit/, 'the unknown command said so');
      p.stdin.write('freeze c\n');
      await seen(/-- SIGSTOP node c: it is frozen until "thaw c"/, 'c frozen');
      p.stdin.write('status\n');
      await seen(/ {2}c: FROZEN \(SIGSTOP by this demo; type "thaw c"\)/, 'c shown as frozen');
      assert.match(out, / {2}a: active \(epoch \d+\) — /);
      p.stdin.write('thaw\n');
      await seen(/-- SIGCONT node c/, 'c thawed');
      p.stdin.write('quit\n');
      const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
      assert.equal(code, 0);
      assert.match(out, new RegExp(`removed the demo's folder ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.equal(existsSync(dir), false, `${dir} is still there`);
    } finally {
      if (p.exitCode === null) p.kill('SIGTERM');
    }
  });
});
