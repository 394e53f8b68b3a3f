/**
 * Hosts in network namespaces that the tests create and remove, joined by a Linux bridge in a
 * namespace of its own. Links are cut by taking a bridge port down, or by nftables rules on the
 * bridge (one pair of hosts, one way, or random loss). Traffic stays inside these namespaces.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { END_LINE } from '../../main/domain/end';
import { newSecretText } from '../../main/domain/secret';
import type { EventView, StatusView } from '../../main/ui/contract';
import { CLI, sleep, waitFor } from './cluster';
import { tempDir } from '../fixtures/temp';

/** True, or why these tests cannot run here (they need root, iproute2 and nftables). */
export const canRunNetns: true | string = (() => {
  if (process.getuid?.() !== 0) return 'needs root for network namespaces';
  for (const [tool, pkg] of [['ip', 'iproute2'], ['nft', 'nftables']] as const) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore' });
    } catch {
      return `needs ${pkg} (${tool})`;
    }
  }
  return true;
})();

export const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/**
 * A bridge namespace `br` joining one namespace per host (named by `nsOf`), each with its
 * address on card `card`. The host namespaces are made unless `hostsExist` (a second network).
 */
export function bridge<H extends string>(br: string, hosts: Record<H, string>, nsOf: (h: H) => string, card = 'eth0', hostsExist = false): void {
  ip('netns', 'add', br);
  ip('-n', br, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
  ip('-n', br, 'link', 'set', 'br0', 'up');
  for (const h of Object.keys(hosts) as H[]) {
    if (!hostsExist) ip('netns', 'add', nsOf(h));
    ip('-n', br, 'link', 'add', `v-${h}`, 'type', 'veth', 'peer', 'name', card, 'netns', nsOf(h));
    ip('-n', br, 'link', 'set', `v-${h}`, 'master', 'br0', 'up');
    ip('-n', nsOf(h), 'addr', 'add', `${hosts[h]}/24`, 'dev', card);
    ip('-n', nsOf(h), 'link', 'set', card, 'up');
    if (!hostsExist) ip('-n', nsOf(h), 'link', 'set', 'lo', 'up');
  }
}

/** Card `card` of namespace `ns`'s link line (`ip -o link show`). */
function linkOf(ns: string, card: string): string {
  return execFileSync('ip', ['-n', ns, '-o', 'link', 'show', card], { encoding: 'utf8' });
}

/**
 * Waits until card `card` of namespace `ns` is running (operstate UP): a card that is not yet is
 * left out of os.networkInterfaces(), and a node refuses to start without its card.
 */
export function waitCardUp(ns: string, card: string, timeoutMs = 10_000): void {
  const until = Date.now() + timeoutMs;
  while (!/state UP/.test(linkOf(ns, card))) {
    if (Date.now() > until) throw new Error(`${ns}: ${card} did not come up within ${timeoutMs / 1000} s`);
    execFileSync('sleep', ['0.05']);
  }
}

/** The MAC address of card `card` in namespace `ns`. */
export function macOf(ns: string, card = 'eth0'): string {
  return /link\/ether (\S+)/.exec(linkOf(ns, card))![1]!;
}

export function unbridge(namespaces: string[]): void {
  for (const n of namespaces) {
    try {
      ip('netns', 'del', n);
    } catch {
      // already gone
    }
  }
}

const VICTIM = join(__dirname, '..', 'fixtures', 'victim.js');

export interface HostDecl {
  role: 'main' | 'backup' | 'inactive' | 'witness';
  /** Its address on each network (one bridge per network; card eth0 on the first, eth1 on the second…). */
  addresses: string[];
}

/**
 * A domain whose servers run `duplex run` in namespaces of their own, with a runtime stand-in
 * that records any moment two of its processes run in active mode at once (the ledger).
 */
export class NsDomain {
  readonly dir = tempDir('duplex-ns-');
  readonly file = join(this.dir, 'plant.yaml');
  readonly ledger = join(this.dir, 'ledger');
  private readonly procs = new Map<string, ChildProcess>();
  /** Namespaces of hosts without a node (addHost). */
  private readonly extraHosts: string[] = [];
  /** The bridge namespace of each network. */
  private readonly bridges: string[];

  /** `extra`: more of the domain file (a virtualIp section); `runtimeArgs`: more arguments for the runtime stand-in. */
  constructor(readonly tag: string, readonly hosts: Record<string, HostDecl>, group: string, opts: { extra?: string; runtimeArgs?: string[] } = {}) {
    const networks = Object.values(hosts)[0]!.addresses.length;
    this.bridges = Array.from({ length: networks }, (_, k) => `${tag}-br${k === 0 ? '' : k + 1}`);
    this.bridges.forEach((br, k) => {
      bridge(br, Object.fromEntries(Object.entries(hosts).map(([h, d]) => [h, d.addresses[k]!])), (h) => this.ns(h), `eth${k}`, k > 0);
      // One table on each bridge for every cut and loss this domain's tests make.
      execFileSync('ip', ['netns', 'exec', br, 'nft', '-f', '-'], {
        input: 'table bridge duplex {\n  chain pass { type filter hook forward priority 0; policy accept; }\n}\n',
        stdio: ['pipe', 'ignore', 'pipe'],
      });
    });
    this.waitCards(networks);
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    execFileSync('mkdir', ['-p', this.ledger]);
    writeFileSync(join(this.dir, 'duplex.secret'), newSecretText(), { mode: 0o600 });
    const where = (d: HostDecl) => (d.addresses.length > 1 ? `addresses: [${d.addresses.join(', ')}]` : `address: ${d.addresses[0]}`);
    const servers = Object.entries(hosts).map(([h, d]) => `  - { name: ${h}, role: ${d.role}, ${where(d)} }`).join('\n');
    writeFileSync(this.file, `domain: plant
servers:
${servers}
multicast: { group: ${group}, port: ${port} }
runtime:
  processes:
    - { name: scada, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(VICTIM)}, --ledger, ${JSON.stringify(this.ledger)}${(opts.runtimeArgs ?? []).map((x) => `, ${JSON.stringify(x)}`).join('')}] }
${opts.extra ?? ''}
${END_LINE}
`, { mode: 0o644 }); // only its owner may change it: the node refuses a domain file others can change
  }

  ns(h: string): string {
    return `${this.tag}-${h}`;
  }

  /** Waits until every host's cards are running (waitCardUp). */
  private waitCards(networks: number): void {
    for (const h of Object.keys(this.hosts)) for (let k = 0; k < networks; k++) waitCardUp(this.ns(h), `eth${k}`);
  }

  /** Starts server `h`'s node; what it writes to stderr (a failed start) goes to `<dir>/<h>.err`. */
  start(h: string): void {
    const err = openSync(join(this.dir, `${h}.err`), 'a');
    this.procs.set(h, spawn('ip', ['netns', 'exec', this.ns(h), process.execPath, CLI, 'run', '--domain', this.file, '--server', h], { stdio: ['ignore', 'ignore', err] }));
    closeSync(err);
  }

  startAll(): void {
    for (const h of Object.keys(this.hosts)) this.start(h);
  }

  /** Sends `signal` to server `h`'s node process (`ip netns exec` has become it). */
  signal(h: string, signal: NodeJS.Signals): void {
    this.procs.get(h)?.kill(signal);
  }

  /** Joins namespace `ns` (made here) to the first network at `address`, as a host without a node (an observer). */
  addHost(name: string, address: string): string {
    const ns = this.ns(name);
    ip('netns', 'add', ns);
    ip('-n', this.bridges[0]!, 'link', 'add', `v-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ip('-n', this.bridges[0]!, 'link', 'set', `v-${name}`, 'master', 'br0', 'up');
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
    ip('-n', ns, 'link', 'set', 'eth0', 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    this.extraHosts.push(ns);
    return ns;
  }

  /** Stops server `h`'s node (SIGTERM, then SIGKILL); its guardian stops the runtime. */
  async stop(h: string): Promise<void> {
    const p = this.procs.get(h);
    if (!p || p.exitCode !== null) return;
    p.kill('SIGTERM');
    await waitFor(`${h} to stop`, 5_000, async () => (p.exitCode !== null || p.signalCode !== null ? true : undefined), 50).catch(() => p.kill('SIGKILL'));
  }

  async close(): Promise<void> {
    await Promise.all(Object.keys(this.hosts).map((h) => this.stop(h)));
    await sleep(500);
    unbridge([...this.bridges, ...Object.keys(this.hosts).map((h) => this.ns(h)), ...this.extraHosts]);
    rmSync(this.dir, { recursive: true, force: true });
  }

  status(h: string): StatusView {
    const out = execFileSync('ip', ['netns', 'exec', this.ns(h), process.execPath, CLI, 'status', '--domain', this.file, '--server', h, '--json'], { encoding: 'utf8' });
    return JSON.parse(out) as StatusView;
  }

  roles(): Record<string, string> {
    return Object.fromEntries(Object.keys(this.hosts).map((h) => {
      try {
        return [h, this.status(h).role];
      } catch {
        return [h, 'no answer'];
      }
    }));
  }

  /** Waits for the roles; on a timeout the error names the roles last seen and each server's reason. */
  async waitRoles(want: Record<string, string>, ms: number): Promise<Record<string, string>> {
    let last: Record<string, string> = {};
    try {
      return await waitFor(`${this.tag}: roles ${JSON.stringify(want)}`, ms, async () => {
        last = this.roles();
        return Object.entries(want).every(([k, v]) => last[k] === v) ? last : undefined;
      }, 100);
    } catch (e) {
      const why = Object.keys(this.hosts).map((h) => {
        try {
          return `${h}: ${this.status(h).reason}`;
        } catch {
          return `${h}: no answer (${readFileSync(join(this.dir, `${h}.err`), 'utf8').trim().split('\n').at(-1) ?? 'nothing on stderr'})`;
        }
      });
      throw new Error(`${(e as Error).message}; last seen ${JSON.stringify(last)}; ${why.join('; ')}`);
    }
  }

  /** Every server's role changes after wall time `since` (ms since 1970). */
  eventsSince(since: number): (EventView & { server: string })[] {
    return Object.keys(this.hosts).flatMap((h) => this.status(h).events.filter((e) => Date.parse(e.at) > since).map((e) => ({ ...e, server: h })));
  }

  /** Times two runtimes ran in active mode at once, as the runtime stand-ins recorded them. */
  overlaps(): string[] {
    return readdirSync(this.ledger).filter((f) => f.startsWith('overlap-')).map((f) => readFileSync(join(this.ledger, f), 'utf8'));
  }

  /** When (ms since 1970) server `h`'s runtime last started in active mode, null if never. */
  activeStartedAt(h: string): number | null {
    const starts = readdirSync(this.ledger).filter((f) => f.endsWith('.active')).map((f) => readFileSync(join(this.ledger, f), 'utf8').split(' '))
      .filter(([server]) => server === h).map(([, at]) => Number(at));
    return starts.length ? Math.max(...starts) : null;
  }

  /** Takes host `h`'s bridge port down (cut off from all) or up again, on every network or only network `k` (0: the first). */
  isolate(h: string, cut: boolean, k?: number): void {
    for (const br of k === undefined ? this.bridges : [this.bridges[k]!]) ip('-n', br, 'link', 'set', `v-${h}`, cut ? 'down' : 'up');
  }

  /** Cuts network `k` (0: the first) for every host. */
  cutNetwork(k: number): void {
    for (const h of Object.keys(this.hosts)) this.isolate(h, true, k);
  }

  private nft(...rule: string[]): void {
    for (const br of this.bridges) execFileSync('ip', ['netns', 'exec', br, 'nft', ...rule], { stdio: ['ignore', 'ignore', 'pipe'] });
  }

  /** Drops everything between hosts a and b (both ways), while both still reach the others. */
  cutLink(a: string, b: string): void {
    this.nft('add', 'rule', 'bridge', 'duplex', 'pass', 'iifname', `v-${a}`, 'oifname', `v-${b}`, 'drop');
    this.nft('add', 'rule', 'bridge', 'duplex', 'pass', 'iifname', `v-${b}`, 'oifname', `v-${a}`, 'drop');
  }

  /** Drops `percent` % of the frames on every link, at random. */
  loss(percent: number): void {
    this.nft('add', 'rule', 'bridge', 'duplex', 'pass', 'numgen', 'random', 'mod', '100', '<', String(percent), 'drop');
  }

  /** Removes every cut and loss rule and brings every port up. */
  heal(): void {
    this.nft('flush', 'chain', 'bridge', 'duplex', 'pass');
    for (const h of Object.keys(this.hosts)) this.isolate(h, false);
  }
}
