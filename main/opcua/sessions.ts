/**
 * Who holds the OPC UA endpoint's sessions, and who may open one more. A client is a remote
 * address with the certificate it connected with: one misbehaving or abandoned client fills
 * its own share (`maxSessionsPerClient`), never every session.
 */
import { LogLimiter } from '../util/log-limit';
import type { Logger } from '../util/logger';
import { nameInLog, type ClientCertificate } from './trust';

export interface SessionLimits {
  /** Sessions open at once, all clients together (opcuaServer.maxSessions). */
  maxSessions: number;
  /** Sessions one client may hold, abandoned ones included until they expire (opcuaServer.maxSessionsPerClient). */
  maxSessionsPerClient: number;
  /** The longest session timeout granted: an abandoned session is freed this long after its last request. */
  sessionTimeoutMaxMs: number;
}

export interface Client {
  /** The remote IP address (an IPv4 address mapped into IPv6 is shown as IPv4). */
  address: string;
  /** The certificate of its secure channel; null on a SecurityPolicy None channel. */
  certificate: ClientCertificate | null;
}

/** How a client appears in a log line: its address, and its certificate's name (quoted: it comes from outside). */
export function describeClient(c: Client): string {
  if (!c.certificate) return `${c.address} (no certificate)`;
  return `${c.address} (certificate ${nameInLog(c.certificate.name)}, thumbprint ${c.certificate.thumbprint.slice(0, 16)}…)`;
}

const keyOf = (c: Client) => `${c.address} ${c.certificate?.thumbprint ?? '-'}`;

export class SessionGate<S> {
  private readonly owners = new Map<S, Client>();
  private readonly limiter: LogLimiter;

  constructor(private readonly limits: SessionLimits, private readonly log: Logger, repeatMs: number, now?: () => number) {
    this.limiter = new LogLimiter(repeatMs, 10, now);
  }

  /**
   * Asked before node-opcua creates a session for `client`; `open` sessions exist, `canFree`
   * when one of them was never activated (node-opcua closes the oldest such to make room).
   * 'refuse': this client holds its share, refuse it here. 'ok': let node-opcua go on (when
   * every session is taken it refuses the session itself; that is logged here).
   */
  admit(client: Client, open: number, canFree: boolean): 'ok' | 'refuse' {
    const key = keyOf(client);
    const mine = [...this.owners.values()].filter((c) => keyOf(c) === key).length;
    if (mine >= this.limits.maxSessionsPerClient) {
      this.say(`client ${key}`, `OPC UA client ${describeClient(client)} already holds ${mine} sessions (opcuaServer.maxSessionsPerClient): ` +
        `its new session is refused. Sessions it abandoned are freed ${this.limits.sessionTimeoutMaxMs / 1000} s after its last request; ` +
        'a client that needs more at once (a terminal server running several HMIs) needs a higher opcuaServer.maxSessionsPerClient');
      return 'refuse';
    }
    if (open >= this.limits.maxSessions && !canFree) {
      this.say('all', `all ${this.limits.maxSessions} OPC UA sessions are taken (opcuaServer.maxSessions): a new session from ${describeClient(client)} is refused. ` +
        `Most are held by ${this.holders()}. Abandoned sessions are freed ${this.limits.sessionTimeoutMaxMs / 1000} s after their last request; ` +
        'if this many clients are expected, raise opcuaServer.maxSessions');
    }
    return 'ok';
  }

  opened(session: S, client: Client): void {
    this.owners.set(session, client);
  }

  closed(session: S): void {
    this.owners.delete(session);
  }

  /** The three clients holding most sessions, with their counts. */
  private holders(): string {
    const counts = new Map<string, { client: Client; n: number }>();
    for (const c of this.owners.values()) {
      const held = counts.get(keyOf(c)) ?? { client: c, n: 0 };
      held.n++;
      counts.set(keyOf(c), held);
    }
    return [...counts.values()].sort((a, b) => b.n - a.n).slice(0, 3)
      .map(({ client: c, n }) => `${c.address}${c.certificate ? ` ${nameInLog(c.certificate.name)}` : ''} (${n})`).join(', ') || 'nobody (sessions being opened)';
  }

  private say(key: string, detail: string): void {
    const note = this.limiter.pass(key);
    if (note !== null) this.log.warn('opcua', detail + note);
  }
}
