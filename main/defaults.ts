/**
 * Every default of Duplex in one place. Each number has a unit in its name and
 * a reason beside it (memberlist's DefaultLANConfig is the model).
 * `validateTimings` (engine/timings.ts) refuses combinations that cannot work.
 */

// The role engine's timings (the heartbeat, the failure timeout, the guardian's lease,
// awareness, the crash-loop ban) live beside the engine, which imports nothing outside its
// folder; they are listed here too, so that every default is found from this one module.
export {
  AWARENESS_DECAY_MS, DEFAULT_FAILURE_RESET_MS, DEFAULT_TIMINGS, leaseMs, MAX_AWARENESS, type Timings, validateTimings,
} from './engine/timings';

/** Largest datagram we send or accept: under a 1500-byte Ethernet MTU with room for IPv4/IPv6 and UDP headers. */
export const MAX_DATAGRAM_BYTES = 1200;

export const DEFAULT_MULTICAST = Object.freeze({
  // Organization-local scope (239.255.0.0/16), never routed off site.
  group: '239.255.80.1',
  port: 47_800,
  // One hop: the redundancy network is a LAN segment; raise it only for routed multicast.
  ttl: 1,
});

/** Domain-file defaults for paths, relative to the domain file's folder. */
export const DEFAULT_SECRET_FILE = 'duplex.secret';
export const DEFAULT_STATE_DIR = 'duplex-state';

/**
 * Domain sync: the TCP port of the sync service, the largest project file, how many
 * previous versions of the domain file are kept beside it, and how often the files are
 * hashed in case a change was not signalled (network shares, some editors).
 */
/**
 * The status window's and admin API's port (127.0.0.1 only) is this plus the server's place in
 * the domain file's list (a: 47810, b: 47811, …), so its address stays the same across
 * restarts; `adminPort` in the server's entry overrides it. When it is taken the node does not
 * start (a program there could pose as the status window and collect the token); `adminPort: 0`
 * asks for any free port instead (admin.json always names the port in use).
 */
export const ADMIN_PORT_BASE = 47_810;

/**
 * The admin API and status window's door (127.0.0.1 only). Its users are a few status windows,
 * the tray and the CLI, one call at a time each: these bounds are far above what they need and
 * far below what would slow the node's thread.
 * - connections: open TCP connections at once (more are closed as they arrive);
 * - inFlight: requests being answered at once (more get 503 at once);
 * - sockets: status-window WebSockets at once (one per open window, the tray's);
 * - socketCalls: calls in flight per WebSocket (a window makes one at a time);
 * - headersMs / requestMs: a request's headers, and the whole request, must arrive within these;
 * - idleMs: a kept-alive connection with no request is closed after this;
 * - bodyBytes / frameBytes: a command is a few dozen bytes.
 */
export const ADMIN_DOOR = { connections: 64, inFlight: 16, sockets: 8, socketCalls: 4, headersMs: 5_000, requestMs: 10_000, idleMs: 5_000, bodyBytes: 16 * 1024, frameBytes: 16 * 1024 } as const;

/**
 * The metrics door: Prometheus scrapes every 15-60 s from one or two servers. One rendering
 * serves every scrape for `cacheMs` (a flood costs one rendering a second), at most `inFlight`
 * scrapes are answered at once and `connections` are open at once.
 */
export const METRICS_DOOR = { connections: 16, inFlight: 4, cacheMs: 1_000, headersMs: 5_000, requestMs: 10_000, idleMs: 30_000 } as const;

/** A door logs refused requests at most once a minute for each door and reason, with how many there were. */
export const REFUSAL_LOG_MS = 60_000;

export const DEFAULT_SYNC = { port: 47801, maxFileBytes: 2 * 1024 ** 3, keepVersions: 10, checkIntervalMs: 2_000, maxDomainFileBytes: 1024 ** 2 } as const;
/**
 * The domain file's size limit is `sync.maxDomainFileBytes` of the file itself (default 1 MB
 * above: a file with every feature, commented, is under 10 KB, so 1 MB leaves a hundred times
 * that and still bounds what a wrong file costs). It can be raised to at most this ceiling,
 * which every reader applies at the file's size, before reading a byte: parsing YAML is not
 * linear (a map of 40,000 keys took seconds here), so the ceiling bounds the worst parse.
 */
export const DOMAIN_FILE_CEILING_BYTES = 4 * 1024 ** 2;
/**
 * The periodic check reads and hashes the domain file only when its size, modification time,
 * change time or file id changed; once in this long it reads and hashes it all the same. A
 * network share may serve stale attributes (NFS caches them for up to 60 s by default) or
 * keep a coarse modification time (FAT: 2 s), so an edit of the same size within the same
 * tick would go unseen; this bounds how long. Reading 1 MB and hashing it takes a few ms.
 */
export const DOMAIN_REHASH_MS = 30_000;
/**
 * The sync port (TLS-PSK). A connection must finish its TLS handshake, and then send its
 * request line, within SYNC_HANDSHAKE_TIMEOUT_MS: a TLS 1.3 PSK handshake is one round trip
 * (under 1 ms on a LAN) and a few ms of work, and a node whose main thread stalls (stalls of
 * up to 0.9 s were measured under load) still makes it with 3× to spare; a silent or slow
 * client holds a slot no longer than that. An established connection that moves no byte for
 * SYNC_IDLE_TIMEOUT_MS is closed (a peer that stopped reading a transfer).
 */
export const SYNC_HANDSHAKE_TIMEOUT_MS = 3_000;
export const SYNC_IDLE_TIMEOUT_MS = 15_000;
/**
 * Connections at once on the sync port, in all and from one address. A peer uses one for a
 * transfer and one per relayed command or status question, so 16 from one address is plenty;
 * a host that holds 16 only takes its own address's share, never every peer's.
 */
export const SYNC_MAX_CONNECTIONS = 64;
export const SYNC_MAX_CONNECTIONS_PER_ADDRESS = 16;
/** A sync request that has not been answered (or has stalled) for this long fails and is retried. */
export const SYNC_REQUEST_TIMEOUT_MS = 15_000;
/** After a failed sync, wait this long before trying again. */
export const SYNC_RETRY_MS = 2_000;
/** A changed project file is synced only once it has not been modified for this long (it may still be being copied). */
export const SYNC_SETTLE_MS = 300;
/** File events are gathered this long before the files are read (editors write in steps). */
export const SYNC_DEBOUNCE_MS = 30;
/**
 * `duplex domain rollback` waits this long for the new revision to be in force here and on
 * every server that answers: the settle time, the periodic check as a fallback for a missed
 * file event, and transfers to a few servers, with room for a loaded machine.
 */
export const ROLLBACK_WAIT_MS = 15_000;

/** Probes: every second, 2 s to answer, 100 points off the score while failing; system limits. */
export const DEFAULT_PROBE = { intervalMs: 1_000, timeoutMs: 2_000, weight: 100, minFreeDiskMB: 500, maxMemoryPercent: 95, maxEventLoopDelayMs: 500 } as const;
/** Rated failover: the Active hands over when 50 points below the Standby for 5 s. */
export const DEFAULT_HEALTH = { marginPoints: 50, holdMs: 5_000 } as const;
/**
 * The OPC UA redundancy endpoint of each server.
 * - Every interface: the HMIs and historians that read ServiceLevel sit on the plant network,
 *   not on the redundancy link; a client still needs a certificate in the trust folder.
 * - No SecurityPolicy None: a client that is not in the trust list reads nothing, and nobody in
 *   the middle can fake the ServiceLevel that tells HMIs which server to use.
 * - 50 sessions: a domain's HMIs and historians with one or two sessions each, and the
 *   sessions a crashed client leaves behind until they expire; a session costs the endpoint's
 *   thread some tens of kB.
 * - 5 per client (one remote address with one certificate): an HMI's one or two sessions,
 *   plus those it abandoned when it crashed and came back within the session timeout. One
 *   client can never take more than a tenth of them.
 */
export const DEFAULT_OPCUA_SERVER = { port: 4841, standbyServiceLevel: 150, address: '0.0.0.0', allowUnsecured: false, maxSessions: 50, maxSessionsPerClient: 5 } as const;
/**
 * The longest session timeout an OPC UA client gets, whatever it asks for (node-opcua's own cap
 * is 50 min; UaExpert asks 20 min, the OPC Foundation's .NET stack 60 min). The client is told
 * the revised timeout and keeps its session alive within it (a read or a publish request);
 * a session a client abandoned (crashed, cable pulled) is freed after 60 s. Long enough for a
 * session to survive a switch reboot or a spanning-tree reconvergence (30-50 s) without the
 * HMI opening a new one.
 */
export const OPCUA_SESSION_TIMEOUT_MAX_MS = 60_000;
/**
 * Unknown client certificates land in the rejected folder, one file each; anybody who reaches
 * the port may send a new one with every connection. The oldest beyond this many are deleted
 * (a technician trusts a client within minutes of its first attempt, and the log names it).
 */
export const OPCUA_REJECTED_CERTIFICATES_KEPT = 100;
/**
 * How often a log line about one OPC UA client out of sessions may repeat (the line says what to
 * change; a client retrying all day is one line a minute), and one about a refused certificate
 * (the technician needs it once, when the client is installed; an HMI retries every few seconds).
 */
export const OPCUA_CLIENT_LOG_REPEAT_MS = 60_000;
export const OPCUA_CERTIFICATE_LOG_REPEAT_MS = 3_600_000;
/**
 * Prometheus metrics: served on 127.0.0.1 unless the domain file names an address. Nothing
 * outside this machine can reach them by default: a Prometheus on another machine needs
 * `metrics.address` (and, on a network others share, a bearer token or basic auth file).
 */
export const DEFAULT_METRICS = { address: '127.0.0.1' } as const;

/** How often the node checks that its own network interface still has its address. */
export const LINK_CHECK_INTERVAL_MS = 1_000;

/** A runtime that does not stop after SIGTERM is killed (with its process group) after this long. */
export const RUNTIME_STOP_TIMEOUT_MS = 5_000;
/** An activation or deactivation hook that has not finished after this long has failed (and is killed). */
export const RUNTIME_HOOK_TIMEOUT_MS = 10_000;
/** Restart of a runtime that exited on its own: 1 s, doubling, at most 30 s apart. */
export const RUNTIME_RESTART_INITIAL_MS = 1_000;
export const RUNTIME_RESTART_MAX_MS = 30_000;
/** 3 unexpected exits within a minute are a crash loop. */
export const RUNTIME_CRASH_LOOP_EXITS = 3;
export const RUNTIME_CRASH_LOOP_WINDOW_MS = 60_000;
/** Duplex's own logs (the node's, the guardian's) start over at this size, the old one kept as *.old.log. */
export const LOG_MAX_BYTES = 5 * 1024 * 1024;
/** The runtime's own output file starts over (keeping one old copy) at this size. */
export const RUNTIME_LOG_MAX_BYTES = 5 * 1024 * 1024;
