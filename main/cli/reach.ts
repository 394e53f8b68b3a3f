/**
 * How the CLI reaches a server's node. A node's admin endpoint is found from the domain file
 * (`<stateDir>/<server>/admin.json`); on a plant only this machine's node has one here. So a
 * question or a command for server X goes to X's own node when it runs on this machine, and
 * otherwise to a node of this machine (--via, or any server of the domain whose node runs
 * here), which relays it to X's node over the domain's authenticated channel: `GET
 * /domain?server=X` for X's status (the relay asks X alone; a node older than that parameter
 * answers with every server's), `POST /command` with `"server": X` for a command.
 *
 * The domain file is read once per command, whatever is asked of it (cli/domain-file.ts).
 *
 * Every question waits --timeout for the answer. A command is sent only after its node has
 * answered a question within --timeout (so a frozen node is exit 3 within it); the command
 * itself may then take a whole switchover (the node's own limit, below).
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DEFAULT_TIMINGS } from '../defaults';
import { UnknownServerError, type DomainLocation } from '../domain/location';
import { askNode, NoAnswerError, NoNodeError, type AdminReply } from '../node/admin-client';
import { nodePaths } from '../node/paths';
import { MAX_DOMAIN_WAIT_MS, type Command, type CommandOutcome, type DomainView, type StatusView } from '../ui/contract';
import type { DomainFile } from './domain-file';

/**
 * How long a command the node has taken may run: the node answers by itself after twice the
 * handover timeout (driver.ts submit()), so this waits for that and 5 s more.
 */
export const COMMAND_WAIT_MS = DEFAULT_TIMINGS.handoverTimeoutMs * 2 + 5_000;

export interface Where {
  /** The domain file, read once for the whole command. */
  file: DomainFile;
  /** The server asked about, or told to do something. */
  server: string;
  /** The node of this machine to relay through (--via). */
  via?: string;
  timeoutMs: number;
}

export function warnInvalid(problem: Error): void {
  process.stderr.write(`warning: ${problem.message}\n(the node keeps the last good revision in force; asking it anyway)\n`);
}

/**
 * The servers of the domain file, in order; a server to `check` that is not among them is an
 * UnknownServerError. null when the file is not valid (the warning says why; nothing is checked then).
 */
async function serversOf(file: DomainFile, ...check: (string | undefined)[]): Promise<string[] | null> {
  const full = await file.full();
  if (full.problem) {
    warnInvalid(full.problem);
    return null;
  }
  const names = full.domain.config.servers.map((s) => s.name);
  for (const s of check) {
    if (s !== undefined && !names.includes(s)) throw new UnknownServerError(s, full.domain.file, names);
  }
  return names;
}

/** The servers whose node has left its endpoint on this machine: the domain's order, or the state folder's when the file is not valid. */
async function nodesHere(file: DomainFile, names: string[] | null): Promise<string[]> {
  const domain = await file.location();
  const root = dirname(nodePaths(domain, '.').dir);
  let all = names;
  if (!all) {
    try {
      all = readdirSync(root).sort();
    } catch {
      all = [];
    }
  }
  return all.filter((s) => existsSync(nodePaths(domain, s).admin));
}

/** What to do about a node that does not answer in time: said once, for every command. */
function frozenHelp(domain: DomainLocation, file: DomainFile, server: string): string {
  return `Is it frozen (stopped, or its machine overloaded)? Ask another server: duplex status --all --domain ${file.path} --server <another>; its log is ${nodePaths(domain, server).log}`;
}

/** One admin call to `server`'s own node. 401 is an error with the fix; no node is NoNodeError with what to do. */
async function direct(file: DomainFile, server: string, method: string, path: string, timeoutMs: number, body?: unknown): Promise<AdminReply> {
  const domain = await file.location();
  try {
    const r = await askNode(domain, server, method, path, body, timeoutMs);
    if (r.status === 401) throw new Error(`the node for ${server} refused the admin token in ${nodePaths(domain, server).admin}; run this command as the user who runs the node`);
    return r;
  } catch (e) {
    if (e instanceof NoAnswerError) throw new NoAnswerError(`the node of ${server} did not answer within ${e.timeoutMs} ms. ${frozenHelp(domain, file, server)}`, e.timeoutMs);
    throw e;
  }
}

/** The nodes of this machine that may relay, in the domain file's order (--via alone when given). */
async function relays(file: DomainFile, target: string, via: string | undefined): Promise<string[]> {
  const names = await serversOf(file, target, via);
  if (via !== undefined) return [via];
  return (await nodesHere(file, names)).filter((s) => s !== target);
}

/**
 * Asks the nodes of `servers` in turn: the first answer, or (none runs) what each said. A node
 * that runs but does not answer in time ends the search (NoAnswerError), as any other error does.
 */
async function firstRunning<T>(servers: string[], ask: (server: string) => Promise<T>): Promise<{ value: T; server: string } | { tried: string[] }> {
  const tried: string[] = [];
  for (const server of servers) {
    try {
      return { value: await ask(server), server };
    } catch (e) {
      if (!(e instanceof NoNodeError) || e instanceof NoAnswerError) throw e;
      tried.push(`${server} (${e.message})`);
    }
  }
  return { tried };
}

/** Asks the first relay of this machine that runs; NoNodeError naming them when none does. */
async function throughRelay<T>(w: Where, what: (relay: string) => Promise<T>): Promise<{ value: T; relay: string }> {
  const r = await firstRunning(await relays(w.file, w.server, w.via), what);
  if ('value' in r) return { value: r.value, relay: r.server };
  const { tried } = r;
  const domain = await w.file.location();
  const relayed = tried.length ? `no node of this machine relays to it (tried ${tried.join(', ')})` : 'no other server of the domain has a node here to relay';
  throw new NoNodeError(`no Duplex node is running for server ${w.server} of domain file ${domain.file} on this machine, and ${relayed}; if it should run here, start it with: duplex run --domain ${w.file.path} --server ${w.server}`);
}

/** Whether `server`'s own node is asked first: unless --via names another. */
const asksDirect = (w: Where): boolean => w.via === undefined || w.via === w.server;

/**
 * `GET /domain` of the node of `asked`: every server of the domain with its status, or (`only`)
 * that server's alone, asked of it only. null from a node too old to have the call; a node older
 * than `server=` answers with every server's. A server the node's domain file does not have is
 * an UnknownServerError.
 */
async function askDomain(file: DomainFile, asked: string, timeoutMs: number, only?: string): Promise<DomainView | null> {
  // The node waits for its peers a little less than we wait for it, so that its answer arrives in time.
  const peerWait = Math.min(MAX_DOMAIN_WAIT_MS, Math.max(100, timeoutMs - Math.min(1_000, Math.floor(timeoutMs / 4))));
  const r = await direct(file, asked, 'GET', `/domain?timeoutMs=${peerWait}${only === undefined ? '' : `&server=${encodeURIComponent(only)}`}`, timeoutMs);
  if (r.status === 404) {
    // The node's 404 for a server it does not know lists its servers; an older node's 404 (no such call) does not.
    const servers = (r.body as { servers?: unknown } | null)?.servers;
    if (only !== undefined && Array.isArray(servers)) throw new UnknownServerError(only, `the domain file of the node of ${asked}`, servers.map(String));
    return null;
  }
  if (r.status !== 200) throw new Error(`the node of ${asked} answered GET /domain with ${r.status}: ${(r.body as { message?: string }).message ?? ''}`);
  return r.body as DomainView;
}

/** The domain as the node of `asked` gathers it. */
export async function domainViewOf(file: DomainFile, asked: string, timeoutMs: number): Promise<DomainView> {
  const view = await askDomain(file, asked, timeoutMs);
  if (!view) throw new Error(tooOld(asked));
  return view;
}

/** A node that answers GET /domain with 404 runs an older Duplex than this CLI. */
const tooOld = (node: string) => `the node of ${node} runs an older Duplex than this command (it cannot gather the domain's status nor relay); restart it with this version, or run the command on the server's own machine`;

/** Any node of this machine that gathers the domain's view: --via or --server first, then every server of the domain in order. */
export async function anyDomainView(file: DomainFile, preferred: string | undefined, timeoutMs: number): Promise<DomainView> {
  const domain = await file.location();
  const names = await nodesHere(file, await serversOf(file, preferred));
  const here = preferred === undefined ? names : [preferred, ...names.filter((s) => s !== preferred)];
  const r = await firstRunning(here, (server) => domainViewOf(file, server, timeoutMs));
  if ('value' in r) return r.value;
  const { tried } = r;
  throw new NoNodeError(`no Duplex node of domain file ${domain.file} runs on this machine${tried.length ? ` (tried ${tried.join(', ')})` : ''}; start one with: duplex run --domain ${file.path} --server <name>`);
}

/** A server's status: from its own node, or relayed by a node of this machine (then `relayedBy` names it). */
export async function statusOf(w: Where): Promise<{ status: StatusView; relayedBy: string | null }> {
  if (asksDirect(w)) {
    try {
      return { status: (await direct(w.file, w.server, 'GET', '/status', w.timeoutMs)).body as StatusView, relayedBy: null };
    } catch (e) {
      if (!(e instanceof NoNodeError) || e instanceof NoAnswerError) throw e;
    }
  }
  const { value, relay } = await throughRelay(w, (relay) => relayedEntry(w, relay));
  return { status: value, relayedBy: relay };
}

/**
 * The target's status as the relay fetched it from the target alone, within the timeout. It also
 * shows that the relay knows the "server" field of a command (an older node would carry the
 * command out itself).
 */
async function relayedEntry(w: Where, relay: string): Promise<StatusView> {
  const view = await askDomain(w.file, relay, w.timeoutMs, w.server);
  if (!view) throw new Error(tooOld(relay));
  return entryOf(view, w.server, relay);
}

/** The target's entry of a relay's domain view (its only one, or one of all from an older node): a server it does not know is wrong usage, one it cannot reach is NoNodeError. */
function entryOf(v: DomainView, server: string, relay: string): StatusView {
  const e = v.servers.find((s) => s.server === server);
  if (!e) throw new UnknownServerError(server, `the domain file of the node of ${relay}`, v.servers.map((s) => s.server));
  if (!e.status) throw new NoNodeError(`${server} cannot be reached from the node of ${relay}: ${e.error ?? 'no reason given'}`);
  return e.status;
}

export interface Sent {
  outcome: CommandOutcome;
  relayedBy: string | null;
}

/**
 * Sends a command to the node of `w.server`, or through a relay. Its node must first answer
 * within the timeout; then the command may run for COMMAND_WAIT_MS (or the timeout, when longer).
 */
export async function sendCommand(w: Where, cmd: Command): Promise<Sent> {
  const wait = Math.max(w.timeoutMs, COMMAND_WAIT_MS);
  const late = (e: unknown, relay: string | null): never => {
    if (!(e instanceof NoAnswerError)) throw e;
    throw new NoAnswerError(`${w.server} took the command${relay ? ` (relayed by ${relay})` : ''} but did not answer within ${wait} ms: it may still be carried out. Check with: duplex status --all --domain ${w.file.path}${relay ? ` --server ${relay}` : ` --server ${w.server}`}`, wait);
  };
  if (asksDirect(w)) {
    let alive = false;
    try {
      await direct(w.file, w.server, 'GET', '/status', w.timeoutMs);
      alive = true;
    } catch (e) {
      if (!(e instanceof NoNodeError)) throw e;
      if (e instanceof NoAnswerError) throw new NoAnswerError(`${e.message} The command was not sent.`, e.timeoutMs);
    }
    if (alive) {
      const r = await direct(w.file, w.server, 'POST', '/command', wait, cmd).catch((e) => late(e, null));
      return { outcome: r.body as CommandOutcome, relayedBy: null };
    }
  }
  // The target must answer the relay within the timeout before the command is sent.
  const { relay } = await throughRelay(w, (relay) => relayedEntry(w, relay));
  const r = await direct(w.file, relay, 'POST', '/command', wait, { ...cmd, server: w.server }).catch((e) => late(e, relay));
  if (r.status === 502) throw new NoNodeError(`${(r.body as CommandOutcome).message} (relayed by ${relay})`);
  return { outcome: r.body as CommandOutcome, relayedBy: relay };
}

/**
 * The status of this machine's node of `server`, never relayed (for what reads or writes this
 * machine's files: rollback, diag). No node: NoNodeError saying how to start one.
 */
export async function ownStatus(file: DomainFile, server: string, timeoutMs: number): Promise<StatusView> {
  try {
    return (await direct(file, server, 'GET', '/status', timeoutMs)).body as StatusView;
  } catch (e) {
    if (!(e instanceof NoNodeError) || e instanceof NoAnswerError) throw e;
    await serversOf(file, server);
    throw new NoNodeError(`no Duplex node is running for server ${server} of domain file ${(await file.location()).file} (${e.message}); start it with: duplex run --domain ${file.path} --server ${server}`);
  }
}
