import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { decode, deriveKeys, encode } from '../../main/net/codec';
import { ReplayGuard } from '../../main/net/replay';
import type { Heartbeat } from '../../main/engine/types';

const keys = deriveKeys('plant', Buffer.alloc(32, 0x11));
const msg: Heartbeat = { kind: 'heartbeat', from: 'a', role: 'active', epoch: 3, maxEpoch: 3, eligible: true, awareness: 0 };

// Golden bytes of protocol version 1: changing the layout, the key derivation or the MAC breaks this on purpose.
const GOLDEN =
  '4458010196044d9734b60441000000070000002a0064' +
  Buffer.from(JSON.stringify(msg)).toString('hex') +
  '90fbbd28f59eaf343c71e4ea374d7c399e7291654dd7ca7fc43b2f0501a82391';

describe('codec', () => {
  it('encodes version 1 heartbeats byte for byte', () => {
    assert.equal(encode({ incarnation: 7, seq: 42, msg }, keys).toString('hex'), GOLDEN);
  });

  it('decodes what it encodes', () => {
    const d = decode(Buffer.from(GOLDEN, 'hex'), keys);
    assert.deepEqual(d, { ok: true, env: { incarnation: 7, seq: 42, msg } });
  });

  const drop = (buf: Buffer, k = keys) => {
    const d = decode(buf, k);
    assert.equal(d.ok, false);
    return d.ok ? null : d.reason;
  };

  it('drops a datagram with a wrong key (forged) as bad-auth', () => {
    const other = deriveKeys('plant', Buffer.alloc(32, 0x22));
    assert.equal(drop(encode({ incarnation: 1, seq: 1, msg }, other)), 'bad-auth');
  });

  it('drops any flipped bit as bad-auth', () => {
    const good = Buffer.from(GOLDEN, 'hex');
    for (const i of [12, 16, 22, 40, good.length - 1]) {
      const b = Buffer.from(good);
      b[i] = b[i]! ^ 0x01;
      assert.equal(drop(b), 'bad-auth', `bit flip at byte ${i}`);
    }
  });

  it('drops oversized, truncated, foreign-domain and future-version datagrams', () => {
    assert.equal(drop(Buffer.alloc(1201)), 'oversized');
    assert.equal(drop(Buffer.from(GOLDEN, 'hex').subarray(0, 30)), 'malformed');
    assert.equal(drop(Buffer.from('hello world, this is not duplex at all, not at all')), 'malformed');
    assert.equal(drop(encode({ incarnation: 1, seq: 1, msg }, deriveKeys('other-plant', Buffer.alloc(32, 0x11)))), 'foreign-domain');
    const v2 = Buffer.from(GOLDEN, 'hex');
    v2[2] = 2;
    assert.equal(drop(v2), 'bad-version');
  });

  it('drops an authenticated body that is not a heartbeat as malformed', () => {
    const body = Buffer.from(JSON.stringify({ ...msg, role: 'emperor' }));
    const head = Buffer.from(GOLDEN, 'hex').subarray(0, 22);
    head.writeUInt16BE(body.length, 20);
    const signed = Buffer.concat([head, body]);
    const mac = createHmac('sha256', keys.macKey).update(signed).digest();
    assert.equal(drop(Buffer.concat([signed, mac])), 'malformed');
  });

  it('quorum fields: a well-formed support and claim pass; a malformed one is dropped as malformed', () => {
    const ok: Heartbeat = { ...msg, boot: 7, n: 42, claim: 5, ack: { to: 'b', epoch: 4, boot: 9, n: 17, ms: 800 } };
    const d = decode(encode({ incarnation: 1, seq: 1, msg: ok }, keys), keys);
    assert.ok(d.ok);
    assert.deepEqual(d.env.msg, ok);
    const sign = (body: object) => {
      const b = Buffer.from(JSON.stringify(body));
      const head = Buffer.from(GOLDEN, 'hex').subarray(0, 22);
      head.writeUInt16BE(b.length, 20);
      const signed = Buffer.concat([head, b]);
      return Buffer.concat([signed, createHmac('sha256', keys.macKey).update(signed).digest()]);
    };
    for (const bad of [{ ack: { to: 'b', epoch: 4, boot: 9, n: 17 } }, { ack: { to: 'b', epoch: 4, boot: 9, n: '17', ms: 800 } }, { claim: -1 }, { n: 1.5 }, { boot: 'x' }]) {
      assert.equal(drop(sign({ ...msg, ...bad })), 'malformed', JSON.stringify(bad));
    }
  });

  it('a release says how the runtime ended (fenced, stopped); another word is malformed', () => {
    for (const ended of ['fenced', 'stopped'] as const) {
      const release: Heartbeat = { ...msg, role: 'inactive', eligible: false, released: 'b', ended };
      const d = decode(encode({ incarnation: 1, seq: 1, msg: release }, keys), keys);
      assert.ok(d.ok);
      assert.deepEqual(d.env.msg, release);
    }
    const body = Buffer.from(JSON.stringify({ ...msg, ended: 'vanished' }));
    const head = Buffer.from(GOLDEN, 'hex').subarray(0, 22);
    head.writeUInt16BE(body.length, 20);
    const signed = Buffer.concat([head, body]);
    assert.equal(drop(Buffer.concat([signed, createHmac('sha256', keys.macKey).update(signed).digest()])), 'malformed');
  });

  it('refuses to encode a heartbeat over the datagram limit', () => {
    assert.throws(() => encode({ incarnation: 1, seq: 1, msg: { ...msg, refuseReason: 'x'.repeat(1300) } }, keys), /exceeds the 1200-byte/);
  });
});

describe('replay guard', () => {
  it('accepts newer sequence numbers and newer boots, drops replays and older boots', () => {
    const g = new ReplayGuard();
    assert.equal(g.check('a', 5, 1), null);
    assert.equal(g.check('a', 5, 2), null);
    assert.equal(g.check('a', 5, 2), 'replayed');
    assert.equal(g.check('a', 5, 1), 'replayed');
    assert.equal(g.check('a', 6, 1), null, 'a restart brings a higher incarnation');
    assert.equal(g.check('a', 5, 99), 'stale-boot');
    assert.equal(g.check('b', 1, 1), null, 'senders are tracked apart');
  });
});
