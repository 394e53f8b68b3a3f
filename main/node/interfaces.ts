/** Finding the local address of the redundancy network card (cheap: os.networkInterfaces, no shell). */
import { networkInterfaces } from 'node:os';
import { ipv4ToInt as toInt } from '../net/links';

export function localIPv4Addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.push(a.address);
  }
  return out;
}

/** The prefix length of local address `address` (24 for a /24 card), 32 when unknown. */
export function prefixOf(address: string): number {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && a.address === address && a.cidr) return Number(a.cidr.split('/')[1]);
  }
  return 32;
}

/** `spec` is an address or a CIDR block; returns the matching local address, or null. */
export function resolveInterface(spec: string, addresses = localIPv4Addresses()): string | null {
  const [base, bitsText] = spec.split('/');
  if (bitsText === undefined) return addresses.includes(spec) ? spec : null;
  const bits = Number(bitsText);
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  const net = (toInt(base!) & mask) >>> 0;
  return addresses.find((a) => ((toInt(a) & mask) >>> 0) === net) ?? null;
}

/** In a domain file's `address` field of a door (metrics, OPC UA): listen on every interface. */
export const EVERY_INTERFACE = '0.0.0.0';

/**
 * The local address a door listens on for `spec`, the domain file's `field`: 0.0.0.0 (every
 * interface), or this machine's address that an address or a CIDR block picks. Throws, naming
 * the field and this machine's addresses, when none matches.
 */
export function listenAddress(field: string, spec: string): string {
  if (spec === EVERY_INTERFACE) return EVERY_INTERFACE;
  const host = resolveInterface(spec);
  if (!host) throw new Error(`${field} ${spec} matches no address of this machine; its IPv4 addresses are ${localIPv4Addresses().join(', ')} (or use ${EVERY_INTERFACE}: every interface)`);
  return host;
}
