/**
 * Between a node and its guardian: one JSON object per line over a local socket (a Unix
 * socket in the node's folder, a named pipe on Windows). The guardian writes `guardian.json`
 * (its pid, socket and a token) in the node's folder; only a process that can read that file
 * can talk to it.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { ProcessMode } from '../runtime/plan';
import type { StartSpec } from '../runtime/host';
import type { VipPlan } from '../vip/holder';

/** Where the multicast release goes: the domain's group and port, out of the redundancy card. */
export interface ReleaseRoute {
  group: string;
  port: number;
  iface: string;
  ttl: number;
}

export type ToGuardian =
  | { t: 'hello'; token: string; server: string; leaseMs: number }
  | { t: 'route'; route: ReleaseRoute }
  /**
   * `notice`: the sealed release datagram (base64) to multicast after a kill; null unless Active.
   * `quorumMs`: with quorum, how much longer a majority of the voters supports the Active term;
   * the runtime is killed when it runs out even if the node goes on renewing (null: no quorum).
   */
  | { t: 'renew'; notice: string | null; term: number | null; standbyReady: boolean; quorumMs: number | null }
  /** The node lost the majority's support: kill the runtime now. */
  | { t: 'fence'; reason: string }
  | { t: 'start'; id: number; spec: StartSpec }
  | { t: 'signal'; pid: number; signal: NodeJS.Signals }
  /** The node stops cleanly: its runtime is stopped; the guardian multicasts `notice` (if any) and ends once the node has gone. */
  | { t: 'bye'; notice: string | null }
  /** The virtual IP the domain file asks for on this server (null: none). The guardian removes it whenever it kills the runtime. */
  | { t: 'vip'; plan: VipPlan | null }
  /** Add (`on`) or remove the virtual IP; answered by `vip-done` with the same id. */
  | { t: 'vip-hold'; id: number; on: boolean };

export interface HeldProcess {
  name: string;
  pid: number;
  mode: ProcessMode;
}

export type FromGuardian =
  /** `term`: the Active term whose runtime still runs under a lease that has not run out (the node may take it back), for `leaseLeftMs` more. */
  | { t: 'welcome'; pid: number; processes: HeldProcess[]; fenced: string | null; term: number | null; leaseLeftMs: number | null }
  | { t: 'refused'; message: string }
  | { t: 'started'; id: number; pid: number }
  | { t: 'start-failed'; id: number; message: string }
  /** `at`: when it exited (ms since 1970); absent from an older guardian. */
  | { t: 'exit'; pid: number; how: string; at?: number }
  /**
   * The guardian killed the runtime (or found none to kill). One fence, one `id`: asked again
   * (the node's own request after it woke, a renewal from before it knew) while nothing has
   * started since, the guardian answers with the same fence. `at`: when it was done (ms since
   * 1970); `killed`: what it killed, null when no runtime process was running. All three are
   * absent from an older guardian.
   */
  | { t: 'fenced'; reason: string; id?: number; at?: number; killed?: string | null }
  /** How adding or removing the virtual IP went (`vip-hold` request `id`). */
  | { t: 'vip-done'; id: number; ok: boolean; message: string };

/** What the guardian writes in the node's folder once it listens. */
export interface GuardianFile {
  pid: number;
  socket: string;
  token: string;
}

export const GUARDIAN_FILE = 'guardian.json';

/** The guardian's socket for a node folder: beside it when the path is short enough, else in the temp folder. */
export function guardianSocket(dir: string): string {
  const id = createHash('sha256').update(dir).digest('hex').slice(0, 16);
  if (process.platform === 'win32') return `\\\\.\\pipe\\duplex-guardian-${id}`;
  const beside = join(dir, 'guardian.sock');
  // Unix socket paths are limited to 107 bytes.
  return Buffer.byteLength(beside) <= 100 ? beside : join(tmpdir(), `duplex-guardian-${id}.sock`);
}

/** Calls `onMessage` with every JSON line that arrives; a line that is not JSON ends the connection. */
export function readLines<T>(socket: Socket, onMessage: (msg: T) => void): void {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buffered += chunk;
    for (;;) {
      const nl = buffered.indexOf('\n');
      if (nl < 0) break;
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line) continue;
      let msg: T;
      try {
        msg = JSON.parse(line) as T;
      } catch {
        socket.destroy();
        return;
      }
      onMessage(msg);
    }
  });
}

export function writeLine(socket: Socket, msg: ToGuardian | FromGuardian): void {
  if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify(msg)}\n`);
}
