/** The runtime process adapter with a misbehaving test program: stop, process groups, restarts. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ProcessRuntime } from '../../main/runtime/runtime';
import type { Logger } from '../../main/node/log';
import { sleep, waitFor } from './cluster';
import { isAlive } from '../../main/util/process';

const VICTIM = join(__dirname, '..', 'fixtures', 'victim.js');
const dir = mkdtempSync(join(tmpdir(), 'duplex-rt-'));
const created: ProcessRuntime[] = [];


function setup(name: string, victimArgs: string[], opts: { stopTimeoutMs?: number } = {}) {
  const lines: string[] = [];
  const log: Logger = {
    info: (e, d) => lines.push(`info ${e}: ${d}`),
    warn: (e, d) => lines.push(`warn ${e}: ${d}`),
    error: (e, d) => lines.push(`error ${e}: ${d}`),
    file: null,
  };
  const pidfile = join(dir, `${name}.pid`);
  const loops: string[] = [];
  const rt = new ProcessRuntime(
    {
      command: process.execPath,
      args: [VICTIM, '--pidfile', pidfile, ...victimArgs],
      stopTimeoutMs: opts.stopTimeoutMs ?? 2_000,
      logFile: join(dir, `${name}.log`),
      pidFile: join(dir, `${name}.runtime.pid`),
      restart: { initialDelayMs: 100, maxDelayMs: 400, crashLoopExits: 3, windowMs: 10_000 },
    },
    log,
    (d) => loops.push(d),
  );
  created.push(rt);
  const pids = () => readFileSync(pidfile, 'utf8').trim().split(' ').map(Number);
  return { rt, lines, loops, pids, pidfile };
}

describe('runtime process supervision', () => {
  after(async () => {
    // Whatever a failed test left running is stopped, so the file always ends.
    await Promise.all(created.map((rt) => rt.setMode('stopped')));
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts in active mode, logs its output, stops on request', async () => {
    const { rt, pids } = setup('plain', []);
    await rt.setMode('active');
    const [pid] = await waitFor('the pid file', 5_000, async () => pids());
    assert.equal(rt.status().state, 'running');
    assert.equal(rt.status().pid, pid);
    await waitFor('its output in the log', 5_000, async () => (/victim: running \(pid \d+, mode active\)/.test(readFileSync(join(dir, 'plain.log'), 'utf8')) ? true : undefined));
    await rt.setMode('stopped');
    assert.equal(rt.status().state, 'stopped');
    assert.equal(isAlive(pid!), false);
  });

  it('a process that ignores SIGTERM is gone within the stop timeout', async () => {
    const { rt, pids, lines } = setup('stubborn', ['--ignore-term'], { stopTimeoutMs: 500 });
    await rt.setMode('active');
    const [pid] = await waitFor('the pid file', 5_000, async () => pids());
    await sleep(200);
    const t0 = performance.now();
    await rt.setMode('standby');
    const took = performance.now() - t0;
    assert.equal(isAlive(pid!), false);
    assert.ok(took >= 450 && took < 3_000, `stop took ${took} ms`);
    assert.ok(lines.some((l) => /did not stop within 500 ms of SIGTERM; killing its process group/.test(l)));
  });

  it('a grandchild that ignores SIGTERM is gone after stop', async () => {
    const { rt, pids } = setup('family', ['--grandchild']);
    await rt.setMode('active');
    const [pid, grandchild] = await waitFor('both pids', 5_000, async () => (pids().length === 2 ? pids() : undefined));
    assert.ok(isAlive(grandchild!));
    await rt.setMode('stopped');
    await waitFor('the grandchild to be gone', 2_000, async () => (isAlive(grandchild!) ? undefined : true));
    assert.equal(isAlive(pid!), false);
  });

  it('an unexpected exit is restarted with backoff; three in the window are a crash loop', async () => {
    const { rt, loops, lines } = setup('crashy', ['--exit-after', '50', '--code', '3']);
    await rt.setMode('active');
    await waitFor('a crash loop', 10_000, async () => (loops.length > 0 ? true : undefined));
    assert.match(loops[0]!, /3 exits within 10 s, the last code 3/);
    assert.ok(rt.status().restarts >= 3);
    assert.equal(rt.status().lastExit, 'code 3');
    const delays = lines.filter((l) => /exited unexpectedly/.test(l)).map((l) => Number(/again in (\d+) ms/.exec(l)![1]));
    assert.deepEqual(delays.slice(0, 3), [100, 200, 400]);
    await rt.setMode('stopped');
    const restartsAtStop = rt.status().restarts;
    await sleep(800);
    assert.equal(rt.status().restarts, restartsAtStop, 'no restart after a deliberate stop');
    assert.equal(rt.status().state, 'stopped');
  });
});
