/**
 * The relayed path, in one process (no real nodes): a node's Relay asks the target alone for its
 * status, its admin API serves that as `GET /domain?server=X` (bounded input, 400 and 404), and
 * the CLI's `duplex <command> --server X` through another node's relay reads the domain file
 * once and has only X asked, over a fake of the domain's channel (PeerCall) that records every
 * call. Older nodes (no `server=`, or no `/domain` at all) are answered as before.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DomainFile } from '../../main/cli/domain-file';
import { anyDomainView, sendCommand, statusOf } from '../../main/cli/reach';
import { initDomain } from '../../main/domain/init';
import { loadDomain } from '../../main/domain/load';
import { UnknownServerError } from '../../main/domain/location';
import { adminRequest, NoNodeError, type AdminEndpoint } from '../../main/node/admin-client';
import { AdminServer } from '../../main/node/admin-server';
import { Refusals } from '../../main/node/doors';
import { nodePaths } from '../../main/node/paths';
import { Relay, servePeers, type PeerCall } from '../../main/node/relay';
import { contractApi } from '../../main/node/status';
import type { Command, CommandOutcome, DomainView } from '../../main/ui/contract';
import { readCapped } from '../../main/util/capped';
import { silentLogger } from '../../main/util/logger';
import { tempDir } from '../fixtures/temp';
import { view } from './status-fixture';

const CLI = join(__dirname, '..', '..', 'main', 'cli.js');
const COUNT_READS = join(__dirname, '..', 'fixtures', 'count-reads.js');

/**
 * The other servers' nodes as the domain's channel reaches them: each answers `status` and
 * `command` as servePeers does on a real node; every call is recorded as "<server> <op>".
 */
function peers(names: string[], unreachable: string[] = []) {
  const calls: string[] = [];
  const ran: { server: string; cmd: Command }[] = [];
  const serve = new Map(names.map((server) => [server, servePeers({
    server,
    status: () => view({ server }),
    command: async (cmd) => (ran.push({ server, cmd }), { ok: true, message: `${server} is Active (epoch 4)` }),
  }, silentLogger)]));
  const call: PeerCall = async (server, req) => {
    calls.push(`${server} ${String(req.op)}`);
    if (unreachable.includes(server)) throw new Error('no answer within 500 ms');
    const answer = serve.get(server)?.(req, '127.0.0.1');
    if (!answer) throw new Error(`${server} has not been heard on the redundancy network since this node started`);
    return answer;
  };
  return { call, calls, ran };
}

/** A node's Relay for `self`, whose domain file has `servers`. */
function relayOf(self: string, servers: string[], call: PeerCall): Relay {
  const local = { server: self, status: () => view({ server: self }), command: async (): Promise<CommandOutcome> => ({ ok: true, message: `${self} done` }) };
  return new Relay(local, () => servers, call, silentLogger);
}

describe('a node relays to one server: only that server is asked', () => {
  it('the view of one server asks that server alone; the whole domain view asks every other server', async () => {
    const p = peers(['a', 'b']);
    const relay = relayOf('c', ['a', 'b', 'c'], p.call);
    const one = await relay.domain('plant', 500, 'b');
    assert.deepEqual(p.calls, ['b status']);
    assert.deepEqual(one.servers.map((s) => [s.server, s.status?.server, s.error]), [['b', 'b', null]]);
    assert.equal(one.from, 'c');
    p.calls.length = 0;
    const own = await relay.domain('plant', 500, 'c');
    assert.deepEqual(p.calls, [], 'its own status is not asked over the channel');
    assert.equal(own.servers[0]!.status!.server, 'c');
    const all = await relay.domain('plant', 500);
    assert.deepEqual(p.calls.sort(), ['a status', 'b status']);
    assert.deepEqual(all.servers.map((s) => s.server), ['a', 'b', 'c']);
  });

  it('a server the domain file does not have asks nobody; one that does not answer says why', async () => {
    const p = peers(['a', 'b'], ['b']);
    const relay = relayOf('c', ['a', 'b', 'c'], p.call);
    await assert.rejects(relay.domain('plant', 500, 'zz'), (e: Error) => e instanceof UnknownServerError && /^server "zz" is not in the domain file of c; its servers are: a, b, c$/.test(e.message));
    assert.deepEqual(p.calls, []);
    const frozen = await relay.domain('plant', 500, 'b');
    assert.deepEqual(frozen.servers, [{ server: 'b', status: null, error: 'no answer within 500 ms' }]);
    assert.deepEqual(p.calls, ['b status']);
  });

  it('a relayed command goes to its target alone', async () => {
    const p = peers(['a', 'b']);
    const relay = relayOf('c', ['a', 'b', 'c'], p.call);
    assert.deepEqual(await relay.command({ kind: 'activate' }, 'b', 1_000), { ok: true, message: 'b is Active (epoch 4)' });
    assert.deepEqual(p.calls, ['b command']);
  });
});

/** The admin API of node `self` (a Relay over `call`), its endpoint written where the CLI finds it for `domainFile`. */
async function adminOf(domainFile: string, self: string, servers: string[], call: PeerCall): Promise<AdminServer> {
  const paths = nodePaths(loadDomain(domainFile), self);
  mkdirSync(paths.dir, { recursive: true });
  const relay = relayOf(self, servers, call);
  const api = contractApi({
    status: () => view({ server: self }), running: () => true, command: async () => ({ ok: true, message: `${self} done` }),
    onRoleChange: () => () => undefined, relay, domain: () => 'plant', relayWaitMs: () => 1_000,
  });
  return AdminServer.start({ endpointFile: paths.admin, tokenFile: paths.adminToken, api, port: 0, log: silentLogger, refusals: new Refusals(silentLogger) });
}

describe('the admin API: GET /domain?server=X', () => {
  let admin: AdminServer;
  const p = peers(['a', 'b']);
  before(async () => {
    const file = join(tempDir('duplex-relay-api-'), 'plant.yaml');
    initDomain({ file, servers: ['a', 'b', 'c'], anyAdminPort: true });
    admin = await adminOf(file, 'c', ['a', 'b', 'c'], p.call);
  });
  after(() => admin.close());
  const get = (path: string) => adminRequest(admin.endpoint, 'GET', path, undefined, 2_000);

  it('answers X\'s own status alone, asked of X only', async () => {
    p.calls.length = 0;
    const r = await get('/domain?server=b&timeoutMs=500');
    assert.equal(r.status, 200);
    const v = r.body as DomainView;
    assert.deepEqual({ domain: v.domain, from: v.from, servers: v.servers.map((s) => s.server) }, { domain: 'plant', from: 'c', servers: ['b'] });
    assert.equal(v.servers[0]!.status!.server, 'b');
    assert.deepEqual(p.calls, ['b status']);
  });

  it('without it, every server, as before', async () => {
    p.calls.length = 0;
    const v = (await get('/domain')).body as DomainView;
    assert.deepEqual(v.servers.map((s) => s.server), ['a', 'b', 'c']);
    assert.deepEqual(p.calls.sort(), ['a status', 'b status']);
  });

  it('a server that is not a name, or more than one, is 400; one the domain file does not have is 404 with its servers; none is asked', async () => {
    p.calls.length = 0;
    for (const q of ['server=', 'server=..%2Fx', `server=${'a'.repeat(64)}`, 'server=a&server=b', 'server=%00', 'server=b&timeoutMs=0']) {
      const r = await get(`/domain?${q}`);
      assert.equal(r.status, 400, q);
      assert.match((r.body as { message: string }).message, q.includes('timeoutMs') ? /timeoutMs must be/ : /^server must be one server's name/, q);
    }
    const r = await get('/domain?server=zz');
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { ok: false, message: 'server "zz" is not in the domain file of c; its servers are: a, b, c', servers: ['a', 'b', 'c'] });
    assert.deepEqual(p.calls, []);
  });
});

describe('the CLI\'s relayed path: the domain file read once, only the target asked', () => {
  let dir: string;
  let file: string;
  let admin: AdminServer | null = null;
  const p = peers(['a', 'b']);
  before(() => {
    dir = tempDir('duplex-relay-cli-');
    file = join(dir, 'plant.yaml');
    initDomain({ file, servers: ['a', 'b', 'c'], anyAdminPort: true });
  });
  after(() => admin?.close());
  /** The domain file of one command, counting its reads. */
  const counted = () => {
    const reads = { n: 0 };
    return { reads, domain: new DomainFile(file, (f, max) => (reads.n++, readCapped(f, max))) };
  };

  it('a command for b, relayed by the node of c (b has no node here): one read, and c asks b alone (its status, then the command)', async () => {
    admin = await adminOf(file, 'c', ['a', 'b', 'c'], p.call);
    p.calls.length = 0;
    const { reads, domain } = counted();
    const sent = await sendCommand({ file: domain, server: 'b', timeoutMs: 2_000 }, { kind: 'activate' });
    assert.deepEqual(sent, { outcome: { ok: true, message: 'b is Active (epoch 4)' }, relayedBy: 'c' });
    assert.equal(reads.n, 1, 'the domain file is read once');
    assert.deepEqual(p.calls, ['b status', 'b command'], 'a is never asked');
    assert.deepEqual(p.ran, [{ server: 'b', cmd: { kind: 'activate' } }]);
  });

  it('a relayed status: one read, b alone asked; status --all still asks every server', async () => {
    p.calls.length = 0;
    const one = counted();
    const s = await statusOf({ file: one.domain, server: 'b', timeoutMs: 2_000 });
    assert.equal(s.relayedBy, 'c');
    assert.equal(s.status.server, 'b');
    assert.equal(one.reads.n, 1);
    assert.deepEqual(p.calls, ['b status']);
    p.calls.length = 0;
    const all = counted();
    const v = await anyDomainView(all.domain, undefined, 2_000);
    assert.deepEqual(v.servers.map((x) => x.server), ['a', 'b', 'c']);
    assert.equal(all.reads.n, 1);
    assert.deepEqual(p.calls.sort(), ['a status', 'b status']);
  });

  it('the whole duplex activate process opens the domain file once and stats it never', async () => {
    p.calls.length = 0;
    const child = spawn(process.execPath, ['-r', COUNT_READS, CLI, 'activate', '--domain', file, '--server', 'b', '--timeout', '3000'], { env: { ...process.env, DUPLEX_COUNT_FILE: file } });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    const stderr = Buffer.concat(err).toString();
    assert.equal(code, 0, stderr);
    assert.equal(Buffer.concat(out).toString(), 'b is Active (epoch 4) (relayed by c)\n');
    assert.deepEqual(JSON.parse(/file calls (.*)\n$/.exec(stderr)![1]!), { open: 1, readFile: 0, stat: 0 });
    assert.deepEqual(p.calls, ['b status', 'b command']);
  });

  it('a relay whose domain file lacks the target says so, with its servers, and sends nothing', async () => {
    await admin!.close();
    admin = await adminOf(file, 'c', ['a', 'c'], p.call);
    p.calls.length = 0;
    await assert.rejects(sendCommand({ file: counted().domain, server: 'b', timeoutMs: 2_000 }, { kind: 'activate' }),
      (e: Error) => e instanceof UnknownServerError && e.message === 'server "b" is not in the domain file of the node of c; its servers are: a, c');
    assert.deepEqual(p.calls, []);
  });

  it('a relay that cannot reach the target: no answer, and the command is not sent', async () => {
    await admin!.close();
    const frozen = peers(['a', 'b'], ['b']);
    admin = await adminOf(file, 'c', ['a', 'b', 'c'], frozen.call);
    await assert.rejects(sendCommand({ file: counted().domain, server: 'b', timeoutMs: 2_000 }, { kind: 'activate' }),
      (e: Error) => e instanceof NoNodeError && /no node of this machine relays to it \(tried c \(b cannot be reached from the node of c: no answer within 500 ms\)\)/.test(e.message));
    assert.deepEqual(frozen.calls, ['b status']);
  });

  /** A node of an older Duplex for c: `routes` answers its admin calls; the calls it got are recorded. */
  async function olderNode(routes: (method: string, url: string) => { status: number; body: unknown }) {
    await admin?.close();
    admin = null;
    const got: string[] = [];
    const server: Server = createServer((req, res) => {
      req.resume();
      req.once('end', () => {
        got.push(`${req.method} ${req.url}`);
        const r = routes(req.method ?? '', req.url ?? '');
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(JSON.stringify(r.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const endpoint: AdminEndpoint = { pid: process.pid, port: (server.address() as AddressInfo).port, token: 'x' };
    writeFileSync(nodePaths(loadDomain(file), 'c').admin, JSON.stringify(endpoint));
    return { got, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  it('a node older than server= answers with every server: the target\'s entry is taken from it', async () => {
    const all: DomainView = { domain: 'plant', from: 'c', servers: ['a', 'b', 'c'].map((server) => ({ server, status: view({ server }), error: null })) };
    const old = await olderNode((method) => (method === 'GET' ? { status: 200, body: all } : { status: 200, body: { ok: true, message: 'b is Active (epoch 4)' } }));
    try {
      const sent = await sendCommand({ file: counted().domain, server: 'b', timeoutMs: 2_000 }, { kind: 'activate' });
      assert.equal(sent.relayedBy, 'c');
      assert.equal(old.got.length, 2);
      assert.match(old.got[0]!, /^GET \/domain\?timeoutMs=\d+&server=b$/);
      assert.equal(old.got[1], 'POST /command');
    } finally {
      await old.close();
    }
  });

  it('a node without GET /domain is too old to relay: refused, the command is not sent', async () => {
    const old = await olderNode(() => ({ status: 404, body: { ok: false, message: 'no such admin call: GET /domain (there are GET /status and POST /command)' } }));
    try {
      await assert.rejects(sendCommand({ file: counted().domain, server: 'b', timeoutMs: 2_000 }, { kind: 'activate' }), /the node of c runs an older Duplex than this command/);
      assert.equal(old.got.length, 1);
      assert.match(old.got[0]!, /^GET \/domain\?/);
    } finally {
      await old.close();
    }
  });
});
