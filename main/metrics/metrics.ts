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
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { MetricsConfig } from '../domain/schema';
import { ROLES, SYNC_STATES } from '../engine/types';
import type { RoleEvent } from '../node/driver';
import { localIPv4Addresses, resolveInterface } from '../node/interfaces';
import type { PeerView, StatusView } from '../ui/contract';
import type { Logger } from '../util/logger';

/** Every role a peer can be shown in: the roles, and `unreachable` and `unknown` (never heard). */
const PEER_ROLES: readonly PeerView['role'][] = [...ROLES, 'unreachable', 'unknown'];

/** The one listening address that means every interface. */
const EVERY_INTERFACE = '0.0.0.0';

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

  private constructor(private readonly http: Server, readonly url: string, private readonly opts: MetricsOptions) {
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
    const host = cfg.address === EVERY_INTERFACE ? EVERY_INTERFACE : resolveInterface(cfg.address);
    if (!host) throw new Error(`metrics.address ${cfg.address} matches no address of this machine; its IPv4 addresses are ${localIPv4Addresses().join(', ')} (or use ${EVERY_INTERFACE}: every interface)`);
    let metrics: MetricsServer | null = null;
    const http = createServer((req, res) => void metrics?.answer(req, res));
    await new Promise<void>((resolve, reject) => {
      http.once('error', (e) => reject(new Error(`cannot open the metrics port ${host}:${cfg.port}: ${e.message}; set metrics.port to a free port (0: any free port)`)));
      http.listen(cfg.port, host, resolve);
    });
    const { port } = http.address() as AddressInfo;
    metrics = new MetricsServer(http, `http://${host === EVERY_INTERFACE ? opts.ownAddress : host}:${port}/metrics`, opts);
    opts.log.info('metrics', `Prometheus metrics at ${metrics.url}${host === EVERY_INTERFACE ? ` (listening on every interface)` : ''}`);
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
    this.http.closeAllConnections(); // Prometheus keeps its connections open between scrapes
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  private roleChanged(e: RoleChange): void {
    if (e.to !== 'active') return;
    if (e.cause === 'failover') this.failovers.inc();
    else if (e.cause === 'switchover' || e.cause === 'failback') this.switchovers.inc();
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
    if (req.method !== 'GET') return void res.writeHead(405, { allow: 'GET', 'content-type': 'text/plain' }).end('only GET\n');
    try {
      this.view = this.opts.status();
      const body = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
    } catch (e) {
      this.opts.log.warn('metrics', `a scrape failed: ${(e as Error).message}`);
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`);
    } finally {
      this.view = null;
    }
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
