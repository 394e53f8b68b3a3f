/**
 * The domain's servers as the domain file declares them (pure): who may be Active, who votes,
 * and the precedence that breaks every tie. Built anew from each configuration; it holds
 * nothing that is heard or decided.
 */
import { majorityOf, quorumInForce, votersOf } from './quorum';
import type { EngineConfig, ServerDecl } from './types';

/** Smallest epoch above `base` that belongs to server slot `slot` of `n`: two servers never pick the same epoch. */
export function nextEpoch(base: number, slot: number, n: number): number {
  const e = base + 1;
  return e + ((((slot - e) % n) + n) % n);
}

export class Servers {
  readonly self: string;
  /** The voters (worked out once per configuration: quorum is asked on every input). */
  readonly voters: readonly string[];
  /** The majority of the voters. */
  readonly majority: number;
  /** Quorum is in force (3 or more voters unless the domain file says `quorum: off`). */
  readonly quorum: boolean;
  /** This server is no longer in the domain file (live reconfiguration): it takes part in nothing. */
  readonly removed: boolean;
  private readonly decls = new Map<string, ServerDecl>();
  private readonly precedence = new Map<string, number>();
  private readonly count: number;
  private readonly slot: number;

  /** `slot`: this server's place in the list it was first started with (kept when it is removed). */
  constructor(cfg: EngineConfig, slot: number) {
    this.self = cfg.self;
    const mains = cfg.servers.filter((s) => s.kind === 'main');
    const backups = cfg.servers.filter((s) => s.kind === 'backup');
    const rest = cfg.servers.filter((s) => s.kind === 'inactive' || s.kind === 'witness');
    [...mains, ...backups, ...rest].forEach((s, i) => this.precedence.set(s.name, i));
    cfg.servers.forEach((s) => this.decls.set(s.name, s));
    this.removed = !this.decls.has(cfg.self);
    // A server removed from the domain stays known to itself as one that takes part in nothing.
    if (this.removed) this.decls.set(cfg.self, { name: cfg.self, kind: 'inactive', maintenance: false });
    this.voters = votersOf(cfg.servers);
    this.majority = majorityOf(this.voters.length);
    this.quorum = quorumInForce(cfg.quorum, this.voters.length);
    this.count = cfg.servers.length;
    const i = cfg.servers.findIndex((s) => s.name === cfg.self);
    this.slot = i >= 0 ? i : slot;
  }

  /** This server's slot in the server list (what its epochs are numbered by). */
  get ownSlot(): number {
    return this.slot;
  }

  /** Declared in the domain file (this server always is, to itself). */
  has(name: string): boolean {
    return this.decls.has(name);
  }

  decl(name: string): ServerDecl {
    const d = this.decls.get(name);
    if (!d) throw new Error(`unknown server ${name}`);
    return d;
  }

  /** Declared main or backup and not set to maintenance in the domain file: it may be Active or Standby. */
  mayServe(name: string): boolean {
    const d = this.decls.get(name);
    return d !== undefined && (d.kind === 'main' || d.kind === 'backup') && !d.maintenance;
  }

  isVoter(name: string): boolean {
    return this.voters.includes(name);
  }

  prec(name: string): number {
    return this.precedence.get(name) ?? Number.MAX_SAFE_INTEGER;
  }

  /** true when (epochA, serverA) wins over (epochB, serverB): higher epoch, then domain precedence. */
  beats(a: string, epochA: number, b: string, epochB: number): boolean {
    if (epochA !== epochB) return epochA > epochB;
    return this.prec(a) < this.prec(b);
  }

  /** The epoch this server takes next above `base`. */
  nextEpoch(base: number): number {
    return nextEpoch(base, this.slot, this.count);
  }
}
