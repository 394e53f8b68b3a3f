/**
 * The faults a simulation injects: the classes of runs (what each may break), and the schedule
 * of one run drawn from its seed: partitions, pauses, crashes and restarts, lost links, full
 * disks, a rolling upgrade, runtime crash loops and operator commands. Every fault ends by
 * chaosMs, so that the heal can settle.
 */
import type { Command, NodeInfo } from '../../main/engine/types';
import type { Invariants, SimStats } from './invariants';
import type { SimBase, SimNetwork } from './network';
import type { SimNode } from './standins';

export interface Faults {
  loss: number;
  duplicate: number;
  delayMinMs: number;
  delayMaxMs: number;
  partitions: boolean;
  pauses: boolean;
  crashes: boolean;
  linkLoss: boolean;
  commands: boolean;
  /**
   * Share of state writes that fill the disk: from then on every write of that server fails for
   * 0.1-6 s (it goes on voting within what is on disk; a restart meanwhile cannot start it).
   */
  diskFailures: number;
  /** Runs with a server on other versions for a while (a rolling upgrade). */
  versionSkew: boolean;
  /**
   * Partitions of every shape: two sides, one server cut off, one voter bridging two sides that
   * do not hear each other, one link cut, links cut one way. False: two sides only.
   */
  shapes?: boolean;
  /** Partitions last this long at most (default 5 s). */
  partitionMaxMs?: number;
  /** Domains of this kind only: 3 to 5 voters with quorum on, witnesses among them. */
  quorumOnly?: boolean;
}

/** Faults that can break liveness and produce brief split brains, but never safety. */
export const CHAOS: Faults = {
  loss: 0.05, duplicate: 0.05, delayMinMs: 0, delayMaxMs: 80,
  partitions: true, pauses: true, crashes: true, linkLoss: true, commands: true, diskFailures: 0.002, versionSkew: true,
};

/**
 * A connected network (delay, duplication, reordering, crashes, pauses, commands): two active
 * runtimes must never coexist (a frozen node's guardian fences its runtime in time).
 */
export const CONNECTED: Faults = {
  loss: 0, duplicate: 0.1, delayMinMs: 0, delayMaxMs: 60,
  partitions: false, pauses: true, crashes: true, linkLoss: false, commands: true, diskFailures: 0.002, versionSkew: true,
};

/**
 * Quorum under partitions of every shape, pauses, crashes, loss and commands: with 3 or more
 * voters two active runtimes must never coexist, not even for a moment, on any network.
 */
export const QUORUM: Faults = {
  ...CHAOS, shapes: true, quorumOnly: true,
};

/**
 * Long partitions of every shape and nothing else (no loss, so no stretched timeouts): where
 * the cut leaves two clean sides, the side holding a majority of the voters, with a server
 * that may be Active, has an Active within the failover bound; and never two runtimes.
 */
export const MAJORITY: Faults = {
  loss: 0, duplicate: 0.05, delayMinMs: 0, delayMaxMs: 20,
  partitions: true, pauses: false, crashes: false, linkLoss: false, commands: false, diskFailures: 0, versionSkew: false,
  quorumOnly: true, partitionMaxMs: 8_000, shapes: true,
};

/** What the fault schedule uses of the simulation. */
export interface FaultHost extends SimBase {
  readonly chaosMs: number;
  /** Version skew: this server runs application version 'B' instead of 'A' until `skewUntil`. */
  readonly skewed: string | null;
  readonly skewUntil: number;
  /** Every server's runtime crash-loops whenever it runs in active mode. */
  readonly allCrashLoop: boolean;
  readonly network: SimNetwork;
  readonly invariants: Invariants;
  readonly stats: SimStats;
  trace(line: string): void;
  onNode(n: SimNode, fn: () => void): void;
  boot(n: SimNode): void;
  crash(n: SimNode, why: string, onlyTheNode?: boolean): void;
  info(n: SimNode): NodeInfo;
  command(n: SimNode, cmd: Command): void;
}

export class FaultSchedule {
  constructor(private readonly sim: FaultHost) {}

  /** Schedules the run's faults, all within chaosMs. */
  start(): void {
    const sim = this.sim;
    const f = sim.opts.faults;
    const end = sim.chaosMs;
    const at = () => 1_000 + sim.r() * (end - 2_000);
    const dur = (max: number) => 200 + sim.r() * max;
    const pick = () => sim.nodes[Math.floor(sim.r() * sim.nodes.length)]!;
    const schedule = (t: number, run: () => void) => sim.clock.schedule(t, run);
    if (f.partitions) {
      for (let i = 0; i < 3; i++) {
        const t = at();
        const d = dur(f.partitionMaxMs ?? 5_000);
        schedule(t, () => sim.network.partition());
        schedule(Math.min(t + d, end), () => sim.network.heal());
      }
    }
    if (f.pauses) {
      for (let i = 0; i < 3; i++) {
        const n = pick();
        const t = at();
        const d = dur(3_000);
        schedule(t, () => {
          if (!n.engine || sim.clock.now < n.pausedUntil) return;
          n.pausedUntil = sim.clock.now + d;
          sim.trace(`${n.name} paused for ${Math.round(d)} ms`);
          schedule(sim.clock.now + d, () => {
            sim.trace(`${n.name} resumes`);
            // Node's event loop order: the overdue timers (the driver's late tick looks at the
            // link first) run before the datagrams that arrived meanwhile.
            const timers = n.dueTimers;
            const work = n.buffered;
            n.dueTimers = [];
            n.buffered = [];
            for (const t of timers) if (n.driver) t();
            for (const w of work) w();
          });
        });
      }
    }
    if (f.crashes) {
      for (let i = 0; i < 3; i++) {
        const n = pick();
        const t = at();
        // Half the crashes are the node process alone (its guardian and runtime live on).
        const onlyTheNode = sim.r() < 0.5;
        schedule(t, () => {
          if (!n.driver) return;
          sim.invariants.expectPromptFailover(n);
          sim.crash(n, onlyTheNode ? 'node process died (the machine and the guardian live on)' : 'crashed (the machine)', onlyTheNode);
          // A node process restarted at once (by a service manager) may be back within its lease.
          const back = onlyTheNode && sim.r() < 0.5 ? 100 + sim.r() * 500 : dur(4_000);
          schedule(sim.clock.now + back, () => {
            if (!n.driver) sim.boot(n);
          });
        });
      }
    }
    if (f.linkLoss) {
      for (let i = 0; i < 2; i++) {
        const n = pick();
        const t = at();
        const d = dur(3_000);
        schedule(t, () => {
          if (!n.linkUp) return;
          n.linkUp = false;
          sim.trace(`${n.name} lost its network`);
          sim.onNode(n, () => n.driver?.checkLink());
          schedule(Math.min(sim.clock.now + d, end), () => {
            n.linkUp = true;
            sim.trace(`${n.name} network back`);
            sim.onNode(n, () => n.driver?.checkLink());
          });
        });
      }
    }
    if (sim.skewed) {
      const n = sim.nodes.find((x) => x.name === sim.skewed)!;
      schedule(sim.skewUntil, () => {
        n.app = 'A';
        sim.trace(`${n.name} now runs application version A like the others`);
        sim.onNode(n, () => n.driver?.setInfo(sim.info(n)));
      });
    }
    if (f.commands) {
      // A runtime crash loop somewhere: the Active hands over if it can.
      for (let i = 0; i < 2; i++) {
        const n = pick();
        schedule(at(), () => sim.onNode(n, () => {
          if (!n.driver) return;
          sim.trace(`${n.name} runtime crash loop`);
          n.driver.observe({ kind: 'runtime-failed', reason: 'simulated crash loop' });
        }));
      }
      if (sim.allCrashLoop) for (const n of sim.nodes) this.crashLoopForever(n, 2_000);
      // Now and then a technician clears a server's crash loops.
      if (sim.r2() < 0.3) {
        const n = sim.nodes[Math.floor(sim.r2() * sim.nodes.length)]!;
        schedule(1_000 + sim.r2() * (end - 2_000), () => {
          sim.invariants.cleared();
          sim.command(n, { kind: 'clear' });
        });
      }
      for (let i = 0; i < 6; i++) {
        const n = pick();
        const x = sim.r();
        const cmd: Command = x < 0.4 ? { kind: 'activate' } : x < 0.7 ? { kind: 'deactivate' } : { kind: 'maintenance', on: sim.r() < 0.6, force: sim.r() < 0.3 };
        schedule(at(), () => sim.command(n, cmd));
      }
    }
  }

  /**
   * A runtime that cannot start anywhere: while it is meant to run in active mode, the
   * supervisor reports a crash loop at every exit (1-4 s apart with its backoff).
   */
  private crashLoopForever(n: SimNode, at: number): void {
    const sim = this.sim;
    sim.clock.schedule(at, () => {
      if (n.driver && n.runtimeActive && n.runtimeWanted === 'active') {
        sim.onNode(n, () => {
          if (!n.driver) return;
          sim.trace(`${n.name} runtime crash loop (it cannot start)`);
          n.driver.observe({ kind: 'runtime-failed', reason: 'simulated runtime that cannot start' });
        });
      }
      this.crashLoopForever(n, sim.clock.now + 1_000 + sim.r2() * 3_000);
    });
  }

  /**
   * Before each state write of `n`: now and then the write fills the disk, and while it is full
   * every write fails (thrown, as the state store throws). Like every fault, disks fail only
   * until the chaos ends (the heal must be able to settle).
   */
  writeState(n: SimNode): void {
    const sim = this.sim;
    const now = sim.clock.now;
    if (now >= n.diskFullUntil && sim.r() < sim.opts.faults.diskFailures && now < sim.chaosMs) {
      n.diskFullUntil = Math.min(now + 100 + sim.r2() * 5_900, sim.chaosMs);
      sim.trace(`${n.name}'s disk is full until ${Math.round(n.diskFullUntil)}`);
      // Now and then its node process is restarted meanwhile (by a service manager): it cannot
      // start until the disk is freed, then waits out the promise kept on disk.
      if (sim.r2() < 0.3) {
        sim.clock.schedule(now + sim.r2() * (n.diskFullUntil - now), () => {
          if (!n.driver || sim.clock.now >= n.diskFullUntil) return;
          sim.invariants.expectPromptFailover(n);
          sim.crash(n, 'node process restarted while its disk is full', true);
          sim.clock.schedule(sim.clock.now + 100 + sim.r2() * 500, () => {
            if (!n.driver) sim.boot(n);
          });
        });
      }
    }
    if (now < n.diskFullUntil) {
      sim.stats.diskFailures += 1;
      throw new Error(`disk full: cannot write ${n.name}'s state file (simulated)`);
    }
  }
}
