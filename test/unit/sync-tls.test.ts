/**
 * The sync port's failed handshakes (issue 22, item 7): only a handshake that failed on the key
 * asks whether duplex.secret is the same everywhere. A client that went away during its
 * handshake (a peer that gave up waiting on a server that was frozen: the server finds its
 * connection, reset or closed, only when it wakes) is no failure at all, and something that is
 * not TLS is not told to check the secret.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Refusals } from '../../main/node/doors';
import { handshakeFailure, SyncServer, syncKey } from '../../main/sync/wire';
import type { Logger } from '../../main/util/logger';

describe('a failed handshake on the sync port', () => {
  const lines: string[] = [];
  const log: Logger = { info: () => undefined, warn: (e, d) => lines.push(`${e}: ${d}`), error: (e, d) => lines.push(`${e}: ${d}`), file: null };
  const key = syncKey('plant', Buffer.alloc(32, 1));
  let server: SyncServer;
  before(async () => {
    server = await SyncServer.start({
      host: '127.0.0.1', port: 0, domain: 'plant', key, refusals: new Refusals(log), accepts: () => true, onWarning: () => undefined,
      handler: async () => ({ header: { ok: true } }),
    });
  });
  after(() => server.close());

  /** Waits until the port has counted `n` refusals of `reason` (5 s at most: a handshake takes a few ms). */
  const counted = async (reason: string, n: number) => {
    const deadline = Date.now() + 5_000;
    while ((server.refused() as Record<string, number>)[reason] !== n) {
      if (Date.now() > deadline) assert.fail(`${reason}: ${JSON.stringify(server.refused())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('on the key (another domain secret): counted as secret, and the line asks whether duplex.secret is the same', async () => {
    const s = tlsConnect({
      host: '127.0.0.1', port: server.port, ciphers: 'TLS_AES_128_GCM_SHA256', minVersion: 'TLSv1.3',
      checkServerIdentity: () => undefined, pskCallback: () => ({ psk: syncKey('plant', Buffer.alloc(32, 2)), identity: 'duplex:plant' }),
    });
    s.on('error', () => undefined);
    await counted('secret', 1);
    s.destroy();
    assert.match(lines.join('\n'), /sync: refused secret \(it failed the TLS handshake on the key \(binder does not verify\): a peer with another domain secret gets nothing\. Is duplex\.secret the same on every server\?\): a connection from 127\.0\.0\.1/);
  });

  it('not TLS at all: counted as tls, and the secret is not blamed', async () => {
    await new Promise<void>((r) => {
      const s = tcpConnect({ host: '127.0.0.1', port: server.port }, () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      s.on('error', () => undefined);
      s.once('close', () => r());
    });
    await counted('tls', 1);
    const line = lines.find((l) => /refused tls/.test(l));
    assert.match(line ?? '', /it failed the TLS handshake \(http request\): not TLS 1\.3 with this domain's name and key/);
    assert.doesNotMatch(line ?? '', /secret/);
  });

  it('a client gone during its handshake (reset, closed, written to after it went) is nothing to say; a timeout is a timeout', () => {
    const gone = (code: string, syscall?: string) => Object.assign(new Error(`${syscall ?? 'read'} ${code}`), { code, ...(syscall ? { syscall } : {}) });
    for (const err of [gone('ECONNRESET'), gone('EPIPE', 'write'), gone('ETIMEDOUT', 'read'), gone('ECONNABORTED'), Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })]) {
      assert.equal(handshakeFailure(err), null, err.message);
    }
    assert.equal(handshakeFailure(Object.assign(new Error('TLS handshake timeout'), { code: 'ERR_TLS_HANDSHAKE_TIMEOUT' }))?.reason, 'handshake-timeout');
    const other = handshakeFailure(Object.assign(new Error('x'), { code: 'ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM', reason: 'no suitable signature algorithm' }));
    assert.equal(other?.reason, 'tls');
    assert.doesNotMatch(other!.why, /secret/);
  });
});
