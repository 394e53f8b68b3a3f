/**
 * The guardian: a small process beside each node that runs the node's runtime processes and
 * holds the kill switch. The node renews a lease with every heartbeat it sends. The runtime
 * may run in active mode only while that lease holds:
 *  - the node's connection closes (it died, by any signal or crash) while it was Active with a
 *    Standby ready: the guardian kills the runtime at once and multicasts the node's release,
 *    so the Standby takes over without waiting for the failure timeout;
 *  - the lease runs out (the node froze or hangs, or died with no Standby to take over and did
 *    not come back): the guardian kills the runtime, multicasts the release, and refuses active
 *    mode until the node has stepped down.
 *  - with quorum, the majority's support for the Active term runs out (each renewal says for
 *    how much longer it holds): the guardian kills the runtime then, even if the node still
 *    renews (it may be frozen, or cut off with the node unable to act).
 * The lease is shorter than the failure timeout (defaults.ts leaseMs), so the kill always
 * comes before any Standby may take over on silence. A node that comes back within its lease
 * finds its guardian and its runtime still running.
 *
 * The guardian is started detached (its own session and process group), so it does not die
 * with the node's terminal or process group.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { RuntimeHold } from '../runtime/hold';
import { LocalProcessHost, killTree } from '../runtime/host';
import { writeFileAtomic } from '../util/atomic';
import type { Logger } from '../util/logger';
import { VipHolder, type VipResult } from '../vip/holder';
import { isVipPlan } from '../vip/plan';
import { expiryReason, Lease } from './lease';
import { GUARDIAN_FILE, guardianSocket, readLines, writeLine, type FromGuardian, type GuardianFile, type ReleaseRoute, type ToGuardian } from './protocol';

/** How long the guardian waits for killed processes to be gone before it multicasts the release anyway. */
const KILL_WAIT_MS = 2_000;

export class Guardian {
  private readonly host: LocalProcessHost;
  private readonly token = randomBytes(16).toString('hex');
  private readonly socketPath: string;
  private server: Server | null = null;
  private client: Socket | null = null;
  private serverName = '';
  /** The lease and the majority's support, on this process's clock (performance.now()). */
  private readonly lease = new Lease(0);
  private leaseTimer: NodeJS.Timeout | null = null;
  private notice: Buffer | null = null;
  private term: number | null = null;
  private standbyReady = false;
  private fencedWhy: string | null = null;
  /** The last fence, as the node is told of it; null once the node has stepped down. */
  private lastFence: { id: number; at: number; reason: string; killed: string | null } | null = null;
  private fences = 0;
  /** A fence under way: another one waits for it. */
  private fencing: Promise<void> | null = null;
  private route: ReleaseRoute | null = null;
  private udp: UdpSocket | null = null;
  private leaving = false;
  private ended = false;
  /** The virtual IP: removed with every kill of the runtime, before the release. */
  private readonly vip = new VipHolder();

  /** `hold`: how the runtime processes die with this guardian (hold.ts); set up on the main thread, before any spawn. */
  constructor(private readonly dir: string, private readonly log: Logger, private readonly onEnd: () => void, hold: RuntimeHold) {
    this.socketPath = guardianSocket(dir);
    this.host = new LocalProcessHost(hold);
    this.vip.onAnnounceFailed = (message) => this.log.warn('vip', message);
    if (hold.wholeTree) log.info('guardian', `runtime processes: ${hold.detail}`);
    else log.warn('guardian', `runtime processes: ${hold.detail}`);
  }

  async listen(): Promise<void> {
    if (process.platform !== 'win32') rmSync(this.socketPath, { force: true }); // a guardian that is gone left it
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => resolve());
    });
    this.server = server;
    const file: GuardianFile = { pid: process.pid, socket: this.socketPath, token: this.token };
    writeFileAtomic(join(this.dir, GUARDIAN_FILE), JSON.stringify(file), { mode: 0o600, keepPrevious: false });
    this.log.info('guardian', `started, pid ${process.pid}, listening on ${this.socketPath}`);
  }

  private accept(socket: Socket): void {
    let hello = false;
    readLines<ToGuardian>(socket, (msg) => {
      if (!hello) {
        if (msg.t !== 'hello' || msg.token !== this.token) {
          writeLine(socket, { t: 'refused', message: 'wrong or missing token' });
          socket.end();
          return;
        }
        if (this.client) {
          writeLine(socket, { t: 'refused', message: `the guardian of ${this.serverName} already serves a node` });
          socket.end();
          return;
        }
        hello = true;
        this.welcome(socket, msg.server, msg.leaseMs);
        return;
      }
      this.handle(msg);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (hello && this.client === socket) this.nodeGone();
    });
  }

  private welcome(socket: Socket, server: string, leaseMs: number): void {
    const back = this.serverName !== '';
    this.client = socket;
    this.serverName = server;
    this.lease.leaseMs = leaseMs;
    this.leaving = false;
    const processes = [...this.host.running.values()].map((p) => ({ name: p.name, pid: p.pid, mode: p.mode }));
    this.log.info('guardian', back
      ? `the node is back (lease ${leaseMs} ms); it finds ${processes.length ? processes.map((p) => `${p.name} (pid ${p.pid}, ${p.mode})`).join(', ') : 'no runtime process'} running`
      : `serving the node of ${server} (lease ${leaseMs} ms)`);
    // The lease is not renewed by a welcome: a node that comes back must renew it in time itself.
    const term = this.fencedWhy === null && this.notice !== null && this.leaseTimer !== null ? this.term : null;
    const leaseLeftMs = term === null ? null : Math.floor(this.lease.leftMs(performance.now()));
    this.send({ t: 'welcome', pid: process.pid, processes, fenced: this.fencedWhy, term, leaseLeftMs });
  }

  private handle(msg: ToGuardian): void {
    switch (msg.t) {
      case 'route':
        this.openRoute(msg.route);
        return;
      case 'renew':
        this.term = msg.term;
        this.renewed(msg.notice === null ? null : Buffer.from(msg.notice, 'base64'), msg.standbyReady, msg.quorumMs);
        return;
      case 'fence':
        // Every runtime process goes (a hook may have moved one into active mode); the node waits for the answer.
        void this.fence(msg.reason);
        return;
      case 'start':
        if (msg.spec.mode === 'active' && this.fencedWhy !== null) {
          this.send({ t: 'start-failed', id: msg.id, message: `the guardian killed this server's runtime (${this.fencedWhy}) and allows active mode again only once the node has stepped down` });
          return;
        }
        this.host.start(msg.spec).then(
          (p) => {
            this.send({ t: 'started', id: msg.id, pid: p.pid });
            void p.exited.then((how) => this.send({ t: 'exit', pid: p.pid, how, at: Date.now() }));
          },
          (e: Error) => this.send({ t: 'start-failed', id: msg.id, message: e.message }),
        );
        return;
      case 'signal':
        if (Number.isSafeInteger(msg.pid) && msg.pid > 1) this.host.signal(msg.pid, msg.signal);
        return;
      case 'vip':
        if (msg.plan === null || isVipPlan(msg.plan)) void this.vip.configure(msg.plan).then((r) => r && this.sayVip(r));
        return;
      case 'vip-hold':
        void this.holdVip(msg.id, msg.on);
        return;
      case 'bye':
        this.leaving = true;
        this.notice = msg.notice === null ? null : Buffer.from(msg.notice, 'base64');
        return;
      case 'hello':
        return;
    }
  }

  /** Adds or removes the virtual IP for the node; never adds it while the runtime is fenced. */
  private async holdVip(id: number, on: boolean): Promise<void> {
    if (on && this.fencedWhy !== null) {
      this.send({ t: 'vip-done', id, ok: false, message: `not adding the virtual IP: the guardian killed this server's runtime (${this.fencedWhy})` });
      return;
    }
    const r = on ? await this.vip.add() : await this.vip.remove();
    this.sayVip(r);
    this.send({ t: 'vip-done', id, ok: r.ok, message: r.message });
  }

  private sayVip(r: VipResult): void {
    if (r.ok) this.log.info('vip', r.message);
    else this.log.error('vip', `${r.message}; clients may reach the wrong server (or none) until this is fixed`);
  }

  /** A renewal: the lease runs for another `leaseMs` from now (and no longer than the majority's support). */
  private renewed(notice: Buffer | null, standbyReady: boolean, quorumMs: number | null): void {
    this.lease.renew(performance.now(), quorumMs);
    this.notice = notice;
    this.standbyReady = standbyReady;
    if (notice === null && this.fencedWhy !== null) {
      this.log.info('guardian', 'the node has stepped down; the runtime may run in active mode again when it is Active');
      this.fencedWhy = null;
      this.lastFence = null;
    }
    // One timer, moved on only when it fires: five renewals a second cost no timer churn.
    // A deadline moved earlier (the majority's support) needs the timer moved too.
    if (this.leaseTimer && this.lease.deadline() < this.timerAt) {
      clearTimeout(this.leaseTimer);
      this.leaseTimer = null;
    }
    this.armLease();
  }

  private timerAt = Infinity;

  private armLease(): void {
    if (this.leaseTimer) return;
    this.timerAt = this.lease.deadline();
    this.leaseTimer = setTimeout(() => this.leaseRanOut(), Math.max(0, Math.ceil(this.timerAt - performance.now())));
  }

  private leaseRanOut(): void {
    this.leaseTimer = null;
    const expiry = this.lease.expiry(performance.now());
    if (!expiry) return this.armLease();
    const active = this.notice !== null || [...this.host.running.values()].some((p) => p.mode === 'active');
    if (this.client) {
      if (active) void this.fence(expiryReason(expiry, this.lease.leaseMs, true));
      return;
    }
    // The node died and did not come back within its lease.
    void this.fence(expiryReason(expiry, this.lease.leaseMs, false)).then(() => this.end());
  }

  private nodeGone(): void {
    this.client = null;
    if (this.leaving) {
      this.log.info('guardian', `the node stopped cleanly${this.notice ? ' after stopping the runtime' : ''}`);
      void this.fence('the node stopped', true).then(() => this.end());
      return;
    }
    const running = this.host.running.size;
    if (this.notice !== null && this.standbyReady) {
      void this.fence('the node died (its connection closed) while Active; a Standby is ready to take over').then(() => this.end());
    } else if (running === 0 && this.notice === null) {
      this.log.warn('guardian', 'the node died (its connection closed); no runtime process runs');
      this.end();
    } else {
      this.log.warn('guardian', `the node died (its connection closed); keeping its runtime for the rest of the lease (${Math.max(0, Math.round(this.lease.leaseEnd() - performance.now()))} ms) in case it comes back: no Standby is ready to take over`);
    }
  }

  /**
   * Kills every runtime process at once, process group and all, waits until they are gone,
   * then multicasts the release (if the node was Active) and tells the node (if it is there).
   * One fence is one log line and one `fenced` record: asked again while one is under way, or
   * after one with nothing started since (the node's own request once it woke, a lease that ran
   * out again on a renewal it sent before it knew), the guardian kills nothing and logs
   * nothing; it answers with the fence it did (and multicasts a release it was given again).
   */
  private fence(reason: string, quiet = false): Promise<void> {
    const under = this.fencing;
    if (under && !quiet) return under.then(() => this.fence(reason));
    const run = this.kill(reason, quiet);
    if (!quiet) {
      this.fencing = run;
      void run.finally(() => {
        if (this.fencing === run) this.fencing = null;
      });
    }
    return run;
  }

  private async kill(reason: string, quiet: boolean): Promise<void> {
    const procs = [...this.host.running.values()];
    const notice = this.notice;
    this.notice = null;
    const done = this.lastFence;
    if (!quiet && !procs.length && done !== null) {
      if (notice) await this.release(notice, false);
      this.send({ t: 'fenced', ...done });
      return;
    }
    if (!quiet) this.fencedWhy = reason;
    const t0 = performance.now();
    // The tree first (Windows: taskkill /T /F needs its root alive to find the rest).
    const kills = procs.map((p) => killTree(p.pid, 'SIGKILL').then(() => {
      if (process.platform !== 'win32') return;
      try {
        process.kill(p.pid, 'SIGKILL'); // TerminateProcess, should taskkill have failed
      } catch {
        // gone, as it should be
      }
    }));
    // The virtual IP goes at the same time: clients must not reach this server once the release is out.
    const vip = this.vip.remove();
    // The tree walk too (Windows): a guardian that ends next must not end before it.
    await Promise.race([Promise.all([...procs.map((p) => p.exited), ...kills]), new Promise((r) => setTimeout(r, KILL_WAIT_MS))]);
    const vipGone = await vip;
    if (vipGone.message.startsWith('removed') || !vipGone.ok) this.sayVip(vipGone);
    const at = Date.now();
    const gone = procs.filter((p) => !this.host.running.has(p.pid));
    const what = procs.length ? procs.map((p) => `${p.name} (pid ${p.pid}, ${p.mode})`).join(', ') : null;
    const killed = what !== null ? `killed ${what} in ${Math.round(performance.now() - t0)} ms` : 'no runtime process was running';
    const stuck = procs.length - gone.length;
    if (!quiet || procs.length) this.log.warn('fence', `${killed}${stuck ? `; ${stuck} did not exit within ${KILL_WAIT_MS} ms` : ''}: ${reason}`, at);
    if (!quiet) this.lastFence = { id: ++this.fences, at, reason, killed: what };
    if (notice) await this.release(notice);
    if (!quiet && this.lastFence) this.send({ t: 'fenced', ...this.lastFence });
  }

  private openRoute(route: ReleaseRoute): void {
    this.route = route;
    if (this.udp) return;
    const udp = createSocket({ type: 'udp4', reuseAddr: true });
    udp.on('error', (e) => this.log.warn('guardian', `release socket: ${e.message}`));
    udp.bind({ port: 0, address: route.iface }, () => {
      try {
        udp.setMulticastInterface(route.iface);
        udp.setMulticastTTL(route.ttl);
        udp.setMulticastLoopback(true);
      } catch (e) {
        this.log.warn('guardian', `cannot send releases on ${route.iface}: ${(e as Error).message}`);
      }
    });
    this.udp = udp;
  }

  /** Multicasts `notice`; `say`: log it (a release multicast again for a fence already logged is not). */
  private release(notice: Buffer, say = true): Promise<void> {
    const route = this.route;
    const udp = this.udp;
    if (!route || !udp) {
      this.log.warn('release', 'no release sent: the node never said where its domain listens');
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      udp.send(notice, route.port, route.group, (err) => {
        if (err) this.log.warn('release', `could not multicast the release: ${err.message}; the Standby takes over after its failure timeout`);
        else if (say) this.log.warn('release', `multicast the release of ${this.serverName}'s Active term to ${route.group}:${route.port}: the Standby may take over at once`);
        resolve();
      });
    });
  }

  private send(msg: FromGuardian): void {
    if (this.client) writeLine(this.client, msg);
  }

  /** Ends the guardian (nothing of the node is left to guard). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.leaseTimer) clearTimeout(this.leaseTimer);
    const kills = [...this.host.running.values()].map((p) => killTree(p.pid, 'SIGKILL'));
    const vip = this.vip.remove().then((r) => (r.message.startsWith('removed') || !r.ok) && this.sayVip(r));
    rmSync(join(this.dir, GUARDIAN_FILE), { force: true });
    this.udp?.close();
    this.server?.close();
    this.log.info('guardian', 'ended');
    void Promise.race([Promise.all([...kills, vip, this.host.settled()]), new Promise((r) => setTimeout(r, KILL_WAIT_MS))]).then(() => this.onEnd());
  }
}
