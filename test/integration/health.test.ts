/**
 * Health probes with real nodes: a PLC link (an OPC UA server the test runs) lost on the
 * Active moves the role to the Standby (rated failover) without failback; an isolated
 * Standby does not promote; the application's report-failure; the SQL Server probe's
 * failures within its timeout (no SQL Server here: a refusing and a silent port).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Cluster, runCli, sleep, waitFor, waitForRoles } from './cluster';
import { FakePlc } from '../fixtures/plc';
import { createProbe } from '../../main/probes/probes';
import { AttributeIds, OPCUAClient } from 'node-opcua';

const port = () => 21_000 + Math.floor(Math.random() * 30_000);

/**
 * Two servers, each probing its own "PLC" (as when each reaches the PLC through its own
 * card), rated failover after `holdMs`. The PLCs start before the tests and stop after.
 */
function plcDomain(probe: Record<string, unknown>, holdMs: number) {
  const plcA = new FakePlc(port());
  const plcB = new FakePlc(port());
  const entry = (name: string, server: string, plc: FakePlc) => ({ name, kind: 'opcua', endpoint: plc.endpoint, nodeId: FakePlc.NODE, weight: 100, ...probe, servers: [server] });
  const c = new Cluster(['a', 'b'], { extra: `probes: ${JSON.stringify([entry('plc-a', 'a', plcA), entry('plc-b', 'b', plcB)])}\nhealth: { marginPoints: 50, holdMs: ${holdMs} }` });
  before(() => Promise.all([plcA.start(), plcB.start()]).then(() => undefined));
  after(async () => {
    await c.stop();
    await Promise.all([plcA.stop(), plcB.stop()]);
  });
  return { plcA, plcB, c };
}

describe('PLC link lost on the Active: rated failover', () => {
  const { plcA, c } = plcDomain({ requireChange: true, intervalMs: 250, timeoutMs: 1000 }, 1000);

  it('both healthy at 255 with their PLC', async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
    await waitFor('both healthy', 15_000, async () => ((await c.status('a')).health.score === 255 && (await c.status('b')).health.score === 255 ? true : undefined), 100);
    const a = await c.status('a');
    assert.deepEqual(a.health.probes.map((p) => [p.name, p.kind, p.ok]), [['plc-a', 'opcua', true]]);
    assert.equal(a.peers[0]!.health, 255);
    assert.equal(a.role, 'active', 'no handover while the probes were starting (no data is not bad data)');
  });

  it("stopping the Active's PLC drops its score and hands over to the Standby; the PLC back does not fail back", async () => {
    const t0 = performance.now();
    await plcA.stop();
    await waitFor('b Active', 15_000, async () => ((await c.status('b')).role === 'active' ? true : undefined), 50);
    const took = performance.now() - t0;
    const a = await c.status('a');
    assert.equal(a.role, 'standby');
    assert.equal(a.health.score, 155);
    assert.match(a.health.failing!, /^plc-a: opc\.tcp:\/\/127\.0\.0\.1:\d+: /);
    assert.ok(a.events.some((e) => /rated failover: health 155 here \(plc-a: .*\), 255 on b, for 1000 ms: handing over to b/.test(e.reason)), JSON.stringify(a.events));
    assert.ok(took >= 1000, `not before the hold time (${took} ms)`);
    await plcA.start();
    await waitFor('a healthy again', 15_000, async () => ((await c.status('a')).health.score === 255 ? true : undefined), 100);
    await sleep(2_500);
    assert.equal((await c.status('b')).role, 'active', 'no failback');
    assert.equal((await c.status('a')).role, 'standby');
  });

  it('report-failure from the application hands over to the healthy Standby', async () => {
    const r = await runCli(['report-failure', '--domain', c.file, '--server', 'b', '--reason', 'database connection lost']);
    assert.equal(r.code, 0, r.stderr);
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
    const b = await c.status('b');
    assert.ok(b.events.some((e) => /the application reported a failure \(database connection lost\): handing over to a/.test(e.reason)));
    const usage = await runCli(['report-failure', '--domain', c.file, '--server', 'a']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /needs --reason/);
  });
});

describe('an isolated Standby', () => {
  // Nothing listens on this port: the witness is unreachable from both servers.
  const dead = port();
  const c = new Cluster(['a', 'b'], {
    extra: `probes: [{ name: gateway, kind: witness, address: 127.0.0.1, method: tcp, port: ${dead}, intervalMs: 200, timeoutMs: 500 }]`,
  });
  after(() => c.stop());

  it('keeps a healthy-enough Active running while it hears its Standby, and does not promote itself when the Active goes silent', async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
    const b = await waitFor('b to see itself isolated', 10_000, async () => {
      const s = await c.status('b');
      return s.health.isolated ? s : undefined;
    }, 100);
    assert.match(b.health.isolated!, /^gateway: 127\.0\.0\.1:\d+ unreachable/);
    await sleep(1_500);
    assert.equal((await c.status('a')).role, 'active', 'the witness alone does not stop the Active');
    // A machine crash: a's guardian dies too, so no release says that a's runtime is stopped.
    (await c.crasher('a'))();
    await sleep(3_000);
    const after = await c.status('b');
    assert.equal(after.role, 'standby', 'b may be the one cut off: it does not take over');
    assert.equal(after.peers[0]!.role, 'unreachable');
  });
});

describe('SQL Server probe (no SQL Server on this machine)', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  let silentPort = 0;
  before(async () => {
    silent = createServer((s) => sockets.push(s)); // accepts, never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    silentPort = (silent.address() as { port: number }).port;
  });
  after(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const sql = (p: number) => createProbe({ name: 'db', kind: 'mssql', server: '127.0.0.1', port: p, query: 'SELECT 1', encrypt: false, trustServerCertificate: true, intervalMs: 1000, timeoutMs: 1500, weight: 100 },
    { dataDir: '/', interfaceAddress: '127.0.0.1', linkUp: () => true, resolvePath: (x) => x });

  it('a refusing port fails at once, naming the server', async () => {
    const p = sql(port());
    const t0 = performance.now();
    const r = await p.check();
    await p.close();
    assert.equal(r.ok, false);
    assert.match(r.detail, /^127\.0\.0\.1:\d+: .*(ECONNREFUSED|Failed to connect)/);
    assert.ok(performance.now() - t0 < 1_500 + 500);
  });

  it('a port that accepts but never answers fails within the timeout', async () => {
    const p = sql(silentPort);
    const t0 = performance.now();
    const r = await p.check();
    const took = performance.now() - t0;
    await p.close();
    assert.equal(r.ok, false);
    assert.match(r.detail, new RegExp(`^127\\.0\\.0\\.1:${silentPort}: .*(no answer within 1500 ms|Failed to connect .* in 1500ms|timeout)`, 'i'));
    assert.ok(took >= 1_000 && took < 1_500 + 2_000, `failed after ${took} ms`);
  });
});

describe('OPC UA redundancy: clients see which server to use', () => {
  // reads over SecurityPolicy None, as before the endpoint became secure by default (the trust
  // list, the policies and the limits are tested in opcua-security.test.ts)
  const c = new Cluster(['a', 'b'], { extra: 'opcuaServer: { port: 0, allowUnsecured: true }' });
  after(() => c.stop());

  /** What an OPC UA client reads from a node: ServiceLevel, RedundancySupport, ServerUriArray. */
  async function read(server: string): Promise<{ level: number; support: number; uris: string[] }> {
    const endpoint = (await c.status(server)).opcua!.endpoint;
    const client = OPCUAClient.create({ endpointMustExist: false, connectionStrategy: { maxRetry: 0 } });
    await client.connect(endpoint);
    try {
      const session = await client.createSession();
      const [level, support] = await session.read([{ nodeId: 'ns=0;i=2267', attributeId: AttributeIds.Value }, { nodeId: 'ns=0;i=3709', attributeId: AttributeIds.Value }]);
      const path = await session.translateBrowsePath({
        startingNode: 'ns=0;i=2253',
        relativePath: { elements: ['ServerRedundancy', 'ServerUriArray'].map((name) => ({ referenceTypeId: 'ns=0;i=33', isInverse: false, includeSubtypes: true, targetName: { namespaceIndex: 0, name } })) },
      });
      const uris = await session.read({ nodeId: path.targets![0]!.targetId, attributeId: AttributeIds.Value });
      await session.close();
      return { level: level!.value.value as number, support: support!.value.value as number, uris: uris.value.value as string[] };
    } finally {
      await client.disconnect();
    }
  }

  it('the Active serves ServiceLevel >= 200, the Standby less; a switchover swaps them', async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby' }, 15_000);
    await waitFor('both OPC UA endpoints', 15_000, async () => ((await c.status('a')).opcua && (await c.status('b')).opcua ? true : undefined), 200);
    const [a, b] = [await read('a'), await read('b')];
    assert.ok(a.level >= 200, `Active a: ServiceLevel ${a.level}`);
    assert.ok(b.level >= 2 && b.level < 200, `Standby b: ServiceLevel ${b.level}`);
    assert.equal(a.support, 3, 'RedundancySupport Hot');
    assert.deepEqual(a.uris, ['urn:duplex:plant:a', 'urn:duplex:plant:b']);
    assert.deepEqual(b.uris, a.uris);
    const r = await runCli(['activate', '--domain', c.file, '--server', 'b']);
    assert.equal(r.code, 0, r.stderr);
    const [a2, b2] = [await read('a'), await read('b')];
    assert.ok(b2.level >= 200 && a2.level < 200, `after the switchover: a ${a2.level}, b ${b2.level}`);
  });
});

describe('system and ping probes on this machine', () => {
  const ctx = { dataDir: '/tmp', interfaceAddress: '127.0.0.1', linkUp: () => true, resolvePath: (x: string) => x };
  const common = { intervalMs: 1000, timeoutMs: 5000, weight: 100 };

  it('the system probe passes within sane limits and names what is wrong otherwise', async () => {
    const ok = await createProbe({ ...common, name: 'system', kind: 'system', minFreeDiskMB: 1, maxMemoryPercent: 100, maxEventLoopDelayMs: 10_000 }, ctx).check();
    assert.equal(ok.ok, true, ok.detail);
    assert.match(ok.detail, /^disk \d+ MB free, memory \d+ %$/);
    const full = await createProbe({ ...common, name: 'system', kind: 'system', minFreeDiskMB: 1e12, maxMemoryPercent: 100, maxEventLoopDelayMs: 10_000 }, ctx).check();
    assert.equal(full.ok, false);
    assert.match(full.detail, /\d+ MB free on the disk of \/\S* \(need 1000000000000\)/);
    const down = await createProbe({ ...common, name: 'system', kind: 'system', minFreeDiskMB: 1, maxMemoryPercent: 100, maxEventLoopDelayMs: 10_000 }, { ...ctx, linkUp: () => false }).check();
    assert.deepEqual([down.ok, down.isolating], [false, true]);
    assert.match(down.detail, /the redundancy network card 127\.0\.0\.1 has no address/);
  });

  it('a ping witness: loopback answers, a TCP witness on a closed port does not', async () => {
    const ping = await createProbe({ ...common, name: 'gw', kind: 'witness', address: '127.0.0.1', method: 'ping' }, ctx).check();
    assert.equal(ping.ok, true, ping.detail);
    const tcp = await createProbe({ ...common, name: 'gw', kind: 'witness', address: '127.0.0.1', method: 'tcp', port: port() }, ctx).check();
    assert.deepEqual([tcp.ok, tcp.isolating], [false, true]);
    assert.match(tcp.detail, /^127\.0\.0\.1:\d+ unreachable \(.*ECONNREFUSED/);
  });
});

describe('a flapping PLC link', () => {
  const { plcA, c } = plcDomain({ intervalMs: 200, timeoutMs: 500 }, 6000);

  it('toggling faster than the hold time causes no switchover', async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby' }, 10_000);
    await waitFor('both healthy', 15_000, async () => ((await c.status('a')).health.score === 255 && (await c.status('b')).health.score === 255 ? true : undefined), 100);
    let dips = 0;
    for (let i = 0; i < 4; i++) {
      await plcA.stop();
      await waitFor('a to notice', 5_000, async () => ((await c.status('a')).health.score < 255 ? true : undefined), 50);
      dips += 1;
      await sleep(800);
      await plcA.start();
      await waitFor('a healthy again', 10_000, async () => ((await c.status('a')).health.score === 255 ? true : undefined), 50);
      assert.equal((await c.status('a')).role, 'active');
    }
    assert.equal(dips, 4);
    const a = await c.status('a');
    assert.equal(a.role, 'active');
    assert.ok(!a.events.some((e) => /rated failover/.test(e.reason)), 'never handed over');
  });
});
