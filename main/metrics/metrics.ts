/**
 * Prometheus metrics of one node (domain file `metrics`): a plain HTTP endpoint, `GET /metrics`,
 * in the Prometheus text format, for a site's Prometheus and Grafana.
 *
 * The values are read from the node's status (`StatusView`, the same view `duplex status --json`
 * shows) at every scrape, so they are never stale; only what the status does not keep — how
 * often this server took over, and how often its runtime was fenced — is counted here as it
 * happens. Every series carries `domain` and `server` (the server this node runs as); a series
 * about another server names it in `peer`. The registry is this server's own, not prom-client's
 * global one: nothing else in the process can add to it.
 *
 * It is a door: by default it listens on 127.0.0.1 only; one rendering serves every scrape
 * for a second, one scrape at a time is rendered, connections and scrapes in flight are
 * bounded (defaults.ts METRICS_DOOR), and a bearer token or basic auth read from a file can
 * be asked for. Whatever the load, it costs the node at most one rendering a second.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { MetricsConfig } from '../domain/schema';
import { METRICS_DOOR } from '../defaults';
import { ROLES, SYNC_STATES } from '../engine/types';
import { clientErrorStatus, type Refusals } from '../node/doors';
import type { RoleEvent } from '../node/driver';
import { EVERY_INTERFACE, listenAddress } from '../node/interfaces';
import type { PeerView, StatusView } from '../ui/contract';
import type { Logger } from '../util/logger';

/** Every role a peer can be shown in: the roles, and `unreachable` and `unknown` (never heard). */
const PEER_ROLES: readonly PeerView['role'][] = [...ROLES, 'unreachable', 'unknown'];

type Labels = Record<string, string>;
/** Sets one series of a metric (a gauge's value, or a counter's total) at a scrape. */
type Put = (value: number, labels?: Labels) => void;

/** What is counted of a role change (node/driver.ts). */
type RoleChange = Pick<RoleEvent, 'to' | 'cause'>;

export interface MetricsOptions {
  domain: string;
  server: string;
  /** This server's address on its (first) redundancy network: the address in the URL when the metrics listen on every interface. */
  ownAddress: string;
  /** The node's status, read at every scrape. */
  status: () => StatusView;
  /** Subscribes to the node's role changes (failovers and switchovers are counted from them). */
  onRoleChange: (listener: (e: RoleChange) => void) => unknown;
  log: Logger;
  refusals: Refusals;
  /** A path of the domain file (the credentials' files) as a path on this machine. */
  resolvePath: (p: string) => string;
}

/** The Authorization header a scrape must carry, from the file the domain file names; null: none asked for. */
export function expectedAuthorization(cfg: MetricsConfig, resolvePath: (p: string) => string): Buffer | null {
  const which = cfg.bearerTokenFile !== undefined ? { field: 'metrics.bearerTokenFile', file: cfg.bearerTokenFile } : cfg.basicAuthFile !== undefined ? { field: 'metrics.basicAuthFile', file: cfg.basicAuthFile } : null;
  if (!which) return null;
  const path = resolvePath(which.file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new Error(`cannot read ${which.field} ${path}: ${(e as Error).message}; write the ${cfg.bearerTokenFile !== undefined ? 'token' : 'user:password line'} there, or remove ${which.field}`);
  }
  if (cfg.bearerTokenFile !== undefined) {
    if (!/^[\x21-\x7e]{16,}$/.test(text)) throw new Error(`${which.field} ${path} must hold one token of at least 16 printable characters, no spaces`);
    return Buffer.from(`Bearer ${text}`);
  }
  if (!/^[^:\s]+:\S{8,}$/.test(text)) throw new Error(`${which.field} ${path} must hold one line user:password (a password of at least 8 characters, no spaces)`);
  return Buffer.from(`Basic ${Buffer.from(text).toString('base64')}`);
}

export class MetricsServer {
  private readonly registry = new Registry();
  /** The status read for the scrape being answered; every metric of one scrape comes from it. */
  private view: StatusView | null = null;
  private readonly failovers: Counter;
  private readonly switchovers: Counter;
  private readonly fences: Counter;
  /** The Active term whose fence was counted last. */
  private fencedEpoch: number | null = null;
  /** The last rendering and when it was made; the rendering under way. */
  private rendered: { at: number; body: string } | null = null;
  private rendering: Promise<string> | null = null;
  private inFlight = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly http: Server, readonly url: string, private readonly opts: MetricsOptions, private readonly expected: Buffer | null) {
    http.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.registry.setDefaultLabels({ domain: opts.domain, server: opts.server });
    this.gauge('duplex_role', "This server's role: 1 for the role it is in, 0 for the others.", ['role'], (s, put) => {
      for (const role of ROLES) put(role === s.role ? 1 : 0, { role });
    });
    this.gauge('duplex_peer_role', 'Each other server\'s role as this server sees it (unreachable: silent for the failure timeout; unknown: never heard).', ['peer', 'role'], (s, put) => {
      for (const p of s.peers) for (const role of PEER_ROLES) put(role === p.role ? 1 : 0, { peer: p.server, role });
    });
    this.gauge('duplex_epoch', "The epoch of this server's current or last Active term (0: never Active).", [], (s, put) => put(s.epoch));
    this.gauge('duplex_max_epoch', 'The highest epoch this server has held or seen.', [], (s, put) => put(s.maxEpoch));
    this.gauge('duplex_peer_last_heard_seconds', 'Seconds since this server last heard each other server (absent: never heard).', ['peer'], (s, put) => {
      for (const p of s.peers) if (p.lastHeardMs !== null) put(p.lastHeardMs / 1000, { peer: p.server });
    });
    this.total('duplex_dropped_datagrams_total', 'Datagrams dropped by this server since its node started, by reason.', ['reason'], (s, put) => {
      for (const [reason, n] of Object.entries(s.dropped)) put(n, { reason });
    });
    this.total('duplex_refused_requests_total', "Requests this server's doors (admin, socket, metrics, sync) answered with anything but success since its node started, by door and code.", ['door', 'code'], (s, put) => {
      for (const [door, codes] of Object.entries(s.refused)) for (const [code, n] of Object.entries(codes)) put(n, { door, code });
    });
    this.gauge('duplex_health_score', "This server's health score, 0-255 (the OPC UA ServiceLevel meaning: 200-255 healthy, 2-199 degraded, 1 no data, 0 maintenance).", [], (s, put) => put(s.health.score));
    this.gauge('duplex_probe_ok', "Each health probe's last verdict on this server: 1 passing, 0 failing (absent before its first reading).", ['probe', 'kind'], (s, put) => {
      for (const p of s.health.probes) if (p.at !== null) put(p.ok ? 1 : 0, { probe: p.name, kind: p.kind });
    });
    this.gauge('duplex_sync_state', "This server's domain sync state: 1 for the state it is in, 0 for the others.", ['state'], (s, put) => {
      for (const state of SYNC_STATES) put(state === s.sync.state ? 1 : 0, { state });
    });
    this.gauge('duplex_domain_revision', 'The number of the domain file revision in force on this server.', [], (s, put) => put(s.sync.revision.n));
    this.total('duplex_runtime_restarts_total', 'Restarts of each supervised runtime process since this node started.', ['process'], (s, put) => {
      for (const p of s.runtime.processes) put(p.restarts, { process: p.name });
    });
    this.gauge('duplex_vip_held', 'Whether this server holds the virtual IP now: 1 held, 0 not (absent: no virtual IP in the domain file).', ['address'], (s, put) => {
      if (s.vip) put(s.vip.held ? 1 : 0, { address: s.vip.address });
    });
    this.gauge('duplex_vip_failed', 'Whether the last attempt to add or remove the virtual IP here failed (1; see duplex status and the log), or no card here can take it.', ['address'], (s, put) => {
      if (s.vip) put(s.vip.error !== null || s.vip.card === null ? 1 : 0, { address: s.vip.address });
    });
    this.gauge('duplex_runtime_crash_loops', "Runtime crash loops counted on this server (Pacemaker's fail-count; duplex clear resets it).", [], (s, put) => put(s.runtime.failures.count));
    this.failovers = this.counter('duplex_failovers_total', 'Times this server became Active by a failover (the Active was lost) since its node started.');
    this.switchovers = this.counter('duplex_switchovers_total', 'Times this server became Active by a graceful handover (a switchover, or a failback to the main) since its node started.');
    this.fences = this.counter('duplex_fences_total', "Active terms of this server ended by a fence (the guardian killed its runtime: the lease or the majority's support ran out) since its node started.");
    opts.onRoleChange((e) => this.roleChanged(e));
  }

  /**
   * Starts the endpoint the domain file's `metrics` section asks for (null: it has none) and logs
   * its address. Throws, naming the field, when the address is not this machine's or the port is taken.
   */
  static async start(cfg: MetricsConfig | undefined, opts: MetricsOptions): Promise<MetricsServer | null> {
    if (!cfg) return null;
    const host = listenAddress('metrics.address', cfg.address);
    const expected = expectedAuthorization(cfg, opts.resolvePath);
    let metrics: MetricsServer | null = null;
    const http = createServer({ requestTimeout: METRICS_DOOR.requestMs, headersTimeout: METRICS_DOOR.headersMs, keepAliveTimeout: METRICS_DOOR.idleMs, maxHeaderSize: 8 * 1024, connectionsCheckingInterval: 1_000 }, (req, res) => {
      if (metrics) metrics.answer(req, res);
      else res.writeHead(503, { connection: 'close' }).end(); // still starting
    });
    http.maxConnections = METRICS_DOOR.connections;
    http.on('clientError', (e: NodeJS.ErrnoException, socket) => {
      opts.refusals.count('metrics', clientErrorStatus(e.code)[0], 'a malformed or too slow HTTP request', e.code ?? e.message);
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      http.once('error', (e) => reject(new Error(`cannot open the metrics port ${host}:${cfg.port}: ${e.message}; set metrics.port to a free port (0: any free port)`)));
      http.listen(cfg.port, host, resolve);
    });
    const { port } = http.address() as AddressInfo;
    metrics = new MetricsServer(http, `http://${host === EVERY_INTERFACE ? opts.ownAddress : host}:${port}/metrics`, opts, expected);
    const auth = cfg.bearerTokenFile !== undefined ? ', bearer token required' : cfg.basicAuthFile !== undefined ? ', basic auth required' : '';
    opts.log.info('metrics', `Prometheus metrics at ${metrics.url}${host === EVERY_INTERFACE ? ' (listening on every interface)' : ''}${auth}`);
    if (host !== '127.0.0.1' && !expected) opts.log.warn('security', `the metrics at ${metrics.url} can be read by anyone who reaches this address, with no credentials: set metrics.bearerTokenFile or metrics.basicAuthFile if others share that network`);
    return metrics;
  }

  /**
   * The guardian killed this server's runtime. Counted once per Active term: the guardian may
   * report one loss of authority more than once (its own deadline and the node's request).
   */
  fenced(): void {
    const { epoch } = this.opts.status();
    if (epoch === this.fencedEpoch) return;
    this.fencedEpoch = epoch;
    this.fences.inc();
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => {
      this.http.close(() => r());
      for (const s of this.sockets) s.destroy(); // Prometheus keeps its connections open between scrapes
    });
  }

  private roleChanged(e: RoleChange): void {
    if (e.to !== 'active') return;
    if (e.cause === 'failover') this.failovers.inc();
    else if (e.cause === 'switchover' || e.cause === 'failback') this.switchovers.inc();
  }

  /** Answers one request; never throws (a failed rendering is a 500, counted and logged). */
  private answer(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0]!;
    const refuse = (status: number, why: string, headers: Record<string, string> = {}) => {
      this.opts.refusals.count('metrics', status, why, `${req.socket.remoteAddress ?? '?'} ${req.method ?? '?'} ${path}`);
      if (!res.headersSent && !res.destroyed) res.writeHead(status, { 'content-type': 'text/plain', connection: 'close', ...headers }).end(`${why}\n`);
    };
    if (this.expected) {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== this.expected.length || !timingSafeEqual(given, this.expected)) {
        return refuse(401, 'missing or wrong credentials', { 'www-authenticate': this.expected.subarray(0, 5).toString() === 'Basic' ? 'Basic realm="duplex"' : 'Bearer' });
      }
    }
    if (path !== '/metrics') return refuse(404, 'not found: the metrics are at /metrics');
    if (req.method !== 'GET') return refuse(405, 'only GET', { allow: 'GET' });
    if (this.inFlight >= METRICS_DOOR.inFlight) return refuse(503, `busy: ${METRICS_DOOR.inFlight} scrapes are being answered`, { 'retry-after': '1' });
    this.inFlight += 1;
    res.once('close', () => (this.inFlight -= 1));
    this.render().then(
      (body) => {
        if (!res.headersSent && !res.destroyed) res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
      },
      (e: Error) => {
        this.opts.log.warn('metrics', `a scrape failed: ${e.message}`);
        refuse(500, e.message);
      },
    );
  }

  /** The metrics as text: one rendering serves every scrape for METRICS_DOOR.cacheMs, and one is made at a time. */
  private render(): Promise<string> {
    const now = Date.now();
    if (this.rendered && now - this.rendered.at < METRICS_DOOR.cacheMs) return Promise.resolve(this.rendered.body);
    this.rendering ??= (async () => {
      try {
        this.view = this.opts.status();
        const body = await this.registry.metrics();
        this.rendered = { at: Date.now(), body };
        return body;
      } finally {
        this.view = null;
        this.rendering = null;
      }
    })();
    return this.rendering;
  }

  /** A counter this node increments as things happen (0 until they do). */
  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }

  /** A gauge set from the status at each scrape (a state set: one series per state, 1 for the current one). */
  private gauge(name: string, help: string, labelNames: string[], fill: (s: StatusView, put: Put) => void): void {
    const g: Gauge = new Gauge({ name, help, labelNames, registers: [this.registry], collect: () => this.refill(g, fill, (labels, value) => g.set(labels, value)) });
  }

  /** A total kept by another part of the node (its status), read at each scrape. */
  private total(name: string, help: string, labelNames: string[], fill: (s: StatusView, put: Put) => void): void {
    const c: Counter = new Counter({ name, help, labelNames, registers: [this.registry], collect: () => this.refill(c, fill, (labels, value) => c.inc(labels, value)) });
  }

  /** Forgets a metric's series and sets them again from the status of the scrape being answered. */
  private refill(metric: Gauge | Counter, fill: (s: StatusView, put: Put) => void, set: (labels: Labels, value: number) => void): void {
    metric.reset();
    if (this.view) fill(this.view, (value, labels = {}) => set(labels, value));
  }
}
