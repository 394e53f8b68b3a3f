/**
 * The virtual IP follows the runtime's active mode, on the node's side: added before the runtime
 * is asked for active mode (unless it is held for a technician), removed before any other mode
 * is reached (so a switchover's grant, which waits for that mode, comes after the removal).
 * The guardian adds and removes it, and removes it by itself whenever it kills the runtime.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { RuntimeMode } from '../engine/types';
import type { Pending, RuntimeControl } from '../node/ports';
import type { Logger } from '../util/logger';
import type { VipPlan, VipResult } from './holder';
import { cardOf, cardsOf, chooseCard, parseVip } from './plan';

/** The guardian's side of it (guardian/client.ts). */
export interface VipOwner {
  holdVip(on: boolean): Pending<VipResult>;
}

/** What status shows of the virtual IP on this server. */
export interface VipState {
  /** `10.20.0.100/24`. */
  address: string;
  /** The card that takes it here; null when none can (see `error`). */
  card: string | null;
  held: boolean;
  /** The last failure to choose a card, add or remove it, in plain words with the command that failed; null: none. */
  error: string | null;
}

/** The plan for this server from the domain file's section (null: no virtual IP), or why no card here can take it. */
export function vipPlanFor(section: { address: string; interface?: string | undefined } | undefined, serverInterface: string | undefined, cards = cardsOf(networkInterfaces())): VipPlan | string | null {
  if (!section) return null;
  const vip = parseVip(section.address);
  if (typeof vip === 'string') return vip;
  const card = chooseCard(vip, cards, serverInterface ?? section.interface);
  if (typeof card === 'string') return `cannot take the virtual IP ${section.address}: ${card}`;
  return { vip, card: cardOf(card.name) };
}

/**
 * Whether this process may add and remove addresses: root, or CAP_NET_ADMIN (Linux); on
 * Windows the service account's rights decide (null: cannot tell here). A text says why not.
 */
export function addressRight(): string | null {
  if (process.platform !== 'linux') return null;
  if (process.getuid?.() === 0) return null;
  try {
    const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (eff && (BigInt(`0x${eff}`) & (1n << 12n)) !== 0n) return null;
  } catch {
    // no /proc: cannot tell
  }
  return 'this node runs without root or CAP_NET_ADMIN: it cannot add or remove the virtual IP (run the service as root, or give node the capability: setcap cap_net_admin+ep)';
}

/**
 * A completion that calls back as soon as it is settled, without waiting for a microtask: on
 * the node a Promise settles it, and in the simulation (test/sim) the simulated clock does, so
 * that the simulation runs this very code.
 */
class Completion<T> implements Pending<T> {
  private result: { ok: true; value: T } | { ok: false; err: Error } | null = null;
  private readonly waiting: [(value: T) => void, (err: Error) => void][] = [];

  then(onDone: (value: T) => void, onFailed: (err: Error) => void): void {
    if (!this.result) this.waiting.push([onDone, onFailed]);
    else if (this.result.ok) onDone(this.result.value);
    else onFailed(this.result.err);
  }

  /** Settles as `p` does. */
  follow(p: Pending<T>): void {
    p.then((value) => this.settle({ ok: true, value }), (err) => this.settle({ ok: false, err }));
  }

  settle(result: { ok: true; value: T } | { ok: false; err: Error }): void {
    if (this.result) return;
    this.result = result;
    for (const [onDone, onFailed] of this.waiting.splice(0)) {
      if (result.ok) onDone(result.value);
      else onFailed(result.err);
    }
  }
}

/** `first`, then `next` with its value; fails when either fails. */
function after<T, U>(first: Pending<T>, next: (value: T) => Pending<U>): Pending<U> {
  const out = new Completion<U>();
  const failed = (err: Error) => out.settle({ ok: false, err });
  first.then((value) => {
    try {
      out.follow(next(value));
    } catch (e) {
      failed(e as Error);
    }
  }, failed);
  return out;
}

function settled<T>(value: T): Pending<T> {
  const out = new Completion<T>();
  out.settle({ ok: true, value });
  return out;
}

/** The runtime control the driver sees: the supervisor, with the virtual IP following its active mode. */
export class VipRuntime implements RuntimeControl {
  private state: VipState | null = null;

  /** Told when what status shows of the VIP changed. */
  onChange: () => void = () => undefined;

  /** `right`: whether this process may change addresses (the simulation has no process to ask). */
  constructor(private readonly runtime: RuntimeControl, private readonly owner: VipOwner, plan: VipPlan | string | null, address: string | null, private readonly log: Logger, private readonly right: () => string | null = addressRight) {
    this.replan(plan, address);
  }

  /** A new domain revision: the VIP (or its card) changed; the guardian moves a held one itself. */
  replan(plan: VipPlan | string | null, address: string | null): void {
    const held = this.state?.held ?? false;
    const card = typeof plan === 'object' && plan ? plan.card : null;
    this.state = address === null ? null : { address, card, held: held && card !== null, error: typeof plan === 'string' ? plan : card !== null ? this.right() : null };
  }

  /** The guardian killed the runtime and removed the VIP with it. */
  lost(): void {
    if (this.state) this.state.held = false;
    this.onChange();
  }

  /** What status shows (null: no virtual IP configured). */
  get vip(): Readonly<VipState> | null {
    return this.state;
  }

  /**
   * Active mode: the VIP first, then the runtime (one `ip address add`, about 10 ms): a runtime
   * that listens on the VIP itself finds it on the card, and the announcement goes out before
   * the runtime's start competes with it. A VIP that cannot be added does not keep the runtime
   * from starting (status says why). Any other mode: the VIP goes first.
   */
  setMode(mode: RuntimeMode): Pending<void> {
    const done = new Completion<void>();
    this.latest = done;
    this.wanted = mode;
    /** A newer mode was asked meanwhile: this one completes with it (the supervisor converges to the newest mode so too). */
    const superseded = () => {
      if (this.latest === done) return false;
      done.follow(this.latest);
      return true;
    };
    this.inTurn(() => {
      if (superseded()) return settled(undefined);
      const vip = mode !== 'active' ? this.move(false) : this.runtime.held() ? settled(undefined) : this.move(true);
      return after(vip, () => {
        if (!superseded()) done.follow(this.runtime.setMode(mode));
        return settled(undefined);
      });
    });
    return done;
  }

  /**
   * The VIP's changes one after the other, each mode asked of the runtime in the order the
   * driver asked, and only the newest: a stop asked while the VIP is still being added for
   * active mode waits for the add, then removes the VIP, and the runtime is never asked for
   * active mode after it (a node that froze during the add wakes, steps down, and must not
   * start its runtime as Active when the add's answer is read).
   */
  private turn: Pending<void> = settled(undefined);
  private latest: Completion<void> = new Completion<void>();
  /** The newest mode the driver asked for. */
  private wanted: RuntimeMode = 'stopped';
  private inTurn(step: () => Pending<void>): Pending<void> {
    const mine = after(this.turn, step);
    const next = new Completion<void>();
    mine.then(() => next.settle({ ok: true, value: undefined }), () => next.settle({ ok: true, value: undefined }));
    this.turn = next;
    return mine;
  }

  hold(reason: string): void {
    this.runtime.hold(reason);
  }

  dropHold(): void {
    this.runtime.dropHold();
  }

  /**
   * A technician lifts the hold: the VIP first, in turn, then the runtime, as for active mode;
   * only while active mode is still the newest asked (a node that stepped down meanwhile gets
   * no VIP, and a step-down after it removes it in its own turn).
   */
  resume(): Pending<boolean> {
    let resumed: Pending<boolean> = settled(false);
    const asked = this.inTurn(() => after(this.wanted === 'active' && this.runtime.held() !== null ? this.move(true) : settled(undefined), () => {
      resumed = this.runtime.resume();
      return settled(undefined);
    }));
    return after(asked, () => resumed);
  }

  held(): string | null {
    return this.runtime.held();
  }

  /** Asks the guardian to add or remove the VIP; a failure is logged with the command and kept for status. */
  private move(on: boolean): Pending<void> {
    const s = this.state;
    if (!s || s.card === null) return settled(undefined);
    if (!on && !s.held && s.error === null) return settled(undefined); // nothing here to remove
    return after(this.owner.holdVip(on), (r) => {
      s.held = on && r.ok;
      s.error = r.ok ? null : r.message;
      this.onChange();
      if (!r.ok) this.log.error('vip', `${on ? 'could not add' : 'could not remove'} ${s.address} on ${s.card}: ${r.message}`);
      return settled(undefined);
    });
  }
}
