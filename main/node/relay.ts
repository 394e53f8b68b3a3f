/**
 * Control from any console: a node relays a command to another server's node, and asks every
 * server of the domain, or one alone, for its status, over the domain's authenticated channel
 * (the sync service: TLS with a key derived from the domain secret, so nobody without the
 * secret gets a handshake). The server that carries a relayed command out logs where it came
 * from, and it gets exactly the refusals a local command gets: it is the same command on that node.
 */
import { UnknownServerError } from '../domain/location';
import { parseCommand, type Command, type CommandOutcome, type DomainView, type StatusView } from '../ui/contract';
import type { Logger } from '../util/logger';

/** How long a domain view waits for each server's status by default. */
export const DOMAIN_VIEW_TIMEOUT_MS = 2_000;
/** A relayed command waits as long as the target waits for it to finish, plus this for the way there and back. */
export const RELAY_MARGIN_MS = 2_000;

/** The domain's authenticated channel to the other servers' nodes (DomainSync.call). */
export type PeerCall = (server: string, req: Record<string, unknown>, timeoutMs: number) => Promise<Record<string, unknown>>;

/** This node's side: its status, and its commands (with the server that asked, for the log). */
export interface LocalNode {
  server: string;
  status(): StatusView;
  command(cmd: Command): Promise<CommandOutcome>;
}

/** Answers the calls of other servers' nodes: `status`, and `command` relayed from their console. */
export function servePeers(local: LocalNode, log: Logger): (req: Record<string, unknown>, from: string) => Promise<Record<string, unknown>> | null {
  return (req, from) => {
    if (req.op === 'status') return Promise.resolve({ status: local.status() });
    if (req.op !== 'command') return null;
    const by = typeof req.by === 'string' ? req.by.slice(0, 63) : 'an unnamed server';
    const cmd = parseCommand(req.cmd);
    if (!cmd) {
      log.warn('security', `refused a relayed command from ${by} (${from}): not a command`);
      return Promise.resolve({ outcome: { ok: false, message: `${local.server} refused: not a command` } });
    }
    log.info('command', `${describe(cmd)} asked from the console of ${by} (${from}), relayed by its node`);
    return local.command(cmd).then((outcome) => ({ outcome }));
  };
}

/** A command in the words of the CLI, for logs. */
function describe(cmd: Command): string {
  return cmd.kind === 'maintenance' ? `maintenance ${cmd.on ? 'on' : 'off'}${cmd.force ? ' --force' : ''}` : cmd.kind;
}

/** The reply of a relayed command: the target's outcome, or why it could not be reached. */
export class Relay {
  constructor(private readonly local: LocalNode, private readonly servers: () => readonly string[], private readonly call: PeerCall, private readonly log: Logger) {}

  /** Runs `cmd` on `server`: here, or relayed to its node (waiting up to `timeoutMs` for the outcome). */
  async command(cmd: Command, server: string, timeoutMs: number): Promise<CommandOutcome> {
    if (server === this.local.server) return this.local.command(cmd);
    if (!this.servers().includes(server)) {
      return { ok: false, message: `server "${server}" is not in the domain file; its servers are: ${this.servers().join(', ')}` };
    }
    this.log.info('command', `${describe(cmd)} for ${server} asked here; relaying it to ${server}'s node`);
    try {
      const answer = await this.call(server, { op: 'command', cmd, by: this.local.server }, timeoutMs);
      const o = answer.outcome as Partial<CommandOutcome> | undefined;
      if (typeof o?.ok !== 'boolean' || typeof o.message !== 'string') throw new Error('it answered something that is not an outcome (a different version?)');
      this.log.info('command', `${describe(cmd)} on ${server}: ${o.ok ? 'done' : 'refused'}: ${o.message}`);
      return { ok: o.ok, message: o.message };
    } catch (e) {
      const message = `cannot reach the node of ${server} from ${this.local.server}: ${(e as Error).message}. Is ${server} running and on the redundancy network? If the command was delivered it may still be carried out; check with duplex status --all`;
      this.log.warn('command', message);
      return { ok: false, message, unreachable: true };
    }
  }

  /**
   * Every server's own status, asked at once; or, with `only`, that server's alone (no other is
   * asked; one the domain file does not have is an UnknownServerError). A server that does not
   * answer within `timeoutMs` says why.
   */
  async domain(domain: string, timeoutMs: number, only?: string): Promise<DomainView> {
    const all = this.servers();
    if (only !== undefined && !all.includes(only)) throw new UnknownServerError(only, `the domain file of ${this.local.server}`, all);
    const servers = await Promise.all((only === undefined ? all : [only]).map((server) => this.statusOf(server, timeoutMs)));
    return { domain, from: this.local.server, servers };
  }

  /** `server`'s own status: this node's, or one call to its node; why not, when it does not answer within `timeoutMs`. */
  private async statusOf(server: string, timeoutMs: number): Promise<DomainView['servers'][number]> {
    if (server === this.local.server) return { server, status: this.local.status(), error: null };
    try {
      const answer = await this.call(server, { op: 'status' }, timeoutMs);
      const status = answer.status as StatusView | undefined;
      if (typeof status !== 'object' || status === null || status.server !== server) throw new Error('it answered something that is not its status');
      return { server, status, error: null };
    } catch (e) {
      return { server, status: null, error: (e as Error).message };
    }
  }
}
