/**
 * Datagram codec. Layout (big-endian), append-only across versions:
 *
 *   0  'D' 'X'          magic
 *   2  u8  version      PROTOCOL_VERSION
 *   3  u8  type         1 = heartbeat
 *   4  8 bytes          domain id: first 8 bytes of SHA-256(domain name)
 *  12  u32 incarnation  the sender's boot counter (grows at every start, persisted)
 *  16  u32 seq          per-boot sequence number, starts at 1
 *  20  u16 length       body length
 *  22  body             JSON (UTF-8)
 *  ..  32 bytes         HMAC-SHA256 over everything before it, keyed by the domain key
 *
 * decode() never throws: it returns the reason a datagram is dropped.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { MAX_DATAGRAM_BYTES } from '../defaults';
import { MAX_INFO_PROBES, ROLES, SYNC_STATES, type Heartbeat, type NodeInfo, type Support, type SyncState } from '../engine/types';

export const PROTOCOL_VERSION = 1;
export const MSG_HEARTBEAT = 1;
const MAGIC_0 = 0x44; // 'D'
const MAGIC_1 = 0x58; // 'X'
const HEADER_BYTES = 22;
const MAC_BYTES = 32;

export type DropReason =
  | 'oversized' | 'malformed' | 'bad-version' | 'foreign-domain' | 'bad-auth'
  | 'unknown-sender' | 'replayed' | 'stale-boot' | 'name-conflict';

export const DROP_REASONS: readonly DropReason[] = [
  'oversized', 'malformed', 'bad-version', 'foreign-domain', 'bad-auth',
  'unknown-sender', 'replayed', 'stale-boot', 'name-conflict',
];

export interface Envelope {
  incarnation: number;
  seq: number;
  msg: Heartbeat;
}

export type Decoded = { ok: true; env: Envelope } | { ok: false; reason: DropReason };

export interface DomainKeys {
  domainId: Buffer; // 8 bytes
  macKey: Buffer; // 32 bytes
}

/** Derives the heartbeat key from the domain secret; other uses (TLS PSK) derive their own with another label. */
export function deriveKeys(domain: string, secret: Buffer): DomainKeys {
  const domainId = createHash('sha256').update(domain, 'utf8').digest().subarray(0, 8);
  const macKey = Buffer.from(hkdfSync('sha256', secret, Buffer.from(domain, 'utf8'), 'duplex heartbeat v1', 32));
  return { domainId, macKey };
}

export function encode(env: Envelope, keys: DomainKeys): Buffer {
  const body = Buffer.from(JSON.stringify(env.msg), 'utf8');
  const total = HEADER_BYTES + body.length + MAC_BYTES;
  if (total > MAX_DATAGRAM_BYTES) throw new Error(`heartbeat of ${total} bytes exceeds the ${MAX_DATAGRAM_BYTES}-byte datagram limit`);
  const buf = Buffer.alloc(total);
  buf[0] = MAGIC_0;
  buf[1] = MAGIC_1;
  buf[2] = PROTOCOL_VERSION;
  buf[3] = MSG_HEARTBEAT;
  keys.domainId.copy(buf, 4);
  buf.writeUInt32BE(env.incarnation >>> 0, 12);
  buf.writeUInt32BE(env.seq >>> 0, 16);
  buf.writeUInt16BE(body.length, 20);
  body.copy(buf, HEADER_BYTES);
  createHmac('sha256', keys.macKey).update(buf.subarray(0, HEADER_BYTES + body.length)).digest().copy(buf, HEADER_BYTES + body.length);
  return buf;
}

export function decode(buf: Buffer, keys: DomainKeys): Decoded {
  if (buf.length > MAX_DATAGRAM_BYTES) return { ok: false, reason: 'oversized' };
  if (buf.length < HEADER_BYTES + MAC_BYTES || buf[0] !== MAGIC_0 || buf[1] !== MAGIC_1) return { ok: false, reason: 'malformed' };
  if (buf[2] !== PROTOCOL_VERSION) return { ok: false, reason: 'bad-version' };
  if (!buf.subarray(4, 12).equals(keys.domainId)) return { ok: false, reason: 'foreign-domain' };
  const len = buf.readUInt16BE(20);
  if (HEADER_BYTES + len + MAC_BYTES !== buf.length) return { ok: false, reason: 'malformed' };
  const mac = createHmac('sha256', keys.macKey).update(buf.subarray(0, HEADER_BYTES + len)).digest();
  if (!timingSafeEqual(mac, buf.subarray(HEADER_BYTES + len))) return { ok: false, reason: 'bad-auth' };
  if (buf[3] !== MSG_HEARTBEAT) return { ok: false, reason: 'malformed' };
  let body: unknown;
  try {
    body = JSON.parse(buf.subarray(HEADER_BYTES, HEADER_BYTES + len).toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  const msg = asHeartbeat(body);
  if (!msg) return { ok: false, reason: 'malformed' };
  return { ok: true, env: { incarnation: buf.readUInt32BE(12), seq: buf.readUInt32BE(16), msg } };
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isStr = (v: unknown, max = 200): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isName = (v: unknown): v is string => isStr(v, 63);
const optional = <T>(v: unknown, check: (x: unknown) => x is T): boolean => v === undefined || check(v);

function isInfo(v: unknown): v is NodeInfo {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const rev = o.rev as Record<string, unknown> | null;
  return isStr(o.ver, 40) && typeof o.app === 'string' && o.app.length <= 100 &&
    typeof rev === 'object' && rev !== null && isInt(rev.n) && isInt(rev.t) && typeof rev.h === 'string' && /^[0-9a-f]{16}$/.test(rev.h) &&
    SYNC_STATES.includes(o.sync as SyncState) && optional(o.pct, (x): x is number => isInt(x) && x <= 100) &&
    isInt(o.port) && (o.port as number) <= 65535 &&
    optional(o.rt, isRuntimeInfo) && optional(o.fails, isInt) &&
    optional(o.probes, (x): x is unknown[] => Array.isArray(x) && x.length <= MAX_INFO_PROBES && x.every(isProbeVerdict));
}

const RUNTIME_MODES: readonly unknown[] = ['active', 'standby', 'stopped'];
const RUNTIME_STATES: readonly unknown[] = ['running', 'starting', 'stopping', 'stopped', 'restarting', 'held', 'none'];

function isRuntimeInfo(v: unknown): v is NonNullable<NodeInfo['rt']> {
  const o = v as Record<string, unknown> | null;
  return typeof o === 'object' && o !== null && RUNTIME_MODES.includes(o.mode) && RUNTIME_STATES.includes(o.state);
}

function isProbeVerdict(v: unknown): boolean {
  const o = v as Record<string, unknown> | null;
  return typeof o === 'object' && o !== null && isName(o.name) && typeof o.ok === 'boolean';
}

function isSupport(v: unknown): v is Support {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return isName(o.to) && isInt(o.epoch) && isInt(o.boot) && isInt(o.n) && isInt(o.ms);
}

/** Shape check of an authenticated body; anything unexpected is malformed. */
function asHeartbeat(v: unknown): Heartbeat | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.kind !== 'heartbeat' || !isName(o.from) || !ROLES.includes(o.role as never)) return null;
  if (!isInt(o.epoch) || !isInt(o.maxEpoch) || !isInt(o.awareness) || typeof o.eligible !== 'boolean') return null;
  if (!optional(o.wantId, isInt) || !optional(o.wantFrom, isName) || !optional(o.grantTo, isName) || !optional(o.grantEpoch, isInt)) return null;
  if (!optional(o.refuseTo, isName) || !optional(o.refuseId, isInt) || !optional(o.refuseReason, (x): x is string => isStr(x, 300))) return null;
  if (!optional(o.released, isName) || !optional(o.ended, (x): x is string => x === 'fenced' || x === 'stopped')) return null;
  if (!optional(o.boot, isInt) || !optional(o.n, isInt) || !optional(o.claim, isInt) || !optional(o.ack, isSupport)) return null;
  if (!optional(o.info, isInfo) || !optional(o.health, (x): x is number => isInt(x) && x <= 255)) return null;
  return o as unknown as Heartbeat;
}
