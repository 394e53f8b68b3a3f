/**
 * The doors of a running domain under attack (issue 21): three real nodes on loopback, and
 * every attack that once stopped a node or moved the Active role — malformed requests and
 * upgrades, floods of the metrics, page and status doors, oversized and unmasked WebSocket
 * frames, an aborted body, lines forged through a command's reason, idle connections held on
 * the sync port, a 50 MB domain file. After each: every node
 * runs, no role, epoch or role event changed, and the Active's heartbeats (heard on the
 * multicast group, as a peer hears them) never stopped for the failure timeout. The bounds
 * catch hangs; the figures are bench:doors'.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import WebSocket from 'ws';
import { DEFAULT_TIMINGS, SYNC_HANDSHAKE_TIMEOUT_MS } from '../../main/defaults';
import { loadDomain } from '../../main/domain/load';
import { askNode, readEndpoint, type AdminEndpoint } from '../../main/node/admin-client';
import { nodePaths } from '../../main/node/paths';
import type { DomainView, StatusView } from '../../main/ui/contract';
import { Cluster, sleep, waitFor, waitForRoles } from './cluster';
import { flood, get, hold, raw, socketEnd } from './attacks';
import { HeartbeatTap, type Gaps } from './heartbeats';

describe('the doors of three real nodes under attack', () => {
  const c = new Cluster(['a', 'b', 'c'], {
    extra: 'metrics: { port: 0 }',
    runtime: { processes: [{ name: 'scada', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }] },
  });
  let tap: HeartbeatTap;
  let roles: Record<string, string>;
  const settled = new Map<string, { epoch: number; events: number; pid: number }>();
  const endpoint = (s: string): AdminEndpoint => readEndpoint(nodePaths(loadDomain(c.file), s).admin);
  const logOf = (s: string) => readFileSync(join(c.dir, 'duplex-state', s, 'logs', 'duplex.log'), 'utf8');
  const gapsSeen: { attack: string; gaps: Gaps }[] = [];

  before(async () => {
    c.startAll();
    roles = await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 15_000);
    tap = await HeartbeatTap.open(c.group, c.port, 'plant', join(c.dir, 'duplex.secret'));
    for (const s of c.servers) {
      const st = await c.status(s);
      settled.set(s, { epoch: st.epoch, events: st.events.length, pid: st.pid });
    }
  });
  after(async () => {
    await tap?.close();
    for (const g of gapsSeen) process.stdout.write(`# ${g.attack}: the Active's heartbeat gap p50 ${g.gaps.p50.toFixed(0)} ms, p99 ${g.gaps.p99.toFixed(0)} ms, max ${g.gaps.max.toFixed(0)} ms (${g.gaps.count} heartbeats)\n`);
    await c.stop();
  });

  /**
   * Runs `fn` as an attack, then: every node runs (the same process), the roles, epochs and role
   * events are as they were, and the Active's heartbeats never paused for the failure timeout.
   */
  async function attack(name: string, fn: () => Promise<void>): Promise<void> {
    await tap.mark();
    await fn();
    await sleep(300);
    for (const s of c.servers) {
      assert.equal(c.nodes.get(s)!.proc.exitCode, null, `${s} exited during ${name}: ${c.nodes.get(s)!.output.slice(-5).join('\n')}`);
    }
    assert.deepEqual(await c.roles(), roles, `roles after ${name}`);
    for (const s of c.servers) {
      const st = await c.status(s);
      const was = settled.get(s)!;
      assert.deepEqual({ epoch: st.epoch, events: st.events.length, pid: st.pid }, was, `${s} after ${name}: ${JSON.stringify(st.events.slice(was.events))}`);
    }
    const gaps = await tap.gaps('a');
    gapsSeen.push({ attack: name, gaps });
    assert.ok(gaps.count > 0, `no heartbeat of a heard during ${name}`);
    assert.ok(gaps.max < DEFAULT_TIMINGS.failureTimeoutMs, `${name}: the Active's heartbeats paused for ${gaps.max.toFixed(0)} ms`);
  }

  it('a malformed request target, garbage bytes, a huge header and a bad upgrade get 4xx; nobody stops', async () => {
    const { port, token } = endpoint('a');
    await attack('malformed requests', async () => {
      assert.match(await raw(port, 'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'), /^HTTP\/1\.1 401/);
      assert.match(await raw(port, `GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`), /^HTTP\/1\.1 404/);
      assert.match(await raw(port, `GET /domain?timeoutMs=%zz%%& HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`), /^HTTP\/1\.1 400/);
      assert.match(await raw(port, '\x16\x03\x01\x00\xff garbage\r\n\r\n'), /^HTTP\/1\.1 400/);
      assert.match(await raw(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431/);
      // Upgrades: Origin null (a sandboxed iframe), an unparseable origin, no or a wrong token, another path.
      const up = (target: string, origin: string | null) => raw(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${origin === null ? '' : `Origin: ${origin}\r\n`}\r\n`, { head: true });
      assert.match(await up('/ui/socket', 'null'), /^HTTP\/1\.1 401/);
      assert.match(await up(`/ui/socket?token=${token}`, 'null'), /^HTTP\/1\.1 403/);
      assert.match(await up(`/ui/socket?token=${token}`, 'http://[::1'), /^HTTP\/1\.1 403/);
      assert.match(await up(`/ui/socket?token=${token}`, 'http://evil.example'), /^HTTP\/1\.1 403/);
      assert.match(await up('//[?token=x', 'null'), /^HTTP\/1\.1 404/);
      assert.match(await up(`/ui/socket?token=${token}`, null), /^HTTP\/1\.1 101/);
    });
    const log = logOf('a');
    for (const code of ['401', '404', '400', '431']) assert.match(log, new RegExp(`warn \\[a\\] admin: refused ${code} `), `admin ${code} logged`);
    assert.match(log, /warn \[a\] socket: refused 403 \(a page of another origin\): 127\.0\.0\.1 \/ui\/socket from null/);
    await waitFor('the refusals in status', 5_000, async () => {
      const r = (await c.status('a')).refused;
      return r.admin?.['401'] === 1 && r.socket?.['403'] === 3 && r.socket['401'] === 1 ? true : undefined;
    }, 100);
  });

  it('1,000 concurrent scrapes of the metrics: one rendering a second, the rest wait or are refused', async () => {
    const url = (await c.status('a')).metrics!.url;
    let results: Record<string, number> = {};
    await attack('1,000 concurrent GET /metrics', async () => {
      results = await flood(1_000, () => get(url));
    });
    assert.ok((results['200'] ?? 0) > 0, JSON.stringify(results));
    assert.equal(Object.keys(results).filter((k) => !['200', '503', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED'].includes(k)).length, 0, JSON.stringify(results));
  });

  it('8,000 concurrent GETs of the status window\'s script, read once at start', async () => {
    const { port } = endpoint('a');
    let results: Record<string, number> = {};
    await attack('8,000 concurrent GET /app.js', async () => {
      results = await flood(8_000, () => get(`http://127.0.0.1:${port}/app.js`));
    });
    assert.ok((results['200'] ?? 0) > 0, JSON.stringify(results));
    assert.equal(Object.keys(results).filter((k) => !['200', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED'].includes(k)).length, 0, JSON.stringify(results));
  });

  it('2,000 concurrent authenticated GET /status: the status is a snapshot, requests in flight are bounded', async () => {
    const { port, token } = endpoint('a');
    let results: Record<string, number> = {};
    await attack('2,000 concurrent GET /status', async () => {
      results = await flood(2_000, () => get(`http://127.0.0.1:${port}/status`, { authorization: `Bearer ${token}` }));
    });
    assert.ok((results['200'] ?? 0) > 0, JSON.stringify(results));
    assert.equal(Object.keys(results).filter((k) => !['200', '503', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED'].includes(k)).length, 0, JSON.stringify(results));
  });

  it('a WebSocket frame over 16 KB and an unmasked frame end that socket only', async () => {
    const { port, token } = endpoint('a');
    const url = `ws://127.0.0.1:${port}/ui/socket?token=${token}`;
    await attack('oversized and unmasked frames', async () => {
      const big = new WebSocket(url);
      await new Promise((r) => big.once('open', r));
      const bigEnd = socketEnd(big);
      big.send('x'.repeat(20_000));
      assert.equal(await bigEnd, 'close 1009');
      // A client's frames must be masked: this one is not.
      const handshake = `GET /ui/socket?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
      const unmasked = Buffer.concat([Buffer.from(handshake), Buffer.from([0x81, 0x05]), Buffer.from('hello')]);
      const answer = await raw(port, unmasked);
      assert.match(answer, /^HTTP\/1\.1 101/);
      assert.ok(answer.includes('\x88'), 'the server closed the socket with a close frame');
      // A good client still works.
      const ok = new WebSocket(url);
      const first = await new Promise<string>((r) => ok.once('message', (d) => r(String(d))));
      assert.equal((JSON.parse(first) as { event: string; data: StatusView }).data.server, 'a');
      ok.close();
    });
    assert.match(logOf('a'), /warn \[a\] socket: refused frame \(a bad WebSocket frame\)/);
  });

  it('a body cut off mid-way, a body over 16 KB and a body that is not JSON', async () => {
    const { port, token } = endpoint('a');
    const head = (length: number) => `POST /command HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    await attack('aborted, oversized and broken bodies', async () => {
      await raw(port, `${head(1_000)}{"kind":`, { thenClose: true });
      assert.match(await raw(port, `${head(20_000)}${'x'.repeat(20_000)}`), /^HTTP\/1\.1 413/);
      assert.match(await raw(port, `${head(5)}{nope`), /^HTTP\/1\.1 400/);
    });
    assert.match(logOf('a'), /warn \[a\] admin: refused 413 /);
  });

  it('a reason with line breaks cannot forge a line in the log', async () => {
    const { port, token } = endpoint('b');
    const forged = 'disk\n2026-12-07 03:00:00.000 error [b] fence: FORGED line\r\u001b[2Jx';
    const body = JSON.stringify({ kind: 'report-failure', reason: forged });
    await raw(port, `POST /command HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    const log = logOf('b');
    assert.match(log, /the application reports a failure: disk\\n2026-12-07 03:00:00\.000 error \[b\] fence: FORGED line\\r\\u001b\[2Jx/);
    assert.doesNotMatch(log, /^2026-12-07 03:00:00\.000 error \[b\] fence: FORGED/m);
  });

  it('the sync port: 40 idle connections held on the Active\'s and 40 from an address of no server; a relayed status still goes through', async () => {
    const port = (await c.status('a')).sync.port;
    let view: DomainView | null = null;
    let waits: number[] = [];
    await attack('40 + 40 idle connections on the sync port', async () => {
      const held = [...hold(port, 40), ...hold(port, 40, '127.0.0.2')];
      await sleep(400);
      view = (await askNode(loadDomain(c.file), 'b', 'GET', '/domain', undefined, 5_000)).body as DomainView;
      const bound = SYNC_HANDSHAKE_TIMEOUT_MS + 2_000;
      waits = await Promise.all(held.map(async (h) => (await Promise.race([h.closedAt, sleep(bound).then(() => Infinity)])) - h.openedAt));
    });
    assert.equal(view!.servers.find((s) => s.server === 'a')?.error, null, JSON.stringify(view));
    assert.ok(Math.max(...waits) < SYNC_HANDSHAKE_TIMEOUT_MS + 1_500, `every held connection closed by the handshake timeout at the latest: ${Math.round(Math.max(...waits))} ms`);
    assert.match(logOf('a'), /warn \[a\] sync: refused not-a-peer .*: a connection from 127\.0\.0\.2/);
  });

  it('a valid 50 MB domain file copied over the Active\'s: refused from its size with one log line, at no cost per check', async () => {
    const good = readFileSync(c.file);
    const comment = `# ${'x'.repeat(97)}\n`;
    const big = good.toString('utf8').replace(/^# end of domain file/m, `${comment.repeat(Math.ceil((50 * 1024 ** 2) / comment.length))}# end of domain file`);
    let message: string | null = null;
    await attack('a 50 MB domain file for 10 s', async () => {
      writeFileSync(c.file, big);
      await sleep(10_000); // five periodic checks
      message = (await c.status('a')).sync.message;
      writeFileSync(c.file, good);
      await waitFor('the file in force again', 10_000, async () => ((await c.status('a')).sync.state === 'in-sync' ? true : undefined), 100);
    });
    assert.match(message ?? '', /is 52,\d{3},\d{3} bytes, above the 1 MB limit for a domain file/);
    assert.equal(logOf('a').match(/above the 1 MB limit for a domain file/g)?.length, 1, 'one line, not one per check');
    for (const s of c.servers) assert.equal((await c.status(s)).sync.revision.n, 0, `${s}: the revision in force stays`);
  });

  it('after all of it, a node stops cleanly on SIGTERM within its bound: exit 0, admin.json and node.lock gone', async () => {
    const paths = nodePaths(loadDomain(c.file), 'c');
    const n = c.nodes.get('c')!;
    n.proc.kill('SIGTERM');
    const code = await Promise.race([n.exited, sleep(20_000).then(() => 'still running')]);
    assert.equal(code, 0);
    assert.equal(existsSync(paths.admin), false, 'admin.json removed');
    assert.equal(existsSync(paths.lock), false, 'node.lock removed');
  });
});

describe('requests while a node starts', () => {
  const c = new Cluster(['s'], { extra: 'opcuaServer: { port: 0 }' });
  after(() => c.stop());

  it('malformed requests and upgrades from the moment the admin port listens until OPC UA is up: the node starts and answers', async () => {
    c.start('s');
    const paths = nodePaths(loadDomain(c.file), 's');
    const ep = await waitFor('the admin port', 30_000, async () => (existsSync(paths.admin) ? readEndpoint(paths.admin) : undefined), 5);
    let sent = 0;
    let up = false;
    const hammer = (async () => {
      while (!up) {
        await Promise.all([
          raw(ep.port, 'GET //[ HTTP/1.1\r\nHost: x\r\n\r\n'),
          raw(ep.port, `GET /ui/socket?token=${ep.token} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: null\r\n\r\n`),
        ]);
        sent += 2;
      }
    })();
    try {
      await waitFor('the OPC UA endpoint', 30_000, async () => ((await c.status('s')).opcua ? true : undefined), 50);
    } finally {
      up = true;
      await hammer;
    }
    assert.ok(sent >= 2, `${sent} requests sent`);
    assert.equal(c.nodes.get('s')!.proc.exitCode, null, c.nodes.get('s')!.output.join('\n'));
    assert.equal((await c.status('s')).role, 'active');
  });
});

describe('the admin port', () => {
  const c = new Cluster(['p']);
  after(() => c.stop());

  it('taken by another program: the node does not start, and says which program holds it; adminPort: 0 takes any free port', async () => {
    const squatter = createServer(() => undefined);
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const held = (squatter.address() as AddressInfo).port;
    try {
      writeFileSync(c.file, readFileSync(c.file, 'utf8').replace(/adminPort: 0\b/, `adminPort: ${held}`));
      const n = c.start('p');
      assert.equal(await Promise.race([n.exited, sleep(20_000).then(() => 'still running')]), 1);
      const out = n.output.join('\n');
      assert.match(out, new RegExp(`the admin port 127\\.0\\.0\\.1:${held} is taken by pid ${process.pid} \\(.*\\); this node does not start, because a program there could pose as the status window`), out);
      assert.match(out, /adminPort: 0 for any free port/);
    } finally {
      squatter.close();
    }
    writeFileSync(c.file, readFileSync(c.file, 'utf8').replace(new RegExp(`adminPort: ${held}\\b`), 'adminPort: 0'));
    c.start('p');
    await waitForRoles(c, { p: 'active' }, 15_000);
  });
});
