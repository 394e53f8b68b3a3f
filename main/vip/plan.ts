/**
 * The virtual IP address, planned (pure): which card of this machine takes it, and the
 * command lines that add it, announce it and remove it on Linux and Windows. The adapter that
 * runs them (and the guardian that owns the removal) executes these plans; the tests check
 * every line. Like runtime/plan.ts: a decision table split off the IO.
 */
import { isIPv4 } from 'node:net';
import { ipv4ToInt as toInt } from '../net/links';

/** A virtual IPv4 address with the prefix length of its subnet: `10.20.0.100/24`. */
export interface Vip {
  address: string;
  prefix: number;
}

/** A card of this machine as os.networkInterfaces() lists it (IPv4 entries only matter). */
export interface Card {
  name: string;
  address: string;
  /** `10.20.0.11/24`. */
  cidr: string | null;
  internal: boolean;
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0;
}

/** `10.20.0.100/24` → the VIP; a text naming what is wrong otherwise. */
export function parseVip(text: string): Vip | string {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text.trim());
  if (!m || !isIPv4(m[1]!)) return `virtualIp.address must be an IPv4 address with its prefix length, like 10.20.0.100/24 (found "${text}")`;
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) return `virtualIp.address ${text}: the prefix length must be 8 to 30 (the subnet the servers' cards share), found /${prefix}`;
  const vip = { address: m[1]!, prefix };
  const host = toInt(vip.address) & ~maskOf(prefix);
  if (host === 0 || host === (~maskOf(prefix) >>> 0)) return `virtualIp.address ${text} is the network or broadcast address of its subnet; pick a free host address in it`;
  return vip;
}

/** Whether `address` lies in the VIP's subnet. */
export function inSubnet(vip: Vip, address: string): boolean {
  const mask = maskOf(vip.prefix);
  return ((toInt(vip.address) & mask) >>> 0) === ((toInt(address) & mask) >>> 0);
}

/**
 * The card that takes the VIP: the one named (`wanted`, a Linux card name or a Windows
 * interface alias), or else the one card whose own IPv4 address lies in the VIP's subnet. A
 * text says what is wrong: no such card, none in the subnet, or several (name one).
 */
export function chooseCard(vip: Vip, cards: readonly Card[], wanted?: string): Card | string {
  // The VIP itself may be on a card already (left by a crash): it is not a card's own address.
  const v4 = cards.filter((c) => isIPv4(c.address) && !c.internal && c.address !== vip.address);
  if (wanted !== undefined) {
    const named = v4.filter((c) => c.name === wanted);
    if (!named.length) return `no card named "${wanted}" with an IPv4 address here (cards: ${[...new Set(v4.map((c) => c.name))].join(', ') || 'none'})`;
    if (!named.some((c) => inSubnet(vip, c.address))) return `card ${wanted} has no address in ${vip.address}/${vip.prefix}'s subnet (${named.map((c) => c.address).join(', ')}): clients on that subnet could not reach the VIP through it`;
    return named[0]!;
  }
  const inNet = [...new Map(v4.filter((c) => inSubnet(vip, c.address)).map((c) => [c.name, c])).values()];
  if (inNet.length === 1) return inNet[0]!;
  if (!inNet.length) return `no card here has an address in ${vip.address}/${vip.prefix}'s subnet (cards: ${v4.map((c) => `${c.name} ${c.address}`).join(', ') || 'none'}); set virtualIp.interface, or fix the address`;
  return `cards ${inNet.map((c) => c.name).join(' and ')} both have addresses in ${vip.address}/${vip.prefix}'s subnet; name one with virtualIp.interface`;
}

/** The dotted mask of a prefix length (Windows' netsh takes masks): 24 → 255.255.255.0. */
export function dottedMask(prefix: number): string {
  const m = maskOf(prefix);
  return [24, 16, 8, 0].map((s) => (m >>> s) & 255).join('.');
}

/** A program and its arguments, run without a shell. */
export type Argv = readonly string[];

export interface VipCommands {
  add: Argv;
  /** Tells the neighbours at once that the VIP moved (gratuitous ARP); null where adding it announces it (Windows). */
  announce: Argv | null;
  del: Argv;
}

/**
 * Linux: iproute2 adds and removes the address (CAP_NET_ADMIN); iputils' arping sends
 * unsolicited ARP (-U) so every neighbour's cache points at this card at once, three times a
 * second apart against a lost frame. The label marks it in `ip address` as Duplex's.
 */
export function linuxCommands(vip: Vip, card: string): VipCommands {
  const cidr = `${vip.address}/${vip.prefix}`;
  return {
    add: ['ip', 'address', 'add', cidr, 'dev', card, 'label', labelOf(card)],
    announce: ['arping', '-q', '-U', '-c', '2', '-w', '2', '-I', card, vip.address],
    del: ['ip', 'address', 'del', cidr, 'dev', card],
  };
}

/** `eth0` → `eth0:dx` (Linux limits a label to 15 characters and wants it to start with the card's name). */
function labelOf(card: string): string {
  return `${card.slice(0, 12)}:dx`;
}

/**
 * Windows: netsh adds the address to the interface alias; Windows announces it itself (a
 * gratuitous ARP when an address is added). `skipassource=true` keeps the VIP out of the
 * source addresses this server picks for its own connections (heartbeats, sync, SQL): they
 * keep the card's own address, and nothing breaks when the VIP moves away.
 */
export function windowsCommands(vip: Vip, alias: string): VipCommands {
  return {
    add: ['netsh', 'interface', 'ipv4', 'add', 'address', `name=${alias}`, `address=${vip.address}`, `mask=${dottedMask(vip.prefix)}`, 'skipassource=true'],
    announce: null,
    del: ['netsh', 'interface', 'ipv4', 'delete', 'address', `name=${alias}`, `address=${vip.address}`],
  };
}

/** The commands for this platform. */
export function commandsFor(platform: NodeJS.Platform, vip: Vip, card: string): VipCommands {
  return platform === 'win32' ? windowsCommands(vip, card) : linuxCommands(vip, card);
}

/**
 * The card that holds the VIP on this machine now (os.networkInterfaces()), null: none. On
 * Linux a labelled address is listed under its label (`eth0:dx`): the card is `eth0`.
 */
export function heldOn(vip: Vip, cards: readonly Card[]): string | null {
  const name = cards.find((c) => c.address === vip.address)?.name;
  return name === undefined ? null : cardOf(name);
}

/** The card an interface name stands for: Linux lists a labelled address under its label (`eth0:dx` is on `eth0`). */
export function cardOf(name: string): string {
  return name.replace(/:[^:]*$/, '');
}

/** os.networkInterfaces() as a list of cards. */
export function cardsOf(interfaces: NodeJS.Dict<{ address: string; cidr: string | null; internal: boolean; family: string | number }[]>): Card[] {
  const out: Card[] = [];
  for (const [name, list] of Object.entries(interfaces)) {
    for (const a of list ?? []) if (a.family === 'IPv4' || a.family === 4) out.push({ name, address: a.address, cidr: a.cidr, internal: a.internal });
  }
  return out;
}

/** A plan as it arrives over the guardian's socket: checked before any command line is built from it. */
export function isVipPlan(x: unknown): x is { vip: Vip; card: string } {
  if (typeof x !== 'object' || x === null) return false;
  const p = x as { vip?: { address?: unknown; prefix?: unknown }; card?: unknown };
  return typeof p.card === 'string' && p.card.length > 0 && p.card.length <= 64 && !/[\x00-\x1f]/.test(p.card) &&
    typeof p.vip?.address === 'string' && isIPv4(p.vip.address) && Number.isInteger(p.vip.prefix) && (p.vip.prefix as number) >= 8 && (p.vip.prefix as number) <= 30;
}
