/**
 * The domain file schema: every field, its default and what it accepts.
 * The README's domain file reference follows this file.
 */
import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { DEFAULT_MULTICAST, DEFAULT_SECRET_FILE, DEFAULT_STATE_DIR, DEFAULT_TIMINGS, RUNTIME_STOP_TIMEOUT_MS, validateTimings } from '../defaults';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const name = (what: string) =>
  z.string({ error: `expected the ${what} as text` }).regex(NAME, { error: `${what} must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit` });

const ipv4 = (what: string) => z.string().refine(isIPv4, { error: `${what} must be an IPv4 address like 192.168.10.11` });

/** An IPv4 address, or a CIDR block (192.168.10.0/24) that selects the card whose address lies in it. */
const interfaceSpec = z.string().refine((v) => {
  const [addr, bits, extra] = v.split('/');
  if (extra !== undefined || !isIPv4(addr ?? '')) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= 32);
}, { error: 'multicast.interface must be an IPv4 address (192.168.10.11) or a network in CIDR form (192.168.10.0/24)' });

const ms = (def: number) => z.number({ error: 'expected a number of milliseconds' }).int({ error: 'expected whole milliseconds' }).positive({ error: 'must be above 0' }).default(def);

export const serverSchema = z.strictObject({
  name: name('server name'),
  role: z.enum(['main', 'backup', 'inactive'], { error: 'role must be one of main, backup, inactive' }),
  /** This server's address on the redundancy network (overrides multicast.interface for it). */
  address: ipv4('address').optional(),
  maintenance: z.boolean({ error: 'maintenance must be true or false' }).default(false),
});

export const timingsSchema = z.strictObject({
  heartbeatIntervalMs: ms(DEFAULT_TIMINGS.heartbeatIntervalMs),
  failureTimeoutMs: ms(DEFAULT_TIMINGS.failureTimeoutMs),
  discoveryMs: ms(DEFAULT_TIMINGS.discoveryMs),
  handoverTimeoutMs: ms(DEFAULT_TIMINGS.handoverTimeoutMs),
  failbackDelayMs: ms(DEFAULT_TIMINGS.failbackDelayMs),
  lateTickMs: ms(DEFAULT_TIMINGS.lateTickMs),
}).superRefine((t, ctx) => {
  for (const problem of validateTimings(t)) {
    const [field, ...rest] = problem.split(' ');
    ctx.addIssue({ code: 'custom', message: rest.join(' '), path: [field!.replace('timings.', '')] });
  }
});

export const multicastSchema = z.strictObject({
  group: z.string().default(DEFAULT_MULTICAST.group).refine((g) => isIPv4(g) && g.startsWith('239.255.'), {
    error: 'multicast.group must be an organization-local multicast address, 239.255.0.0 to 239.255.255.255',
  }),
  port: z.number().int().min(1024, { error: 'multicast.port must be 1024-65535' }).max(65535, { error: 'multicast.port must be 1024-65535' }).default(DEFAULT_MULTICAST.port),
  interface: interfaceSpec.optional(),
  ttl: z.number().int().min(1).max(255).default(DEFAULT_MULTICAST.ttl),
});

export const runtimeSchema = z.strictObject({
  command: z.string().min(1, { error: 'runtime.command must name the program to run' }),
  args: z.array(z.string()).default([]),
  cwd: z.string().optional(),
  stopTimeoutMs: ms(RUNTIME_STOP_TIMEOUT_MS),
});

export const domainSchema = z.strictObject({
  domain: name('domain name'),
  servers: z.array(serverSchema).min(1, { error: 'servers must list at least one server' }),
  multicast: multicastSchema.prefault({}),
  timings: timingsSchema.prefault({}),
  failback: z.enum(['manual', 'auto'], { error: 'failback must be manual or auto' }).default('manual'),
  secretFile: z.string().min(1).default(DEFAULT_SECRET_FILE),
  stateDir: z.string().min(1).default(DEFAULT_STATE_DIR),
  runtime: runtimeSchema.optional(),
}).superRefine((d, ctx) => {
  const seen = new Set<string>();
  d.servers.forEach((s, i) => {
    if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: ['servers', i, 'name'], message: `server name "${s.name}" is used twice` });
    seen.add(s.name);
  });
  const mains = d.servers.filter((s) => s.role === 'main').length;
  if (mains !== 1) {
    ctx.addIssue({ code: 'custom', path: ['servers'], message: `exactly one server must have role main (found ${mains})` });
  }
  if (!d.multicast.interface) {
    d.servers.forEach((s, i) => {
      if (!s.address) ctx.addIssue({ code: 'custom', path: ['servers', i, 'address'], message: `server ${s.name} needs an address, or set multicast.interface for all servers` });
    });
  }
});

export type DomainConfig = z.infer<typeof domainSchema>;
export type ServerConfig = z.infer<typeof serverSchema>;
