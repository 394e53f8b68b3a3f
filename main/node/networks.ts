/**
 * This server's networks: the card on each (one to four, domain file order), whether any is
 * still there, each peer's links, and the link faults, logged when they begin and end.
 */
import { networkSpecs, type DomainConfig } from '../domain/schema';
import { linkFaults, type LinkView } from '../net/links';
import type { Logger } from '../util/logger';
import type { LinkCheck } from './ports';
import { localIPv4Addresses, prefixOf, resolveInterface } from './interfaces';

export class Networks implements LinkCheck {
  /** This server's address on each network. */
  readonly addresses: string[];
  private faults: string[] = [];
  /** Whether each card had its address at the last check. */
  private readonly present = new Map<string, boolean>();

  /** Throws, naming the field, when a network's card is not on this machine. */
  constructor(cfg: DomainConfig, server: string) {
    const decl = cfg.servers.find((s) => s.name === server)!;
    const from = decl.addresses ? `servers[${server}].addresses` : decl.address ? `servers[${server}].address` : cfg.multicast.interfaces ? 'multicast.interfaces' : 'multicast.interface';
    this.addresses = networkSpecs(cfg, decl).map((spec) => {
      const address = resolveInterface(spec);
      if (!address) throw new Error(`the network card ${spec} (from ${from}) is not an address of this machine; its IPv4 addresses are ${localIPv4Addresses().join(', ')}`);
      return address;
    });
  }

  get prefixes(): number[] {
    return this.addresses.map(prefixOf);
  }

  /** The first network: the domain file is synced and the guardian's release sent over it. */
  get first(): string {
    return this.addresses[0]!;
  }

  /** Up while the card of any network is there: a lost network alone is a fault, not a reason to fail over. */
  up(): boolean {
    const local = localIPv4Addresses();
    return this.addresses.some((a) => local.includes(a));
  }

  get detail(): string {
    return this.addresses.join(' and ');
  }

  /**
   * The link faults now; each one that begins or ends is logged. A card of one of several
   * networks that lost its address and has it again: `rejoin` (the multicast group on it).
   */
  check(peers: { server: string; links: LinkView[] }[], log: Logger, rejoin: () => void): string[] {
    const local = localIPv4Addresses();
    for (const a of this.addresses) {
      const here = local.includes(a);
      const before = this.present.get(a);
      this.present.set(a, here);
      if (before === undefined || before === here || this.addresses.length < 2) continue;
      if (here) {
        log.info('network', `${a} is back; joining the multicast group on it again`);
        rejoin();
      } else {
        log.warn('network', `${a} has gone from this machine; heartbeats go out on the other networks`);
      }
    }
    const now = linkFaults(this.addresses, peers);
    for (const f of now) if (!this.faults.includes(f)) log.warn('network', f);
    for (const f of this.faults) if (!now.includes(f)) log.info('network', `over: ${f}`);
    this.faults = now;
    return now;
  }

  current(): string[] {
    return [...this.faults];
  }
}
