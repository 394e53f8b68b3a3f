/**
 * npm run bench:vip [-- --trials 10] [-- --only duplex|keepalived]
 *
 * How fast a virtual IP (VIP) moves when its holder dies, and what a client on the same LAN
 * sees (root, iproute2, keepalived, arping). Three servers (s1, s2, s3) and an observer (obs)
 * in network namespaces on one bridge; each server runs a tiny TCP responder bound to 0.0.0.0
 * that answers with the server's name, so a connect to the VIP says who holds it. Per system
 * and fault, `--trials` times: the holder is killed and the observer, which was connected to
 * the VIP just before, measures from the fault
 *  - until the VIP is on another server's card (`ip monitor address` in each server),
 *  - until its own neighbour entry for the VIP shows that server's MAC (`ip monitor neigh`),
 *  - until a TCP connect to VIP:port (one started every 10 ms, 300 ms timeout) is answered by
 *    a server other than the old holder (the time the connect succeeded);
 * and the milliseconds the VIP was on two servers' cards at once, until the trial's end (both
 * measures done, + 500 ms). The fault comes at a random moment within a second (uniform), once
 * the holder has held the VIP alone for a while (the system's quietMs). At the end of each trial the observer asks who answers ARP for the
 * VIP (arping): with two holders, two MACs answer. Missing programs are installed as `npm test`
 * installs its own (test/tools.js, `:bench:vip`).
 * Faults: the node-process crash (SIGKILL of the system's own processes on the holder, the
 * responder stays) and the machine crash (every process of the holder's namespace at once, and
 * its card down without the VIP: a namespace has no kernel of its own to stop, and a dead
 * machine answers no ARP).
 *
 * Systems: keepalived (Debian's package, VRRPv3, multicast) with advert_int 1 and 0.1, and
 * Duplex at its default timings (three voters: s1 main, s2 and s3 backups).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, sleep } from '../test/integration/cluster';
import { END_LINE } from '../main/domain/end';
import { arpingReplies } from '../main/vip/check';
import { newSecretText } from '../main/domain/secret';
import type { StatusView } from '../main/ui/contract';
import { bridge, macOf, unbridge, waitCardUp } from '../test/integration/netns';
import { tempDir } from '../test/fixtures/temp';
import { percentile } from './stats';

const { values } = parseArgs({ options: { trials: { type: 'string', default: '10' }, only: { type: 'string' } } });
const TRIALS = Number(values.trials);
/** `--only duplex` (or keepalived): only the systems whose label contains it. */
const ONLY = values.only?.toLowerCase();

const SUBNET = '10.99.0';
const VIP = `${SUBNET}.100`;
const PORT = 7070;
/** The servers, their addresses and their VRRP priorities (highest first: the first holder). */
const SERVERS = [
  { name: 's1', address: `${SUBNET}.1`, priority: 150 },
  { name: 's2', address: `${SUBNET}.2`, priority: 100 },
  { name: 's3', address: `${SUBNET}.3`, priority: 50 },
] as const;
const OBSERVER = { name: 'obs', address: `${SUBNET}.9` };
/** A trial gives up on the move this long after the fault. */
const TRIAL_TIMEOUT_MS = 15_000;
/** After both measures, this long more, to see whether the VIP stays on two servers. */
const TAIL_MS = 500;
/** The fault comes at a random moment in this span (uniform), so it falls anywhere in the advert (heartbeat) cycles. */
const FAULT_SPREAD_MS = 1_000;
const PROBE_EVERY_MS = 10;
const PROBE_TIMEOUT_MS = 300;

/** Milliseconds on CLOCK_MONOTONIC, which the probe in the observer's namespace reads too. */
const now = () => Number(process.hrtime.bigint()) / 1e6;

type Fault = 'node-process crash' | 'machine crash';

/**
 * What the bench needs of a system that moves the VIP: keepalived and Duplex.
 * Who holds the VIP is not asked of the system: the lab watches the servers' cards, as a
 * client's LAN sees it (the kernel answers ARP for an address on its card, whatever the system
 * believes).
 */
export interface VipSystem {
  readonly label: string;
  /** How long after taking the VIP the new holder may still announce it (gratuitous ARPs): the lab waits this long before the next fault. */
  readonly quietMs: number;
  /** Its configuration, as the report shows it. */
  describe(): string;
  /** Starts it on every server; the lab has made the namespaces and started the responders. */
  start(lab: Lab): Promise<void>;
  /** The pids of its own processes on server h: the node-process crash kills these (the machine crash kills every process of h). */
  nodePids(h: string): number[];
  /** Starts it again on server h after a fault (after a machine crash the lab has started the responder again). */
  restart(h: string): Promise<void>;
  /** Stops what it started (the lab kills anything left in its namespaces anyway). */
  stop(): Promise<void>;
}

interface AddrEvent { t: number; h: string; holds: boolean }
interface NeighEvent { t: number; mac: string | null }
/** One connect of the observer: started at s, connected at c (null: it did not), and the answer (a server's name) or the error. */
interface ProbeEvent { s: number; c: number | null; a: string }

const RESPONDER = `'use strict';
const [name, port] = process.argv.slice(2);
require('node:net').createServer((s) => { s.on('error', () => {}); s.end(name + '\\n'); })
  .listen(Number(port), '0.0.0.0', () => process.stdout.write('ready\\n'));
`;

/** The observer's TCP probe: on "on" it connects every few ms, printing each result as a JSON line; "off" stops it. */
const PROBE = `'use strict';
const net = require('node:net');
const [host, port, every, timeout] = process.argv.slice(2).map((x, i) => (i ? Number(x) : x));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let timer = null;
function attempt() {
  const s = now();
  let c = null, a = '', done = false;
  const sock = net.connect({ host, port });
  const finish = (answer) => { if (!done) { done = true; clearTimeout(t); sock.destroy(); out({ s, c: answer === null ? null : c, a: answer ?? 'timeout' }); } };
  const t = setTimeout(() => finish(null), timeout);
  sock.setEncoding('utf8');
  sock.on('connect', () => { c = now(); });
  sock.on('data', (d) => { a += d; });
  sock.on('end', () => finish(a.trim() || 'empty'));
  sock.on('error', (e) => { c = null; finish(e.code || 'error'); });
}
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  for (const cmd of d.split('\\n')) {
    if (cmd === 'on' && !timer) timer = setInterval(attempt, every);
    if (cmd === 'off' && timer) { clearInterval(timer); timer = null; }
  }
});
process.stdin.on('end', () => process.exit(0));
process.stdout.write('ready\\n');
`;

/** Calls back with each whole line a stream writes. */
function lines(stream: NodeJS.ReadableStream, each: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    const parts = (rest + d).split('\n');
    rest = parts.pop()!;
    for (const l of parts) each(l);
  });
}

async function until<T>(what: string, ms: number, probe: () => T | undefined | Promise<T | undefined>, every = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms`);
    await sleep(every);
  }
}

/**
 * The namespaces, the responders, the observer and what it sees. Every process it starts (and
 * every process a system starts through it) is killed by pid on close, and the namespaces and
 * the temp folder go.
 */
export class Lab {
  readonly dir = tempDir('duplex-vip-');
  readonly vip = VIP;
  readonly port = PORT;
  readonly servers = SERVERS.map((s) => ({ ...s, mac: '' }));
  readonly addrEvents: AddrEvent[] = [];
  readonly neighEvents: NeighEvent[] = [];
  readonly probeEvents: ProbeEvent[] = [];
  private readonly live = new Set<ChildProcess>();
  /** The lab's own watchers inside the server namespaces: a machine crash spares them. */
  private readonly watchers = new Set<number>();
  private probe: ChildProcess | null = null;
  private closed = false;

  constructor(readonly tag: string) {}

  ns(h: string): string {
    return `${this.tag}-${h}`;
  }

  private get namespaces(): string[] {
    return [`${this.tag}-br`, ...[...SERVERS, OBSERVER].map((h) => this.ns(h.name))];
  }

  async open(): Promise<void> {
    bridge(`${this.tag}-br`, Object.fromEntries([...SERVERS, OBSERVER].map((h) => [h.name, h.address])), (h) => this.ns(h));
    for (const h of [...SERVERS, OBSERVER]) waitCardUp(this.ns(h.name), 'eth0');
    for (const s of this.servers) s.mac = macOf(this.ns(s.name));
    writeFileSync(join(this.dir, 'responder.js'), RESPONDER);
    writeFileSync(join(this.dir, 'probe.js'), PROBE);
    for (const s of SERVERS) this.watchAddresses(s.name);
    this.watchNeighbours();
    await sleep(200); // the watchers have subscribed
    await Promise.all(SERVERS.map((s) => this.startResponder(s.name)));
    const probe = this.spawnIn(OBSERVER.name, process.execPath, [join(this.dir, 'probe.js'), VIP, String(PORT), String(PROBE_EVERY_MS), String(PROBE_TIMEOUT_MS)], 'probe', true);
    this.probe = probe;
    await new Promise<void>((resolve) => lines(probe.stdout!, (l) => (l === 'ready' ? resolve() : this.probeEvents.push(JSON.parse(l) as ProbeEvent))));
  }

  /**
   * Starts `command` in h's namespace (`ip netns exec` execs it: the child's pid is the
   * command's). Its output goes to `<dir>/<log>.log` unless `piped`.
   */
  spawnIn(h: string, command: string, args: string[], log: string, piped = false): ChildProcess {
    const out = piped ? 'pipe' : openSync(join(this.dir, `${log}.log`), 'a');
    const p = spawn('ip', ['netns', 'exec', this.ns(h), command, ...args], { stdio: [piped ? 'pipe' : 'ignore', out, piped ? 'inherit' : out] });
    if (typeof out === 'number') closeSync(out);
    this.live.add(p);
    p.once('exit', () => this.live.delete(p));
    return p;
  }

  /** The tail of a log in the lab's folder, for an error message. */
  logTail(log: string, n = 8): string {
    const f = join(this.dir, `${log}.log`);
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').slice(-n).join('\n') : '(no log)';
  }

  async startResponder(h: string): Promise<void> {
    const p = this.spawnIn(h, process.execPath, [join(this.dir, 'responder.js'), h, String(PORT)], `responder-${h}`, true);
    await new Promise<void>((resolve, reject) => {
      lines(p.stdout!, (l) => l === 'ready' && resolve());
      p.once('exit', (code) => reject(new Error(`the responder on ${h} exited (${code})`)));
    });
  }

  private watchAddresses(h: string): void {
    const p = spawn('ip', ['-n', this.ns(h), 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.live.add(p);
    this.watchers.add(p.pid!);
    p.once('exit', () => this.live.delete(p));
    lines(p.stdout!, (l) => {
      const m = /^(Deleted )?\d+: eth0\s+inet ([\d.]+)\//.exec(l);
      if (m && m[2] === VIP) this.addrEvents.push({ t: now(), h, holds: !m[1] });
    });
  }

  private watchNeighbours(): void {
    const p = spawn('ip', ['-n', this.ns(OBSERVER.name), 'monitor', 'neigh'], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.live.add(p);
    p.once('exit', () => this.live.delete(p));
    lines(p.stdout!, (l) => {
      const m = /^(Deleted )?([\d.]+) dev \S+(?: lladdr (\S+))?/.exec(l);
      if (m && m[2] === VIP) this.neighEvents.push({ t: now(), mac: m[1] ? null : m[3] ?? null });
    });
  }

  /** The servers whose card holds the VIP at time t (from the address watchers). */
  holdersAt(t: number): string[] {
    const holds = new Map<string, boolean>();
    for (const e of this.addrEvents) if (e.t <= t) holds.set(e.h, e.holds);
    return [...holds].filter(([, v]) => v).map(([h]) => h).sort();
  }

  /** The observer's neighbour entry for the VIP (its MAC, null if none or unresolved). */
  neighbourMac(): string | null {
    return this.neighEvents.at(-1)?.mac ?? null;
  }

  macOf(h: string): string {
    return this.servers.find((s) => s.name === h)!.mac;
  }

  nameOfMac(mac: string | null): string {
    return this.servers.find((s) => s.mac === mac)?.name ?? (mac ?? 'none');
  }

  probing(on: boolean): void {
    this.probe!.stdin!.write(on ? 'on\n' : 'off\n');
  }

  /**
   * The machine crash's other half: h's card goes down and loses the VIP, as a machine that
   * died answers nothing, ARP included, and a rebooted one comes up without the VIP (a
   * namespace has no kernel of its own to stop: left alone, its card would go on answering ARP
   * for the VIP and hold it).
   */
  powerOff(h: string): void {
    execFileSync('ip', ['-n', this.ns(h), 'link', 'set', 'eth0', 'down']);
    spawnSync('ip', ['-n', this.ns(h), 'address', 'del', `${VIP}/24`, 'dev', 'eth0'], { stdio: 'ignore' }); // not there: nothing to do
  }

  powerOn(h: string): void {
    execFileSync('ip', ['-n', this.ns(h), 'link', 'set', 'eth0', 'up']);
    waitCardUp(this.ns(h), 'eth0');
  }

  /** Every live process in h's namespace but the lab's own watchers (zombies left out). */
  pidsIn(h: string): number[] {
    return execFileSync('ip', ['netns', 'pids', this.ns(h)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number).filter((p) => !this.watchers.has(p) && procStat(p)?.state !== 'Z');
  }

  /** The distinct MACs that answer the observer's ARP request for the VIP (arping: one broadcast request, 1 s). */
  arpAnswers(): string[] {
    let out = '';
    try {
      out = execFileSync('ip', ['netns', 'exec', this.ns(OBSERVER.name), 'arping', '-b', '-I', 'eth0', '-c', '2', '-w', '1', VIP], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? ''); // exit 1: fewer replies than asked for
    }
    return arpingReplies(out);
  }

  /**
   * Waits until exactly one server has held the VIP for `quietMs`, then until the observer,
   * probing, is answered by it and its neighbour entry shows its MAC. Returns the holder.
   */
  async settled(quietMs: number): Promise<string> {
    const holder = await until('single VIP holder', 60_000, () => {
      const t = now();
      const h = this.holdersAt(t);
      if (h.length !== 1) return undefined;
      const since = this.addrEvents.filter((e) => e.h === h[0]).at(-1)!.t;
      const others = this.addrEvents.filter((e) => e.h !== h[0]).at(-1)?.t ?? 0;
      return t - Math.max(since, others) >= quietMs ? h[0]! : undefined;
    }, 50);
    const from = now();
    this.probing(true);
    await until(`the observer to reach ${holder} at the VIP`, 5_000, () => {
      const answered = this.probeEvents.some((e) => e.s >= from && e.a === holder);
      return answered && this.neighbourMac() === this.macOf(holder) ? true : undefined;
    });
    return holder;
  }

  /** Kills everything of the lab (by pid), removes its namespaces and its folder. Synchronous, so that Ctrl-C can call it. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.live) if (p.pid) signal(p.pid, 'SIGKILL');
    for (const n of this.namespaces) {
      try {
        for (const pid of execFileSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).split('\n').filter(Boolean)) signal(Number(pid), 'SIGKILL');
      } catch {
        // no such namespace
      }
    }
    execFileSync('sleep', ['0.2']);
    unbridge(this.namespaces);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A process's name and state (R, S, Z…) from /proc, null if it is gone. */
function procStat(pid: number): { comm: string; state: string } | null {
  try {
    const m = /^\d+ \((.*)\) (\S)/s.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return m ? { comm: m[1]!, state: m[2]! } : null;
  } catch {
    return null;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

/** Stops every one of them first, then kills them: none runs (sends, respawns, cleans up) after the first is hit. */
function crash(pids: number[]): void {
  for (const p of pids) signal(p, 'SIGSTOP');
  for (const p of pids) signal(p, 'SIGKILL');
}

/**
 * keepalived, one instance per server namespace, VRRP only (-P), in the foreground (-n),
 * logging to its own file (-l, no syslog: -G), its own pid files (-p, -r). VRRPv3 (advert_int
 * below 1 s needs it), multicast to 224.0.0.18 on the bridge, all servers start as BACKUP,
 * preemption on (the default): s1 takes the VIP back when it comes back. Gratuitous ARP
 * settings at keepalived's defaults.
 */
class Keepalived implements VipSystem {
  readonly label: string;
  /** garp_master_delay (5 s, the default): the second burst of gratuitous ARPs after a move, and 1 s more. */
  readonly quietMs = 6_000;
  private lab!: Lab;
  private readonly procs = new Map<string, ChildProcess>();

  constructor(readonly advertInt: number) {
    this.label = `keepalived, advert_int ${advertInt}`;
  }

  config(h: (typeof SERVERS)[number]): string {
    return `global_defs {
  router_id ${h.name}
  vrrp_version 3
}
vrrp_instance VIP {
  state BACKUP
  interface eth0
  virtual_router_id 99
  priority ${h.priority}
  advert_int ${this.advertInt}
  virtual_ipaddress {
    ${VIP}/24 dev eth0
  }
}
`;
  }

  describe(): string {
    return `${this.label}: keepalived.conf of s1 (s2 and s3 differ only in router_id and priority, 100 and 50):\n${this.config(SERVERS[0])}`;
  }

  private file(h: string, ext: string): string {
    return join(this.lab.dir, `keepalived-${h}.${ext}`);
  }

  private run(h: string): void {
    const args = ['-n', '-l', '-G', '-P', '-f', this.file(h, 'conf'), '-p', this.file(h, 'pid'), '-r', this.file(h, 'vrrp.pid')];
    this.procs.set(h, this.lab.spawnIn(h, 'keepalived', args, `keepalived-${h}`));
  }

  /** Until its VRRP child runs (two keepalived processes in h's namespace). */
  private async running(h: string): Promise<void> {
    await until(`keepalived running on ${h}`, 5_000, () => (this.nodePids(h).length >= 2 ? true : undefined)).catch((e: Error) => {
      throw new Error(`${e.message}:\n${this.lab.logTail(`keepalived-${h}`)}`);
    });
  }

  async start(lab: Lab): Promise<void> {
    this.lab = lab;
    for (const s of SERVERS) {
      writeFileSync(this.file(s.name, 'conf'), this.config(s));
      // keepalived's own check of the configuration (in the namespace: it looks for eth0)
      execFileSync('ip', ['netns', 'exec', lab.ns(s.name), 'keepalived', '-t', '-f', this.file(s.name, 'conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    }
    for (const s of SERVERS) this.run(s.name);
    for (const s of SERVERS) await this.running(s.name);
  }

  nodePids(h: string): number[] {
    return this.lab.pidsIn(h).filter((p) => procStat(p)?.comm === 'keepalived');
  }

  /**
   * Its pid files go first: the killed VRRP child was orphaned to this machine's init, which
   * reaps it late, and keepalived takes a zombie's pid file for a running daemon ("daemon is
   * already running"). A rebooted machine has an empty /run; under systemd the orphan is reaped
   * at once.
   */
  async restart(h: string): Promise<void> {
    for (const ext of ['pid', 'vrrp.pid']) rmSync(this.file(h, ext), { force: true });
    this.run(h);
    await this.running(h);
  }

  async stop(): Promise<void> {
    for (const p of this.procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await until('keepalived to stop', 5_000, () => ([...this.procs.values()].every((p) => p.exitCode !== null || p.signalCode !== null) ? true : undefined), 50).catch(() => undefined);
  }
}

/**
 * Duplex at its default timings: `duplex run` in each server's namespace, one domain file for
 * the three (s1 main, s2 and s3 backups: three voters, quorum), a runtime stand-in that does
 * nothing but run, and `virtualIp` in the domain file. The node-process crash kills the node
 * (`ip netns exec` has become it); its guardian stays, as on a real server.
 */
class Duplex implements VipSystem {
  readonly label = 'Duplex, default timings';
  /** Its announcement (arping -U -c 2 -w 2: two gratuitous ARPs, 1 s apart), and 1 s more. */
  readonly quietMs = 2_000;
  private lab!: Lab;
  private readonly procs = new Map<string, ChildProcess>();

  private get file(): string {
    return join(this.lab.dir, 'plant.yaml');
  }

  config(): string {
    const role = (i: number) => (i === 0 ? 'main' : 'backup');
    return `domain: plant
servers:
${SERVERS.map((h, i) => `  - { name: ${h.name}, role: ${role(i)}, address: ${h.address} }`).join('\n')}
multicast: { group: 239.255.99.1, port: 25999 }
runtime:
  processes:
    - { name: scada, command: ${JSON.stringify(process.execPath)}, args: ["-e", "setInterval(() => {}, 1 << 30)"] }
virtualIp: { address: ${VIP}/24 }
`;
  }

  describe(): string {
    return `${this.label}: the domain file (timings at their defaults):\n${this.config()}`;
  }

  private status(h: string): StatusView | null {
    try {
      return JSON.parse(execFileSync('ip', ['netns', 'exec', this.lab.ns(h), process.execPath, CLI, 'status', '--domain', this.file, '--server', h, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as StatusView;
    } catch {
      return null;
    }
  }

  private run(h: string): void {
    this.procs.set(h, this.lab.spawnIn(h, process.execPath, [CLI, 'run', '--domain', this.file, '--server', h], `duplex-${h}`));
  }

  /**
   * Until h has had a role (Active, Standby, or Inactive next in line) for 3.5 s: with quorum a node restarted a moment
   * ago supports nobody, itself included, until the promises of its previous run are over (at
   * most 3.2 s), and that is not the move being measured (bench:failover waits so too).
   */
  private async settled(h: string): Promise<void> {
    await until(`${h} settled`, 30_000, () => {
      const st = this.status(h);
      return st && ['active', 'standby', 'inactive'].includes(st.role) && st.roleForMs >= 3_500 ? true : undefined;
    }, 200).catch((e: Error) => {
      throw new Error(`${e.message}:\n${this.lab.logTail(`duplex-${h}`)}`);
    });
  }

  async start(lab: Lab): Promise<void> {
    this.lab = lab;
    writeFileSync(join(lab.dir, 'duplex.secret'), newSecretText(), { mode: 0o600 });
    writeFileSync(this.file, `${this.config()}${END_LINE}\n`, { mode: 0o644 });
    for (const s of SERVERS) this.run(s.name);
    for (const s of SERVERS) await this.settled(s.name);
  }

  nodePids(h: string): number[] {
    const p = this.procs.get(h);
    return p?.pid && p.exitCode === null && p.signalCode === null ? [p.pid] : [];
  }

  async restart(h: string): Promise<void> {
    const p = this.procs.get(h);
    if (p && p.exitCode === null && p.signalCode === null) await new Promise((r) => p.once('exit', r));
    this.run(h);
    await this.settled(h);
  }

  async stop(): Promise<void> {
    for (const p of this.procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    await until('Duplex to stop', 10_000, () => ([...this.procs.values()].every((p) => p.exitCode !== null || p.signalCode !== null) ? true : undefined), 50).catch(() => undefined);
  }
}

interface Trial {
  old: string;
  /** The first server other than the old holder to have the VIP on its card. */
  next: string | null;
  vipMs: number | null;
  arpMs: number | null;
  tcpMs: number | null;
  /** Who answered the first successful connect after the fault (other than the old holder). */
  tcpTo: string | null;
  twoMs: number;
  twoAtEnd: boolean;
  arpAnswersAtEnd: number;
}

async function trial(lab: Lab, sys: VipSystem, fault: Fault): Promise<Trial> {
  const old = await lab.settled(sys.quietMs);
  // At a random moment of the next second: else the fault would come at the same point of the
  // holder's advert (heartbeat) cycle every time, as the trial starts a fixed time after its takeover.
  await sleep(100 + Math.random() * FAULT_SPREAD_MS);
  const pids = fault === 'node-process crash' ? sys.nodePids(old) : lab.pidsIn(old);
  if (!pids.length) throw new Error(`${sys.label}: no process to kill on ${old}`);
  const t0 = now();
  crash(pids);
  if (fault === 'machine crash') lab.powerOff(old);
  const result = () => {
    const gained = lab.addrEvents.find((e) => e.t >= t0 && e.holds && e.h !== old);
    const next = gained?.h ?? null;
    const arp = next ? lab.neighEvents.find((e) => e.t >= t0 && e.mac === lab.macOf(next)) : undefined;
    const tcp = lab.probeEvents.find((e) => e.c !== null && e.c >= t0 && e.a !== old && lab.servers.some((s) => s.name === e.a));
    return { next, vipMs: gained ? gained.t - t0 : null, arpMs: arp ? arp.t - t0 : null, tcpMs: tcp ? tcp.c! - t0 : null, tcpTo: tcp?.a ?? null };
  };
  await until('the move', TRIAL_TIMEOUT_MS, () => {
    const r = result();
    return r.arpMs !== null && r.tcpMs !== null ? true : undefined;
  }, 10).catch(() => undefined);
  await sleep(TAIL_MS);
  const tEnd = now();
  lab.probing(false);
  // The milliseconds between t0 and tEnd with the VIP on two or more cards.
  let twoMs = 0;
  const times = [t0, ...lab.addrEvents.filter((e) => e.t > t0 && e.t < tEnd).map((e) => e.t), tEnd];
  for (let i = 0; i + 1 < times.length; i++) if (lab.holdersAt(times[i]!).length >= 2) twoMs += times[i + 1]! - times[i]!;
  const twoAtEnd = lab.holdersAt(tEnd).length >= 2;
  const arpAnswersAtEnd = lab.arpAnswers().length;
  // Bring the old holder back: its card and its responder (a machine crash killed it), then the system.
  if (fault === 'machine crash') {
    lab.powerOn(old);
    await lab.startResponder(old);
  }
  await sys.restart(old);
  return { old, ...result(), twoMs, twoAtEnd, arpAnswersAtEnd };
}

const fmt = (v: number) => (Number.isFinite(v) ? String(Math.round(v)) : '—');

function report(label: string, trials: Trial[]): void {
  const col = (xs: (number | null)[]) => {
    const got = xs.filter((x): x is number => x !== null);
    const never = xs.length - got.length;
    return `${got.length ? `median ${fmt(percentile(got, 50))} p99 ${fmt(percentile(got, 99))}` : '—'}${never ? ` (${never} never)` : ''}`;
  };
  const count = (xs: (string | null)[]) => [...new Set(xs)].map((x) => `${x ?? 'none'} ${xs.filter((y) => y === x).length}`).join(', ');
  process.stdout.write(`${label.padEnd(48)} VIP on new holder ms: ${col(trials.map((t) => t.vipMs))}   observer ARP ms: ${col(trials.map((t) => t.arpMs))}   ` +
    `TCP connect ms: ${col(trials.map((t) => t.tcpMs))}   VIP on two servers ms: ${col(trials.map((t) => t.twoMs))}, still at trial end ${trials.filter((t) => t.twoAtEnd).length}/${trials.length}, ` +
    `ARP answered by 2+ MACs at trial end ${trials.filter((t) => t.arpAnswersAtEnd >= 2).length}/${trials.length}   (n=${trials.length}; old → new holder: ${count(trials.map((t) => `${t.old}→${t.next ?? 'none'}`))}; TCP answered by ${count(trials.map((t) => t.tcpTo))})\n`);
}

/** The systems side by side, in the same run, on the same kind of bridge. */
const SYSTEMS: (() => VipSystem)[] = [() => new Duplex(), () => new Keepalived(1), () => new Keepalived(0.1)];
const FAULTS: Fault[] = ['node-process crash', 'machine crash'];

let current: Lab | null = null;

function checkTools(): void {
  if (process.getuid?.() !== 0) throw new Error('bench:vip needs root for network namespaces');
  // test/tools.js is plain JavaScript beside test/run.js: as root it installs what is missing (iproute2, keepalived, arping).
  const tools = require(join(__dirname, '..', '..', 'test', 'tools.js')) as { ensureTools: (need: { files: string[]; ui: boolean; windows: boolean; root: boolean; env: NodeJS.ProcessEnv }) => void };
  tools.ensureTools({ files: [':bench:vip'], ui: false, windows: false, root: true, env: process.env });
}

async function main(): Promise<void> {
  checkTools();
  const v = spawnSync('keepalived', ['--version'], { encoding: 'utf8' });
  const version = `${v.stdout}${v.stderr}`.split('\n')[0]!.trim(); // keepalived prints it on stderr
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      current?.close();
      process.exit(130);
    });
  }
  process.stdout.write(`bench:vip: ${TRIALS} trials per system and fault; VIP ${VIP}/24, servers ${SERVERS.map((s) => `${s.name} ${s.address}`).join(', ')}, observer ${OBSERVER.address}; ${version}\n`);
  const tag = `vb${process.pid % 10000}`;
  for (const make of SYSTEMS) {
    const sys = make();
    if (ONLY && !sys.label.toLowerCase().includes(ONLY)) continue;
    const lab = new Lab(tag);
    current = lab;
    try {
      await lab.open();
      await sys.start(lab);
      process.stdout.write(`\n${sys.describe()}`);
      for (const fault of FAULTS) {
        const trials: Trial[] = [];
        for (let i = 0; i < TRIALS; i++) trials.push(await trial(lab, sys, fault));
        report(`${sys.label}, ${fault}`, trials);
      }
      await sys.stop();
    } finally {
      lab.close();
      current = null;
    }
  }
}

main().catch((e: Error) => {
  current?.close();
  process.stderr.write(`bench:vip: ${e.stack ?? e.message}\n`);
  process.exitCode = 1;
});
