/**
 * The sync port as a door (issue 21, item 2): held connections cannot stop sync or relayed
 * commands, a silent client is closed by the handshake timeout, an address that is no server
 * of the domain is closed before TLS, and garbage, oversized requests and cuts leave the node
 * up, with one log line per kind of trouble rather than one per connection. (The same doors
 * with the Active's heartbeats watched: doors.test.ts.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { connect as tlsConnect } from 'node:tls';
import { Cluster, waitFor, waitForRoles } from './cluster';
import { hold } from './attacks';
import { askNode } from '../../main/node/admin-client';
import { locateDomain } from '../../main/domain/load';
import { loadSecret } from '../../main/domain/secret';
import { request, syncKey } from '../../main/sync/wire';
import { SYNC_HANDSHAKE_TIMEOUT_MS } from '../../main/defaults';
import type { CommandOutcome } from '../../main/ui/contract';

describe('the sync port under held connections, strangers and garbage', () => {
  const c = new Cluster(['a', 'b'], { separate: true });
  const ask = (via: string, method: string, path: string, body?: unknown) => askNode(locateDomain(c.fileOf(via)).domain, via, method, path, body, 10_000);
  let port = 0;
  let key: Buffer;

  /** Waits until `server`'s status counts the sync port's refusals as `ok` wants (the status is a snapshot: it may lag a little). */
  const counted = (server: string, ok: (n: Record<string, number>) => boolean) =>
    waitFor(`${server}'s count of sync refusals`, 5_000, async () => (ok((await c.status(server)).refused.sync ?? {}) ? true : undefined), 100)
      .catch(async (e: Error) => assert.fail(`${e.message}: ${JSON.stringify((await c.status(server)).refused)}`));

  /** An edit of b's domain file; resolves once a has the same bytes, with how long it took. */
  async function editOnB(failback: string): Promise<number> {
    const text = readFileSync(c.fileOf('b'), 'utf8').replace(/^failback: \w+/m, `failback: ${failback}`);
    const t0 = performance.now();
    writeFileSync(c.fileOf('b'), text);
    await waitFor(`b's edit (failback: ${failback}) on a`, 15_000, async () => (readFileSync(c.fileOf('a'), 'utf8') === text ? true : undefined), 20);
    return performance.now() - t0;
  }

  before(async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby' }, 15_000);
    port = (await c.status('b')).sync.port;
    key = syncKey('plant', loadSecret(c.pathOf('b', 'duplex.secret')).secret);
  });
  after(() => c.stop());

  it('40 connections from an address that is no server of the domain are closed at once, before TLS, and logged once', async () => {
    const held = hold(port, 40, '127.0.0.2');
    const waits = await Promise.all(held.map(async (h) => (await h.closedAt) - h.openedAt));
    // Well before the 3 s handshake timeout, with room for a loaded machine.
    assert.ok(Math.max(...waits) < 2_000, `closed after ${Math.round(Math.max(...waits))} ms, not by a timeout`);
    await waitFor('the refusal in b\'s log', 5_000, async () => (/warn \[b\] sync: refused not-a-peer \(not an address of a server of this domain .*\): a connection from 127\.0\.0\.2; at most one such line a minute/.test(c.log('b')) ? true : undefined), 50);
    assert.equal(c.log('b').match(/from 127\.0\.0\.2/g)!.length, 1, 'one line for 40 refusals');
    await counted('b', (n) => n['not-a-peer'] === 40); // each one
    // Sync goes on meanwhile.
    await editOnB('auto');
  });

  it('40 idle connections from a server\'s own address: sync and a relayed command go on, and the held ones are closed by the handshake timeout', async () => {
    const held = hold(port, 40);
    await new Promise((r) => setTimeout(r, 400)); // held long enough to be taken for idle
    const synced = await editOnB('manual');
    const t0 = performance.now();
    const relayed = await ask('a', 'POST', '/command', { kind: 'activate', server: 'b' });
    const relayMs = performance.now() - t0;
    assert.equal(relayed.status, 200, JSON.stringify(relayed.body));
    assert.match((relayed.body as CommandOutcome).message, /^b is Active/);
    await waitForRoles(c, { a: 'standby', b: 'active' }, 10_000);
    const waits = await Promise.all(held.map(async (h) => (await h.closedAt) - h.openedAt));
    const byTimeout = waits.filter((w) => w >= SYNC_HANDSHAKE_TIMEOUT_MS - 100);
    assert.ok(Math.max(...waits) < SYNC_HANDSHAKE_TIMEOUT_MS + 1_500, `the last held connection was closed after ${Math.round(Math.max(...waits))} ms`);
    assert.ok(byTimeout.length > 0, 'some were closed by the handshake timeout');
    const log = c.log('b');
    assert.equal(log.match(/sync: refused handshake-timeout \(no TLS handshake within 3 s; closed\): a connection from 127\.0\.0\.1/g)?.length, 1, 'one line a minute, not one per connection');
    assert.equal(log.match(/sync: refused full \(.* are open and busy .*\): a connection from 127\.0\.0\.1/g)?.length, 1);
    await counted('b', (n) => (n.full ?? 0) + (n.evicted ?? 0) + (n['handshake-timeout'] ?? 0) === 40); // each held one, once
    console.log(`# sync of an edit with 40 held connections: ${Math.round(synced)} ms; relayed switchover: ${Math.round(relayMs)} ms; held closed after ${Math.round(Math.min(...waits))}-${Math.round(Math.max(...waits))} ms (${byTimeout.length} by the handshake timeout)`);
  });

  it('garbage, a request over the limit, a cut mid-request and a refused request leave the node up; TLS failures are one line, not a flood', async () => {
    const before = c.log('b').match(/failed the TLS handshake/g)?.length ?? 0;
    // Not TLS at all, 20 times (one after the other: 16 at once is the limit for one address).
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((r) => {
        const s = tcpConnect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
        s.on('error', () => undefined);
        s.once('close', () => r());
      });
    }
    const tls = () => tlsConnect({
      host: '127.0.0.1', port, ciphers: 'TLS_AES_128_GCM_SHA256', minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined, pskCallback: () => ({ psk: key, identity: 'duplex:plant' }),
    });
    // A request line over 8 KB: closed.
    await new Promise<void>((r) => {
      const s = tls();
      s.on('error', () => undefined);
      s.once('secureConnect', () => s.write('{"op":"'.padEnd(9 * 1024, 'x')));
      s.once('close', () => r());
    });
    // Cut in the middle of a request line (a reset, not a close).
    await new Promise<void>((r) => {
      const raw = tcpConnect({ host: '127.0.0.1', port });
      raw.on('error', () => undefined);
      const s = tlsConnect({ socket: raw, ciphers: 'TLS_AES_128_GCM_SHA256', minVersion: 'TLSv1.3', checkServerIdentity: () => undefined, pskCallback: () => ({ psk: key, identity: 'duplex:plant' }) });
      s.on('error', () => undefined);
      s.once('secureConnect', () => s.write('{"op":"revis', () => setTimeout(() => raw.resetAndDestroy(), 50)));
      raw.once('close', () => r());
    });
    // Not JSON, and a refused path: answered, not thrown.
    await assert.rejects(request({ host: '127.0.0.1', port, domain: 'plant', key, timeoutMs: 5_000 }, { op: 'file', path: '../../etc/passwd', hash: 'x' }), /refused/);
    // The node is up, answers, and still serves a real request.
    const res = await request({ host: '127.0.0.1', port, domain: 'plant', key, timeoutMs: 5_000 }, { op: 'revision' });
    res.body.destroy();
    assert.equal(typeof res.header.size, 'number');
    assert.equal((await c.status('b')).role, 'active');
    assert.equal(c.nodes.get('b')!.proc.exitCode, null);
    await waitFor('the TLS failure in b\'s log', 5_000, async () => ((c.log('b').match(/failed the TLS handshake/g)?.length ?? 0) > before ? true : undefined), 50);
    assert.equal(c.log('b').match(/failed the TLS handshake/g)!.length, before + 1, '20 failures, one line');
    assert.match(c.log('b'), /sync: refused request-too-large \(its request is over 8 KB; closed\): a connection from 127\.0\.0\.1/);
    await counted('b', (n) => n.tls === 20 && n['request-too-large'] === 1 && n.refused === 1); // the refused path is the one refused answer
  });
});

