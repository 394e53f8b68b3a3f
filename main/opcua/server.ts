/**
 * The OPC UA face of a Duplex node, for non-transparent redundancy: OPC UA clients (HMIs,
 * historians, gateways) connect to every server of the domain and use the one with the
 * highest Server.ServiceLevel. Each node serves its live level, RedundancySupport = Hot
 * and ServerRedundancy.ServerUriArray listing the domain's servers.
 *
 * Secure by default: only signed (and encrypted) channels, from clients whose certificate is
 * in the trust folder; SecurityPolicy None only when the domain file allows it. Any trusted
 * client may read, with the anonymous identity. Sessions are bounded per client and in total,
 * and a session a client abandons is freed within a minute.
 */
import { join } from 'node:path';
import {
  CreateSessionRequest, DataType, EnumRedundancySupport, MessageSecurityMode, OPCUACertificateManager, OPCUAServer, QualifiedName, SecurityPolicy, ServiceFault,
  StatusCodes, Variant, VariantArrayType, type OPCUAServerOptions, type ServerSecureChannelLayer, type ServerSession, type StatusCode, type UAObject, type UAVariable,
} from 'node-opcua';
import { EVERY_INTERFACE, listenAddress } from '../node/interfaces';
import { OPCUA_CERTIFICATE_LOG_REPEAT_MS, OPCUA_CLIENT_LOG_REPEAT_MS, OPCUA_REJECTED_CERTIFICATES_KEPT, OPCUA_SESSION_TIMEOUT_MAX_MS } from '../defaults';
import type { OpcuaServerConfig } from '../domain/schema';
import { LogLimiter } from '../util/log-limit';
import type { Logger } from '../util/logger';
import { VERSION } from '../version';
import { SessionGate, type Client, type SessionLimits } from './sessions';
import { describeCertificate, nameInLog, pruneRejected, trustCommand } from './trust';

/** ns=0;i=2267 Server.ServiceLevel; ns=0;i=3709 Server.ServerRedundancy.RedundancySupport; ns=0;i=2296 Server.ServerRedundancy. */
const SERVICE_LEVEL = 'ns=0;i=2267';
const REDUNDANCY_SUPPORT = 'ns=0;i=3709';
const SERVER_REDUNDANCY = 'ns=0;i=2296';

/**
 * The policies offered (node-opcua 2.182.2 offers these three by default besides None):
 * Basic256Sha256 for older clients, the two of OPC UA 1.04 for newer ones. Basic128Rsa15 and
 * Basic256 are deprecated (SHA-1), and Node 20 refuses the RSA PKCS#1 v1.5 decryption the first needs.
 */
export const SECURE_POLICIES = [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss];

export const serverUri = (domain: string, server: string) => `urn:duplex:${domain}:${server}`;

export type RedundancyServerOptions = Pick<OpcuaServerConfig, 'port' | 'address' | 'allowUnsecured' | 'maxSessions' | 'maxSessionsPerClient'> & {
  domain: string;
  server: string;
  servers: string[];
  /** Its certificates and its trust list live here. */
  pkiDir: string;
  /** The longest session timeout granted (OPCUA_SESSION_TIMEOUT_MAX_MS; tests shorten it). */
  sessionTimeoutMaxMs?: number;
  serviceLevel: () => number;
  log: Logger;
};

/** The remote address of a channel, an IPv4 address mapped into IPv6 written as IPv4. */
const clientOf = (channel: ServerSecureChannelLayer): Client => ({
  address: channel.remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '') || '(unknown address)',
  certificate: channel.clientCertificate ? describeCertificate(channel.clientCertificate) : null,
});

/** node-opcua's server with the session limits: a client beyond its share is refused before node-opcua creates anything. */
class Endpoint extends OPCUAServer {
  constructor(options: OPCUAServerOptions, private readonly gate: SessionGate<ServerSession>, private readonly timeoutMaxMs: number, private readonly log: Logger) {
    super(options);
    this.on('create_session', (s: ServerSession) => s.channel && gate.opened(s, clientOf(s.channel)));
    this.on('session_closed', (s: ServerSession) => gate.closed(s));
  }

  // node-opcua calls its handler without waiting for it: nothing here may throw.
  protected override async _on_CreateSessionRequest(message: Parameters<OPCUAServer['on_request']>[0], channel: ServerSecureChannelLayer): Promise<void> {
    try {
      const request = message.request as CreateSessionRequest;
      request.requestedSessionTimeout = Math.min(request.requestedSessionTimeout || this.timeoutMaxMs, this.timeoutMaxMs);
      if (this.gate.admit(clientOf(channel), this.currentSessionCount, this.engine.getOldestInactiveSession() !== null) === 'refuse') {
        this.engine.incrementSecurityRejectedSessionCount();
        channel.send_response('MSG', new ServiceFault({ responseHeader: { serviceResult: StatusCodes.BadTooManySessions } }), message);
        return;
      }
    } catch (e) {
      this.log.warn('opcua', `could not apply the session limits to a new session (${(e as Error).message}); node-opcua's own limits apply to it`);
    }
    return super._on_CreateSessionRequest(message, channel);
  }
}

export class RedundancyServer {
  private constructor(private readonly server: OPCUAServer, readonly port: number) {}

  static async start(o: RedundancyServerOptions): Promise<RedundancyServer> {
    const host = listenAddress('opcuaServer.address', o.address);
    const limits: SessionLimits = { maxSessions: o.maxSessions, maxSessionsPerClient: o.maxSessionsPerClient, sessionTimeoutMaxMs: o.sessionTimeoutMaxMs ?? OPCUA_SESSION_TIMEOUT_MAX_MS };
    // 'own' holds this server's certificate (made at the first start) and, beside it, the trust list.
    const trust = new OPCUACertificateManager({ rootFolder: join(o.pkiDir, 'own'), automaticallyAcceptUnknownCertificate: false });
    const server = new Endpoint({
      port: o.port,
      // node-opcua listens on every interface (IPv6 and IPv4) without a host; with one, its endpoint URLs name it too
      ...(host === EVERY_INTERFACE ? {} : { host, hostname: host }),
      resourcePath: '/UA/Duplex',
      securityModes: o.allowUnsecured ? [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt] : [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
      securityPolicies: o.allowUnsecured ? [SecurityPolicy.None, ...SECURE_POLICIES] : SECURE_POLICIES,
      // the anonymous identity, over a channel from a trusted client (or over None when allowed); user names are refused
      allowAnonymous: true,
      serverCertificateManager: trust,
      userCertificateManager: new OPCUACertificateManager({ rootFolder: join(o.pkiDir, 'user'), automaticallyAcceptUnknownCertificate: false }),
      serverCapabilities: {
        maxSessions: limits.maxSessions,
        // a client's share of sessions holds its share of subscriptions; monitored items are bounded (memory)
        maxSubscriptionsPerSession: 10,
        maxSubscriptions: limits.maxSessions * 10,
        maxMonitoredItemsPerSubscription: 1_000,
        maxMonitoredItems: 10_000,
      },
      // one channel per session, and room for a client asking GetEndpoints while every session is taken
      // (node-opcua closes the oldest channel that has no session when it needs one)
      maxConnectionsPerEndpoint: limits.maxSessions + 10,
      serverInfo: { applicationUri: serverUri(o.domain, o.server), productUri: 'urn:duplex', applicationName: { text: `Duplex ${o.domain} ${o.server}` } },
      buildInfo: { productName: 'Duplex', manufacturerName: 'Duplex', softwareVersion: VERSION, buildNumber: VERSION },
    }, new SessionGate(limits, o.log, OPCUA_CLIENT_LOG_REPEAT_MS), limits.sessionTimeoutMaxMs, o.log);
    await server.initialize(); // makes the endpoints
    const refused = refusedCertificates(trust, o.log);
    for (const e of server.endpoints) e.onAdjustCertificateStatus = (status, certificate) => (refused(status, certificate), status);
    const as = server.engine.addressSpace!;
    // node-opcua binds ServiceLevel to a constant 255; re-bind it to the live level.
    (as.findNode(SERVICE_LEVEL) as UAVariable).bindVariable({ get: () => new Variant({ dataType: DataType.Byte, value: o.serviceLevel() }) }, true);
    (as.findNode(REDUNDANCY_SUPPORT) as UAVariable).setValueFromSource({ dataType: DataType.Int32, value: EnumRedundancySupport.Hot });
    as.getOwnNamespace().addVariable({
      propertyOf: as.findNode(SERVER_REDUNDANCY) as UAObject,
      browseName: new QualifiedName({ name: 'ServerUriArray', namespaceIndex: 0 }),
      dataType: 'String',
      valueRank: 1,
      arrayDimensions: [o.servers.length],
      value: { dataType: DataType.String, arrayType: VariantArrayType.Array, value: o.servers.map((s) => serverUri(o.domain, s)) },
    });
    await server.start();
    o.log.info('opcua', `OPC UA listens on ${host === EVERY_INTERFACE ? 'every interface' : host}, ` +
      (o.allowUnsecured ? 'SecurityPolicy None allowed (opcuaServer.allowUnsecured: any client that reaches the port reads, in clear)' : 'signed and encrypted channels only') +
      `; clients are trusted by their certificate in ${trust.trustedFolder}; at most ${limits.maxSessions} sessions, ${limits.maxSessionsPerClient} per client`);
    return new RedundancyServer(server, server.endpoints[0]?.port ?? o.port);
  }

  get endpoint(): string {
    return this.server.getEndpointUrl();
  }

  async close(): Promise<void> {
    await this.server.shutdown(0);
  }
}

/**
 * What the endpoint does with a client certificate its trust list refused: a log line (one per
 * certificate per hour, ten a minute at most) naming the client and the command that trusts
 * it, and a rejected folder kept to its newest files.
 */
function refusedCertificates(trust: OPCUACertificateManager, log: Logger): (status: StatusCode, certificate: Buffer) => void {
  const limiter = new LogLimiter(OPCUA_CERTIFICATE_LOG_REPEAT_MS, 10);
  let pruning = false;
  const prune = () => {
    if (pruning) return;
    pruning = true;
    setTimeout(() => void pruneRejected(trust.rejectedFolder, OPCUA_REJECTED_CERTIFICATES_KEPT)
      .then((n) => n && log.warn('opcua', `deleted the ${n} oldest certificates of ${trust.rejectedFolder}, which keeps the newest ${OPCUA_REJECTED_CERTIFICATES_KEPT}: ` +
        'many unknown certificates tried to connect; find who sends them (the lines before this one name them)'))
      .catch((e: Error) => log.warn('opcua', `cannot clean ${trust.rejectedFolder}: ${e.message}`))
      .finally(() => { pruning = false; }), 1_000).unref();
  };
  return (status, certificate) => {
    try {
      const c = describeCertificate(certificate);
      const note = limiter.pass(c.thumbprint);
      const untrusted = status.equals(StatusCodes.BadCertificateUntrusted);
      if (untrusted) prune();
      if (note === null) return;
      const who = `the OPC UA client certificate ${nameInLog(c.name)}${c.uri ? ` (application ${nameInLog(c.uri)})` : ''}, thumbprint ${c.thumbprint}`;
      log.warn('opcua', untrusted
        ? `refused ${who}: it is not in the trust list. If this client may read the ServiceLevel, trust it: ${trustCommand(trust.rejectedFolder, trust.trustedFolder, c.thumbprint)} ` +
          `(its next attempt is accepted, no restart needed)${note}`
        : `refused ${who}: ${status.name} (${status.description})${note}`);
    } catch (e) {
      log.warn('opcua', `refused a client certificate, and could not describe it: ${(e as Error).message}`);
    }
  };
}
