/**
 * The node: wires the pure engine to the real world — multicast transport, timers,
 * the runtime, the state file and the admin API. Everything here is thin; decisions
 * are the engine's.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  LINK_CHECK_INTERVAL_MS, RUNTIME_STOP_TIMEOUT_MS, RUNTIME_CRASH_LOOP_EXITS, RUNTIME_CRASH_LOOP_WINDOW_MS, RUNTIME_RESTART_INITIAL_MS, RUNTIME_RESTART_MAX_MS,
} from '../defaults';
import { domainPath, loadDomain, type Domain, type DomainLocation } from '../domain/load';
import { loadSecret } from '../domain/secret';
import { Engine } from '../engine/engine';
import type { Command, CommandName, EngineConfig, EngineStatus, Heartbeat, NodeInfo, Output, PersistedState, Role } from '../engine/types';
import { DomainSync, type SyncStatus } from '../sync/sync';
import { ProbeRunner, type ProbeStatus } from '../probes/runner';
import { serviceLevel } from '../probes/score';
import type { RedundancyServer } from '../opcua/server';
import { deriveKeys, type DropReason } from '../net/codec';
import { MulticastTransport } from '../net/transport';
import { pidFileName, stopLeftoverRuntimes, Supervisor, type ProcessSpec, type RuntimeStatus } from '../runtime/runtime';
import { writeFileAtomic } from '../util/atomic';
import { isAlive } from '../util/process';
import { AdminServer, adminRequest, readEndpoint, type AdminReply } from './admin';
import { localIPv4Addresses, resolveInterface } from './interfaces';
import { createLogger, type Logger } from './log';
import { VERSION } from '../version';
import type { DuplexApi, UiCommand } from '../ui/contract';
import { publicStatus } from '../ui/status-view';

export interface NodePaths {
  dir: string;
  state: string;
  admin: string;
  lock: string;
  log: string;
  logs: string;
  /** The domain revision in force on this server. */
  revision: string;
}

/** Where a server's node keeps its files: `<stateDir>/<server>/`. The CLI finds the admin endpoint here. */
export function nodePaths(domain: DomainLocation, server: string): NodePaths {
  const dir = join(domainPath(domain, domain.config.stateDir), server);
  return {
    dir,
    state: join(dir, 'state.json'),
    admin: join(dir, 'admin.json'),
    lock: join(dir, 'node.lock'),
    log: join(dir, 'logs', 'duplex.log'),
    logs: join(dir, 'logs'),
    revision: join(dir, 'revision.json'),
  };
}

/** One admin-API call to the node of `server` (its endpoint is found from the domain). Throws NoNodeError when none answers. */
export function askNode(domain: DomainLocation, server: string, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<AdminReply> {
  return adminRequest(readEndpoint(nodePaths(domain, server).admin), method, path, body, timeoutMs);
}

export interface RoleEvent {
  at: string;
  from: Role;
  to: Role;
  epoch: number;
  reason: string;
}

export interface NodeStatus extends EngineStatus {
  domain: string;
  version: string;
  pid: number;
  interface: string;
  multicast: string;
  dropped: Record<DropReason, number>;
  /** The supervised processes (the engine's `runtime` says what mode it asked for). */
  supervisor: RuntimeStatus;
  /** The domain file and project files: revision in force, sync state. */
  sync: SyncStatus;
  /** Domain-file fields changed in a revision that take effect only when the node restarts. */
  restartNeeded: string[];
  probes: ProbeStatus[];
  /** This node's OPC UA redundancy endpoint and the ServiceLevel it serves; null when not configured. */
  opcua: { endpoint: string; serviceLevel: number } | null;
  /** The address each peer's heartbeats come from. */
  addresses: Record<string, string>;
  events: RoleEvent[];
}

interface StoredState extends PersistedState {
  incarnation: number;
}

const MAX_EVENTS = 50;

export class DuplexNode {
  private engine!: Engine;
  private transport!: MulticastTransport;
  private admin!: AdminServer;
  private runtime!: Supervisor;
  private sync!: DomainSync;
  private probes: ProbeRunner | null = null;
  private opcua: RedundancyServer | null = null;
  private restartNeeded: string[] = [];
  private readonly addresses = new Map<string, string>();
  /** What the last Active heard said about its versions (for the compatibility check). */
  private activeInfo: { server: string; info: NodeInfo | undefined } | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private tickAt = Infinity;
  private linkTimer: NodeJS.Timeout | null = null;
  private incarnation = 0;
  private events: RoleEvent[] = [];
  private waiting = new Map<CommandName, ((r: { ok: boolean; message: string }) => void)[]>();
  private interfaceAddress = '';
  private linkUp = true;
  private stopped = false;
  private readonly listeners = new Set<(e: RoleEvent) => void>();
  private onFatal: (message: string) => void = () => undefined;

  private constructor(
    public domain: Domain,
    readonly server: string,
    readonly paths: NodePaths,
    readonly log: Logger,
  ) {}

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
    const log = createLogger(opts.server, { file: paths.log, console: opts.console ?? true });
    const node = new DuplexNode(domain, opts.server, paths, log);
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
    this.lock();
    await stopLeftoverRuntimes(this.paths.dir, this.log, Math.max(RUNTIME_STOP_TIMEOUT_MS, ...(cfg.runtime?.processes ?? []).map((p) => p.stopTimeoutMs)));
    const stored = this.readState();
    this.incarnation = Math.max(stored.incarnation + 1, Math.floor(Date.now() / 1000));
    const persisted = { epoch: stored.epoch, maintenance: stored.maintenance };
    this.writeState(persisted);

    const { secret, warning } = loadSecret(domainPath(this.domain, cfg.secretFile));
    if (warning) this.log.warn('security', warning);

    const decl = cfg.servers.find((s) => s.name === this.server)!;
    const spec = decl.address ?? cfg.multicast.interface!;
    const address = resolveInterface(spec);
    if (!address) {
      throw new Error(`the redundancy network card ${spec} (from ${decl.address ? `servers[${this.server}].address` : 'multicast.interface'}) is not an address of this machine; its IPv4 addresses are ${localIPv4Addresses().join(', ')}`);
    }
    this.interfaceAddress = address;

    this.engine = new Engine(this.engineConfig(), persisted, this.now());

    this.runtime = new Supervisor(
      (cfg.runtime?.processes ?? []).map((p): ProcessSpec => ({
        ...p,
        cwd: domainPath(this.domain, p.cwd ?? '.'),
        env: { ...p.env, DUPLEX_SERVER: this.server },
        logFile: join(this.paths.logs, `runtime-${p.name}.log`),
        pidFile: join(this.paths.dir, pidFileName(p.name)),
        restart: {
          initialDelayMs: RUNTIME_RESTART_INITIAL_MS, maxDelayMs: RUNTIME_RESTART_MAX_MS,
          crashLoopExits: RUNTIME_CRASH_LOOP_EXITS, windowMs: RUNTIME_CRASH_LOOP_WINDOW_MS,
        },
      })),
      this.log,
      (detail) => this.apply(this.engine.observe({ kind: 'runtime-failed', reason: detail }, this.now())),
    );

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
      interfaceAddress: address,
      ttl: cfg.multicast.ttl,
      keys: deriveKeys(cfg.domain, secret),
      self: this.server,
      servers: new Set(cfg.servers.map((s) => s.name)),
      incarnation: this.incarnation,
      onMessage: (msg, from) => this.receive(msg, from),
      onSendError: (err) => {
        this.log.warn('network', `sending a heartbeat failed: ${err.message}`);
        this.apply(this.engine.observe({ kind: 'send-failed' }, this.now()));
      },
      onWarning: (event, detail) => this.log.warn(event, detail),
    });

    this.admin = await AdminServer.start(this.paths.admin, (method, path, body) => this.handleAdmin(method, path, body), this.uiApi());

    this.log.info('start', `Duplex ${VERSION} node for server ${this.server} (${decl.role}) of domain ${cfg.domain}, pid ${process.pid}, ` +
      `multicast ${cfg.multicast.group}:${cfg.multicast.port} on ${address}, admin API 127.0.0.1:${this.admin.endpoint.port}, epoch ${persisted.epoch}` +
      (cfg.runtime ? `, runtime ${cfg.runtime.processes.map((p) => `${p.name} (${p.runOn})`).join(', ')}${cfg.runtime.confirmResume ? ', confirmResume' : ''}` : ', no runtime declared'));
    if (this.engine.currentRole === 'maintenance') this.log.info('role', `maintenance (${this.engine.status(this.now()).reason})`);

    this.probes = new ProbeRunner(cfg.probes.filter((p) => !p.servers || p.servers.includes(this.server)), {
      dataDir: this.paths.dir,
      interfaceAddress: address,
      linkUp: () => this.linkUp,
      resolvePath: (p) => domainPath(this.domain, p),
    }, this.log, (h) => this.apply(this.engine.observe({ kind: 'health', score: h.score, failing: h.failing, isolated: h.isolated }, this.now())));
    this.probes.setMaintenance(this.engine.currentRole === 'maintenance');
    this.probes.start();

    if (cfg.opcuaServer) {
      // node-opcua is large: loaded only by nodes that serve OPC UA.
      const { RedundancyServer } = await import('../opcua/server');
      this.opcua = await RedundancyServer.start({
        port: cfg.opcuaServer.port,
        domain: cfg.domain,
        server: this.server,
        servers: cfg.servers.map((s) => s.name),
        pkiDir: join(this.paths.dir, 'pki'),
        serviceLevel: () => this.serviceLevel(),
      });
      this.log.info('opcua', `OPC UA redundancy endpoint ${this.opcua.endpoint} (ServiceLevel follows the role and health)`);
    }

    this.linkTimer = setInterval(() => this.checkLink(), LINK_CHECK_INTERVAL_MS);
    this.publishInfo();
    this.apply(this.engine.tick(this.now()));
  }

  private receive(msg: Heartbeat, from: string): void {
    this.apply(this.engine.receive(msg, this.now()));
    if (this.stopped) return;
    if (msg.role === 'active') {
      this.activeInfo = { server: msg.from, info: msg.info };
      this.checkCompatible();
    }
    this.addresses.set(msg.from, from);
    this.sync.onPeer(msg.from, from, msg.info);
  }

  /** What this node says about itself in its heartbeats: versions, revision, sync state. */
  private info(): NodeInfo {
    const info: NodeInfo = { ver: VERSION, app: this.sync.appVersion(), rev: this.sync.advert(), sync: this.sync.state(), port: this.sync.port };
    const pct = this.sync.transferProgress;
    if (pct !== null) info.pct = pct;
    return info;
  }

  private publishInfo(): void {
    if (this.stopped || !this.engine || !this.transport) return;
    this.apply(this.engine.setInfo(this.info(), this.now()));
    this.checkCompatible();
  }

  /** E3's rule: a server whose Duplex or application version differs from the Active's is neither Active nor Standby. */
  private checkCompatible(): void {
    const a = this.activeInfo;
    if (!a || this.engine.currentRole === 'active' || this.engine.currentRole === 'deactivating') return;
    const app = this.sync.appVersion();
    let why = '';
    if (!a.info) why = `the Active ${a.server} does not say which Duplex version it runs (older than ${VERSION}?)`;
    else if (a.info.ver !== VERSION) why = `Duplex ${VERSION} here, ${a.info.ver} on the Active ${a.server}: install the same version on every server`;
    else if (a.info.app !== app) why = `application version ${app || '(none)'} here, ${a.info.app || '(none)'} on the Active ${a.server}`;
    const ok = why === '';
    const st = this.engine.currentIncompatibility;
    if (ok === (st === null) && (ok || st === why)) return;
    if (ok) this.log.info('version', `compatible with the Active ${a.server} again`);
    else this.log.warn('version', `incompatible: ${why}; this server will not be Active or Standby`);
    this.apply(this.engine.observe({ kind: 'compatible', ok, reason: why }, this.now()));
  }

  /** A new domain revision is in force: apply what can be applied live, name what needs a restart. */
  private reconfigure(next: Domain): void {
    const before = this.domain.config;
    const after = next.config;
    const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
    const needRestart: string[] = [];
    for (const k of ['domain', 'multicast', 'secretFile', 'stateDir', 'runtime'] as const) if (!same(before[k], after[k])) needRestart.push(k);
    if (before.sync.port !== after.sync.port) needRestart.push('sync.port');
    const mine = (c: typeof before) => c.servers.find((s) => s.name === this.server)?.address;
    if (mine(before) !== mine(after)) needRestart.push(`servers[${this.server}].address`);
    this.domain = next;
    if (this.stopped || !this.engine || !this.transport) return;
    const live: string[] = [];
    if (!same(before.servers, after.servers)) live.push('servers');
    if (!same(before.timings, after.timings)) live.push('timings');
    if (before.failback !== after.failback) live.push('failback');
    if (!same(before.sync, after.sync)) live.push('sync');
    if (before.appVersion !== after.appVersion) live.push('appVersion');
    this.restartNeeded = [...new Set([...this.restartNeeded, ...needRestart])];
    if (needRestart.length) this.log.warn('domain', `changed ${needRestart.join(', ')}: takes effect when this node restarts (duplex status lists it)`);
    this.log.info('domain', `revision ${this.sync.status().revision.n} in force${live.length ? `; applied now: ${live.join(', ')}` : ''}`);
    this.transport.setServers(new Set(after.servers.map((s) => s.name)));
    for (const s of before.servers) if (!after.servers.some((x) => x.name === s.name)) this.sync.forgetPeer(s.name);
    this.apply(this.engine.reconfigure(this.engineConfig(), this.now()));
  }

  private engineConfig(): EngineConfig {
    const cfg = this.domain.config;
    return {
      self: this.server,
      servers: cfg.servers.map((s) => ({ name: s.name, kind: s.role, maintenance: s.maintenance })),
      failback: cfg.failback,
      timings: cfg.timings,
      rated: cfg.health,
    };
  }

  /** Monotonic milliseconds: wall-clock jumps never look like silence. */
  private now(): number {
    return performance.now();
  }

  private apply(out: Output): void {
    if (this.stopped) return;
    // State reaches the disk before anyone hears of it: an epoch announced must be an epoch kept.
    for (const effect of out.effects) {
      if (effect.kind !== 'persist') continue;
      try {
        this.writeState(effect.state);
      } catch (e) {
        return this.fatal(`cannot write ${this.paths.state}: ${(e as Error).message}`);
      }
    }
    for (const msg of out.send) {
      try {
        this.transport.send(msg);
      } catch (e) {
        this.log.warn('network', `cannot send a heartbeat: ${(e as Error).message}`);
      }
    }
    for (const effect of out.effects) {
      switch (effect.kind) {
        case 'persist':
          break; // written above
        case 'role': {
          const event: RoleEvent = { at: new Date().toISOString(), from: effect.from, to: effect.to, epoch: effect.epoch, reason: effect.reason };
          this.events.push(event);
          if (this.events.length > MAX_EVENTS) this.events.shift();
          this.log.info('role', `${effect.from} → ${effect.to} (epoch ${effect.epoch}): ${effect.reason}`);
          for (const l of this.listeners) l(event);
          this.probes?.setMaintenance(effect.to === 'maintenance');
          if (effect.to === 'active' && effect.cause === 'failover' && this.domain.config.runtime?.confirmResume) {
            this.runtime.hold(`took over after a failover (${effect.reason}); confirmResume is set in the domain file`);
          } else if (effect.from === 'active') {
            this.runtime.dropHold();
          }
          break;
        }
        case 'runtime': {
          const mode = effect.mode;
          this.runtime.setMode(mode).then(
            () => this.apply(this.engine.observe({ kind: 'runtime', mode }, this.now())),
            (e: Error) => this.log.error('runtime', `could not reach ${mode} mode: ${e.message}`),
          );
          break;
        }
        case 'done': {
          const list = this.waiting.get(effect.command) ?? [];
          this.waiting.delete(effect.command);
          for (const resolveWait of list) resolveWait({ ok: effect.ok, message: effect.message });
          this.log.info('command', `${effect.command} ${effect.ok ? 'done' : 'failed'}: ${effect.message}`);
          break;
        }
      }
    }
    this.scheduleTick();
  }

  /** Fail-stop: a node that cannot keep its state must not take part (it could reuse an epoch). */
  private fatal(message: string): void {
    if (this.stopped) return;
    this.log.error('fatal', `${message}; stopping this node. Fix the cause (disk full? permissions on the state folder?) and start it again`);
    void this.stop().then(() => this.onFatal(message));
  }

  private tick(): void {
    this.tickTimer = null;
    const now = this.now();
    // After a freeze, look at the link before the engine judges anything.
    if (this.engine.wasFrozen(now)) this.checkLink();
    this.apply(this.engine.tick(now));
  }

  /**
   * One timer, set for the moment the engine asked for: no polling. A timer already set for
   * that moment or earlier is kept (a tick before it is due is harmless), which spares a
   * timer per received datagram.
   */
  private scheduleTick(): void {
    if (this.stopped) return;
    const at = this.engine.nextTickAt;
    if (this.tickTimer && this.tickAt <= at) return;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickAt = at;
    this.tickTimer = setTimeout(() => this.tick(), Math.max(0, Math.ceil(at - this.now())));
  }

  private checkLink(): void {
    const up = localIPv4Addresses().includes(this.interfaceAddress);
    if (up === this.linkUp) return;
    this.linkUp = up;
    if (up) {
      this.log.info('network', `${this.interfaceAddress} is back; joining the multicast group again`);
      this.transport.rejoin();
    } else {
      this.log.warn('network', `${this.interfaceAddress} has gone from this machine: this server will not take over while it is missing`);
    }
    this.apply(this.engine.observe({ kind: 'link', up, detail: this.interfaceAddress }, this.now()));
  }

  status(): NodeStatus {
    const cfg = this.domain.config;
    return {
      ...this.engine.status(this.now()),
      domain: cfg.domain,
      version: VERSION,
      pid: process.pid,
      interface: this.interfaceAddress,
      multicast: `${cfg.multicast.group}:${cfg.multicast.port}`,
      dropped: this.transport.dropped(),
      supervisor: this.runtime.status(),
      sync: this.sync.status(),
      restartNeeded: [...this.restartNeeded],
      probes: this.probes?.status() ?? [],
      opcua: this.opcua ? { endpoint: this.opcua.endpoint, serviceLevel: this.serviceLevel() } : null,
      addresses: Object.fromEntries(this.addresses),
      events: [...this.events],
    };
  }

  onRoleChange(listener: (e: RoleEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs a command; resolves when it has finished (or was refused), with a message for people. */
  command(cmd: Command): Promise<{ ok: boolean; message: string }> {
    const name: CommandName = cmd.kind === 'maintenance' ? (cmd.on ? 'maintenance-on' : 'maintenance-off') : cmd.kind;
    if (cmd.kind === 'report-failure') this.log.warn('command', `the application reports a failure: ${cmd.reason}`);
    this.log.info('command', `${name}${cmd.kind === 'maintenance' && cmd.force ? ' --force' : ''} requested`);
    const finished = new Promise<{ ok: boolean; message: string }>((resolveCmd) => {
      const list = this.waiting.get(name) ?? [];
      list.push(resolveCmd);
      this.waiting.set(name, list);
    });
    const result = this.engine.command(cmd, this.now());
    if (!result.accepted) {
      this.waiting.get(name)?.pop();
      this.log.warn('command', `${name} refused: ${result.message}`);
      return Promise.resolve({ ok: false, message: result.message });
    }
    this.apply(result);
    const limit = this.domain.config.timings.handoverTimeoutMs * 2;
    return Promise.race([
      finished,
      new Promise<{ ok: boolean; message: string }>((r) => setTimeout(() => r({ ok: false, message: `${name} did not finish within ${limit} ms; see the log` }), limit).unref()),
    ]);
  }

  private serviceLevel(): number {
    return serviceLevel(this.engine.currentRole, this.engine.currentHealth, this.domain.config.opcuaServer?.standbyServiceLevel ?? 150);
  }

  /** Starts a runtime held after a failover (confirmResume). */
  async resume(): Promise<{ ok: boolean; message: string }> {
    const held = this.runtime.status().held;
    if (!(await this.runtime.resume())) return { ok: false, message: `nothing to resume: the runtime of ${this.server} is not held` };
    return { ok: true, message: `runtime resumed (it was held: ${held})` };
  }

  /** The status window's contract, served by the admin API (and by Electron over IPC). */
  uiApi(): DuplexApi {
    return {
      getStatus: async () => publicStatus(this.status()),
      command: (cmd: UiCommand) => (cmd.kind === 'resume' ? this.resume() : this.command(cmd.kind === 'maintenance' ? { kind: 'maintenance', on: cmd.on } : { kind: cmd.kind })),
      onStatus: (listener) => {
        const push = () => {
          if (!this.stopped) listener(publicStatus(this.status()));
        };
        const timer = setInterval(push, 1_000);
        const off = this.onRoleChange(push);
        push();
        return () => {
          clearInterval(timer);
          off();
        };
      },
    };
  }

  private async handleAdmin(method: string, path: string, body: unknown): Promise<AdminReply> {
    if (method === 'GET' && path === '/status') return { status: 200, body: this.status() };
    if (method === 'POST' && path === '/command') {
      const cmd = parseCommand(body);
      if (!cmd) return { status: 400, body: { ok: false, message: 'expected {"command": "activate" | "deactivate" | "maintenance" | "report-failure", "on"?: boolean, "force"?: boolean, "reason"?: text}' } };
      const r = await this.command(cmd);
      return { status: r.ok ? 200 : 409, body: r };
    }
    if (method === 'POST' && path === '/resume') {
      const r = await this.resume();
      return { status: r.ok ? 200 : 409, body: r };
    }
    return { status: 404, body: { ok: false, message: `no such admin call: ${method} ${path}` } };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.linkTimer) clearInterval(this.linkTimer);
    if (this.runtime) await this.runtime.setMode('stopped');
    if (this.opcua) await this.opcua.close().catch(() => undefined);
    if (this.probes) await this.probes.stop();
    if (this.sync) await this.sync.stop();
    if (this.transport) await this.transport.close();
    if (this.admin) {
      await this.admin.close();
      rmSync(this.paths.admin, { force: true }); // ours: a node refused by the lock never wrote one
    }
    this.unlock();
    this.log.info('stop', 'node stopped');
  }

  // ------------------------------------------------------------ local files

  private lock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.paths.lock, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(readFileSync(this.paths.lock, 'utf8').trim());
        if (pid && pid !== process.pid && isAlive(pid)) {
          throw new Error(`a Duplex node for server ${this.server} is already running (pid ${pid}); stop it first`);
        }
        this.log.warn('start', `removing the stale lock of a node that is gone (pid ${pid || 'unknown'})`);
        rmSync(this.paths.lock, { force: true });
      }
    }
    throw new Error(`cannot take the lock ${this.paths.lock}`);
  }

  private unlock(): void {
    try {
      if (Number(readFileSync(this.paths.lock, 'utf8').trim()) === process.pid) rmSync(this.paths.lock, { force: true });
    } catch {
      // no lock to release
    }
  }

  private readState(): StoredState {
    const fresh: StoredState = { epoch: 0, maintenance: false, incarnation: 0 };
    for (const file of [this.paths.state, `${this.paths.state}.prev`]) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        continue;
      }
      try {
        const s = JSON.parse(text) as Partial<StoredState>;
        if (Number.isSafeInteger(s.epoch) && typeof s.maintenance === 'boolean' && Number.isSafeInteger(s.incarnation)) {
          if (file !== this.paths.state) this.log.warn('state', `${this.paths.state} was unreadable; using the previous version`);
          return { epoch: s.epoch!, maintenance: s.maintenance, incarnation: s.incarnation! };
        }
      } catch {
        // fall through to the previous version
      }
      this.log.warn('state', `${file} is damaged; ignoring it`);
    }
    return fresh;
  }

  private writeState(state: PersistedState): void {
    const stored: StoredState = { ...state, incarnation: this.incarnation };
    writeFileAtomic(this.paths.state, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  }
}


export function parseCommand(body: unknown): Command | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as Record<string, unknown>;
  if (b.command === 'activate') return { kind: 'activate' };
  if (b.command === 'deactivate') return { kind: 'deactivate' };
  if (b.command === 'report-failure') {
    return typeof b.reason === 'string' && b.reason.trim() ? { kind: 'report-failure', reason: b.reason.trim().slice(0, 200) } : null;
  }
  if (b.command === 'maintenance' && typeof b.on === 'boolean') {
    return { kind: 'maintenance', on: b.on, force: b.force === true };
  }
  return null;
}
