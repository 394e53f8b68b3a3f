/**
 * Holding the virtual IP on this machine: adds it (and announces it), removes it, and knows
 * whether it holds it. The guardian owns one (it removes the VIP whenever it kills the
 * runtime, before the release); the command lines come from plan.ts, run without a shell by
 * `run`, which a test replaces.
 */
import { execFile } from 'node:child_process';
import { networkInterfaces } from 'node:os';
import { cardsOf, commandsFor, heldOn, type Argv, type Vip } from './plan';

/** What the domain file asks for on this server: the VIP and the card that takes it. */
export interface VipPlan {
  vip: Vip;
  card: string;
}

/** How one command went: ok, or what failed in words a technician reads (the command line and its error). */
export interface VipResult {
  ok: boolean;
  message: string;
}

/** Runs one command line; resolves with its failure in words, or null when it worked. */
export type CommandRunner = (argv: Argv) => Promise<string | null>;

/** How long one ip/arping/netsh call may take before it counts as failed. */
export const VIP_COMMAND_TIMEOUT_MS = 5_000;

/** The real runner: execFile, no shell, bounded. */
export const runCommand: CommandRunner = (argv) => new Promise((resolve) => {
  execFile(argv[0]!, argv.slice(1), { timeout: VIP_COMMAND_TIMEOUT_MS, windowsHide: true }, (err, _out, stderr) => {
    if (!err) return resolve(null);
    const why = String(stderr).trim().split('\n').pop() || err.message;
    resolve(`${argv.join(' ')} failed: ${why}`);
  });
});

/**
 * The card holding the VIP on this machine now (null: none). Linux asks the kernel (`ip
 * address show to`), which lists an address on a card whose link is down too: a cut cable
 * must not hide a VIP that has to go (os.networkInterfaces() leaves such cards out). Windows
 * reads os.networkInterfaces().
 */
export function vipOnMachine(vip: Vip): Promise<string | null> {
  if (process.platform === 'win32') return Promise.resolve(heldOn(vip, cardsOf(networkInterfaces())));
  return new Promise((resolve) => {
    execFile('ip', ['-o', '-4', 'address', 'show', 'to', `${vip.address}/32`], { timeout: VIP_COMMAND_TIMEOUT_MS }, (err, out) => {
      if (err) return resolve(heldOn(vip, cardsOf(networkInterfaces())));
      resolve(/^\d+:\s+(\S+)/m.exec(out)?.[1] ?? null);
    });
  });
}

export class VipHolder {
  private plan: VipPlan | null = null;
  private holding = false;
  /** The announcement under way (tests wait for it). */
  announcing: Promise<unknown> = Promise.resolve();
  /** Told when an announcement failed (the guardian logs it). */
  onAnnounceFailed: (message: string) => void = () => undefined;

  constructor(private readonly run: CommandRunner = runCommand, private readonly onMachine: (vip: Vip) => Promise<string | null> = vipOnMachine, private readonly platform: NodeJS.Platform = process.platform) {}

  /**
   * One change at a time, in the order asked: a fence's removal that comes while an add is
   * still running waits for it, and then removes what it added. Run side by side, the removal
   * could find nothing yet, the release go out, and the add land after it: the VIP on two
   * servers.
   */
  private queue: Promise<unknown> = Promise.resolve();
  private inTurn<T>(change: () => Promise<T>): Promise<T> {
    const turn = this.queue.then(change);
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** The VIP as the domain file asks for it now (null: none). A VIP held under another plan is removed first. */
  configure(plan: VipPlan | null): Promise<VipResult | null> {
    return this.inTurn(async () => {
      const same = plan && this.plan && plan.vip.address === this.plan.vip.address && plan.vip.prefix === this.plan.vip.prefix && plan.card === this.plan.card;
      if (same) return null;
      const wasHeld = this.holding;
      const removed = this.plan ? await this.removeNow() : null;
      // Not removed: the old plan stays, so that the next removal (a fence's, a stop's) tries it again.
      if (removed && !removed.ok) return removed;
      this.plan = plan;
      if (wasHeld && plan) return this.addNow();
      return removed;
    });
  }

  get held(): boolean {
    return this.holding;
  }

  /** The address this holder is about, `10.20.0.100/24 on eth0` (null: none configured). */
  get describe(): string | null {
    return this.plan ? `${this.plan.vip.address}/${this.plan.vip.prefix} on ${this.plan.card}` : null;
  }

  /**
   * Adds the VIP and announces it. The add is tried at once, the machine asked only when it
   * fails: the question is a second command, and a failover waits for this one. Already on
   * the machine (a restart of the node, a second call): the add fails, and it is announced again.
   */
  add(): Promise<VipResult> {
    return this.inTurn(() => this.addNow());
  }

  private async addNow(): Promise<VipResult> {
    const { plan } = this;
    if (!plan) return { ok: true, message: 'no virtual IP configured' };
    const commands = commandsFor(this.platform, plan.vip, plan.card);
    const failed = await this.run(commands.add);
    if (failed && (await this.onMachine(plan.vip)) === null) return { ok: false, message: failed };
    this.holding = true;
    // The announcement takes a second (its frames go out 1 s apart): it goes on in the background.
    if (commands.announce) {
      const announce = commands.announce;
      this.announcing = this.run(announce).then((failed) => failed && this.onAnnounceFailed(`added ${this.describe}, but the announcement failed (clients' ARP caches update when they next ask): ${failed}`));
    }
    return { ok: true, message: `added ${this.describe}${commands.announce ? ', announcing it' : ''}` };
  }

  /**
   * Removes the VIP when it is on this machine (whoever left it there). One this holder added
   * is removed from its card at once (a fence waits for it); otherwise, or when that fails, the
   * machine is asked where it is, and it is removed from there (a card renamed since, a
   * hand-made copy, a leftover of an earlier run).
   */
  remove(): Promise<VipResult> {
    return this.inTurn(() => this.removeNow());
  }

  private async removeNow(): Promise<VipResult> {
    const { plan } = this;
    if (!plan) return { ok: true, message: 'no virtual IP configured' };
    const del = (card: string) => this.run(commandsFor(this.platform, plan.vip, card).del);
    const removed = (card: string): VipResult => {
      this.holding = false;
      return { ok: true, message: `removed ${plan.vip.address}/${plan.vip.prefix} from ${card}` };
    };
    const first = this.holding ? await del(plan.card) : null;
    if (this.holding && !first) return removed(plan.card);
    const on = await this.onMachine(plan.vip);
    if (on === null) {
      this.holding = false;
      return { ok: true, message: `${plan.vip.address} is not on this machine` };
    }
    const failed = this.holding && on === plan.card ? first : await del(on);
    if (failed && (await this.onMachine(plan.vip)) !== null) return { ok: false, message: failed };
    return removed(on);
  }
}
