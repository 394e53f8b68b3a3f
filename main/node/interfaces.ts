/** Finding the local address of the redundancy network card (cheap: os.networkInterfaces, no shell). */
import { networkInterfaces } from 'node:os';

export function localIPv4Addresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.push(a.address);
  }
  return out;
}

function toInt(addr: string): number {
  return addr.split('.').reduce((n, o) => ((n << 8) | Number(o)) >>> 0, 0);
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
