/**
 * The node: composition only. It builds the engine driver (node/driver.ts) on real ports —
 * the UDP multicast transport, the runtime supervisor, the state file, the monotonic clock and
 * the link check — and wires domain sync, probes, the OPC UA endpoint and the admin API
 * around it. Decisions are the engine's; the loop is the driver's.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADMIN_PORT_BASE, leaseMs, LINK_CHECK_INTERVAL_MS, RUNTIME_STOP_TIMEOUT_MS,
} from '../defaults';
import { domainChanges } from '../domain/changes';
import { loadDomain, type Domain } from '../domain/load';
import { domainPath } from '../domain/location';
import { loadSecret } from '../domain/secret';
import { Engine, engineConfigOf } from '../engine/engine';
import type { EngineConfig, Heartbeat } from '../engine/types';
import { MetricsServer } from '../metrics/metrics';
import { deriveKeys } from '../net/codec';
import type { LinkView } from '../net/links';
import { MulticastTransport } from '../net/transport';
import { OpcuaThread } from '../opcua/thread';
import { loadProbeLibraries, ProbeRunner } from '../probes/runner';
import { serviceLevel } from '../probes/score';
import { GuardianClient } from '../guardian/client';
import { stopLeftoverRuntimes } from '../runtime/host';
import { Supervisor } from '../runtime/runtime';
import { DomainSync } from '../sync/sync';
import type { Command, DuplexApi, StatusView } from '../ui/contract';
import type { Logger } from '../util/logger';
import { VERSION } from '../version';
import { AdminServer } from './admin-server';
import { cloneGuards } from './clones';
import { realClock } from './clock';
import { EngineDriver } from './driver';
import { releaseLock, takeLock } from './lock';
import { createLogger } from './log';
import { Networks } from './networks';
import { nodePaths, type NodePaths } from './paths';
import { processSpecs } from './specs';
import { Relay, RELAY_MARGIN_MS, servePeers } from './relay';
import { FileStateStore } from './state-store';
import { contractApi, nodeInfo, statusView } from './status';

export class DuplexNode {
  private engine!: Engine;
  private driver!: EngineDriver;
  private transport!: MulticastTransport;
  private admin!: AdminServer;
  private runtime!: Supervisor;
  private guardian: GuardianClient | null = null;
  private networks!: Networks;
  private sync!: DomainSync;
  private probes: ProbeRunner | null = null;
  private opcua: OpcuaThread | null = null;
  private metrics: MetricsServer | null = null;
  private restartNeeded: string[] = [];
  private readonly addresses = new Map<string, string>();
  private linkTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private onFatal: (message: string) => void = () => undefined;

  private constructor(public domain: Domain, readonly server: string, readonly paths: NodePaths, readonly log: Logger) {}

  /**
   * `onFatal` is called when the node had to stop itself (it could not write its state);
   * the node has already logged why and stopped.
   */
  static async start(opts: { domainFile: string; server: string; console?: boolean; onFatal?: (message: string) => void }): Promise<DuplexNode> {
    const domain = loadDomain(opts.domainFile);
    const decl = domain.config.servers.find((s) => s.name === opts.server);
    if (!decl) {
      throw new Error(`server "${opts.server}" is not in ${domain.file}; its servers are: ${domain.config.servers.map((s) => s.name).join(', ')}`);
    }
    const paths = nodePaths(domain, opts.server);
    mkdirSync(paths.logs, { recursive: true });
    const node = new DuplexNode(domain, opts.server, paths, createLogger(opts.server, { file: paths.log, console: opts.console ?? true }));
    node.onFatal = opts.onFatal ?? (() => undefined);
    try {
      await node.boot();
    } catch (e) {
      await node.stop();
      throw e;
    }
    return node;
  }

  private async boot(): Promise<void> {
    const cfg = this.domain.config;
    takeLock(this.paths.lock, this.server, this.log);
    const probes = cfg.probes.filter((p) => !p.servers || p.servers.includes(this.server));
    await loadProbeLibraries(probes);
    const stopTimeoutMs = Math.max(RUNTIME_STOP_TIMEOUT_MS, ...(cfg.runtime?.processes ?? []).map((p) => p.stopTimeoutMs));
    const guardian = (this.guardian = await GuardianClient.open({ dir: this.paths.dir, server: this.server, leaseMs: leaseMs(cfg.timings), log: this.log }));
    const store = new FileStateStore(this.paths.state, this.log);
    const stored = store.read();
    const term = await guardian.keepOrStopHeld(stored.epoch, stopTimeoutMs);
    await stopLeftoverRuntimes(this.paths.dir, this.log, stopTimeoutMs, guardian.held.map((p) => p.pid));
    store.incarnation = Math.max(stored.incarnation + 1, Math.floor(Date.now() / 1000));
    const { incarnation: _, ...persisted } = stored;
    store.write(persisted);
    const { secret, warning } = loadSecret(domainPath(this.domain, cfg.secretFile));
    if (warning) this.log.warn('security', warning);
    const decl = cfg.servers.find((s) => s.name === this.server)!;
    const networks = (this.networks = new Networks(cfg, this.server));
    const address = networks.first;

    this.runtime = new Supervisor(processSpecs(this.domain, this.server, this.paths), this.log, (detail) => this.driver.observe({ kind: 'runtime-failed', reason: detail }), guardian);

    this.sync = await DomainSync.start({
      domain: this.domain,
      server: this.server,
      stateFile: this.paths.revision,
      stateDir: domainPath(this.domain, cfg.stateDir),
      secret,
      secretFile: domainPath(this.domain, cfg.secretFile),
      bindAddress: address,
      log: this.log,
      onChange: () => this.publishInfo(),
      onApplied: (d) => this.reconfigure(d),
    });

    this.transport = await MulticastTransport.open({
      group: cfg.multicast.group,
      port: cfg.multicast.port,
      interfaceAddresses: networks.addresses,
      prefixes: networks.prefixes,
      ttl: cfg.multicast.ttl,
      keys: deriveKeys(cfg.domain, secret),
      self: this.server,
      servers: new Set(cfg.servers.map((s) => s.name)),
      incarnation: store.incarnation,
      onMessage: (msg, from) => this.receive(msg, from),
      onSendError: (err) => {
        this.log.warn('network', `sending a heartbeat failed: ${err.message}`);
        this.driver?.observe({ kind: 'send-failed' });
      },
      onWarning: (event, detail) => this.log.warn(event, detail),
      ...cloneGuards(this.server, cfg.timings, () => this.domain.config.servers, this.addresses, (fact) => this.linkTimer && this.driver.observe(fact)), // once the driver runs
    });
    guardian.setRoute({ group: cfg.multicast.group, port: cfg.multicast.port, iface: address, ttl: cfg.multicast.ttl }, (hb) => this.transport.seal(hb));

    this.engine = new Engine(this.engineConfig(), persisted, realClock.now());
    if (term !== null) {
      this.runtime.adopt(guardian.heldProcesses());
      const back = this.engine.resumeTerm(term, realClock.now(), guardian.termLeaseUntil - realClock.now());
      if (!back) guardian.fence(`cannot take Active term ${term} back now (${this.engine.status(realClock.now()).reason}): killing the runtime the guardian kept`);
      void this.runtime.setMode(back ? 'active' : 'stopped');
    }
    this.driver = new EngineDriver(this.engine, {
      clock: realClock, transport: this.transport, runtime: this.runtime, store, link: networks, log: this.log, lease: guardian,
      onFatal: (message) => void this.stop().then(() => this.onFatal(message)),
    }, this.server);
    this.driver.onRoleChange((e) => this.probes?.setMaintenance(e.to === 'maintenance'));
    guardian.onFenced = (reason) => { this.metrics?.fenced(); this.driver.observe({ kind: 'fenced', reason }); };
    guardian.onLost = (why) => void this.stop().then(() => this.onFatal(why));
    this.publishInfo();

    const adminPort = decl.adminPort ?? ADMIN_PORT_BASE + cfg.servers.indexOf(decl);
    this.admin = await AdminServer.start(this.paths.admin, this.paths.adminToken, this.uiApi(), adminPort, (d) => this.log.warn('admin', d));
    this.metrics = await MetricsServer.start(cfg.metrics, { domain: cfg.domain, server: this.server, ownAddress: address, status: () => this.status(), onRoleChange: (l) => this.driver.onRoleChange(l), log: this.log });

    this.log.info('start', `Duplex ${VERSION} node for server ${this.server} (${decl.role}) of domain ${cfg.domain}, pid ${process.pid}, ` +
      `multicast ${cfg.multicast.group}:${cfg.multicast.port} on ${networks.detail}, admin API 127.0.0.1:${this.admin.endpoint.port}, epoch ${persisted.epoch}` +
      (cfg.runtime ? `, runtime ${cfg.runtime.processes.map((p) => `${p.name} (${p.runOn})`).join(', ')}${cfg.runtime.confirmResume ? ', confirmResume' : ''}` : ', no runtime declared'));
    if (this.engine.currentRole === 'maintenance') this.log.info('role', `maintenance (${this.driver.status().reason})`);

    this.probes = new ProbeRunner(probes, {
      dataDir: this.paths.dir,
      interfaceAddress: address,
      linkUp: () => this.driver.linkIsUp,
      resolvePath: (p) => domainPath(this.domain, p),
    }, this.log, (h) => {
      this.driver.observe({ kind: 'health', score: h.score, failing: h.failing, isolated: h.isolated });
      this.opcua?.setLevel(this.serviceLevel());
    });
    this.probes.setMaintenance(this.engine.currentRole === 'maintenance');
    this.probes.start();

    if (cfg.opcuaServer) {
      const pkiDir = join(this.paths.dir, 'pki');
      this.opcua = await OpcuaThread.start({ port: cfg.opcuaServer.port, domain: cfg.domain, server: this.server, servers: cfg.servers.map((s) => s.name), pkiDir }, (why) => {
        this.opcua = null;
        this.log.error('opcua', `the OPC UA endpoint stopped: ${why}; OPC UA clients cannot see this server until the node restarts`);
      });
      this.opcua.setLevel(this.serviceLevel()); // it serves 1 (no data) until told
      this.driver.onRoleChange(() => this.opcua?.setLevel(this.serviceLevel()));
      this.log.info('opcua', `OPC UA redundancy endpoint ${this.opcua.endpoint} (ServiceLevel follows the role and health)`);
    }

    this.linkTimer = setInterval(() => {
      this.driver.checkLink();
      this.publishInfo(); // the runtime's state and the probes' verdicts, as they are now
      this.networks.check(this.peerLinks(), this.log, () => this.transport.rejoin());
    }, LINK_CHECK_INTERVAL_MS);
    this.driver.start();
  }

  private receive(msg: Heartbeat, from: string): void {
    this.driver.receive(msg);
    if (this.stopped) return;
    this.addresses.set(msg.from, from);
    this.sync.onPeer(msg.from, from, msg.info);
  }

  /** What this node says about itself in its heartbeats (sent at once when it changes). */
  private publishInfo(): void {
    if (this.stopped || !this.driver) return;
    this.driver.setInfo(nodeInfo(this.sync.info(VERSION), { supervisor: this.runtime.status(), failures: this.driver.status().failures.count, probes: this.probes?.status() ?? [] }));
  }

  /** A new domain revision is in force: apply what can be applied live, name what needs a restart. */
  private reconfigure(next: Domain): void {
    const before = this.domain.config;
    const { restart, live } = domainChanges(before, next.config, this.server);
    this.domain = next;
    if (this.stopped || !this.driver) return;
    this.restartNeeded = [...new Set([...this.restartNeeded, ...restart])];
    if (restart.length) this.log.warn('domain', `changed ${restart.join(', ')}: takes effect when this node restarts (duplex status lists it)`);
    this.log.info('domain', `revision ${this.sync.status().revision.n} in force${live.length ? `; applied now: ${live.join(', ')}` : ''}`);
    this.transport.setServers(new Set(next.config.servers.map((s) => s.name)));
    for (const s of before.servers) if (!next.config.servers.some((x) => x.name === s.name)) this.sync.forgetPeer(s.name);
    this.driver.reconfigure(this.engineConfig());
  }

  private engineConfig(): EngineConfig {
    return engineConfigOf(this.domain.config, this.server, this.transport.incarnation);
  }

  private serviceLevel(): number {
    return serviceLevel(this.engine.currentRole, this.engine.currentHealth, this.domain.config.opcuaServer?.standbyServiceLevel ?? 150);
  }

  status(): StatusView {
    return statusView({
      engine: this.driver.status(),
      commands: this.driver.verdicts(),
      domain: this.domain.config.domain,
      version: VERSION,
      pid: process.pid,
      dropped: this.transport.dropped(),
      supervisor: this.runtime.status(),
      sync: this.sync.status(),
      restartNeeded: this.restartNeeded,
      probes: this.probes?.status() ?? [],
      opcua: this.opcua ? { endpoint: this.opcua.endpoint, serviceLevel: this.serviceLevel() } : null,
      metrics: this.metrics,
      addresses: this.addresses,
      links: this.peerLinks(),
      linkFaults: this.networks.current(),
      events: this.driver.events(),
    });
  }

  /** Each peer's state on each network: heard within the failure timeout (stretched by awareness). */
  private peerLinks(): { server: string; links: LinkView[] }[] {
    const timeout = this.driver.status().effectiveTimeoutMs;
    return this.domain.config.servers.filter((s) => s.name !== this.server).map((s) => ({ server: s.name, links: this.transport.linksOf(s.name, timeout) }));
  }

  /** The contract (ui/contract.ts), served by the admin API and by Electron over IPC; commands for other servers are relayed. */
  uiApi(): DuplexApi {
    const local = { server: this.server, status: () => this.status(), command: (cmd: Command) => this.driver.command(cmd) };
    this.sync.calls = servePeers(local, this.log);
    const relay = new Relay(local, () => this.domain.config.servers.map((s) => s.name), (...a) => this.sync.call(...a), this.log);
    return contractApi({
      status: local.status, running: () => !this.stopped, driver: this.driver, relay, domain: () => this.domain.config.domain,
      relayWaitMs: () => 2 * this.domain.config.timings.handoverTimeoutMs + RELAY_MARGIN_MS,
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Once the runtime is stopped the guardian multicasts the release: the Standby takes over at once.
    const release = this.driver ? this.engine.lease(realClock.now()).notice : null;
    this.driver?.stop();
    if (this.linkTimer) clearInterval(this.linkTimer);
    if (this.runtime) await this.runtime.setMode('stopped');
    this.guardian?.bye(release);
    if (this.opcua) await this.opcua.close().catch(() => undefined);
    await this.metrics?.close();
    if (this.probes) await this.probes.stop();
    if (this.sync) await this.sync.stop();
    if (this.transport) await this.transport.close();
    if (this.admin) {
      await this.admin.close();
      rmSync(this.paths.admin, { force: true }); // ours: a node refused by the lock never wrote one
    }
    releaseLock(this.paths.lock);
    this.log.info('stop', 'node stopped');
  }
}
