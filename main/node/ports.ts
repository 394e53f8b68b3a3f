/**
 * The ports of the engine driver (driver.ts): small interfaces, each with a real
 * implementation (net/transport.ts, runtime/runtime.ts, node/state-store.ts, guardian/client.ts,
 * node/networks.ts, node/clock.ts) and a simulated one (test/sim). They live apart from the
 * driver so that the adapters depend on these words only, never on the node.
 */
import type { Heartbeat, PersistedState, RuntimeMode } from '../engine/types';

/** A completion the driver waits on: a Promise, or the simulation's synchronous stand-in. */
export interface Pending<T> {
  then(onDone: (value: T) => void, onFailed: (err: Error) => void): unknown;
}

/** Time, on this server's own monotonic clock, and one-shot timers. */
export interface Clock {
  /** Monotonic milliseconds: wall-clock jumps never look like silence. */
  now(): number;
  /** Wall-clock milliseconds since 1970, only for the times people read (role events). */
  wallMs(): number;
  /** Calls `fn` at monotonic time `at` (or as soon as it can after); returns the cancel. */
  setTimer(at: number, fn: () => void): () => void;
}

/** Sends heartbeats to the domain (the UDP multicast transport implements it). */
export interface HeartbeatTransport {
  /** Throws when the datagram cannot be handed to the network. */
  send(msg: Heartbeat): void;
  /** The card is back: join the multicast group again. */
  rejoin(): void;
}

/** The local runtime (the supervisor implements it). `setMode` completes once the mode is reached. */
export interface RuntimeControl {
  setMode(mode: RuntimeMode): Pending<void>;
  /** Keep the active runtime from starting until `resume()`. */
  hold(reason: string): void;
  dropHold(): void;
  /** Lifts a hold; false when nothing was held. */
  resume(): Pending<boolean>;
  /** Why the active runtime is held, null when it is not. */
  held(): string | null;
}

/** Where the engine's persisted state is kept (a file, or memory in the simulation). */
export interface StateStore {
  /** Throws when the state cannot be kept (the message names the file and the reason). */
  write(state: PersistedState): void;
}

/**
 * The guardian's lease (main/guardian): renewed with every heartbeat sent. When renewals stop
 * (the node froze) or the node's connection closes (it died), the guardian kills the runtime
 * and multicasts `notice`.
 */
export interface LeaseHolder {
  /**
   * `notice`: the release to multicast after a kill (null unless this server is Active);
   * `standbyReady`: a Standby can take over at once; `quorumMs`: with quorum, how much longer a
   * majority supports the Active term (the guardian kills when it runs out; null: no quorum).
   * As the engine's last output gave them (engine/types.ts `Lease`).
   */
  renew(notice: Heartbeat | null, standbyReady: boolean, quorumMs: number | null): void;
  /** Kill the active runtime now (not a graceful stop): the majority's support ran out. */
  fence(reason: string): void;
}

/** Whether this server's own redundancy network card is there. */
export interface LinkCheck {
  up(): boolean;
  /** What is checked (the card's address), for logs and the engine's reason. */
  readonly detail: string;
}
