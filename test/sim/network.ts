/**
 * The simulated redundancy network: one or two networks carrying every heartbeat, with seeded
 * loss, duplication, delay (so reordering) and partitions of every shape. Connectivity is
 * judged when a datagram arrives, and each receiver's replay guard drops the copies, as the
 * real transport does.
 */
import type { Heartbeat } from '../../main/engine/types';
import type { SimClock } from './clock';
import type { Faults } from './faults';
import type { SimNode } from './standins';

/** Loss after the heal: a working LAN. */
export const HEALED_LOSS = 0.005;

/** What every part of the simulation uses of it: the faults drawn, the clock, the two random streams, the nodes. */
export interface SimBase {
  readonly opts: { faults: Faults };
  readonly clock: SimClock;
  readonly r: () => number;
  readonly r2: () => number;
  readonly nodes: SimNode[];
}

/** What the network uses of the simulation. */
export interface NetworkHost extends SimBase {
  /** When the network healed (Infinity before). */
  readonly healedAt: number;
  trace(line: string): void;
  onNode(n: SimNode, fn: () => void): void;
}

export class SimNetwork {
  /** Links cut, one way each (`from>to`): partitions of every shape. */
  private cut = new Set<string>();
  /** The networks the cut applies to (the domain has 1 or 2; every heartbeat goes out on each). */
  private cutNets: number[] = [0];
  /** Counts every change of the cuts (a step planned for one partition is dropped after the next). */
  private cuts = 0;
  /** The partition in force, when it is two clean sides (liveness is judged on those). */
  sides: { since: number; groups: SimNode[][] } | null = null;

  /** `networks`: how many networks carry the heartbeats (1 or 2). */
  constructor(private readonly sim: NetworkHost, readonly networks: number) {}

  /** Sends `msg` from `from` to every other server, one copy on each network. */
  send(from: SimNode, msg: Heartbeat): void {
    const sim = this.sim;
    from.seq += 1;
    const env = { incarnation: from.incarnation, seq: from.seq, msg: structuredClone(msg) };
    const f = sim.opts.faults;
    for (const to of sim.nodes) {
      if (to === from) continue;
      // One copy per network; the second to arrive is dropped by the replay guard, as the transport drops it.
      for (let net = 0; net < this.networks; net++) {
        const copies = sim.r() < f.duplicate ? 2 : 1;
        for (let c = 0; c < copies; c++) {
          // A healed network still loses the odd datagram, but not one in twenty.
          if (sim.r() < (sim.clock.now >= sim.healedAt ? Math.min(f.loss, HEALED_LOSS) : f.loss)) continue;
          const delay = f.delayMinMs + sim.r() * (f.delayMaxMs - f.delayMinMs);
          sim.clock.schedule(sim.clock.now + delay, () => {
            // Connectivity is judged on arrival: a partition or lost link drops what is in flight.
            if (!from.linkUp || !to.linkUp || (this.cutNets.includes(net) && this.cut.has(`${from.name}>${to.name}`)) || !to.driver) return;
            sim.onNode(to, () => {
              const driver = to.driver;
              if (!driver || to.guard.check(env.msg.from, env.incarnation, env.seq)) return;
              if (env.msg.role === 'active' || env.msg.role === 'deactivating') to.lastActiveDelivered = sim.clock.now;
              if (process.env.SIM_TRACE === '2') sim.trace(`${to.name} <- ${env.msg.from} ${env.msg.role} e${env.msg.epoch} seq ${env.seq}`);
              driver.receive(env.msg);
            });
          });
        }
      }
    }
  }

  /** Ends the partition in force: every link carries again. */
  heal(): void {
    this.cut.clear();
    this.cuts += 1;
    this.sides = null;
    this.sim.trace('partition healed');
  }

  /** Cuts the network: two sides, or (with `shapes`) one server alone, a bridge, one link, or links one way. */
  partition(): void {
    const sim = this.sim;
    const cut = (a: SimNode, b: SimNode) => this.cut.add(`${a.name}>${b.name}`);
    const split = (groups: SimNode[][]) => {
      for (const g of groups) for (const h of groups) if (g !== h) for (const a of g) for (const b of h) cut(a, b);
    };
    this.cut.clear();
    this.cuts += 1;
    this.sides = null;
    // With two networks: both cut alike, or only one of them (the other still carries everything).
    const both = this.networks === 1 || sim.r2() < 0.6;
    this.cutNets = both ? [...Array(this.networks).keys()] : [sim.r2() < 0.5 ? 0 : 1];
    const shape = sim.opts.faults.shapes ? Math.floor(sim.r2() * 6) : 0;
    const nodes = sim.nodes;
    const one = nodes[Math.floor(sim.r2() * nodes.length)]!;
    const others = nodes.filter((x) => x !== one);
    let what: string;
    if (shape === 0) {
      const side = nodes.map(() => sim.r() < 0.5);
      const groups = [nodes.filter((_, i) => side[i]), nodes.filter((_, i) => !side[i])];
      split(groups);
      if (both) this.sides = { since: sim.clock.now, groups };
      what = groups.map((g) => g.map((x) => x.name).join(',')).join(' | ');
    } else if (shape === 1) {
      split([[one], others]);
      if (both) this.sides = { since: sim.clock.now, groups: [[one], others] };
      what = `${one.name} cut off from all`;
    } else if (shape === 2) {
      // A voter that bridges two sides which do not hear each other.
      const side = others.map(() => sim.r2() < 0.5);
      split([others.filter((_, i) => side[i]), others.filter((_, i) => !side[i])]);
      what = `${others.filter((_, i) => side[i]).map((x) => x.name).join(',')} | ${others.filter((_, i) => !side[i]).map((x) => x.name).join(',')}, bridged by ${one.name}`;
    } else if (shape === 3) {
      const other = others[Math.floor(sim.r2() * others.length)]!;
      split([[one], [other]]);
      what = `link ${one.name}-${other.name} cut`;
    } else if (shape === 5) {
      // In two steps: one link cut (one side stops hearing the other and may ask the voters),
      // then a third server stops reaching the first one way (it still hears it).
      const other = others[Math.floor(sim.r2() * others.length)]!;
      split([[one], [other]]);
      const third = others.find((x) => x !== other);
      if (third) {
        const seq = this.cuts;
        sim.clock.schedule(sim.clock.now + 500 + sim.r2() * 1_500, () => {
          if (this.cuts !== seq) return; // healed or cut otherwise meanwhile
          this.cut.add(`${third.name}>${one.name}`);
          sim.trace(`partition: ${third.name} no longer reaches ${one.name} (one way)`);
        });
      }
      what = `link ${one.name}-${other.name} cut, then ${third?.name ?? 'nobody'} to ${one.name} one way`;
    } else {
      const pairs: string[] = [];
      for (const a of nodes) for (const b of nodes) if (a !== b && sim.r2() < 0.3) {
        cut(a, b);
        pairs.push(`${a.name}>${b.name}`);
      }
      what = `one way: ${pairs.join(' ') || 'none'}`;
    }
    sim.trace(`partition: ${what}${this.networks > 1 ? ` on network ${this.cutNets.map((k) => k + 1).join(' and ')}` : ''}`);
  }
}
