/**
 * The node's OPC UA endpoint is secure by default (issue 21): it offers no SecurityPolicy None,
 * refuses a client certificate that is not in its trust folder (and logs the command that
 * trusts it: the test runs that very command), bounds sessions per client and in total with a
 * short timeout, and listens where `opcuaServer.address` says. Each endpoint runs in its own
 * thread as the node runs it (OpcuaThread), with the thread's log lines collected here.
 * OPC UA clients (node-opcua) connect on loopback only. Time bounds catch hangs, not speed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ApplicationType, AttributeIds, CreateSessionRequest, MessageSecurityMode, OPCUACertificateManager, OPCUAClient, SecurityPolicy, type ClientSession } from 'node-opcua';
import { OpcuaThread, type OpcuaThreadOptions } from '../../main/opcua/thread';
import type { Logger } from '../../main/util/logger';
import { sleep, waitFor } from './cluster';
import { tempDir } from '../fixtures/temp';

const TMP = tempDir('duplex-opcua-sec-');
const LEVEL = 222;

class Lines implements Logger {
  readonly lines: string[] = [];
  readonly file = null;
  info = (event: string, detail: string) => void this.lines.push(`info ${event}: ${detail}`);
  warn = (event: string, detail: string) => void this.lines.push(`warn ${event}: ${detail}`);
  error = (event: string, detail: string) => void this.lines.push(`error ${event}: ${detail}`);
  matching(re: RegExp): string[] {
    return this.lines.filter((l) => re.test(l));
  }

  /** The lines matching `re`, once there is one (a line from the endpoint's thread may arrive after the client's answer). */
  async awaiting(re: RegExp): Promise<string[]> {
    return waitFor(`a log line matching ${re}; got:\n${this.lines.join('\n')}\n`, 2_000, async () => (this.matching(re).length ? this.matching(re) : undefined));
  }
}

interface Endpoint { thread: OpcuaThread; log: Lines; url: string; port: number; pki: string }

async function startEndpoint(name: string, options: Partial<OpcuaThreadOptions>): Promise<Endpoint> {
  const log = new Lines();
  const pki = join(TMP, name);
  const thread = await OpcuaThread.start({
    port: 0, address: '127.0.0.1', allowUnsecured: false, maxSessions: 50, maxSessionsPerClient: 5,
    domain: 'plant', server: 'a', servers: ['a', 'b'], pkiDir: pki, ...options,
  }, log, (why) => log.error('opcua', `lost: ${why}`));
  thread.setLevel(LEVEL);
  return { thread, log, url: thread.endpoint, port: Number(new URL(thread.endpoint.replace('opc.tcp:', 'http:')).port), pki };
}

interface Security { mode: MessageSecurityMode; policy: SecurityPolicy }
const SECURE: Security = { mode: MessageSecurityMode.SignAndEncrypt, policy: SecurityPolicy.Basic256Sha256 };
const NONE: Security = { mode: MessageSecurityMode.None, policy: SecurityPolicy.None };

/**
 * An OPC UA client named `name`, with a certificate of its own (made at its first connection,
 * kept for the next ones). `abandons`: its disconnect leaves its sessions open on the server,
 * as a client that crashed or lost its cable does.
 */
function client(name: string, security: Security = SECURE, abandons = false): OPCUAClient {
  return OPCUAClient.create({
    keepPendingSessionsOnDisconnect: abandons,
    applicationName: name,
    clientCertificateManager: new OPCUACertificateManager({ rootFolder: join(TMP, `client-${name}`), automaticallyAcceptUnknownCertificate: true }),
    securityMode: security.mode,
    securityPolicy: security.policy,
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 0 },
    requestedSessionTimeout: 3_600_000, // asks an hour, as UaExpert or the .NET stack do
  });
}

const readLevel = async (session: ClientSession) => (await session.read({ nodeId: 'ns=0;i=2267', attributeId: AttributeIds.Value })).value.value as number;

/** Connects as `name`, reads ServiceLevel, closes its session and disconnects. */
async function serviceLevel(url: string, name: string, security: Security = SECURE): Promise<number> {
  const c = client(name, security);
  await c.connect(url);
  try {
    const session = await c.createSession();
    const level = await readLevel(session);
    await session.close();
    return level;
  } finally {
    await c.disconnect();
  }
}

/** The client's attempt fails; returns node-opcua's message. */
async function refused(url: string, name: string, security: Security = SECURE): Promise<string> {
  const c = client(name, security);
  try {
    await c.connect(url);
    await c.createSession();
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.disconnect().catch(() => undefined);
  }
  assert.fail(`${name} was let in`);
}

/** The endpoint's line about `name`'s refused certificate, and the command in it. */
async function trustLine(e: Endpoint, name: string): Promise<{ lines: string[]; thumbprint: string; command: string }> {
  const lines = await e.log.awaiting(new RegExp(`refused the OPC UA client certificate "${name}@`));
  const m = /thumbprint ([0-9a-f]{40}): it is not in the trust list\. If this client may read the ServiceLevel, trust it: (.+) \(its next attempt is accepted/.exec(lines[0] ?? '');
  assert.ok(m, `no line about ${name}'s certificate in:\n${e.log.lines.join('\n')}`);
  return { lines, thumbprint: m[1]!, command: m[2]! };
}

/**
 * Trusts `name` the other way the README gives: its own certificate copied into the trusted
 * folder. That counts only once the rejected copy is gone (a certificate in both is refused).
 */
async function trustByCopy(e: Endpoint, name: string): Promise<void> {
  await refused(e.url, name);
  const { thumbprint } = await trustLine(e, name);
  copyFileSync(join(TMP, `client-${name}`, 'own', 'certs', 'client_certificate.pem'), join(e.pki, 'own', 'trusted', 'certs', `${name}.pem`));
  await sleep(300); // the store sees the new file
  assert.match(await refused(e.url, name), /BadSecurityChecksFailed/, 'in trusted/certs and in rejected/: still refused');
  const rejected = join(e.pki, 'own', 'rejected');
  for (const f of readdirSync(rejected).filter((f) => f.includes(thumbprint))) rmSync(join(rejected, f));
  await waitFor(`${name} trusted`, 5_000, () => serviceLevel(e.url, name).catch(() => undefined), 100);
}

/** A CreateSession sent over a None channel (which the endpoint opens for discovery only), bypassing the client's own check; returns the fault. */
async function sessionOverNone(url: string): Promise<string> {
  const c = client('no-certificate', NONE) as unknown as OPCUAClient & { performMessageTransaction(r: CreateSessionRequest, cb: (e: Error | null, r?: unknown) => void): void };
  await c.connect(url);
  try {
    const request = new CreateSessionRequest({
      endpointUrl: url, sessionName: 'over None', requestedSessionTimeout: 10_000, clientNonce: randomBytes(32),
      clientDescription: { applicationUri: 'urn:test:no-certificate', applicationName: { text: 'no-certificate' }, applicationType: ApplicationType.Client },
    });
    const answer = await new Promise<unknown>((resolve) => c.performMessageTransaction(request, (e, r) => resolve(e ?? r)));
    return answer instanceof Error ? answer.message : `answered ${String(answer?.constructor?.name)}`;
  } finally {
    await c.disconnect();
  }
}

/** Whether a TCP connection to host:port is accepted. */
const accepts = (host: string, port: number) => new Promise<boolean>((resolve) => {
  const s = connect({ host, port });
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

after(() => rmSync(TMP, { recursive: true, force: true }));

describe('the OPC UA endpoint by default: trusted clients on a secured channel', { timeout: 120_000 }, () => {
  let e: Endpoint;
  // small limits and a 2 s session timeout, so that running out and expiring fit in a test
  before(async () => { e = await startEndpoint('secure', { maxSessions: 3, maxSessionsPerClient: 2, sessionTimeoutMaxMs: 2_000 }); });
  after(() => e.thread.close());

  it('GetEndpoints lists Sign and SignAndEncrypt with the three current policies, and no None', async () => {
    const c = client('discovery', NONE); // discovery needs no certificate
    await c.connect(e.url);
    const endpoints = await c.getEndpoints();
    await c.disconnect();
    const offered = endpoints.map((x) => `${MessageSecurityMode[x.securityMode]} ${x.securityPolicyUri?.split('#')[1]}`).sort();
    assert.deepEqual(offered, [
      'Sign Aes128_Sha256_RsaOaep', 'Sign Aes256_Sha256_RsaPss', 'Sign Basic256Sha256',
      'SignAndEncrypt Aes128_Sha256_RsaOaep', 'SignAndEncrypt Aes256_Sha256_RsaPss', 'SignAndEncrypt Basic256Sha256',
    ]);
    assert.ok(endpoints.every((x) => x.endpointUrl === e.url), 'every endpoint is advertised at the listening address');
    assert.match(await sessionOverNone(e.url), /BadSecurityModeRejected/, 'the endpoint refuses a session over None, even from a client that skips GetEndpoints');
    assert.match(e.log.lines[0] ?? '', /OPC UA listens on 127\.0\.0\.1, signed and encrypted channels only; clients are trusted by their certificate in .*\/secure\/own\/trusted\/certs/);
  });

  it('an unknown certificate is refused and logged once, with the command that trusts it; after the command the same client reads ServiceLevel', async () => {
    assert.match(await refused(e.url, 'hmi1'), /BadSecurityChecksFailed/);
    assert.match(await refused(e.url, 'hmi1'), /BadSecurityChecksFailed/, 'still refused at its second attempt');
    await sleep(500); // a second line would be here by now
    const { lines, thumbprint, command } = await trustLine(e, 'hmi1');
    assert.equal(lines.length, 1, `one line for two attempts:\n${lines.join('\n')}`);
    assert.match(lines[0]!, /^warn opcua: refused the OPC UA client certificate "hmi1@[^"]*" \(application "urn:[^"]*:hmi1"\), thumbprint /);
    const rejected = join(e.pki, 'own', 'rejected');
    assert.equal(readdirSync(rejected).filter((f) => f.includes(thumbprint)).length, 1, 'node-opcua kept it in the rejected folder');
    assert.equal(command, `mv '${rejected}'/*${thumbprint}*.pem '${join(e.pki, 'own', 'trusted', 'certs')}'/`);
    execFileSync('sh', ['-c', command]);
    assert.equal(readdirSync(rejected).filter((f) => f.includes(thumbprint)).length, 0);
    const level = await waitFor('hmi1 let in after the move', 5_000, () => serviceLevel(e.url, 'hmi1').catch(() => undefined), 100);
    assert.equal(level, LEVEL);
  });

  it('a trusted client reads ServiceLevel with every offered policy, signed or encrypted', async () => {
    for (const policy of [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss]) {
      for (const mode of [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt]) {
        assert.equal(await serviceLevel(e.url, 'hmi1', { mode, policy }), LEVEL, `${MessageSecurityMode[mode]} ${policy}`);
      }
    }
  });

  it('a client certificate copied into the trusted folder counts once it is gone from the rejected one', async () => {
    await trustByCopy(e, 'hmi2');
  });

  it('a client that abandons its sessions fills its own share only, is logged, and gets them back after the session timeout', async () => {
    // hmi2 opens its 2 sessions (asking an hour each, granted 2 s) and vanishes without closing them
    const a = client('hmi2', SECURE, true);
    await a.connect(e.url);
    const sessions = [await a.createSession(), await a.createSession()];
    assert.deepEqual(sessions.map((s) => s.timeout), [2_000, 2_000], 'the session timeout is capped');
    await a.disconnect();
    const abandonedAt = Date.now();
    assert.match(await refused(e.url, 'hmi2'), /BadTooManySessions/);
    const full = await e.log.awaiting(/OPC UA client 127\.0\.0\.1 \(certificate "hmi2@[^"]*", thumbprint [0-9a-f]{16}…\) already holds 2 sessions \(opcuaServer\.maxSessionsPerClient\): its new session is refused/);
    assert.equal(full.length, 1, e.log.lines.join('\n'));
    // another client still gets in
    const b = client('hmi1');
    await b.connect(e.url);
    try {
      const first = await b.createSession();
      assert.equal(await readLevel(first), LEVEL);
      // 3 of 3 taken now: the total limit refuses even a client below its share, and says who holds them
      await assert.rejects(b.createSession(), /BadTooManySessions/);
      assert.equal((await e.log.awaiting(/all 3 OPC UA sessions are taken \(opcuaServer\.maxSessions\): a new session from 127\.0\.0\.1 \(certificate "hmi1@.*Most are held by 127\.0\.0\.1 "hmi2@[^"]*" \(2\), 127\.0\.0\.1 "hmi1@[^"]*" \(1\)/)).length, 1, e.log.lines.join('\n'));
      await first.close();
    } finally {
      await b.disconnect();
    }
    // the abandoned sessions expire 2 s after their last request
    const level = await waitFor('hmi2 let in again', 8_000, () => serviceLevel(e.url, 'hmi2').catch(() => undefined), 200);
    assert.equal(level, LEVEL);
    const took = Date.now() - abandonedAt;
    assert.ok(took >= 1_500, `hmi2's abandoned sessions were freed after ${took} ms, before their 2 s timeout`);
  });

  it('a client refused again within a minute is not logged again', async () => {
    const before = e.log.matching(/already holds/).length;
    const a = client('hmi2', SECURE, true);
    await a.connect(e.url);
    // takes what is left of its share (one of its abandoned sessions may not have expired yet), then one more
    for (let i = 0; i < 2; i++) await a.createSession().catch(() => undefined);
    await assert.rejects(a.createSession(), /BadTooManySessions/);
    await a.disconnect();
    await sleep(500); // a line would be here by now
    assert.equal(e.log.matching(/already holds/).length, before, e.log.lines.join('\n'));
  });

  it('listens on 127.0.0.1 only: 127.0.0.2 (loopback too) is refused', async () => {
    assert.equal(await accepts('127.0.0.1', e.port), true);
    assert.equal(await accepts('127.0.0.2', e.port), false);
  });

  it('logs nothing it should not: no lost thread, no error', () => {
    assert.deepEqual(e.log.matching(/^error/), []);
  });
});

describe('the OPC UA endpoint with allowUnsecured and on every interface', { timeout: 120_000 }, () => {
  let e: Endpoint;
  before(async () => { e = await startEndpoint('unsecured', { allowUnsecured: true, address: '0.0.0.0' }); });
  after(() => e.thread.close());

  it('offers None beside the secure policies, and a client without a certificate reads ServiceLevel', async () => {
    const c = client('discovery', NONE);
    await c.connect(e.url.replace(/\/\/[^:/]+:/, '//127.0.0.1:'));
    const endpoints = await c.getEndpoints();
    await c.disconnect();
    const modes = endpoints.map((x) => `${MessageSecurityMode[x.securityMode]} ${x.securityPolicyUri?.split('#')[1]}`);
    assert.ok(modes.includes('None None'), modes.join(', '));
    assert.equal(modes.length, 7);
    assert.equal(await serviceLevel(e.url.replace(/\/\/[^:/]+:/, '//127.0.0.1:'), 'anyone', NONE), LEVEL);
    assert.match(e.log.lines[0] ?? '', /OPC UA listens on every interface, SecurityPolicy None allowed \(opcuaServer\.allowUnsecured: any client that reaches the port reads, in clear\)/);
  });

  it('listens on every interface: 127.0.0.2 is accepted too', async () => {
    assert.equal(await accepts('127.0.0.1', e.port), true);
    assert.equal(await accepts('127.0.0.2', e.port), true);
  });
});

describe('opcuaServer.address names no address of this machine', { timeout: 60_000 }, () => {
  it('the endpoint does not start, and the error names the field and the addresses', async () => {
    const local = Object.values(networkInterfaces()).flat().map((a) => a?.address);
    const nowhere = ['203.0.113.0/24', '198.51.100.0/24', '192.0.2.0/24'].find((n) => !local.some((a) => a?.startsWith(n.split('.').slice(0, 3).join('.') + '.')))!;
    await assert.rejects(startEndpoint('nowhere', { address: nowhere }),
      new RegExp(`the OPC UA endpoint could not start: opcuaServer\\.address ${nowhere.replace(/\./g, '\\.')} matches no address of this machine; its IPv4 addresses are .*127\\.0\\.0\\.1`));
  });
});
