/** `npm run demo` (out/main/demo.js) driven through its keyboard commands. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './cluster';

/** The time a log line says it happened (`YYYY-MM-DD HH:MM:SS.mmm`, this computer's clock); null when it has none. */
function stampOf(line: string): number | null {
  const m = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}) /.exec(line);
  return m ? new Date(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +m[7]!).getTime() : null;
}

/** A time of day `HH:MM:SS.mmm` said inside a line stamped `stamp`: the moment it names (the day before when it is later than the stamp). */
function timeOfDayAt(text: string, stamp: number): number {
  const [h, m, s] = text.split(':').map(Number) as [number, number, number];
  const d = new Date(stamp);
  d.setHours(h, m, Math.floor(s), Math.round((s % 1) * 1000));
  return d.getTime() > stamp ? d.getTime() - 86_400_000 : d.getTime();
}

/**
 * When each server's runtime ran in active mode, as the demo's lines say: from a node's
 * `runtime: started … in active mode` to its end — the guardian's `fence: killed …` and the
 * node's `runtime: stopped …` (at the time that line gives, when it gives one), the later of
 * the two when both are printed. A runtime whose end is never printed runs on (to: null).
 */
function activeRuntimes(out: string): { server: string; from: number; to: number | null; line: string }[] {
  const runs: { server: string; from: number; to: number | null; line: string }[] = [];
  for (const line of out.split('\n')) {
    const stamp = stampOf(line);
    if (stamp === null) continue;
    const started = /\[(\w+)\] runtime: started \S+ .* in active mode/.exec(line);
    if (started) {
      runs.push({ server: started[1]!, from: stamp, to: null, line });
      continue;
    }
    const ended = /\[(\w+)\] (?:runtime: stopped \S+ \(pid \d+, ([^)]*)\)|fence: killed )/.exec(line);
    if (!ended) continue;
    const at = /\bat (\d\d:\d\d:\d\d\.\d{3})\b/.exec(ended[2] ?? '');
    const end = at ? timeOfDayAt(at[1]!, stamp) : stamp;
    const run = runs.filter((r) => r.server === ended[1]).pop();
    if (run) run.to = Math.max(run.to ?? -Infinity, end);
  }
  return runs;
}

describe('the demo', () => {
  it('starts a working domain in its own folder, switches over, fails over, shows a frozen node, quits cleanly and removes its folder', async () => {
    const p = spawn(process.execPath, [join(__dirname, '..', '..', 'main', 'demo.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const seen = (re: RegExp, what: string) => waitFor(what, 15_000, async () => (re.test(out) ? true : undefined));
    /** What the demo printed since `from` (an offset in its output) that matches `re`, once it has. */
    const after = (from: number, re: RegExp, what: string) => waitFor(what, 15_000, async () => re.exec(out.slice(from)) ?? undefined);
    /** Sends a command; resolves with where its output begins and when it was sent. */
    const type = (command: string) => {
      const sent = { from: out.length, at: Date.now() };
      p.stdin.write(`${command}\n`);
      return sent;
    };
    /**
     * The takeover the demo timed after a command sent at `sent.at`: the figure it printed, from
     * its action to the new Active's runtime started, cannot be more than that start's time
     * less the moment the command was sent (the demo acts on it later, never earlier).
     */
    const tookOver = async (sent: { from: number; at: number }, server: string) => {
      const took = await after(sent.from, new RegExp(`^-- ${server} took over in (\\d+) ms \\(runtime started\\)$`, 'm'), `the demo to time ${server}'s takeover`);
      const start = new RegExp(`^.* \\[${server}\\] runtime: started \\S+ .* in active mode.*$`, 'm').exec(out.slice(sent.from));
      assert.ok(start, `${server}'s runtime start is printed before its takeover time`);
      const ms = Number(took[1]);
      assert.ok(ms >= 0 && ms <= stampOf(start[0])! - sent.at + 1, `-- ${server} took over in ${ms} ms, but its runtime started ${stampOf(start[0])! - sent.at} ms after the command was sent`);
      return ms;
    };
    /** The fence lines printed since `from`. */
    const fences = (from: number) => out.slice(from).split('\n').filter((l) => / fence: /.test(l));
    try {
      await seen(/\[a\] role: starting → active/, 'a to become Active');
      await seen(/\[b\] role: starting → standby/, 'b to become Standby');
      await seen(/\[stand-in runtime on a\] running in active mode/, 'the stand-in runtime on a');
      await seen(/Commands \(type and press Enter\)/, 'the list of commands (printed once every server has its status window)');
      // This run's own folder: a second demo or a test run gets another one.
      const dir = /^Duplex demo in (.+) \(this run's own folder, removed when the demo quits\)$/m.exec(out)?.[1];
      assert.ok(dir && dir.startsWith(join(tmpdir(), 'duplex-demo-')) && dir !== join(tmpdir(), 'duplex-demo-'), out.slice(0, 300));
      assert.ok(existsSync(join(dir, 'plant.yaml')));
      const logOf = (server: string, name: string) => readFileSync(join(dir, 'duplex-state', server, 'logs', name), 'utf8');
      // Each server's status window, served for a browser with the admin token in the address.
      await seen(/status window of c: http:\/\/127\.0\.0\.1:\d+\/#token=[0-9a-f]{64}/, "c's status window address");
      const pageLine = /status window of a: (http:\/\/127\.0\.0\.1:\d+\/)#token=/.exec(out);
      assert.ok(pageLine, `no status window address for a; what the demo printed about the pages:\n${out.split('\n').filter((l) => /status window|no status window|ports/.test(l)).join('\n')}`);
      const page = pageLine[1]!;
      const html = await (await fetch(page)).text();
      assert.match(html, /<title>Duplex status<\/title>/);
      assert.equal((await fetch(`${page}app.js`)).status, 200);

      // A switchover: timed, and no fence.
      const switched = type('switch');
      await after(switched.from, /-- activate b: b is Active \(epoch \d+\)/, 'the switchover to b');
      await after(switched.from, /\[stand-in runtime on b\] running in active mode/, 'the runtime to move to b');
      const switchMs = await tookOver(switched, 'b');
      assert.deepEqual(fences(switched.from), [], 'a switchover fences nothing');

      // A kill of the Active's node: its guardian fences the runtime (one line, at the time it did), a takes over.
      const killed = type('kill');
      await after(killed.from, /-- SIGKILL node b \(the Active\)/, 'the kill');
      await after(killed.from, /\[a\] role: standby → active \(epoch \d+\): failover/, 'a to take over');
      const killMs = await tookOver(killed, 'a');
      const killFence = fences(killed.from);
      assert.equal(killFence.length, 1, `one fence line for the kill:\n${killFence.join('\n')}`);
      assert.match(killFence[0]!, /^\S+ \S+ warn \[b\] fence: killed plant-runtime \(pid \d+, active\) in \d+ ms: the node died \(its connection closed\) while Active/);
      const b = type('start b');
      await after(b.from, /\[b\] role: starting → standby/, 'b to come back as Standby');
      p.stdin.write('frobnicate\n');
      await seen(/unknown command "frobnicate"; the commands are status, kill, switch, freeze, thaw, start, pages, quit/, 'the unknown command said so');

      // A freeze of the Active's node: its guardian fences the runtime when the lease runs out, b
      // takes over; the node, thawed, reports the fence with the time it was done, once.
      const froze = type('freeze');
      await after(froze.from, /-- SIGSTOP node a: it is frozen until "thaw a"/, 'a frozen');
      await after(froze.from, /\[b\] role: standby → active \(epoch \d+\): failover/, 'b to take over');
      const freezeMs = await tookOver(froze, 'b');
      await after(froze.from, / fence: /, 'the fence of the frozen node\'s runtime');
      const thawed = type('thaw');
      await after(thawed.from, /-- SIGCONT node a/, 'a thawed');
      await after(thawed.from, /\[a\] role: deactivating → standby|\[a\] role: active → standby/, 'a to step down');
      await after(thawed.from, /\[a\] runtime: stopped plant-runtime/, "a's node to hear that its runtime is gone");
      await new Promise((r) => setTimeout(r, 1_500)); // what a fence asked again would print
      const freezeFence = fences(froze.from);
      assert.equal(freezeFence.length, 1, `one fence line for the freeze:\n${freezeFence.join('\n')}`);
      assert.match(freezeFence[0]!, /^\S+ \S+ warn \[a\] fence: killed plant-runtime \(pid \d+, active\) in \d+ ms: /);
      const fencedAt = stampOf(freezeFence[0]!)!;
      const takeover = /^.* \[b\] role: standby → active .*$/m.exec(out.slice(froze.from))![0];
      assert.ok(fencedAt <= stampOf(takeover)!, `the fence is printed with the time it was done, before b took over:\n${freezeFence[0]}\n${takeover}`);
      assert.match(out.slice(thawed.from), /\[a\] runtime: stopped plant-runtime \(pid \d+, signal SIGKILL, at \d\d:\d\d:\d\d\.\d{3}, while this node was frozen\)/);
      // The node's own log and the guardian's: one line each for the fence, at the same time.
      const time = freezeFence[0]!.slice(11, 23);
      const guardianFences = logOf('a', 'guardian.log').split('\n').filter((l) => / fence: /.test(l));
      assert.deepEqual(guardianFences, [freezeFence[0]], "the guardian's log has the fence once, as printed");
      const nodeFences = logOf('a', 'duplex.log').split('\n').filter((l) => / fence: /.test(l));
      assert.equal(nodeFences.length, 1, `one fence line in a's duplex.log:\n${nodeFences.join('\n')}`);
      assert.match(nodeFences[0]!, new RegExp(`warn \\[a\\] fence: the guardian killed plant-runtime \\(pid \\d+, active\\) at ${time.replace(/\./g, '\\.')}, while this node was frozen: `));

      // An inactive server frozen and thawed: nothing takes over.
      const c = type('freeze c');
      await after(c.from, /-- SIGSTOP node c: it is frozen until "thaw c"/, 'c frozen');
      p.stdin.write('status\n');
      await after(c.from, / {2}c: FROZEN \(SIGSTOP by this demo; type "thaw c"\)/, 'c shown as frozen');
      assert.match(out.slice(c.from), / {2}b: active \(epoch \d+\) — /);
      p.stdin.write('thaw\n');
      await after(c.from, /-- SIGCONT node c/, 'c thawed');

      const quitted = type('quit');
      const code = await new Promise<number | null>((r) => p.once('exit', (x) => r(x)));
      assert.equal(code, 0);
      assert.match(out, new RegExp(`removed the demo's folder ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.equal(existsSync(dir), false, `${dir} is still there`);
      // The demo says that it stopped the nodes, and suggests no start.
      const end = out.slice(quitted.from);
      for (const s of ['a', 'b', 'c']) assert.match(end, new RegExp(`^-- the demo stopped node ${s} \\(code 0\\)$`, 'm'));
      assert.doesNotMatch(end, /type "start/);

      // No false warning about the secret: no handshake failed on it.
      assert.doesNotMatch(out, /duplex\.secret|failed the TLS handshake/);
      // No two runtimes in active mode at once, as the lines say: no old runtime's end after the new one's start.
      const runs = activeRuntimes(out);
      assert.ok(runs.length >= 4, JSON.stringify(runs));
      for (const [i, x] of runs.entries()) {
        for (const y of runs.slice(i + 1)) {
          if (x.server === y.server) continue;
          const overlap = Math.max(x.from, y.from) < Math.min(x.to ?? Infinity, y.to ?? Infinity);
          assert.ok(!overlap, `two runtimes in active mode at once, as printed:\n${x.line} (until ${x.to === null ? 'no end printed' : new Date(x.to).toTimeString().slice(0, 8)})\n${y.line}`);
        }
      }
      process.stdout.write(`# the demo's takeovers: switch ${switchMs} ms, kill ${killMs} ms, freeze ${freezeMs} ms (runtime started)\n`);
    } finally {
      await stopDemo(p, out);
    }
  });

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
      await stopDemo(p, out);
    }
  });
});

/**
 * Ends a demo a failed test left running (SIGTERM: it stops its nodes and removes its folder),
 * and removes its folder if it could not: a failed test leaves nothing behind.
 */
async function stopDemo(p: ChildProcess, out: string): Promise<void> {
  if (p.exitCode === null && p.signalCode === null) {
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000).unref())]);
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
  const dir = /^Duplex demo in (.+) \(this run's own folder/m.exec(out)?.[1];
  if (dir && dir.startsWith(join(tmpdir(), 'duplex-demo-'))) rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
}
