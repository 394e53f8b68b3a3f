/**
 * The OPC UA face of a Duplex node, for non-transparent redundancy: OPC UA clients (HMIs,
 * historians, gateways) connect to every server of the domain and use the one with the
 * highest Server.ServiceLevel. Each node serves its live level, RedundancySupport = Hot
 * and ServerRedundancy.ServerUriArray listing the domain's servers.
 */
import { join } from 'node:path';
import { DataType, OPCUACertificateManager, OPCUAServer, QualifiedName, EnumRedundancySupport, Variant, VariantArrayType, type UAObject, type UAVariable } from 'node-opcua';
import { VERSION } from '../version';

/** ns=0;i=2267 Server.ServiceLevel; ns=0;i=3709 Server.ServerRedundancy.RedundancySupport; ns=0;i=2296 Server.ServerRedundancy. */
const SERVICE_LEVEL = 'ns=0;i=2267';
const REDUNDANCY_SUPPORT = 'ns=0;i=3709';
const SERVER_REDUNDANCY = 'ns=0;i=2296';

export const serverUri = (domain: string, server: string) => `urn:duplex:${domain}:${server}`;

export interface RedundancyServerOptions {
  port: number;
  domain: string;
  server: string;
  servers: string[];
  /** Its own certificates live here. */
  pkiDir: string;
  serviceLevel: () => number;
}

export class RedundancyServer {
  private constructor(private readonly server: OPCUAServer, readonly port: number) {}

  static async start(o: RedundancyServerOptions): Promise<RedundancyServer> {
    const server = new OPCUAServer({
      port: o.port,
      resourcePath: '/UA/Duplex',
      allowAnonymous: true,
      serverCertificateManager: new OPCUACertificateManager({ rootFolder: join(o.pkiDir, 'own'), automaticallyAcceptUnknownCertificate: true }),
      userCertificateManager: new OPCUACertificateManager({ rootFolder: join(o.pkiDir, 'user'), automaticallyAcceptUnknownCertificate: true }),
      serverInfo: { applicationUri: serverUri(o.domain, o.server), productUri: 'urn:duplex', applicationName: { text: `Duplex ${o.domain} ${o.server}` } },
      buildInfo: { productName: 'Duplex', manufacturerName: 'Duplex', softwareVersion: VERSION, buildNumber: VERSION },
    });
    await server.initialize();
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
    return new RedundancyServer(server, server.endpoints[0]?.port ?? o.port);
  }

  get endpoint(): string {
    return this.server.getEndpointUrl();
  }

  async close(): Promise<void> {
    await this.server.shutdown(0);
  }
}
