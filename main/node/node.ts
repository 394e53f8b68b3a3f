/**
 * The node: composition only. The heartbeat path — engine, driver, multicast transport, state
 * file, runtime supervisor and the guardian's lease — runs in a thread of its own
 * (heart-thread.ts, heart.ts). This thread serves the doors around it: domain sync, probes,
 * the OPC UA endpoint, metrics and the admin API. They read the status the heartbeat path
 * publishes when it changes; no request makes it build one. Decisions are the engine's.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_PORT_BASE, RUNTIME_HOOK_TIMEOUT_MS, RUNTIME_STOP_TIMEOUT_MS } from '../defaults';
import { domainChanges } from '../domain/changes';
import { loadDomain, type Domain } from '../domain/load';
import { domainPath, UnknownServerError } from '../domain/location';
import { loadSecret } from '../domain/secret';
import { MetricsServer } from '../metrics/metrics';
import { OpcuaThread } from '../opcua/thread';
import { loadProbeLibraries, ProbeRunner } from '../probes/runner';
import { serviceLevel } from '../probes/score';
import { DomainSync } from '../sync/sync';
import type { Command, CommandOutcome, StatusView } from '../ui/contract';
import { VERSION } from '../version';
import { AdminServer, type AdminApi } from './admin-server';
import { Refusals } from './doors';
import type { RoleEvent } from './driver';
import { HeartThread } from './heart-thread';
import { releaseLock, takeLock } from './lock';
import { createLogger, type NodeLogger } from './log';
import { Networks } from './networks';
import { nodePaths, type NodePaths } from './paths';
import { Relay, RELAY_MARGIN_MS, servePeers } from './relay';
import { contractApi, statusView } from './status';

/** Beyond the runtime's stop and hook timeouts, this long for the rest of a stop (the doors, the files). */
const STOP_MARGIN_MS = 3_000;

export class DuplexNode {
  private heart: HeartThread | null = null;
  private admin: AdminServer | null = null;
  private sync: DomainSync | null = null;
  private probes: ProbeRunner | null = null;
  private opcua: OpcuaThread | null = null;
  private metrics: MetricsServer | null = null;
  private restartNeeded: string[] = [];
  /** What the doors refused, by door and code. */
  private readonly refusals: Refusals;
  private readonly roleListeners = new Set<(e: RoleEvent) => void>();
  /** The status as last composed; null when a part of it has changed since. */
  private view: StatusView | null = null;
  private stopping: Promise<void> | null = null;
  private onFatal: (message: string) => void = () => undefined;

  private constructor(public domain: Domain, readonly server: string, readonly paths: NodePaths, readonly log: NodeLogger) {
    this.refusals = new Refusals(log);
  }

  /**
   * Reads the domain file and opens the log; nothing runs yet (boot). A caller that sets up its
   * handlers for uncaught errors in between has the log for them from the first moment.
   * `onFatal` is called when the node had to stop itself; it has logged why and stopped.
   */
  static create(opts: { domainFile: string; server: string; console?: boolean; onFatal?: (message: string) => void }): DuplexNode {
    const domain = loadDomain(opts.domainFile);
    const decl = domain.config.servers.find((s) => s.name === opts.server);
    if (!decl) {
      throw new UnknownServerError(opts.server, domain.file, domain.config.servers.map((s) => s.name));
    }
    const paths = nodePaths(domain, opts.server);
    mkdirSync(paths.logs, { recursive: true });
    const node = new DuplexNode(domain, opts.server, paths, createLogger(opts.server, { file: paths.log, console: opts.console ?? true }));
    node.onFatal = opts.onFatal ?? (() => undefined);
    return node;
  }

  static async start(opts: Parameters<typeof DuplexNode.create>[0]): Promise<DuplexNode> {
    const node = DuplexNode.create(opts);
    await node.boot();
    return node;
  }

  /** Starts everything; when that fails, what had started is stopped and the error thrown. */
  async boot(): Promise<void> {
    try {
      await this.run();
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private async run(): Promise<void> {
    const cfg = this.domain.config;
    takeLock(this.paths.lock, this.server, this.log);
    const probes = cfg.probes.filter((p) => !p.servers || p.servers.includes(this.server));
    await loadProbeLibraries(probes);
    const { secret, warning } = loadSecret(domainPath(this.domain, cfg.secretFile));
    if (warning) this.log.warn('security', warning);
    const decl = cfg.servers.find((s) => s.name === this.server)!;
    const address = new Networks(cfg, this.server).first;

    this.sync = await DomainSync.start({
      domain: this.domain,
      server: this.server,
      stateFile: this.paths.revision,
      stateDir: domainPath(this.domain, cfg.stateDir),
      secret,
      secretFile: domainPath(this.domain, cfg.secretFile),
      bindAddress: address,
      log: this.log,
      refusals: this.refusals,
      onChange: () => this.publishInfo(),
      onApplied: (d) => this.reconfigure(d),
    });

    const heart = (this.heart = await HeartThread.start({ domain: this.domain, server: this.server, secret, info: this.sync.info(VERSION) }, {
      peer: (server, from, info) => this.sync?.onPeer(server, from, info),
      role: (e) => {
        this.changed();
        for (const l of this.roleListeners) l(e);
      },
      fenced: () => this.metrics?.fenced(),
      fatal: (message) => void this.stop().then(() => this.onFatal(message)),
      log: (level, event, detail, at) => this.log.write(level, event, detail, at),
    }));
    heart.onView(() => this.changed());
    this.onRoleChange((e) => {
      this.probes?.setMaintenance(e.to === 'maintenance');
      this.opcua?.setLevel(this.serviceLevel());
    });

    const adminPort = decl.adminPort ?? ADMIN_PORT_BASE + cfg.servers.indexOf(decl);
    this.admin = await AdminServer.start({ endpointFile: this.paths.admin, tokenFile: this.paths.adminToken, api: this.uiApi(), port: adminPort, log: this.log, refusals: this.refusals });
    this.metrics = await MetricsServer.start(cfg.metrics, { domain: cfg.domain, server: this.server, ownAddress: address, status: () => this.status(), onRoleChange: (l) => this.onRoleChange(l), log: this.log, refusals: this.refusals, resolvePath: (p) => domainPath(this.domain, p) });

    this.log.info('start', `Duplex ${VERSION} node for server ${this.server} (${decl.role}) of domain ${cfg.domain}, pid ${process.pid}, ` +
      `multicast ${cfg.multicast.group}:${cfg.multicast.port} on ${heart.networks}, admin API 127.0.0.1:${this.admin.endpoint.port}, epoch ${heart.epoch}` +
      (cfg.runtime ? `, runtime ${cfg.runtime.processes.map((p) => `${p.name} (${p.runOn})`).join(', ')}${cfg.runtime.confirmResume ? ', confirmResume' : ''}` : ', no runtime declared'));
    if (heart.view.engine.role === 'maintenance') this.log.info('role', `maintenance (${heart.view.engine.reason})`);

    this.probes = new ProbeRunner(probes, {
      dataDir: this.paths.dir,
      interfaceAddress: address,
      linkUp: () => this.heart?.view.engine.linkUp ?? true,
      resolvePath: (p) => domainPath(this.domain, p),
    }, this.log, (h) => {
      this.heart?.observe({ kind: 'health', score: h.score, failing: h.failing, isolated: h.isolated });
      this.publishInfo(); // the probes' verdicts, in the heartbeats
      this.opcua?.setLevel(this.serviceLevel());
    });
    this.probes.setMaintenance(heart.view.engine.role === 'maintenance');
    this.probes.start();

    if (cfg.opcuaServer) {
      const pkiDir = join(this.paths.dir, 'pki');
      this.opcua = await OpcuaThread.start({ ...cfg.opcuaServer, domain: cfg.domain, server: this.server, servers: cfg.servers.map((s) => s.name), pkiDir }, this.log, (why) => {
        this.opcua = null;
        this.changed();
        this.log.error('opcua', `the OPC UA endpoint stopped: ${why}; OPC UA clients cannot see this server until the node restarts`);
      });
      this.opcua.setLevel(this.serviceLevel()); // it serves 1 (no data) until told
      this.log.info('opcua', `OPC UA redundancy endpoint ${this.opcua.endpoint} (ServiceLevel follows the role and health)`);
    }
  }

  /** What this node says about itself in its heartbeats (the heartbeat path adds its runtime's state). */
  private publishInfo(): void {
    this.changed();
    if (this.sync) this.heart?.setInfo(this.sync.info(VERSION), this.probes?.status() ?? []);
  }

  /** A new domain revision is in force: apply what can be applied live, name what needs a restart. */
  private reconfigure(next: Domain): void {
    const before = this.domain.config;
    const { restart, live } = domainChanges(before, next.config, this.server);
    this.domain = next;
    this.changed();
    if (this.stopping || !this.heart || !this.sync) return;
    this.restartNeeded = [...new Set([...this.restartNeeded, ...restart])];
    if (restart.length) this.log.warn('domain', `changed ${restart.join(', ')}: takes effect when this node restarts (duplex status lists it)`);
    this.log.info('domain', `revision ${this.sync.status().revision.n} in force${live.length ? `; applied now: ${live.join(', ')}` : ''}`);
    for (const s of before.servers) if (!next.config.servers.some((x) => x.name === s.name)) this.sync.forgetPeer(s.name);
    this.heart.reconfigure(next);
  }

  private serviceLevel(): number {
    const e = this.heart?.view.engine;
    return e ? serviceLevel(e.role, e.health.score, this.domain.config.opcuaServer?.standbyServiceLevel ?? 150) : 1;
  }

  /** A part of the status changed: it is composed again when next asked for. */
  private changed(): void {
    this.view = null;
  }

  /** The status: the heartbeat path's view as last published, with the doors' parts. Composed at most once per change. */
  status(): StatusView {
    if (this.view) return this.view;
    const h = this.heart!.view;
    this.view = statusView({
      engine: h.engine,
      commands: h.commands,
      domain: this.domain.config.domain,
      version: VERSION,
      pid: process.pid,
      dropped: h.dropped,
      supervisor: h.supervisor,
      sync: this.sync!.status(),
      restartNeeded: this.restartNeeded,
      probes: this.probes?.status() ?? [],
      opcua: this.opcua ? { endpoint: this.opcua.endpoint, serviceLevel: this.serviceLevel() } : null,
      metrics: this.metrics,
      addresses: new Map(h.addresses),
      links: h.links,
      linkFaults: h.linkFaults,
      events: h.events,
      refused: this.refusals.totals(),
      vip: h.vip,
    });
    return this.view;
  }

  onRoleChange(listener: (e: RoleEvent) => void): () => void {
    this.roleListeners.add(listener);
    return () => this.roleListeners.delete(listener);
  }

  private command(cmd: Command): Promise<CommandOutcome> {
    return this.heart ? this.heart.command(cmd) : Promise.resolve({ ok: false, message: `the node of ${this.server} is starting` });
  }

  /** The contract (ui/contract.ts), served by the admin API and by Electron over IPC; commands for other servers are relayed. */
  uiApi(): AdminApi {
    const local = { server: this.server, status: () => this.status(), command: (cmd: Command) => this.command(cmd) };
    const sync = this.sync!;
    sync.calls = servePeers(local, this.log);
    const relay = new Relay(local, () => this.domain.config.servers.map((s) => s.name), (...a) => sync.call(...a), this.log);
    return contractApi({
      status: local.status, running: () => !this.stopping, command: local.command, onRoleChange: (l) => this.onRoleChange(l), relay, domain: () => this.domain.config.domain,
      relayWaitMs: () => 2 * this.domain.config.timings.handoverTimeoutMs + RELAY_MARGIN_MS,
    });
  }

  /**
   * The longest a stop may take: the runtime's stop and hook timeouts, and a margin for the
   * rest. A stop that has not finished by then is over anyway (crash, below).
   */
  get stopBoundMs(): number {
    const procs = this.domain.config.runtime?.processes ?? [];
    return Math.max(RUNTIME_STOP_TIMEOUT_MS, ...procs.map((p) => p.stopTimeoutMs)) + Math.max(0, ...procs.filter((p) => p.onDeactivate).map((p) => p.hookTimeoutMs ?? RUNTIME_HOOK_TIMEOUT_MS)) + STOP_MARGIN_MS;
  }

  /**
   * An uncaught error, at any moment (start-up included): logged, then the node stops within
   * stopBoundMs. The caller ends the process with exit code 1 when this resolves.
   */
  async crash(e: unknown): Promise<void> {
    this.log.error('fatal', `unexpected error: ${e instanceof Error ? e.stack ?? e.message : String(e)}; stopping this node (its runtime is stopped and the Standby takes over)`);
    let timer: NodeJS.Timeout | undefined;
    const bound = this.stopBoundMs;
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), bound)));
    if ((await Promise.race([this.stop(), late])) === 'late') {
      this.log.error('fatal', `the stop did not finish within ${bound} ms; ending now (the guardian fences the runtime when the lease runs out)`);
    }
    clearTimeout(timer);
  }

  stop(): Promise<void> {
    this.stopping ??= this.close();
    return this.stopping;
  }

  private async close(): Promise<void> {
    // The runtime is stopped and the Active term handed over first; the doors close after.
    if (this.heart) await this.heart.stop(this.stopBoundMs - STOP_MARGIN_MS);
    if (this.opcua) await this.opcua.close().catch(() => undefined);
    await this.metrics?.close();
    if (this.probes) await this.probes.stop();
    if (this.sync) await this.sync.stop();
    if (this.admin) {
      await this.admin.close();
      rmSync(this.paths.admin, { force: true }); // ours: a node refused by the lock never wrote one
    }
    releaseLock(this.paths.lock);
    this.log.info('stop', 'node stopped');
  }
}
