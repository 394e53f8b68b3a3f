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
  holdVip(on: boolean): Promise<VipResult>;
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

const promise = <T>(p: Pending<T>): Promise<T> => new Promise((resolve, reject) => p.then(resolve, reject));

/** The runtime control the driver sees: the supervisor, with the virtual IP following its active mode. */
export class VipRuntime implements RuntimeControl {
  private state: VipState | null = null;

  /** Told when what status shows of the VIP changed. */
  onChange: () => void = () => undefined;

  constructor(private readonly runtime: RuntimeControl, private readonly owner: VipOwner, plan: VipPlan | string | null, address: string | null, private readonly log: Logger) {
    this.replan(plan, address);
  }

  /** A new domain revision: the VIP (or its card) changed; the guardian moves a held one itself. */
  replan(plan: VipPlan | string | null, address: string | null): void {
    const held = this.state?.held ?? false;
    const card = typeof plan === 'object' && plan ? plan.card : null;
    this.state = address === null ? null : { address, card, held: held && card !== null, error: typeof plan === 'string' ? plan : card !== null ? addressRight() : null };
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
    const vip = mode !== 'active' ? this.move(false) : this.runtime.held() ? Promise.resolve() : this.move(true);
    return vip.then(() => promise(this.runtime.setMode(mode)));
  }

  hold(reason: string): void {
    this.runtime.hold(reason);
  }

  dropHold(): void {
    this.runtime.dropHold();
  }

  resume(): Pending<boolean> {
    return promise(this.runtime.resume()).then(async (resumed) => {
      if (resumed) await this.move(true);
      return resumed;
    });
  }

  held(): string | null {
    return this.runtime.held();
  }

  /** Asks the guardian to add or remove the VIP; a failure is logged with the command and kept for status. */
  private async move(on: boolean): Promise<void> {
    const s = this.state;
    if (!s || s.card === null) return;
    if (!on && !s.held && s.error === null) return; // nothing here to remove
    const r = await this.owner.holdVip(on);
    s.held = on && r.ok;
    s.error = r.ok ? null : r.message;
    this.onChange();
    if (!r.ok) this.log.error('vip', `${on ? 'could not add' : 'could not remove'} ${s.address} on ${s.card}: ${r.message}`);
  }
}
