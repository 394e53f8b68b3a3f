/**
 * Hosts in network namespaces that the tests create and remove, joined by a Linux bridge in a
 * namespace of its own. Links are cut by taking a bridge port down, or by nftables rules on the
 * bridge (one pair of hosts, one way, or random loss). Traffic stays inside these namespaces.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { END_LINE } from '../../main/domain/end';
import { newSecretText } from '../../main/domain/secret';
import type { EventView, StatusView } from '../../main/ui/contract';
import { CLI, sleep, waitFor } from './cluster';

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

/** A bridge namespace `br` joining one namespace per host (named by `nsOf`), each with its address. */
export function bridge<H extends string>(br: string, hosts: Record<H, string>, nsOf: (h: H) => string): void {
  ip('netns', 'add', br);
  ip('-n', br, 'link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '0');
  ip('-n', br, 'link', 'set', 'br0', 'up');
  for (const h of Object.keys(hosts) as H[]) {
    ip('netns', 'add', nsOf(h));
    ip('-n', br, 'link', 'add', `v-${h}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsOf(h));
    ip('-n', br, 'link', 'set', `v-${h}`, 'master', 'br0', 'up');
    ip('-n', nsOf(h), 'addr', 'add', `${hosts[h]}/24`, 'dev', 'eth0');
    ip('-n', nsOf(h), 'link', 'set', 'eth0', 'up');
    ip('-n', nsOf(h), 'link', 'set', 'lo', 'up');
  }
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
  address: string;
}

/**
 * A domain whose servers run `duplex run` in namespaces of their own, with a runtime stand-in
 * that records any moment two of its processes run in active mode at once (the ledger).
 */
export class NsDomain {
  readonly dir = mkdtempSync(join(tmpdir(), 'duplex-ns-'));
  readonly file = join(this.dir, 'plant.yaml');
  readonly ledger = join(this.dir, 'ledger');
  private readonly procs = new Map<string, ChildProcess>();
  private readonly br: string;

  constructor(readonly tag: string, readonly hosts: Record<string, HostDecl>, group: string) {
    this.br = `${tag}-br`;
    bridge(this.br, Object.fromEntries(Object.entries(hosts).map(([h, d]) => [h, d.address])), (h) => this.ns(h));
    // One table on the bridge for every cut and loss this domain's tests make.
    execFileSync('ip', ['netns', 'exec', this.br, 'nft', '-f', '-'], {
      input: 'table bridge duplex {\n  chain pass { type filter hook forward priority 0; policy accept; }\n}\n',
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    execFileSync('mkdir', ['-p', this.ledger]);
    writeFileSync(join(this.dir, 'duplex.secret'), newSecretText(), { mode: 0o600 });
    const servers = Object.entries(hosts).map(([h, d]) => `  - { name: ${h}, role: ${d.role}, address: ${d.address} }`).join('\n');
    writeFileSync(this.file, `domain: plant
servers:
${servers}
multicast: { group: ${group}, port: ${port} }
runtime:
  processes:
    - { name: scada, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(VICTIM)}, --ledger, ${JSON.stringify(this.ledger)}] }
${END_LINE}
`);
  }

  ns(h: string): string {
    return `${this.tag}-${h}`;
  }

  start(h: string): void {
    this.procs.set(h, spawn('ip', ['netns', 'exec', this.ns(h), process.execPath, CLI, 'run', '--domain', this.file, '--server', h], { stdio: 'ignore' }));
  }

  startAll(): void {
    for (const h of Object.keys(this.hosts)) this.start(h);
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
    unbridge([this.br, ...Object.keys(this.hosts).map((h) => this.ns(h))]);
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

  waitRoles(want: Record<string, string>, ms: number): Promise<Record<string, string>> {
    return waitFor(`${this.tag}: roles ${JSON.stringify(want)}`, ms, async () => {
      const r = this.roles();
      return Object.entries(want).every(([k, v]) => r[k] === v) ? r : undefined;
    }, 100);
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

  /** Takes host `h`'s bridge port down (cut off from all) or up again. */
  isolate(h: string, cut: boolean): void {
    ip('-n', this.br, 'link', 'set', `v-${h}`, cut ? 'down' : 'up');
  }

  private nft(...rule: string[]): void {
    execFileSync('ip', ['netns', 'exec', this.br, 'nft', ...rule], { stdio: ['ignore', 'ignore', 'pipe'] });
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
