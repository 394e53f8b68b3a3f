/**
 * The heartbeat path: everything that renews the Active's authority, and nothing else — the
 * engine and its driver, the UDP multicast transport, the state file, the runtime's supervisor
 * and the guardian's lease. It runs in a thread of its own (heart-thread.ts), so that no door
 * (the admin API, the status window, metrics, sync, probes, OPC UA), however loaded, can delay
 * a heartbeat or a renewal. Pacemaker keeps corosync apart from pcsd for the same reason.
 *
 * It talks to the rest of the node through `HeartOutlet`: a snapshot of its state when that
 * changes (nobody outside asks it to build one), the peers' adverts for domain sync, role
 * changes, fences, log lines and the end of the heartbeat path when it had to stop itself.
 */
import { leaseMs, LINK_CHECK_INTERVAL_MS, RUNTIME_STOP_TIMEOUT_MS } from '../defaults';
import type { Domain } from '../domain/load';
import { Engine } from '../engine/engine';
import type { DomainConfig } from '../domain/schema';
import type { EngineConfig, EngineStatus, Heartbeat, NodeInfo, Observation } from '../engine/types';
import { deriveKeys } from '../net/codec';
import type { LinkView } from '../net/links';
import { MulticastTransport } from '../net/transport';
import type { ProbeStatus } from '../probes/score';
import { GuardianClient } from '../guardian/client';
import { killTree, stopLeftoverRuntimes } from '../runtime/host';
import { Supervisor, type RuntimeStatus } from '../runtime/runtime';
import type { Command, CommandOutcome, CommandVerdicts } from '../ui/contract';
import type { Logger } from '../util/logger';
import { isRunning } from '../util/process';
import { cloneGuards } from './clones';
import { realClock } from './clock';
import { EngineDriver, type RoleEvent } from './driver';
import { Networks } from './networks';
import { nodePaths, type NodePaths } from './paths';
import { processSpecs } from './specs';
import { FileStateStore } from './state-store';
import { nodeInfo } from './status';
import { addressRight, vipPlanFor, VipRuntime, type VipState } from '../vip/follow';
import type { VipPlan } from '../vip/holder';

/** What the heartbeat path shows of itself; the node adds the doors' parts (status.ts). */
export interface HeartView {
  engine: EngineStatus;
  commands: CommandVerdicts;
  supervisor: RuntimeStatus;
  dropped: Record<string, number>;
  /** Each peer's state on each network. */
  links: { server: string; links: LinkView[] }[];
  /** Networks on which peers heard on another one are silent. */
  linkFaults: string[];
  events: RoleEvent[];
  /** The address each peer's heartbeats come from. */
  addresses: [string, string][];
  /** The virtual IP on this server (null: none in the domain file). */
  vip: VipState | null;
}

/** Where the heartbeat path reports to (the node's thread, through messages). */
export interface HeartOutlet {
  view(v: HeartView): void;
  /** A peer's advert (its sync state and revision) or address changed: domain sync looks at it. */
  peer(server: string, address: string, info: NodeInfo | undefined): void;
  role(e: RoleEvent): void;
  /** The guardian killed this server's runtime. */
  fenced(reason: string): void;
  /** The heartbeat path stopped itself (another node runs as this server, or its guardian is gone); it has logged why. */
  fatal(message: string): void;
}

export interface HeartOptions {
  domain: Domain;
  server: string;
  secret: Buffer;
  /** What domain sync says of this server (its versions, revision and sync state), for the first heartbeat. */
  info: NodeInfo;
  log: Logger;
  out: HeartOutlet;
}

/**
 * The view is sent at once when something happened (the engine produced an effect: a role
 * change, the runtime's mode, a fault, a command's answer…; a runtime process started, ended or
 * is stopping; a peer's role, epoch, eligibility or health changed), and at least this often:
 * the ages in it go on, and what changes without any of these (the quorum's supports) shows
 * within it.
 * Building the view costs more than a heartbeat: it is not built for a step that changed nothing.
 */
const VIEW_MAX_MS = 1_000;
/** How long the heartbeat path waits for the runtime processes to be gone before it releases the term itself. */
const GONE_WAIT_MS = 2_000;

/** The engine's configuration from a domain file, for server `self` in boot `boot`. */
function engineConfigOf(cfg: DomainConfig, self: string, boot: number): EngineConfig {
  return {
    self,
    servers: cfg.servers.map((s) => ({ name: s.name, kind: s.role, maintenance: s.maintenance })),
    failback: cfg.failback,
    quorum: cfg.quorum,
    boot,
    timings: cfg.timings,
    rated: cfg.health,
    confirmResume: cfg.runtime?.confirmResume ?? false,
    failureResetMs: cfg.runtime?.failureResetMs,
  };
}

export class Heart {
  private engine!: Engine;
  private driver!: EngineDriver;
  private transport!: MulticastTransport;
  private runtime!: Supervisor;
  /** The runtime as the driver moves it: the supervisor, with the virtual IP following its active mode. */
  private vip!: VipRuntime;
  private guardian: GuardianClient | null = null;
  private networks!: Networks;
  private config: DomainConfig;
  private readonly paths: NodePaths;
  private readonly addresses = new Map<string, string>();
  /** What each peer last said of itself, as sent to the node (only changes are sent). */
  private readonly adverts = new Map<string, string>();
  private syncInfo: NodeInfo;
  private probes: ProbeStatus[] = [];
  private linkTimer: NodeJS.Timeout | null = null;
  private viewTimer: NodeJS.Timeout | null = null;
  /** What each peer last said of its role (a change is sent in the view at once). */
  private readonly peerRoles = new Map<string, string>();
  private stopping: Promise<void> | null = null;

  private constructor(private readonly opts: HeartOptions) {
    this.config = opts.domain.config;
    this.paths = nodePaths(opts.domain, opts.server);
    this.syncInfo = opts.info;
  }

  static async start(opts: HeartOptions): Promise<Heart> {
    const heart = new Heart(opts);
    try {
      await heart.boot();
    } catch (e) {
      await heart.stop();
      throw e;
    }
    return heart;
  }

  private get log(): Logger {
    return this.opts.log;
  }

  private async boot(): Promise<void> {
    const cfg = this.config;
    const { server } = this.opts;
    const stopTimeoutMs = Math.max(RUNTIME_STOP_TIMEOUT_MS, ...(cfg.runtime?.processes ?? []).map((p) => p.stopTimeoutMs));
    const guardian = (this.guardian = await GuardianClient.open({ dir: this.paths.dir, server, leaseMs: leaseMs(cfg.timings), log: this.log }));
    const store = new FileStateStore(this.paths.state, this.log);
    const stored = store.read();
    const term = await guardian.keepOrStopHeld(stored.maxEpoch, stopTimeoutMs);
    await stopLeftoverRuntimes(this.paths.dir, this.log, stopTimeoutMs, guardian.held.map((p) => p.pid));
    store.incarnation = Math.max(stored.incarnation + 1, Math.floor(Date.now() / 1000));
    const { incarnation: _, ...persisted } = stored;
    store.write(persisted);
    const networks = (this.networks = new Networks(cfg, server));
    const address = networks.first;

    this.runtime = new Supervisor(processSpecs(this.opts.domain, server, this.paths), this.log, (detail) => this.driver.observe({ kind: 'runtime-failed', reason: detail }), guardian);
    this.runtime.onChange = () => this.publish(); // what runs: in the view at once

    this.transport = await MulticastTransport.open({
      group: cfg.multicast.group,
      port: cfg.multicast.port,
      interfaceAddresses: networks.addresses,
      prefixes: networks.prefixes,
      ttl: cfg.multicast.ttl,
      keys: deriveKeys(cfg.domain, this.opts.secret),
      self: server,
      servers: new Set(cfg.servers.map((s) => s.name)),
      incarnation: store.incarnation,
      onMessage: (msg, from) => this.receive(msg, from),
      onSendError: (err) => {
        this.log.warn('network', `sending a heartbeat failed: ${err.message}`);
        this.driver?.observe({ kind: 'send-failed' });
      },
      onWarning: (event, detail) => this.log.warn(event, detail),
      ...cloneGuards(server, cfg.timings, () => this.config.servers, this.addresses, (fact) => this.linkTimer && this.driver.observe(fact)), // once the driver runs
    });
    guardian.setRoute({ group: cfg.multicast.group, port: cfg.multicast.port, iface: address, ttl: cfg.multicast.ttl }, (hb) => this.transport.seal(hb));

    this.vip = this.vipRuntime(guardian);
    this.vip.onChange = () => this.publish();
    this.engine = new Engine(this.engineConfig(), persisted, realClock.now());
    const back = term !== null && this.engine.resumeTerm(term, realClock.now(), guardian.termLeaseUntil - realClock.now());
    if (term !== null) {
      this.runtime.adopt(guardian.heldProcesses());
      if (!back) guardian.fence(`cannot take Active term ${term} back now (${this.engine.status(realClock.now()).reason}): killing the runtime the guardian kept`);
      void this.vip.setMode(back ? 'active' : 'stopped');
    }
    // A virtual IP left on this machine (a crash, a power cut) goes unless this server took its term back.
    if (!back && this.vip.vip?.card) {
      const r = await guardian.holdVip(false);
      if (r.message.startsWith('removed')) this.log.warn('vip', `found the virtual IP left on this machine by an earlier run and ${r.message}: this server is not Active`);
    }
    this.driver = new EngineDriver(this.engine, {
      clock: realClock, transport: this.transport, runtime: this.vip, store, link: networks, log: this.log, lease: guardian,
      onFatal: (message) => this.opts.out.fatal(message),
    }, server);
    this.driver.onRoleChange((e) => {
      this.publish();
      this.opts.out.role(e);
    });
    this.driver.onStep((out) => {
      if (out.status) this.publish(out.status);
    });
    guardian.onFenced = (reason) => {
      this.vip.lost(); // the guardian removed it with the runtime
      this.opts.out.fenced(reason);
      this.driver.observe({ kind: 'fenced', reason });
    };
    guardian.onLost = (why) => void this.guardianLost(why);
    this.publishInfo();
    this.linkTimer = setInterval(() => {
      this.driver.checkLink();
      this.publishInfo(); // the runtime's state as it is now
      this.networks.check(this.peerLinks(), this.log, () => this.transport.rejoin());
    }, LINK_CHECK_INTERVAL_MS);
    this.driver.start();
    this.publish();
  }

  /** The address the domain file is synced on, and the multicast and admin details for the start line. */
  get detail(): { address: string; networks: string; epoch: number; incarnation: number } {
    return { address: this.networks.first, networks: this.networks.detail, epoch: this.engine.status(realClock.now()).maxEpoch, incarnation: this.transport.incarnation };
  }

  private engineConfig(): EngineConfig {
    return engineConfigOf(this.config, this.opts.server, this.transport.incarnation);
  }

  private receive(msg: Heartbeat, from: string): void {
    this.driver.receive(msg);
    if (this.stopping) return;
    this.addresses.set(msg.from, from);
    const role = `${msg.role} ${msg.epoch} ${msg.eligible} ${msg.health}`;
    const roleChanged = this.peerRoles.get(msg.from) !== role;
    if (roleChanged) this.peerRoles.set(msg.from, role);
    // Domain sync looks at a peer when what it says of itself (or where it says it from) changes.
    const advert = `${from} ${JSON.stringify(msg.info ?? null)}`;
    const advertChanged = this.adverts.get(msg.from) !== advert;
    if (advertChanged) {
      this.adverts.set(msg.from, advert);
      this.opts.out.peer(msg.from, from, msg.info);
    }
    // Its role, or its versions, revision or sync state: in the view at once, built once.
    if (roleChanged || advertChanged) this.publish();
  }

  // ------------------------------------------------------------ from the node's thread

  /** What domain sync and the probes say of this server (sent in the heartbeats when it changes). */
  setInfo(sync: NodeInfo, probes: ProbeStatus[]): void {
    this.syncInfo = sync;
    this.probes = probes;
    this.publishInfo();
  }

  observe(fact: Observation): void {
    if (!this.stopping) this.driver.observe(fact);
  }

  /** A new domain revision is in force: its servers, timings and the rest of the engine's configuration apply now. */
  reconfigure(next: Domain): void {
    const before = this.config;
    this.config = next.config;
    if (this.stopping) return;
    this.transport.setServers(new Set(next.config.servers.map((s) => s.name)));
    for (const s of before.servers) {
      if (next.config.servers.some((x) => x.name === s.name)) continue;
      this.adverts.delete(s.name);
      this.peerRoles.delete(s.name);
      this.addresses.delete(s.name);
    }
    this.driver.reconfigure(this.engineConfig());
    const plan = this.vipPlan();
    this.guardian?.setVip(typeof plan === 'object' ? plan : null);
    this.vip.replan(plan, next.config.virtualIp?.address ?? null);
  }

  /** The virtual IP this server takes from the domain file (null: none), or why no card here can. */
  private vipPlan(): VipPlan | string | null {
    const cfg = this.config;
    return vipPlanFor(cfg.virtualIp, cfg.servers.find((s) => s.name === this.opts.server)?.virtualIpInterface);
  }

  private vipRuntime(guardian: GuardianClient): VipRuntime {
    const plan = this.vipPlan();
    if (typeof plan === 'string') this.log.error('vip', `${plan}; this server will not hold it when Active`);
    else if (plan) {
      this.log.info('vip', `the virtual IP ${plan.vip.address}/${plan.vip.prefix} goes on ${plan.card} while this server is Active`);
      const right = addressRight();
      if (right) this.log.error('vip', right);
    }
    guardian.setVip(typeof plan === 'object' ? plan : null);
    return new VipRuntime(this.runtime, guardian, plan, this.config.virtualIp?.address ?? null, this.log);
  }

  async command(cmd: Command): Promise<CommandOutcome> {
    const outcome = await this.driver.command(cmd);
    this.publish(); // the view that goes with the outcome arrives before it
    return outcome;
  }

  // ------------------------------------------------------------ the view

  private publishInfo(): void {
    if (this.stopping || !this.driver) return;
    this.driver.setInfo(nodeInfo(this.syncInfo, { supervisor: this.runtime.status(), probes: this.probes }));
  }

  /** Sends the view now (and again VIEW_MAX_MS later unless something happens first); `engine`: the engine's status when the step that asks for it carried one. */
  private publish(engine = this.driver?.status()): void {
    if (!engine || this.stopping) return;
    const view: HeartView = {
      engine,
      commands: this.driver.verdicts(),
      supervisor: this.runtime.status(),
      dropped: this.transport.dropped(),
      links: this.peerLinks(engine.effectiveTimeoutMs),
      linkFaults: this.networks.current(),
      events: this.driver.events(),
      addresses: [...this.addresses],
      vip: this.vip.vip ? { ...this.vip.vip } : null,
    };
    if (this.viewTimer) clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => this.publish(), VIEW_MAX_MS);
    this.opts.out.view(view);
  }


  /** Each peer's state on each network: heard within the failure timeout (stretched by awareness). */
  private peerLinks(timeout = this.driver.status().effectiveTimeoutMs): { server: string; links: LinkView[] }[] {
    return this.config.servers.filter((s) => s.name !== this.opts.server).map((s) => ({ server: s.name, links: this.transport.linksOf(s.name, timeout) }));
  }

  // ------------------------------------------------------------ the end

  /**
   * The guardian died alone while this node lives: nothing could fence the runtime if this node
   * died now, so it stops — but first it does what the guardian would have done: it makes sure
   * the runtime is gone and multicasts the release itself, so a Standby takes over at once
   * instead of after the failure timeout.
   */
  private async guardianLost(why: string): Promise<void> {
    if (this.stopping) return;
    const release = this.driver.lease.notice;
    this.driver.stop();
    const pids = this.runtime.status().processes.map((p) => p.pid).filter((p): p is number => p !== null);
    await Promise.all(pids.map((pid) => killTree(pid, 'SIGKILL')));
    const deadline = realClock.now() + GONE_WAIT_MS;
    while (pids.some(isRunning) && realClock.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const left = pids.filter(isRunning);
    if (release && !left.length) {
      try {
        this.transport.send(release);
        this.log.warn('release', `multicast the release of this server's Active term (epoch ${release.epoch}) itself, the guardian being gone: the Standby may take over at once`);
      } catch (e) {
        this.log.warn('release', `could not multicast the release (${(e as Error).message}); the Standby takes over after its failure timeout`);
      }
    } else if (release) {
      this.log.error('release', `no release sent: runtime process ${left.join(', ')} is still there ${GONE_WAIT_MS} ms after SIGKILL; the Standby takes over after its failure timeout`);
    }
    this.opts.out.fatal(why);
  }

  /** Stops the runtime, hands the Active term over (the guardian multicasts the release), and closes. Bounded by the runtime's stop timeout. */
  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async close(): Promise<void> {
    if (this.linkTimer) clearInterval(this.linkTimer);
    if (this.viewTimer) clearTimeout(this.viewTimer);
    // Once the runtime is stopped the guardian multicasts the release: the Standby takes over at once.
    const held = this.driver?.lease.notice;
    const release = held ? { ...held, ended: 'stopped' as const } : null;
    this.driver?.stop();
    if (this.vip) await new Promise<void>((resolve) => this.vip.setMode('stopped').then(resolve, () => resolve()));
    this.guardian?.bye(release);
    if (this.transport) await this.transport.close();
  }
}
