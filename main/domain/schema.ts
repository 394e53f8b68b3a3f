/**
 * The domain file schema: every field, its default and what it accepts.
 * The domain file reference (docs/domain-file.md) follows this file.
 */
import { isIPv4 } from 'node:net';
import { z } from 'zod';
import { DEFAULT_FAILURE_RESET_MS, DEFAULT_HEALTH, DEFAULT_METRICS, DEFAULT_MULTICAST, DEFAULT_OPCUA_SERVER, DEFAULT_PROBE, DEFAULT_SYNC, DEFAULT_SECRET_FILE, DEFAULT_STATE_DIR, DEFAULT_TIMINGS, DOMAIN_FILE_CEILING_BYTES, RUNTIME_HOOK_TIMEOUT_MS, RUNTIME_STOP_TIMEOUT_MS, validateTimings } from '../defaults';
import { NAME_PATTERN } from '../ui/contract';
import { inSubnet, parseVip, type Vip } from '../vip/plan';

const name = (what: string) =>
  z.string({ error: `expected the ${what} as text` }).regex(NAME_PATTERN, { error: `${what} must be 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit` });

const ipv4 = (what: string) => z.string().refine(isIPv4, { error: `${what} must be an IPv4 address like 192.168.10.11` });

/** An IPv4 address, or a CIDR block (192.168.10.0/24) that selects the card whose address lies in it. */
const interfaceSpec = (error: string) => z.string().refine((v) => {
  const [addr, bits, extra] = v.split('/');
  if (extra !== undefined || !isIPv4(addr ?? '')) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= 32);
}, { error });
const multicastInterface = interfaceSpec('multicast.interface must be an IPv4 address (192.168.10.11) or a network in CIDR form (192.168.10.0/24)');

/** A Linux card name (eth0) or a Windows interface alias ("Plant LAN"): 1-64 characters, no control characters. */
const cardName = (what: string) => {
  const error = `${what} must be a card name like eth0 or a Windows interface alias like "Plant LAN": 1-64 characters, no control characters`;
  return z.string({ error }).min(1, { error }).max(64, { error }).refine((v) => !/\p{Cc}/u.test(v), { error });
};

const ms = (def: number) => z.number({ error: 'expected a number of milliseconds' }).int({ error: 'expected whole milliseconds' }).positive({ error: 'must be above 0' }).default(def);

export const serverSchema = z.strictObject({
  name: name('server name'),
  /** witness: only votes (quorum); runs `duplex run` headless, never a runtime, never Active or Standby. */
  role: z.enum(['main', 'backup', 'inactive', 'witness'], { error: 'role must be one of main, backup, inactive, witness' }),
  /** This server's address on the redundancy network (overrides multicast.interface for it). */
  address: ipv4('address').optional(),
  /** This server's addresses on several networks (one to four), e.g. the redundancy link and the plant network; instead of `address`. */
  addresses: z.array(ipv4('addresses[]'), { error: 'addresses must be a list of IPv4 addresses' })
    .min(1, { error: 'addresses must name one to four addresses' }).max(4, { error: 'addresses must name one to four addresses' }).optional(),
  maintenance: z.boolean({ error: 'maintenance must be true or false' }).default(false),
  /** The port of this server's status window and admin API (127.0.0.1 only); default ADMIN_PORT_BASE + the server's place in the list; 0: any free port. */
  adminPort: z.number({ error: 'adminPort must be a port number' }).int({ error: 'adminPort must be a whole number' })
    .min(0, { error: 'adminPort must be 0-65535 (0: any free port)' }).max(65535, { error: 'adminPort must be 0-65535 (0: any free port)' }).optional(),
  /** The card of this server that takes the virtual IP (overrides virtualIp.interface for it). */
  virtualIpInterface: cardName('virtualIpInterface').optional(),
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
  interface: multicastInterface.optional(),
  /** Several networks (one to four), each an address or a CIDR block like `interface`; heartbeats go out on each. */
  interfaces: z.array(multicastInterface, { error: 'multicast.interfaces must be a list of addresses or networks' })
    .min(1, { error: 'multicast.interfaces must name one to four networks' }).max(4, { error: 'multicast.interfaces must name one to four networks' }).optional(),
  ttl: z.number().int().min(1).max(255).default(DEFAULT_MULTICAST.ttl),
});

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

/** A command line as a list: the program, then its arguments. */
const argv = (what: string) => z.array(z.string(), { error: `${what} must be a list: the program, then its arguments, e.g. ["C:\\Plant\\admin.exe", "--takeover"]` })
  .min(1, { error: `${what} must name at least the program to run` });

/** A program name fit for file names and status: the command's base name without extension. */
export function processNameFromCommand(command: string): string {
  const base = command.split(/[\\/]/).pop()!.replace(/\.(exe|cmd|bat|com|js)$/i, '');
  return base.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63) || 'runtime';
}

export const processSchema = z.strictObject({
  /** Names its log file, pid file and status line; defaults to the command's base name. */
  name: name('process name').optional(),
  command: z.string({ error: 'command must name the program to run' }).min(1, { error: 'command must name the program to run' }),
  args: z.array(z.string(), { error: 'args must be a list of text' }).default([]),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string(), { error: 'env must map names to text values' }).default({}),
  runOn: z.enum(['active', 'standby', 'both'], { error: 'runOn must be active, standby or both' }).default('active'),
  /** Arguments on the Standby (runOn: both); default: the same as `args`. */
  standbyArgs: z.array(z.string()).optional(),
  /** Run on promotion instead of restarting a standby-mode process (runOn: both). */
  onActivate: argv('onActivate').optional(),
  /** Run on demotion instead of restarting an active-mode process (runOn: both). */
  onDeactivate: argv('onDeactivate').optional(),
  hookTimeoutMs: ms(RUNTIME_HOOK_TIMEOUT_MS),
  /** Run to ask the process to stop, instead of sending `stopSignal`. */
  stopCommand: argv('stopCommand').optional(),
  stopSignal: z.enum(SIGNALS, { error: `stopSignal must be one of ${SIGNALS.join(', ')}` }).default('SIGTERM'),
  stopTimeoutMs: ms(RUNTIME_STOP_TIMEOUT_MS),
}).superRefine((p, ctx) => {
  if (p.runOn === 'both') return;
  for (const f of ['standbyArgs', 'onActivate', 'onDeactivate'] as const) {
    if (p[f] !== undefined) ctx.addIssue({ code: 'custom', path: [f], message: `${f} needs runOn: both (the process must run on the Standby to be moved between modes)` });
  }
}).transform((p) => ({ ...p, name: p.name ?? processNameFromCommand(p.command) }));

export const runtimeSchema = z.strictObject({
  /** After a failover (not a switchover), the new Active waits for `duplex resume` before starting its runtime. */
  confirmResume: z.boolean({ error: 'confirmResume must be true or false' }).default(false),
  /** A server that handed over because of a runtime crash loop is neither Active nor Standby for this long after its last crash loop (or until `duplex clear`). */
  failureResetMs: ms(DEFAULT_FAILURE_RESET_MS),
  processes: z.array(processSchema, { error: 'runtime.processes must be a list of processes' }).min(1, { error: 'runtime.processes must list at least one process' }),
}).superRefine((r, ctx) => {
  const seen = new Set<string>();
  r.processes.forEach((p, i) => {
    if (seen.has(p.name)) ctx.addIssue({ code: 'custom', path: ['processes', i, 'name'], message: `process name "${p.name}" is used twice; give each process its own name` });
    seen.add(p.name);
  });
});

/** A path relative to the domain file's folder that stays inside it. */
const relPath = z.string({ error: 'expected a path relative to the domain file folder' }).min(1).refine(
  (v) => !/^([A-Za-z]:|[\\/])/.test(v) && !v.split(/[\\/]/).includes('..'),
  { error: 'sync.files entries must be relative to the domain file folder and must not use ".." (e.g. project/ or screens/main.scr)' },
);

export const syncSchema = z.strictObject({
  /** TCP port of the sync service; 0 picks a free one (several nodes on one machine). */
  port: z.number().int().min(0, { error: 'sync.port must be 0-65535' }).max(65535, { error: 'sync.port must be 0-65535' }).default(DEFAULT_SYNC.port),
  /** Project files and folders synced with the domain file. */
  files: z.array(relPath).default([]),
  maxFileBytes: z.number().int().positive().default(DEFAULT_SYNC.maxFileBytes),
  keepVersions: z.number().int().min(0).max(1000).default(DEFAULT_SYNC.keepVersions),
  checkIntervalMs: ms(DEFAULT_SYNC.checkIntervalMs),
  /** The largest this domain file may be (defaults.ts says why 1 MB, and why at most the ceiling). */
  maxDomainFileBytes: z.number({ error: 'sync.maxDomainFileBytes must be a number of bytes' }).int({ error: 'sync.maxDomainFileBytes must be a whole number of bytes' })
    .positive({ error: 'sync.maxDomainFileBytes must be above 0' })
    .max(DOMAIN_FILE_CEILING_BYTES, { error: `sync.maxDomainFileBytes can be at most ${DOMAIN_FILE_CEILING_BYTES} (4 MB): above that, reading and parsing the file costs too much` })
    .default(DEFAULT_SYNC.maxDomainFileBytes),
});

const probeCommon = {
  /** Names the probe in status, logs and the failover reason. */
  name: name('probe name'),
  intervalMs: ms(DEFAULT_PROBE.intervalMs),
  timeoutMs: ms(DEFAULT_PROBE.timeoutMs),
  /** Points taken off the health score (255) while this probe fails. */
  weight: z.number().int().min(1, { error: 'weight must be 1-253' }).max(253, { error: 'weight must be 1-253' }).default(DEFAULT_PROBE.weight),
  /** The servers that run this probe (default: all), e.g. when each reaches its PLC through its own card. */
  servers: z.array(z.string()).optional(),
};

export const probeSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...probeCommon,
    kind: z.literal('system'),
    /** Free space needed on the state folder's disk. */
    minFreeDiskMB: z.number().positive().default(DEFAULT_PROBE.minFreeDiskMB),
    maxMemoryPercent: z.number().positive().max(100).default(DEFAULT_PROBE.maxMemoryPercent),
    maxEventLoopDelayMs: z.number().positive().default(DEFAULT_PROBE.maxEventLoopDelayMs),
  }),
  z.strictObject({
    ...probeCommon,
    kind: z.literal('witness'),
    /** A gateway, switch or PLC this server should always reach. */
    address: z.string().min(1, { error: 'address must name a host or IP address' }),
    method: z.enum(['tcp', 'ping'], { error: 'method must be tcp or ping' }).default('tcp'),
    port: z.number().int().min(1).max(65535).optional(),
  }).refine((w) => w.method !== 'tcp' || w.port !== undefined, { error: 'a tcp witness needs port (e.g. 502 for Modbus, 102 for S7)', path: ['port'] }),
  z.strictObject({
    ...probeCommon,
    kind: z.literal('opcua'),
    endpoint: z.string().regex(/^opc\.tcp:\/\/[^/\s]+/, { error: 'endpoint must be opc.tcp://host:port[/path]' }),
    nodeId: z.string().min(1, { error: 'nodeId must name the node to read, e.g. ns=2;s=Heartbeat' }),
    /** The value must change from one read to the next (a counter the PLC increments). */
    requireChange: z.boolean().default(false),
  }),
  z.strictObject({
    ...probeCommon,
    kind: z.literal('mssql'),
    server: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(1433),
    database: z.string().optional(),
    user: z.string().optional(),
    /** A file holding the password (kept out of the synced domain file). */
    passwordFile: z.string().optional(),
    query: z.string().default('SELECT 1'),
    encrypt: z.boolean().default(true),
    trustServerCertificate: z.boolean().default(false),
  }),
], { error: 'kind must be system, witness, opcua or mssql' });

export const healthSchema = z.strictObject({
  /** Rated failover: hand over when the Active's score is this far below the Standby's… */
  marginPoints: z.number().int().min(1).max(255).default(DEFAULT_HEALTH.marginPoints),
  /** …for this long. */
  holdMs: ms(DEFAULT_HEALTH.holdMs),
});

export const opcuaServerSchema = z.strictObject({
  /** TCP port of this server's OPC UA endpoint; 0 picks a free one (tests). */
  port: z.number().int().min(0).max(65535).default(DEFAULT_OPCUA_SERVER.port),
  /** The ServiceLevel a healthy Standby shows (2–199: degraded, so clients stay on the Active). */
  standbyServiceLevel: z.number().int().min(2).max(199).default(DEFAULT_OPCUA_SERVER.standbyServiceLevel),
  /** Where to listen: 0.0.0.0 (every interface), or an address or CIDR block that picks each server's card. */
  address: interfaceSpec('opcuaServer.address must be 0.0.0.0 (every interface), an IPv4 address (10.20.0.11) or a network in CIDR form (10.20.0.0/16) that picks each server\'s card on it')
    .default(DEFAULT_OPCUA_SERVER.address),
  /** true: also offer SecurityPolicy None, so that any client that reaches the port reads without a certificate, in clear. */
  allowUnsecured: z.boolean({ error: 'opcuaServer.allowUnsecured must be true or false' }).default(DEFAULT_OPCUA_SERVER.allowUnsecured),
  /** OPC UA sessions open at once, all clients together. */
  maxSessions: z.number().int().min(2, { error: 'opcuaServer.maxSessions must be at least 2' }).max(1000, { error: 'opcuaServer.maxSessions must be at most 1000' })
    .default(DEFAULT_OPCUA_SERVER.maxSessions),
  /** Sessions one client (a remote address with one certificate) may hold, abandoned ones included until they expire. */
  maxSessionsPerClient: z.number().int().min(1, { error: 'opcuaServer.maxSessionsPerClient must be at least 1' }).default(DEFAULT_OPCUA_SERVER.maxSessionsPerClient),
}).refine((o) => o.maxSessions < 2 || o.maxSessionsPerClient < o.maxSessions, { // below 2 is reported already
  path: ['maxSessionsPerClient'],
  error: 'opcuaServer.maxSessionsPerClient must be below opcuaServer.maxSessions, or one client could take every session',
});

const METRICS_PORT = 'metrics.port must be 0 (any free port) or 1024-65535';

export const metricsSchema = z.strictObject({
  /** TCP port of the Prometheus endpoint; 0 picks a free one (several servers on one machine). */
  port: z.number({ error: `${METRICS_PORT}; remove the metrics section to switch the metrics off` }).int({ error: METRICS_PORT })
    .refine((p) => p === 0 || (p >= 1024 && p <= 65535), { error: METRICS_PORT }),
  /** Where to listen: 127.0.0.1 (this machine only, the default), 0.0.0.0 (every interface), or an address or CIDR block that picks each server's card. */
  address: interfaceSpec('metrics.address must be 127.0.0.1 (this machine only, the default), 0.0.0.0 (every interface), an IPv4 address (10.20.0.11) or a network in CIDR form (10.20.0.0/16) that picks each server\'s card on it')
    .default(DEFAULT_METRICS.address),
  /** A file (relative to the domain file's folder, or absolute) holding the token a scrape must send as `Authorization: Bearer <token>`. */
  bearerTokenFile: z.string().min(1, { error: 'metrics.bearerTokenFile must name a file' }).optional(),
  /** A file holding `user:password`: a scrape must send them as basic auth. */
  basicAuthFile: z.string().min(1, { error: 'metrics.basicAuthFile must name a file' }).optional(),
}).refine((m) => m.bearerTokenFile === undefined || m.basicAuthFile === undefined, { error: 'metrics: set bearerTokenFile or basicAuthFile, not both', path: ['basicAuthFile'] });

const VIP_FORM = 'virtualIp.address must be an IPv4 address with its prefix length, like 10.20.0.100/24';

export const virtualIpSchema = z.strictObject({
  /** The address and the prefix length of its subnet, `10.20.0.100/24` (vip/plan.ts parseVip says what is wrong). */
  address: z.string({ error: VIP_FORM }).superRefine((v, ctx) => {
    const vip = parseVip(v);
    if (typeof vip === 'string') ctx.addIssue({ code: 'custom', message: vip });
  }),
  /** The card that takes it on every server (a server's virtualIpInterface overrides it); default: the one card with an address in its subnet. */
  interface: cardName('virtualIp.interface').optional(),
}, { error: 'virtualIp must be a section with address (like 10.20.0.100/24) and optionally interface' });

export const domainSchema = z.strictObject({
  domain: name('domain name'),
  servers: z.array(serverSchema).min(1, { error: 'servers must list at least one server' }),
  multicast: multicastSchema.prefault({}),
  timings: timingsSchema.prefault({}),
  failback: z.enum(['manual', 'auto'], { error: 'failback must be manual or auto' }).default('manual'),
  /** auto: with 3 or more voters a server takes over, and an Active keeps its runtime, only with a majority's support. off: never. */
  quorum: z.enum(['auto', 'off'], { error: 'quorum must be auto or off' }).default('auto'),
  secretFile: z.string().min(1).default(DEFAULT_SECRET_FILE),
  stateDir: z.string().min(1).default(DEFAULT_STATE_DIR),
  runtime: runtimeSchema.optional(),
  probes: z.array(probeSchema).default([]),
  health: healthSchema.prefault({}),
  /** Serve ServiceLevel and ServerRedundancy over OPC UA so that clients pick the Active. */
  opcuaServer: opcuaServerSchema.optional(),
  /** Serve Prometheus metrics (off when absent). */
  metrics: metricsSchema.optional(),
  /** An address that moves with the Active role (off when absent). */
  virtualIp: virtualIpSchema.optional(),
  sync: syncSchema.prefault({}),
  /** Servers whose application version differs from the Active's never become Active or Standby. `files`: a hash of the synced project files. */
  appVersion: z.string().max(100, { error: 'appVersion must be at most 100 characters' }).default(''),
}).superRefine((d, ctx) => {
  const probeNames = new Set<string>();
  d.probes.forEach((p, i) => {
    if (probeNames.has(p.name)) ctx.addIssue({ code: 'custom', path: ['probes', i, 'name'], message: `probe name "${p.name}" is used twice` });
    probeNames.add(p.name);
  });
  const seen = new Set<string>();
  d.servers.forEach((s, i) => {
    if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: ['servers', i, 'name'], message: `server name "${s.name}" is used twice` });
    seen.add(s.name);
  });
  const mains = d.servers.filter((s) => s.role === 'main').length;
  if (mains !== 1) {
    ctx.addIssue({ code: 'custom', path: ['servers'], message: `exactly one server must have role main (found ${mains})` });
  }
  if (d.multicast.interface && d.multicast.interfaces) {
    ctx.addIssue({ code: 'custom', path: ['multicast', 'interfaces'], message: 'set multicast.interface (one network) or multicast.interfaces (several), not both' });
  }
  const metricsPort = d.metrics?.port;
  for (const [field, port] of [['sync.port', d.sync.port], ['opcuaServer.port', d.opcuaServer?.port]] as const) {
    if (metricsPort && metricsPort === port) ctx.addIssue({ code: 'custom', path: ['metrics', 'port'], message: `metrics.port ${port} is also ${field}; give the metrics their own port` });
  }
  const counts = new Set<number>();
  d.servers.forEach((s, i) => {
    if (s.address && s.addresses) ctx.addIssue({ code: 'custom', path: ['servers', i, 'addresses'], message: `server ${s.name}: set address (one network) or addresses (several), not both` });
    if (!s.address && !s.addresses && !d.multicast.interface && !d.multicast.interfaces) {
      ctx.addIssue({ code: 'custom', path: ['servers', i, 'address'], message: `server ${s.name} needs an address, or set multicast.interface for all servers` });
    }
    counts.add(networkSpecs(d, s).length);
  });
  if (counts.size > 1) {
    ctx.addIssue({ code: 'custom', path: ['servers'], message: `every server needs the same number of networks (found ${[...counts].sort().join(' and ')}): give each the same number of addresses, or use multicast.interfaces` });
  }
  if (d.virtualIp) for (const problem of virtualIpProblems(d)) ctx.addIssue({ code: 'custom', ...problem });
});

/** What the virtual IP's checks read of a domain file. */
interface VipDomain {
  multicast: { interface?: string | undefined; interfaces?: string[] | undefined };
  servers: { name: string; role: string; address?: string | undefined; addresses?: string[] | undefined; virtualIpInterface?: string | undefined }[];
  virtualIp?: { address: string; interface?: string | undefined } | undefined;
}

/**
 * What makes the virtual IP unusable, found from the file alone: it is a server's own address,
 * or a server that may be Active (main, backup) has no card in its subnet that the file knows
 * of and no card named for it. A server without declared addresses is judged by
 * multicast.interface(s) only when every entry is a CIDR block (an address alone does not tell
 * the subnet). Witness and inactive servers never hold it.
 */
function virtualIpProblems(d: VipDomain): { path: (string | number)[]; message: string }[] {
  const vip = d.virtualIp && parseVip(d.virtualIp.address);
  if (!vip || typeof vip === 'string') return []; // no section, or its address is reported already
  const text = `${vip.address}/${vip.prefix}`;
  const problems: { path: (string | number)[]; message: string }[] = [];
  for (const s of d.servers) {
    const own = s.addresses ?? (s.address ? [s.address] : []);
    if (own.includes(vip.address)) {
      problems.push({ path: ['virtualIp', 'address'], message: `virtualIp.address ${vip.address} is the address of server ${s.name}; the virtual IP must be a free address in that subnet` });
    }
  }
  d.servers.forEach((s, i) => {
    if (s.role !== 'main' && s.role !== 'backup') return;
    if (s.virtualIpInterface !== undefined || d.virtualIp?.interface !== undefined) return;
    const own = s.addresses ?? (s.address ? [s.address] : []);
    const fix = `none of the cards the domain file lists for ${s.name} is on that subnet; name the card that takes the virtual IP with virtualIp.interface (every server) or virtualIpInterface (this server)`;
    if (own.length) {
      if (!own.some((a) => inSubnet(vip, a))) {
        problems.push({ path: ['servers', i, s.addresses ? 'addresses' : 'address'], message: `server ${s.name} has no address in ${text}'s subnet (its addresses: ${own.join(', ')}): ${fix}` });
      }
      return;
    }
    const specs = d.multicast.interfaces ?? (d.multicast.interface ? [d.multicast.interface] : []);
    if (specs.length && specs.every((spec) => spec.includes('/') && !overlaps(vip, spec))) {
      const field = d.multicast.interfaces ? 'multicast.interfaces' : 'multicast.interface';
      problems.push({ path: ['servers', i], message: `server ${s.name} has no address in ${text}'s subnet (its card is chosen by ${field}: ${specs.join(', ')}): ${fix}` });
    }
  });
  return problems;
}

/** Whether the CIDR block `spec` (`192.168.10.0/24`) and the VIP's subnet share addresses. */
function overlaps(vip: Vip, spec: string): boolean {
  const [address, bits] = spec.split('/');
  return inSubnet({ address: address!, prefix: Math.min(vip.prefix, Number(bits)) }, vip.address);
}

/**
 * What names server `s`'s card on each network, in order: its `addresses`, its `address`, or
 * the domain's `multicast.interfaces` or `multicast.interface` (addresses or CIDR blocks).
 */
export function networkSpecs(d: { multicast: { interface?: string | undefined; interfaces?: string[] | undefined } }, s: { address?: string | undefined; addresses?: string[] | undefined }): string[] {
  return s.addresses ?? (s.address ? [s.address] : d.multicast.interfaces ?? (d.multicast.interface ? [d.multicast.interface] : []));
}

export type DomainConfig = z.infer<typeof domainSchema>;
export type ProbeConfig = z.infer<typeof probeSchema>;
export type MetricsConfig = z.infer<typeof metricsSchema>;
export type OpcuaServerConfig = z.infer<typeof opcuaServerSchema>;
