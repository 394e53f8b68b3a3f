/**
 * Probe adapters: each answers "healthy or not, and what was seen" within its timeout.
 * Thin; the scoring is score.ts and the decisions are the engine's.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ProbeConfig } from '../domain/schema';

export interface Check {
  ok: boolean;
  detail: string;
  /** A failure that may mean this server is the one cut off (witness, own network). */
  isolating?: boolean;
}

export interface Probe {
  readonly name: string;
  check(): Promise<Check>;
  close(): Promise<void>;
}

/** Runs `work` with a deadline; a late answer is a failure that says so. */
export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    work.finally(() => clearTimeout(timer)),
    new Promise<T>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * Loads the large client libraries the probes need (node-opcua takes about 0.7 s of this
 * thread, mssql 0.3 s). A node calls it before it holds a lease or judges silence: a thread
 * blocked that long later would let the guardian's lease run out, or fail a first check
 * on its own timeout.
 */
export async function loadProbeLibraries(probes: readonly ProbeConfig[]): Promise<void> {
  if (probes.some((p) => p.kind === 'opcua')) await import('node-opcua');
  if (probes.some((p) => p.kind === 'mssql')) await import('mssql');
}

type Of<K extends ProbeConfig['kind']> = Extract<ProbeConfig, { kind: K }>;

export interface ProbeContext {
  /** The folder whose disk must have room (the state folder). */
  dataDir: string;
  /** The redundancy network card's address, and whether it is there. */
  interfaceAddress: string;
  linkUp: () => boolean;
  /** Resolves a path from the domain file (password files). */
  resolvePath: (p: string) => string;
}

export function createProbe(cfg: ProbeConfig, ctx: ProbeContext): Probe {
  switch (cfg.kind) {
    case 'system':
      return new SystemProbe(cfg, ctx);
    case 'witness':
      return new WitnessProbe(cfg);
    case 'opcua':
      return new OpcuaProbe(cfg, join(ctx.dataDir, 'pki-client'));
    case 'mssql':
      return new MssqlProbe(cfg, ctx);
  }
}

/** The redundancy card, free disk, memory, and this process's own event-loop delay. */
class SystemProbe implements Probe {
  readonly name: string;
  private readonly delay = monitorEventLoopDelay({ resolution: 20 });

  constructor(private readonly cfg: Of<'system'>, private readonly ctx: ProbeContext) {
    this.name = cfg.name;
    this.delay.enable();
  }

  async check(): Promise<Check> {
    if (!this.ctx.linkUp()) return { ok: false, detail: `the redundancy network card ${this.ctx.interfaceAddress} has no address`, isolating: true };
    // Nothing spawned: statfs and the kernel's own memory figures (MemAvailable on Linux,
    // available physical memory on Windows).
    const fsStat = await withTimeout(statfs(this.ctx.dataDir), this.cfg.timeoutMs, 'statfs');
    const freeMB = Math.round((fsStat.bavail * fsStat.bsize) / 1024 / 1024);
    const problems: string[] = [];
    if (freeMB < this.cfg.minFreeDiskMB) problems.push(`${freeMB} MB free on the disk of ${this.ctx.dataDir} (need ${this.cfg.minFreeDiskMB})`);
    const used = (100 * (totalmem() - freemem())) / totalmem();
    if (used > this.cfg.maxMemoryPercent) problems.push(`memory ${used.toFixed(0)} % used (limit ${this.cfg.maxMemoryPercent} %)`);
    const lag = this.delay.percentile(99) / 1e6;
    this.delay.reset();
    if (lag > this.cfg.maxEventLoopDelayMs) problems.push(`event loop delay ${lag.toFixed(0)} ms (limit ${this.cfg.maxEventLoopDelayMs})`);
    return problems.length ? { ok: false, detail: problems.join('; ') } : { ok: true, detail: `disk ${freeMB} MB free, memory ${used.toFixed(0)} %` };
  }

  async close(): Promise<void> {
    this.delay.disable();
  }
}

/** A gateway, switch or PLC that must be reachable: a TCP connect or one ping (no admin rights needed for either). */
class WitnessProbe implements Probe {
  readonly name: string;
  constructor(private readonly cfg: Of<'witness'>) {
    this.name = cfg.name;
  }

  check(): Promise<Check> {
    const c = this.cfg;
    const where = c.method === 'tcp' ? `${c.address}:${c.port}` : c.address;
    const attempt = c.method === 'tcp' ? tcpConnect(c.address, c.port!, c.timeoutMs) : ping(c.address, c.timeoutMs);
    return attempt.then(
      () => ({ ok: true, detail: `${where} reachable` }),
      (e: Error) => ({ ok: false, detail: `${where} unreachable (${e.message})`, isolating: true }),
    );
  }

  async close(): Promise<void> {}
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolveConnect, reject) => {
    const s = connect({ host, port, timeout: timeoutMs });
    s.once('connect', () => {
      s.destroy();
      resolveConnect();
    });
    s.once('timeout', () => {
      s.destroy();
      reject(new Error(`no connection within ${timeoutMs} ms`));
    });
    s.once('error', (e) => reject(e));
  });
}

function ping(host: string, timeoutMs: number): Promise<void> {
  const args = process.platform === 'win32' ? ['-n', '1', '-w', String(timeoutMs), host] : ['-c', '1', '-W', String(Math.max(1, Math.ceil(timeoutMs / 1000))), host];
  return new Promise((resolvePing, reject) => {
    const p = spawn('ping', args, { stdio: 'ignore', windowsHide: true });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs + 1_000);
    p.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ping: ${e.message}`));
    });
    p.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolvePing();
      else reject(new Error('no reply'));
    });
  });
}

/** The PLC link (node-opcua): connect, read a node, require Good (and, optionally, a changing value). */
class OpcuaProbe implements Probe {
  readonly name: string;
  private client: import('node-opcua').OPCUAClient | null = null;
  private session: import('node-opcua').ClientSession | null = null;
  private last: unknown = undefined;

  constructor(private readonly cfg: Of<'opcua'>, private readonly pkiDir: string) {
    this.name = cfg.name;
  }

  async check(): Promise<Check> {
    const c = this.cfg;
    try {
      const value = await withTimeout(this.read(), c.timeoutMs, c.endpoint);
      if (!value.statusCode.isGood()) return { ok: false, detail: `${c.nodeId} on ${c.endpoint}: ${value.statusCode.name}` };
      const v = value.value?.value as unknown;
      const same = this.last !== undefined && JSON.stringify(v) === JSON.stringify(this.last);
      this.last = v;
      if (c.requireChange && same) return { ok: false, detail: `${c.nodeId} on ${c.endpoint} stopped changing (still ${JSON.stringify(v)})` };
      return { ok: true, detail: `${c.nodeId} = ${JSON.stringify(v)}` };
    } catch (e) {
      await this.close();
      return { ok: false, detail: `${c.endpoint}: ${(e as Error).message.split('\n')[0]}` };
    }
  }

  private async read() {
    const { OPCUAClient, AttributeIds, MessageSecurityMode, SecurityPolicy, OPCUACertificateManager } = await import('node-opcua');
    if (!this.session) {
      this.client = OPCUAClient.create({
        applicationName: 'Duplex probe',
        clientCertificateManager: new OPCUACertificateManager({ rootFolder: this.pkiDir, automaticallyAcceptUnknownCertificate: true }),
        endpointMustExist: false,
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
        requestedSessionTimeout: 60_000,
      });
      await this.client.connect(this.cfg.endpoint);
      this.session = await this.client.createSession();
    }
    return this.session.read({ nodeId: this.cfg.nodeId, attributeId: AttributeIds.Value });
  }

  async close(): Promise<void> {
    const { session, client } = this;
    this.session = null;
    this.client = null;
    await session?.close().catch(() => undefined);
    await client?.disconnect().catch(() => undefined);
  }
}

/** SQL Server (mssql): connect and run the query within the timeout. */
class MssqlProbe implements Probe {
  readonly name: string;
  private pool: import('mssql').ConnectionPool | null = null;

  constructor(private readonly cfg: Of<'mssql'>, private readonly ctx: ProbeContext) {
    this.name = cfg.name;
  }

  async check(): Promise<Check> {
    const c = this.cfg;
    const where = `${c.server}:${c.port}${c.database ? `/${c.database}` : ''}`;
    try {
      await withTimeout(this.query(), c.timeoutMs, where);
      return { ok: true, detail: `${where}: ${c.query} answered` };
    } catch (e) {
      await this.close();
      return { ok: false, detail: `${where}: ${(e as Error).message.split('\n')[0]}` };
    }
  }

  private async query(): Promise<void> {
    const c = this.cfg;
    if (!this.pool) {
      const sql = await import('mssql');
      const password = c.passwordFile ? readFileSync(this.ctx.resolvePath(c.passwordFile), 'utf8').trim() : undefined;
      this.pool = new sql.ConnectionPool({
        server: c.server, port: c.port, database: c.database, user: c.user, password,
        connectionTimeout: c.timeoutMs, requestTimeout: c.timeoutMs,
        options: { encrypt: c.encrypt, trustServerCertificate: c.trustServerCertificate },
        pool: { max: 1, min: 0 },
      });
      this.pool.on('error', () => undefined);
      await this.pool.connect();
    }
    await this.pool.request().query(c.query);
  }

  async close(): Promise<void> {
    const p = this.pool;
    this.pool = null;
    await p?.close().catch(() => undefined);
  }
}
