/**
 * The virtual IP in network namespaces: three servers (main, backup, inactive: quorum) and an
 * observer on one bridge. Each server's runtime answers TCP connections on port 7777 of every
 * address with its server name; the observer connects to the VIP over and over. A sampler
 * reads `ip address` in every server's namespace every few ms and records any moment the VIP is
 * on two of them. Needs root, iproute2, nftables and arping; skipped with the reason otherwise.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, sleep, waitFor } from './cluster';
import { canRunNetns, ip, macOf, NsDomain } from './netns';

const VIP = '10.231.84.100';
const PORT = '7777';
const OBSERVER = join(__dirname, '..', 'fixtures', 'vip-observer.js');
const tag = process.pid % 10000;
const SERVERS = ['a', 'b', 'c'];

const skip = canRunNetns !== true ? canRunNetns : (() => {
  try {
    execFileSync('arping', ['-V'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'needs arping (iputils-arping)';
  }
})();

/** Server `h`'s vip, role, fence and guardian lines: what a failure here prints. */
function vipLines(d: NsDomain, h: string): string {
  try {
    const read = (f: string) => { try { return readFileSync(join(d.dir, 'duplex-state', h, 'logs', f), 'utf8').split('\n'); } catch { return []; } };
    const lines = [...read('duplex.log'), ...read('guardian.log')].filter((l) => /\] (vip|role|fence|guardian|release)/.test(l)).sort();
    return `${h}:\n${lines.slice(-30).join('\n')}`;
  } catch (e) {
    return `${h}: no log (${(e as Error).message})`;
  }
}

/** `duplex status` (text) of server h, run in its namespace. */
function statusText(d: NsDomain, h: string): string {
  return execFileSync('ip', ['netns', 'exec', d.ns(h), process.execPath, CLI, 'status', '--domain', d.file, '--server', h], { encoding: 'utf8' });
}

/** Which server namespaces hold the VIP now (one `ip` call each, in parallel). */
function holders(d: NsDomain): Promise<string[]> {
  return Promise.all(SERVERS.map((h) => new Promise<string | null>((resolve) => {
    execFile('ip', ['-n', d.ns(h), '-o', '-4', 'address', 'show'], (err, out) => resolve(!err && out.includes(` ${VIP}/`) ? h : null));
  }))).then((l) => l.filter((h): h is string => h !== null));
}

/**
 * Every add and removal of the VIP in every server's namespace, timed by `ip -ts monitor
 * address` (the moment the kernel's message was read, to the microsecond, on this machine's
 * clock): the ms the VIP was on two servers at once, and the order of its holders.
 */
class Monitor {
  private readonly events: { at: number; host: string; added: boolean }[] = [];
  private readonly procs: ChildProcess[] = [];

  constructor(d: NsDomain) {
    for (const h of SERVERS) {
      const p = spawn('ip', ['-n', d.ns(h), '-ts', 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let buf = '';
      p.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        buf += chunk;
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) {
          const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})\] (Deleted )?.* inet ([\d.]+)\//.exec(l);
          if (m && m[4] === VIP) this.events.push({ at: Date.parse(m[1]!) + Number(m[2]) / 1000, host: h, added: m[3] === undefined });
        }
      });
      this.procs.push(p);
    }
  }

  /** Lets the monitors start listening. */
  ready(): Promise<void> {
    return sleep(300);
  }

  /** Stops; returns the ms with the VIP on two servers (each time), and the holders in order. */
  async stop(start: string[]): Promise<{ doubles: string[]; order: string[] }> {
    await sleep(300);
    for (const p of this.procs) p.kill('SIGKILL');
    const held = new Set(start);
    const doubles: string[] = [];
    const order = [[...held].sort().join('+') || 'none'];
    let since: number | null = null;
    for (const e of [...this.events].sort((x, y) => x.at - y.at)) {
      if (e.added) held.add(e.host);
      else held.delete(e.host);
      if (held.size > 1 && since === null) since = e.at;
      if (held.size <= 1 && since !== null) {
        doubles.push(`${(e.at - since).toFixed(3)} ms from ${new Date(since).toISOString()}`);
        since = null;
      }
      const now = [...held].sort().join('+') || 'none';
      if (now !== order.at(-1)) order.push(now);
    }
    if (since !== null) doubles.push(`from ${new Date(since).toISOString()} until the end`);
    return { doubles, order };
  }
}

/** The observer's answers since it started: `[ms, name]`. */
class Observer {
  readonly answers: [number, string][] = [];
  private readonly proc: ChildProcess;
  constructor(ns: string) {
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, OBSERVER, VIP, PORT], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        const [at, name] = l.split(' ');
        this.answers.push([Number(at), name!]);
      }
    });
  }

  /** The first answer from `name` after `since`. */
  first(name: string, since: number): number | null {
    return this.answers.find(([at, n]) => at >= since && n === name)?.[0] ?? null;
  }

  stop(): void {
    this.proc.kill('SIGKILL');
  }
}

describe('the virtual IP follows the Active, in network namespaces', { skip }, () => {
  let d: NsDomain;
  let observer: Observer;

  before(async () => {
    d = new NsDomain(`dv${tag}`, {
      a: { role: 'main', addresses: ['10.231.84.1'] }, b: { role: 'backup', addresses: ['10.231.84.2'] }, c: { role: 'inactive', addresses: ['10.231.84.3'] },
    }, '239.255.84.1', { extra: `virtualIp: { address: ${VIP}/24 }`, runtimeArgs: ['--answer', PORT] });
    const obs = d.addHost('obs', '10.231.84.50');
    d.startAll();
    await d.waitRoles({ a: 'active', b: 'standby', c: 'inactive' }, 20_000);
    observer = new Observer(obs);
  });

  after(async () => {
    observer?.stop();
    await d?.close();
  });

  it('the Active holds the VIP and answers on it; status says so', async () => {
    await waitFor('the observer reaches a on the VIP', 10_000, async () => (observer.first('a', 0) !== null ? true : undefined));
    assert.deepEqual(await holders(d), ['a']);
    const vip = d.status('a').vip;
    assert.deepEqual(vip, { address: `${VIP}/24`, card: 'eth0', held: true, error: null });
    assert.equal(d.status('b').vip?.held, false);
    // duplex status checks the VIP from the server it runs on: a answers alone; b sees a's card answer.
    assert.match(statusText(d, 'a'), /^ {2}vip check: answers from this server \(on eth0\) only: clients reach this server$/m);
    assert.match(statusText(d, 'b'), new RegExp(`^  vip check: answered by ${macOf(d.ns('a'))} on eth0's network, not by this server$`, 'm'));
  });

  it('SIGKILL of the Active\'s node: its guardian removes the VIP; the observer reaches b, and never a after b answered', async () => {
    const monitor = new Monitor(d);
    await monitor.ready();
    const killedAt = Date.now();
    d.signal('a', 'SIGKILL');
    const bAt = await waitFor('the observer reaches b on the VIP', 10_000, async () => observer.first('b', killedAt) ?? undefined, 20);
    await sleep(1_000);
    const { doubles, order } = await monitor.stop(['a']);
    const aAfter = observer.answers.filter(([at, n]) => at > bAt && n === 'a');
    assert.deepEqual(aAfter, [], 'a answered on the VIP after b had');
    assert.deepEqual(doubles, [], `the VIP was on two servers at once\n${vipLines(d, 'a')}\n${vipLines(d, 'b')}`);
    assert.deepEqual(order, ['a', 'none', 'b']);
    assert.deepEqual(await holders(d), ['b']);
    // One connect at a time, each bounded at 300 ms: a connect sent to a's card just before the move waits out its bound (bench:vip times the move itself).
    process.stdout.write(`# the observer's first answer from b came ${bAt - killedAt} ms after a's node was killed\n`);
  });

  it('a node restarted over a VIP left on its card removes it', async () => {
    d.start('a'); // a majority stays up while c restarts
    await d.waitRoles({ a: 'standby', b: 'active' }, 20_000);
    await d.stop('c');
    ip('-n', d.ns('c'), 'address', 'add', `${VIP}/24`, 'dev', 'eth0'); // as a crash would leave it
    // The holder's status check sees the second holder before c's node starts and removes it.
    assert.match(statusText(d, 'b'), new RegExp(`^  vip check: ALSO ANSWERED by ${macOf(d.ns('c'))}: another machine holds it too`, 'm'));
    d.start('c');
    await waitFor('c removes the VIP left on its card', 15_000, async () => ((await holders(d)).includes('c') ? undefined : true), 50);
    assert.deepEqual(await holders(d), ['b']);
  });

  it('switchover: the VIP leaves b before it is on a', async () => {
    await d.waitRoles({ a: 'standby', b: 'active', c: 'inactive' }, 20_000);
    const monitor = new Monitor(d);
    await monitor.ready();
    const since = Date.now();
    execFileSync('ip', ['netns', 'exec', d.ns('a'), process.execPath, CLI, 'activate', '--domain', d.file, '--server', 'a'], { stdio: 'ignore' });
    await waitFor('the observer reaches a again', 15_000, async () => observer.first('a', since) ?? undefined, 20);
    const { doubles, order } = await monitor.stop(['b']);
    assert.deepEqual(doubles, [], `the VIP was on two servers at once\n${vipLines(d, 'a')}\n${vipLines(d, 'b')}`);
    assert.deepEqual(order, ['b', 'none', 'a'], 'removed from b before it was added on a');
  });

  it('the Active cut off (quorum): it drops the VIP before the majority side takes it; never on two hosts', async () => {
    const monitor = new Monitor(d);
    await monitor.ready();
    const since = Date.now();
    d.isolate('a', true);
    await waitFor('the observer reaches b', 15_000, async () => observer.first('b', since) ?? undefined, 20);
    await sleep(1_000);
    d.isolate('a', false);
    await d.waitRoles({ a: 'standby', b: 'active' }, 15_000);
    const { doubles, order } = await monitor.stop(['a']);
    assert.deepEqual(doubles, [], `the VIP was on two servers at once\n${vipLines(d, 'a')}\n${vipLines(d, 'b')}`);
    assert.deepEqual(order, ['a', 'none', 'b'], 'a dropped it before b took it');
    assert.deepEqual(await holders(d), ['b']);
  });

  it('the Active frozen (SIGSTOP): its guardian removes the VIP when the lease runs out, before a takes it', async () => {
    const monitor = new Monitor(d);
    await monitor.ready();
    const since = Date.now();
    d.signal('b', 'SIGSTOP');
    try {
      await waitFor('the observer reaches a', 15_000, async () => observer.first('a', since) ?? undefined, 20);
      await sleep(500);
    } finally {
      d.signal('b', 'SIGCONT');
    }
    const { doubles, order } = await monitor.stop(['b']);
    assert.deepEqual(doubles, [], `the VIP was on two servers at once\n${vipLines(d, 'a')}\n${vipLines(d, 'b')}`);
    assert.deepEqual(order, ['b', 'none', 'a'], 'b\'s guardian removed it before a took it');
    await d.waitRoles({ a: 'active', b: 'standby' }, 15_000);
    assert.deepEqual(await holders(d), ['a']);
  });
});
