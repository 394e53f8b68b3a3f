/**
 * The DESIGN.md invariants, checked after every step of a simulation (and some at points of
 * their own: a promotion, a handover, what a node announces, a prompt failover), with the
 * counts of what the runs exercised. A broken invariant throws a Violation naming the seed.
 */
import { MAX_AWARENESS, type Timings } from '../../main/defaults';
import type { EngineConfig, Heartbeat } from '../../main/engine/types';
import type { RoleEvent } from '../../main/node/driver';
import type { SimClock } from './clock';
import type { Faults } from './faults';
import type { SimNetwork } from './network';
import { VIP_COMMAND_MAX_MS, type SimNode } from './standins';

export class Violation extends Error {}

/** What a run exercised: the sweeps assert enough of each happened for the invariants to mean something. */
export function newStats() {
  return { promotions: 0, failovers: 0, switchovers: 0, commands: 0, events: 0, incompatible: 0, diskFailures: 0, unkeptVotes: 0, unkeptRestarts: 0, fences: 0, releases: 0, resumes: 0, crashLoopHandovers: 0, quorumFences: 0, vipAdds: 0 };
}

export type SimStats = ReturnType<typeof newStats>;

/** Crash-loop handovers counted by the simulation. */
interface CrashLoopHandover {
  server: string;
  at: number;
}

/** What the invariants look at in the simulation. */
export interface InvariantHost {
  readonly opts: { seed: number; faults: Faults };
  readonly clock: SimClock;
  readonly nodes: SimNode[];
  readonly cfgBase: Omit<EngineConfig, 'self'>;
  readonly timings: Timings;
  /** The guardian's lease (main/defaults.ts leaseMs). */
  readonly lease: number;
  readonly failureResetMs: number;
  readonly healMs: number;
  /** When the network healed (Infinity before). */
  readonly healedAt: number;
  readonly quorumOn: boolean;
  readonly network: SimNetwork;
  readonly stats: SimStats;
  describe(): string;
}

export class Invariants {
  private lastCommandAt = -Infinity;
  private noActiveSince: number | null = null;
  private lastBootAt = -Infinity;
  /** An invariant broken inside a port (where throwing would be caught by the driver). */
  private broken: string | null = null;
  private readonly crashLoopHandovers: CrashLoopHandover[] = [];
  private lastClearAt = -Infinity;

  constructor(private readonly sim: InvariantHost) {}

  private get now(): number {
    return this.sim.clock.now;
  }

  fail(what: string): never {
    const sim = this.sim;
    throw new Violation(`seed ${sim.opts.seed} at ${Math.round(this.now)} ms: ${what}\n  ${sim.describe()}\n  replay: npm run build && SIM_SEED=${sim.opts.seed} node out/test/sim/replay.js`);
  }

  /** A command was accepted (or a crash-loop handover asked for a switchover). */
  commanded(): void {
    this.lastCommandAt = this.now;
  }

  /** A node booted: servers that booted may rightly claim first. */
  booted(): void {
    this.lastBootAt = this.now;
  }

  /** `duplex clear`: crash-loop handovers before it are not counted. */
  cleared(): void {
    this.lastClearAt = this.now;
  }

  /**
   * What `from` sends (recorded, not thrown: the driver catches what a transport throws).
   * Persist before send: what a heartbeat announces must survive a crash right after it.
   */
  sending(from: SimNode, msg: Heartbeat): void {
    const kept = from.store.durable;
    if (msg.maxEpoch > kept.maxEpoch || msg.epoch > kept.maxEpoch) {
      this.broken ??= `${from.name} announced epoch ${Math.max(msg.epoch, msg.maxEpoch)} before persisting it (state kept: epoch ${kept.maxEpoch})`;
    }
    if (msg.role === 'maintenance' && !kept.maintenance) this.broken ??= `${from.name} announced Maintenance before persisting it`;
    // A support promises no more than the promise on disk: a restart waits that one out.
    if (msg.ack && msg.ack.ms > (kept.promiseMs ?? 0)) {
      this.broken ??= `${from.name} promised its support for ${msg.ack.ms} ms with ${kept.promiseMs ?? 0} ms kept on disk`;
    }
    if (msg.ack && this.now < from.diskFullUntil) this.sim.stats.unkeptVotes += 1;
  }

  roleChanged(n: SimNode, e: RoleEvent): void {
    if (e.to === 'active') this.checkPromotion(n, e.cause ?? 'manual', e.reason);
    if (e.to === 'deactivating' && e.reason.startsWith('runtime crash loop')) this.checkCrashLoopHandover(n, e.reason);
  }

  /**
   * Pacemaker's migration-threshold: a server that handed over because of a crash loop is
   * banned for failureResetMs, so each server hands over for this reason at most once per
   * failureResetMs, never to a banned server, and in any window of failureResetMs there are at
   * most (main and backup servers − 1) such handovers: ≤ 1 with two servers, however every
   * runtime crash-loops. `duplex clear` lifts the ban; handovers before a clear are not counted.
   */
  private checkCrashLoopHandover(n: SimNode, reason: string): void {
    const sim = this.sim;
    sim.stats.crashLoopHandovers += 1;
    this.lastCommandAt = this.now; // the switchover it causes is asked for, like a command
    const to = /handing over to (\S+?);/.exec(reason)?.[1];
    const target = sim.nodes.find((x) => x.name === to);
    if (!target) this.fail(`${n.name} handed over because of a crash loop, but the reason names no server: ${reason}`);
    if (target.engine?.runtimeBanned) this.fail(`${n.name} handed over to ${to}, which is banned after its own crash loop`);
    const since = Math.max(this.now - sim.failureResetMs, this.lastClearAt);
    const recent = this.crashLoopHandovers.filter((h) => h.at > since);
    const again = recent.find((h) => h.server === n.name);
    if (again) this.fail(`${n.name} handed over because of a crash loop at ${Math.round(again.at)} ms and again now, within failureResetMs (${sim.failureResetMs} ms)`);
    const mayMove = sim.cfgBase.servers.filter((s) => this.mayBeActive(s.name)).length - 1;
    if (recent.length + 1 > mayMove) {
      this.fail(`${recent.length + 1} crash-loop handovers within failureResetMs (${sim.failureResetMs} ms): ${[...recent.map((h) => `${h.server}@${Math.round(h.at)}`), `${n.name}@${Math.round(this.now)}`].join(', ')}; at most ${mayMove}`);
    }
    this.crashLoopHandovers.push({ server: n.name, at: this.now });
  }

  private checkPromotion(n: SimNode, cause: string, reason: string): void {
    const sim = this.sim;
    const t = sim.timings;
    sim.stats.promotions += 1;
    if (n.engine?.currentIncompatibility) this.fail(`${n.name} promoted itself (${cause}) although incompatible: ${n.engine.currentIncompatibility}`);
    if (!n.linkUp) this.fail(`${n.name} promoted itself (${cause}) while its own network was down`);
    if (cause === 'failover' && /released Active term/.test(reason)) {
      sim.stats.releases += 1; // no silence to wait for: the runtime overlap check judges it
    } else if (cause === 'failover') {
      sim.stats.failovers += 1;
      const silent = this.now - n.lastActiveDelivered;
      if (silent < t.failureTimeoutMs) {
        this.fail(`${n.name} failed over only ${Math.round(silent)} ms after its last heartbeat from an Active (timeout ${t.failureTimeoutMs} ms)`);
      }
    }
    if (cause === 'failback' && sim.cfgBase.failback === 'manual') this.fail(`${n.name} failed back although the domain says failback: manual`);
    if (cause === 'switchover') {
      sim.stats.switchovers += 1;
      const ok = sim.cfgBase.failback === 'auto' || this.now - this.lastCommandAt <= 3 * t.handoverTimeoutMs;
      if (!ok) this.fail(`${n.name} took over by switchover although nobody asked for one`);
    }
  }

  /** Declared main or backup. */
  mayBeActive(name: string): boolean {
    const kind = this.sim.cfgBase.servers.find((s) => s.name === name)!.kind;
    return kind === 'main' || kind === 'backup';
  }

  /** After every step. */
  checkStep(): void {
    const sim = this.sim;
    const t = sim.timings;
    const now = this.now;
    if (this.broken) this.fail(this.broken);
    // Quorum: never two active runtimes at once, ever (any partition, pause, loss or crash).
    if (sim.quorumOn) {
      const running = sim.nodes.filter((n) => n.runtimeActive);
      if (running.length > 1) this.fail(`runtimes active at once on ${running.map((n) => n.name).join(' and ')} with quorum on`);
      // The virtual IP is fenced like the runtime: never on two servers' cards.
      const holders = sim.nodes.filter((n) => n.vipHeld);
      if (holders.length > 1) this.fail(`the virtual IP on ${holders.map((n) => n.name).join(' and ')} at once with quorum on`);
      this.checkMajoritySide();
    }
    // Versions: a server that finds itself incompatible with the Active is neither Active nor
    // Standby, and it is so only while an Active is heard: one gone silent (for the failure
    // timeout, stretched by awareness) or a handover that outlasted the handover timeout leaves
    // no verdict behind (no deadlock). Judged awake.
    for (const n of sim.nodes) {
      const why = n.engine?.currentIncompatibility ?? null;
      if (why === null) continue;
      const role = n.engine!.currentRole;
      if (role === 'active' || role === 'standby' || role === 'activating') this.fail(`${n.name} is ${role} although incompatible (${why})`);
      const heardFor = now - n.lastActiveDelivered;
      const bound = t.failureTimeoutMs * (1 + MAX_AWARENESS) + t.handoverTimeoutMs + t.heartbeatIntervalMs;
      if (now >= n.pausedUntil && heardFor > bound) this.fail(`${n.name} is still incompatible (${why}) although no Active has reached it for ${Math.round(heardFor)} ms`);
    }
    const actives = sim.nodes.filter((n) => n.engine && (n.engine.currentRole === 'active' || n.engine.currentRole === 'deactivating'));
    const epochs = new Set<number>();
    for (const a of actives) {
      const e = a.engine!.currentEpoch;
      if (epochs.has(e)) this.fail(`two Actives with epoch ${e}: ${actives.map((x) => `${x.name}@${x.engine!.currentEpoch}`).join(', ')}`);
      epochs.add(e);
    }
    // Liveness on a connected network, at every step: an eligible server never goes without
    // an Active for longer than the failover bound.
    const eligible = sim.nodes.some((n) => n.engine && n.engine.currentRole !== 'maintenance' && !n.engine.runtimeBanned && this.mayBeActive(n.name));
    const anyActive = sim.nodes.some((n) => n.engine?.currentRole === 'active');
    // Versions are judged only against a live Active: with none, a server on other versions is
    // eligible again, so liveness holds while versions differ too.
    if (anyActive || !eligible) this.noActiveSince = null;
    else if (this.noActiveSince === null) this.noActiveSince = now;
    const f = sim.opts.faults;
    const connected = !f.partitions && !f.linkLoss && f.loss === 0;
    const settled = now >= sim.healedAt + 3_000;
    if (connected || settled) {
      // Counted whether or not the node process is up: a runtime outliving its node counts.
      const running = sim.nodes.filter((n) => n.runtimeActive);
      if (running.length > 1) this.fail(`runtimes active at once on ${running.map((n) => n.name).join(' and ')}${settled ? ' after the network healed' : ' on a connected network'}`);
      const holders = sim.nodes.filter((n) => n.vipHeld);
      if (holders.length > 1) this.fail(`the virtual IP on ${holders.map((n) => n.name).join(' and ')} at once${settled ? ' after the network healed' : ' on a connected network'}`);
      // A frozen Active still believes it is Active (its runtime is fenced): roles are judged awake.
      const roleActive = sim.nodes.filter((n) => n.engine?.currentRole === 'active' && now >= n.pausedUntil);
      if (roleActive.length > 1) this.fail(`${roleActive.map((n) => n.name).join(' and ')} are both Active${settled ? ' after the network healed' : ' on a connected network'}`);
      if (this.noActiveSince !== null && now - this.noActiveSince > this.livenessBound()) {
        this.fail(`no Active for ${Math.round(now - this.noActiveSince)} ms although eligible servers are up (${sim.nodes.map((n) => `${n.name}=${n.engine?.currentRole ?? 'down'}`).join(' ')})`);
      }
    }
  }

  /**
   * Liveness with quorum: while the network is cut in two clean sides, the side holding a
   * majority of the voters, all of them up and awake, with a main or backup server that may be
   * Active, has an Active within the failover bound (the stretched failure timeout, a vote's
   * round trip and a heartbeat).
   */
  private checkMajoritySide(): void {
    const sim = this.sim;
    const f = sim.opts.faults;
    const sides = sim.network.sides;
    if (!sides || f.pauses || f.crashes || f.commands) return;
    const majority = Math.floor(sim.nodes.length / 2) + 1;
    const side = sides.groups.find((g) => g.length >= majority);
    if (!side || !side.some((n) => this.mayBeActive(n.name))) return;
    if (!side.every((n) => n.engine && n.linkUp && this.now >= n.pausedUntil)) return;
    const bound = sim.timings.failureTimeoutMs * (1 + MAX_AWARENESS) + 2 * f.delayMaxMs + sim.timings.heartbeatIntervalMs + sim.lease;
    if (this.now - sides.since <= bound) return;
    if (!side.some((n) => n.engine!.currentRole === 'active' && n.runtimeActive)) {
      this.fail(`no Active ${Math.round(this.now - sides.since)} ms into a partition on the majority side ${side.map((n) => `${n.name}=${n.engine!.currentRole}`).join(' ')}`);
    }
  }

  /** Liveness: after the heal bound, exactly one Active (if anyone may be Active), and one Standby when two could be. */
  checkSettled(): void {
    const sim = this.sim;
    const t = sim.timings;
    const eligible = sim.nodes.filter((n) => {
      return n.engine && this.mayBeActive(n.name) && n.engine.currentRole !== 'maintenance' && !n.engine.runtimeBanned;
    });
    // A crash loop may start a handover at any time (every runtime crash-loops): one under way at
    // the end is no missing Active (the liveness check at every step bounds the gap).
    const handingOver = this.now - (this.crashLoopHandovers.at(-1)?.at ?? -Infinity) < t.handoverTimeoutMs;
    const active = sim.nodes.filter((n) => n.engine?.currentRole === 'active' || (handingOver && n.engine?.currentRole === 'deactivating'));
    const roles = sim.nodes.map((n) => `${n.name}=${n.engine?.currentRole ?? 'down'}`).join(' ');
    if (eligible.length > 0 && (active.length > 1 || (active.length === 0 && !handingOver))) this.fail(`${active.length} Actives ${sim.healMs} ms after the network healed (${roles})`);
    // The runtime is asked for active mode once the VIP is added (one command, up to VIP_COMMAND_MAX_MS): an Active of the last few ms may not have asked yet.
    const asked = active.length === 1 && active[0]!.engine!.status(this.now).roleForMs > VIP_COMMAND_MAX_MS;
    if (asked && active[0]!.engine!.currentRole === 'active' && !active[0]!.runtimeActive) this.fail(`${active[0]!.name} is Active but its runtime is not running`);
    if (asked && active[0]!.engine!.currentRole === 'active' && !active[0]!.vipHeld) this.fail(`${active[0]!.name} is Active but does not hold the virtual IP`);
    const standby = sim.nodes.filter((n) => n.engine?.currentRole === 'standby');
    // A server that became Standby within a heartbeat (and the network's delay) has not been heard as one yet.
    const news = t.heartbeatIntervalMs + sim.opts.faults.delayMaxMs;
    const heard = standby.filter((n) => n.engine!.status(this.now).roleForMs > news);
    if (eligible.length >= 2 && (standby.length === 0 || heard.length > 1)) this.fail(`${standby.length} Standbys after the network healed (${roles})`);
  }

  /**
   * Failover speed on a connected network: when a settled Active crashes with a Standby ready
   * and no switchover under way, a new Active exists within the failure timeout plus the
   * network delay (and a heartbeat of slack).
   */
  expectPromptFailover(victim: SimNode): void {
    const sim = this.sim;
    const t = sim.timings;
    const f = sim.opts.faults;
    if (f.partitions || f.pauses || f.linkLoss || f.loss > 0) return;
    if (victim.engine?.currentRole !== 'active') return;
    if (this.now - this.lastCommandAt < 2 * t.handoverTimeoutMs) return;
    const standby = sim.nodes.find((n) => n.engine?.currentRole === 'standby' && n.engine.status(this.now).awareness === 0);
    if (!standby) return;
    const bound = t.failureTimeoutMs + f.delayMaxMs + t.heartbeatIntervalMs;
    const crashedAt = this.now;
    sim.clock.schedule(this.now + bound, () => {
      // A victim back within the bound may claim first (a restarted main); that is not a slow failover.
      // Servers that booted meanwhile may rightly claim first (a starting main goes ahead).
      if (!standby.engine || victim.engine || this.lastBootAt > crashedAt || this.now - this.lastCommandAt < bound) return;
      if (!sim.nodes.some((n) => n.engine?.currentRole === 'active')) {
        this.fail(`no Active ${Math.round(this.now - crashedAt)} ms after ${victim.name} crashed, although ${standby.name} was a ready Standby`);
      }
    });
  }

  /** Longest time without an Active we accept: discovery, the stretched failure timeout, a handover that is never picked up. */
  livenessBound(): number {
    const t = this.sim.timings;
    return t.discoveryMs + t.failureTimeoutMs * (1 + MAX_AWARENESS) + t.handoverTimeoutMs + 2_000;
  }
}
