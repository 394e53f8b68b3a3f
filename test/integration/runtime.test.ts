/**
 * The supervisor with misbehaving test programs: stop, process groups, restarts, several
 * processes per domain, standby mode, hooks, stop commands and signals, holding.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { holdRuntimeTree, type RuntimeHold } from '../../main/runtime/hold';
import { LocalProcessHost } from '../../main/runtime/host';
import { Supervisor, type ProcessSpec } from '../../main/runtime/runtime';
import type { Logger } from '../../main/util/logger';
import { sleep, waitFor } from './cluster';
import { isAlive } from '../../main/util/process';
import { tempDir } from '../fixtures/temp';

const VICTIM = join(__dirname, '..', 'fixtures', 'victim.js');
const HOOK = join(__dirname, '..', 'fixtures', 'hook.js');
const dir = tempDir('duplex-rt-');
const created: Supervisor[] = [];
let n = 0;

type Extra = Partial<ProcessSpec> & { victimArgs?: string[] };

/** A supervisor over victims; each process writes its pids to `<dir>/<test>-<name>.pids`. */
function setupWith(test: string, procs: Record<string, Extra>, hold: RuntimeHold | null) {
  const lines: string[] = [];
  const log: Logger = {
    info: (e, d) => lines.push(`info ${e}: ${d}`),
    warn: (e, d) => lines.push(`warn ${e}: ${d}`),
    error: (e, d) => lines.push(`error ${e}: ${d}`),
    file: null,
  };
  test = `${test}${hold ? `-${hold.kind}` : ''}`;
  const pidfile = (name: string) => join(dir, `${test}-${name}.pids`);
  const specs = Object.entries(procs).map(([name, x]): ProcessSpec => {
    const { victimArgs = [], ...rest } = x;
    return {
      name,
      command: process.execPath,
      args: [VICTIM, '--pidfile', pidfile(name), ...victimArgs],
      runOn: 'active',
      hookTimeoutMs: 2_000,
      stopSignal: 'SIGTERM',
      stopTimeoutMs: 2_000,
      logFile: join(dir, `${test}-${name}.log`),
      pidFile: join(dir, `${test}-${name}.runtime.pid`),
      restart: { initialDelayMs: 100, maxDelayMs: 400, crashLoopExits: 3, windowMs: 10_000 },
      ...rest,
    };
  });
  const loops: string[] = [];
  const sup = new Supervisor(specs, log, (d) => loops.push(d), new LocalProcessHost(hold));
  created.push(sup);
  const pids = (name: string) => readFileSync(pidfile(name), 'utf8').trim().split(' ').map(Number);
  const proc = (name: string) => sup.status().processes.find((p) => p.name === name)!;
  const output = (name: string) => (existsSync(join(dir, `${test}-${name}.log`)) ? readFileSync(join(dir, `${test}-${name}.log`), 'utf8') : '');
  return { sup, lines, loops, pids, proc, output };
}

const hookFile = () => join(dir, `hooks-${++n}.txt`);
const hookLines = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n') : []);

after(async () => {
  // Whatever a failed test left running is stopped, so the file always ends.
  await Promise.all(created.map((s) => s.setMode('stopped')));
  rmSync(dir, { recursive: true, force: true });
});

// Spawned as they are, and held as the guardian holds them (Linux: in a PID namespace, through a wrapper).
const guardians = holdRuntimeTree();
for (const hold of [null, ...(guardians.wrap ? [guardians] : [])]) describe(`runtime supervision, ${hold ? `held by the guardian (${hold.kind})` : 'processes spawned as they are'}`, () => {
  const setup = (test: string, procs: Record<string, Extra>) => setupWith(test, procs, hold);

  it('starts in active mode, logs its output, stops on request', async () => {
    const { sup, pids, proc, output } = setup('plain', { rt: {} });
    await sup.setMode('active');
    const [pid] = await waitFor('the pid file', 5_000, async () => pids('rt'));
    assert.equal(proc('rt').state, 'running');
    assert.equal(proc('rt').mode, 'active');
    assert.equal(proc('rt').pid, pid);
    await waitFor('its output in the log', 5_000, async () => (/victim: running \(pid \d+, mode active/.test(output('rt')) ? true : undefined));
    await sup.setMode('stopped');
    assert.equal(proc('rt').state, 'stopped');
    assert.equal(isAlive(pid!), false);
  });

  it('a process that ignores SIGTERM is gone within the stop timeout', async () => {
    const { sup, pids, lines } = setup('stubborn', { rt: { victimArgs: ['--ignore-term'], stopTimeoutMs: 500 } });
    await sup.setMode('active');
    const [pid] = await waitFor('the pid file', 5_000, async () => pids('rt'));
    await sleep(200);
    const t0 = performance.now();
    await sup.setMode('standby');
    const took = performance.now() - t0;
    assert.equal(isAlive(pid!), false);
    assert.ok(took >= 450 && took < 3_000, `stop took ${took} ms`);
    assert.ok(lines.some((l) => /rt \(pid \d+\) did not stop within 500 ms of SIGTERM; killing its process group/.test(l)), lines.join('\n'));
  });

  it('a grandchild that ignores SIGTERM is gone after stop', async () => {
    const { sup, pids } = setup('family', { rt: { victimArgs: ['--grandchild'] } });
    await sup.setMode('active');
    const [pid, grandchild] = await waitFor('both pids', 5_000, async () => (pids('rt').length === 2 ? pids('rt') : undefined));
    assert.ok(isAlive(grandchild!));
    await sup.setMode('stopped');
    await waitFor('the grandchild to be gone', 5_000, async () => (isAlive(grandchild!) ? undefined : true));
    assert.equal(isAlive(pid!), false);
  });

  it('an unexpected exit is restarted with backoff; three in the window are a crash loop', async () => {
    const { sup, loops, lines, proc } = setup('crashy', { rt: { victimArgs: ['--exit-after', '50', '--code', '3'] } });
    await sup.setMode('active');
    await waitFor('a crash loop', 10_000, async () => (loops.length > 0 ? true : undefined));
    assert.match(loops[0]!, /^rt: 3 exits within 10 s, the last code 3$/);
    assert.ok(proc('rt').restarts >= 3);
    assert.equal(proc('rt').lastExit, 'code 3');
    const delays = lines.filter((l) => /exited unexpectedly/.test(l)).map((l) => Number(/again in (\d+) ms/.exec(l)![1]));
    assert.deepEqual(delays.slice(0, 3), [100, 200, 400]);
    await sup.setMode('stopped');
    const restartsAtStop = proc('rt').restarts;
    await sleep(800);
    assert.equal(proc('rt').restarts, restartsAtStop, 'no restart after a deliberate stop');
    assert.equal(proc('rt').state, 'stopped');
  });

  it('a crash loop in standby mode is restarted but never reported as a reason to hand over', async () => {
    const { sup, loops, proc } = setup('sbcrash', { rt: { runOn: 'standby', victimArgs: ['--exit-after', '50'] } });
    await sup.setMode('standby');
    await waitFor('three restarts', 10_000, async () => (proc('rt').restarts >= 3 ? true : undefined));
    assert.deepEqual(loops, []);
    await sup.setMode('stopped');
  });

  it('several processes: each runs for its roles; started in declared order, stopped in reverse', async () => {
    const { sup, lines, proc, output } = setup('multi', {
      opc: { runOn: 'both' },
      scada: { runOn: 'active' },
      mirror: { runOn: 'standby' },
      hot: { runOn: 'both', standbyArgs: [VICTIM, '--pidfile', join(dir, 'multi-hot.pids'), '--standby-flavour'] },
    });
    await sup.setMode('standby');
    assert.deepEqual(sup.status().processes.map((p) => [p.name, p.state, p.mode]), [
      ['opc', 'running', 'standby'], ['scada', 'stopped', null], ['mirror', 'running', 'standby'], ['hot', 'running', 'standby'],
    ]);
    await waitFor('hot started with its standby args', 5_000, async () => (/mode standby, args .*--standby-flavour/.test(output('hot')) ? true : undefined));
    const opcPid = proc('opc').pid;
    const hotStandbyPid = proc('hot').pid;

    lines.length = 0;
    await sup.setMode('active');
    assert.deepEqual(sup.status().processes.map((p) => [p.name, p.state, p.mode]), [
      ['opc', 'running', 'active'], ['scada', 'running', 'active'], ['mirror', 'stopped', null], ['hot', 'running', 'active'],
    ]);
    assert.equal(proc('opc').pid, opcPid, 'a process that runs the same in both modes is kept');
    assert.notEqual(proc('hot').pid, hotStandbyPid, 'other standby args: restarted with the active args');
    await waitFor('hot restarted without the standby args', 5_000, async () => (/mode active, args (?!.*--standby-flavour)/.test(output('hot')) ? true : undefined));
    const started = lines.filter((l) => /^info runtime: started /.test(l)).map((l) => /started (\S+)/.exec(l)![1]);
    assert.deepEqual(started, ['scada', 'hot']);

    lines.length = 0;
    await sup.setMode('stopped');
    const stopped = lines.filter((l) => /^info runtime: stopped /.test(l)).map((l) => /stopped (\S+)/.exec(l)![1]);
    assert.deepEqual(stopped, ['hot', 'scada', 'opc'], 'reverse of the declared order');
    assert.ok(sup.status().processes.every((p) => p.state === 'stopped' && p.pid === null));
  });

  it('activation and deactivation hooks move a hot-standby process between modes without a restart', async () => {
    const f = hookFile();
    const { sup, proc } = setup('hooks', {
      hot: { runOn: 'both', onActivate: [process.execPath, HOOK, f, 'activate'], onDeactivate: [process.execPath, HOOK, f, 'deactivate'] },
    });
    await sup.setMode('standby');
    const pid = proc('hot').pid!;
    await sup.setMode('active');
    assert.equal(proc('hot').pid, pid);
    assert.equal(proc('hot').mode, 'active');
    await sup.setMode('standby');
    assert.equal(proc('hot').pid, pid);
    assert.equal(proc('hot').mode, 'standby');
    assert.deepEqual(hookLines(f), [`activate hot active ${pid}`, `deactivate hot standby ${pid}`]);
    await sup.setMode('stopped');
  });

  it('a failed or hanging hook restarts the process in the new mode, so it is never left half-switched', async () => {
    const f = hookFile();
    const { sup, proc, lines } = setup('badhooks', {
      failing: { runOn: 'both', onActivate: [process.execPath, HOOK, f, 'activate', 'fail'] },
      hanging: { runOn: 'both', onDeactivate: [process.execPath, HOOK, f, 'deactivate', 'hang'], hookTimeoutMs: 300 },
    });
    await sup.setMode('standby');
    const failingPid = proc('failing').pid!;
    await sup.setMode('active');
    assert.notEqual(proc('failing').pid, failingPid);
    assert.equal(isAlive(failingPid), false);
    assert.equal(proc('failing').mode, 'active');
    assert.ok(lines.some((l) => /failing: the onActivate hook failed \(onActivate ended with code 5\); restarting the process in active mode instead/.test(l)), lines.join('\n'));

    const hangingPid = proc('hanging').pid!;
    const t0 = performance.now();
    await sup.setMode('standby');
    assert.ok(performance.now() - t0 >= 280, 'waited for the hook timeout');
    assert.notEqual(proc('hanging').pid, hangingPid);
    assert.equal(proc('hanging').mode, 'standby');
    assert.ok(lines.some((l) => /hanging: the onDeactivate hook failed \(onDeactivate did not finish within 300 ms and was killed\)/.test(l)), lines.join('\n'));
    await sup.setMode('stopped');
  });

  it('a configured stop signal, and a stop command, stop the process without the kill', async () => {
    const f = hookFile();
    const { sup, proc, lines, output } = setup('stopping', {
      bysignal: { stopSignal: 'SIGINT', victimArgs: ['--ignore-term', '--exit-on', 'SIGINT'] },
      bycommand: { stopCommand: [process.execPath, HOOK, f, 'stop', 'signal', 'SIGUSR2'], victimArgs: ['--ignore-term', '--exit-on', 'SIGUSR2'] },
    });
    await sup.setMode('active');
    const pid = proc('bycommand').pid!;
    await sleep(200);
    await sup.setMode('stopped');
    // The output reaches its log file through a stream: give it a moment.
    await waitFor('bysignal to say it got SIGINT', 5_000, async () => (/victim: SIGINT received, exiting/.test(output('bysignal')) ? true : undefined));
    await waitFor('bycommand to say it got SIGUSR2', 5_000, async () => (/victim: SIGUSR2 received, exiting/.test(output('bycommand')) ? true : undefined));
    assert.deepEqual(hookLines(f), [`stop bycommand active ${pid}`]);
    // A stop command's output goes to the process's log too.
    await waitFor("the stop command's output in the log", 5_000, async () => (/hook stop: bycommand in active mode/.test(output('bycommand')) ? true : undefined));
    assert.equal(proc('bysignal').lastExit, 'code 0');
    assert.equal(proc('bycommand').lastExit, 'code 0');
    assert.ok(!lines.some((l) => /killing its process group/.test(l)), lines.join('\n'));
  });

  it('a stop signal sent as soon as the start is reported reaches the process (ten times)', async () => {
    const host = new LocalProcessHost(hold);
    for (let i = 0; i < 10; i++) {
      const started = await host.start({ name: 'quick', command: 'sleep', args: ['30'], env: { ...process.env } as Record<string, string>, mode: 'active', logFile: join(dir, 'quick.log'), pidFile: join(dir, `quick-${hold?.kind}.pid`) });
      host.signal(started.pid, 'SIGTERM');
      const how = await Promise.race([started.exited, sleep(3_000).then(() => 'still running after 3 s')]);
      if (how !== 'signal SIGTERM') host.signal(started.pid, 'SIGKILL');
      assert.equal(how, 'signal SIGTERM', `start ${i + 1}`);
    }
  });

  it('held: the active runtime waits for resume; the standby-mode processes keep running', async () => {
    const { sup, proc } = setup('held', { opc: { runOn: 'both' }, scada: {} });
    await sup.setMode('standby');
    sup.hold('took over after a failover');
    await sup.setMode('active');
    assert.equal(sup.status().held, 'took over after a failover');
    assert.equal(proc('scada').state, 'stopped');
    assert.equal(proc('opc').mode, 'standby');
    assert.equal(await sup.resume(), true);
    assert.equal(sup.status().held, null);
    assert.equal(proc('scada').state, 'running');
    assert.equal(proc('opc').mode, 'active');
    assert.equal(await sup.resume(), false, 'nothing left to resume');
    await sup.setMode('stopped');
  });
});
