/**
 * This server's own state: its role and why, its epochs, what it asked of its runtime, its
 * maintenance, health and link, and what is on disk. The decisions (roles.ts, transitions.ts,
 * commands.ts) change it; a role change goes through `setRole`, the runtime through
 * `wantRuntime`, so that each is announced once, as an effect.
 */
import type { Out } from './out';
import { ACTIVE_ROLES, type Effect, type NodeInfo, type PersistedState, type PromotionCause, type Role, type RuntimeMode } from './types';

/** What a promotion changes of this state, kept until its write is known to have worked. */
export interface Promoted {
  role: Role;
  reason: string;
  roleSince: number;
  standbySince: number | null;
  epoch: number;
  runtimeWanted: RuntimeMode;
  runtimeReached: boolean;
  holding: boolean;
}

export class Local {
  role: Role = 'starting';
  reason = 'listening for peers';
  roleSince: number;
  /** This process has changed its role at least once (it has left its first role). */
  roleChanged = false;
  readonly startedAt: number;
  /** Since when this server listens for an Active (start, or leaving Maintenance). */
  listeningSince: number;
  /** Since when this server is the Standby (failback counts from then); null: it is not. */
  standbySince: number | null = null;
  /** Epoch of this server's current (or last) Active term; 0 if never Active. */
  epoch: number;
  /** Highest epoch this server has held or seen. */
  maxEpoch: number;
  /** Maintenance switched on from the CLI or tray. */
  maintenance: boolean;
  runtimeWanted: RuntimeMode = 'stopped';
  runtimeReached = true;
  /** The runtime hold (confirmResume) was asked for in this term. */
  holding = false;
  /** This server gave up the Active role by a person's or peer's request: no failback after that. */
  noFailback = false;
  health = 255;
  healthWhy: string | null = null;
  /** Why this server's own network or witness checks fail; it does not promote itself meanwhile. */
  isolated: string | null = null;
  /** Since when the Active's health has been below the Standby's by the margin (rated failover). */
  worseSince: number | null = null;
  linkUp = true;
  /** When an incompatibility or a ban ended: failover counts its silence from then (a Standby eligible all along goes first). */
  freedAt = -Infinity;
  /** What this node says about itself in its heartbeats. */
  info: NodeInfo | undefined;
  /**
   * What is on disk (the driver says so after each write), and why writing fails now (null: it
   * works). A voter that cannot write keeps voting within what is on disk: its supports promise
   * no longer than the promise kept there (a restart waits that one out), it announces no epoch
   * it has not kept, and it takes neither the Active role nor Maintenance (neither would survive
   * a restart) until a write succeeds again.
   */
  durable: PersistedState;
  storeFault: string | null = null;
  /** What a promotion of this output changed, to be put back unseen if its write fails; and the last output's. */
  promotedFrom: Promoted | null = null;
  lastPromotedFrom: Promoted | null = null;

  constructor(private readonly out: Out, persisted: PersistedState, now: number) {
    this.durable = { ...persisted };
    this.maxEpoch = persisted.maxEpoch;
    this.epoch = Math.min(persisted.epoch ?? 0, persisted.maxEpoch);
    this.maintenance = persisted.maintenance;
    this.roleSince = now;
    this.startedAt = now;
    this.listeningSince = now;
  }

  /** Active, or handing over: the runtime may run in active mode. */
  get holdsTerm(): boolean {
    return ACTIVE_ROLES.has(this.role);
  }

  /** The term held as Active (null: none). */
  get term(): number | null {
    return this.holdsTerm ? this.epoch : null;
  }

  setRole(now: number, to: Role, reason: string, cause?: PromotionCause): void {
    this.reason = reason;
    if (to === this.role) return;
    const from = this.role;
    this.role = to;
    this.roleChanged = true;
    this.roleSince = now;
    this.out.changed();
    this.standbySince = to === 'standby' ? now : null;
    const effect: Effect = { kind: 'role', from, to, reason, epoch: this.epoch };
    if (cause) effect.cause = cause;
    this.out.push(effect);
    if (from === 'active' && this.holding) {
      this.holding = false;
      this.out.push({ kind: 'hold', reason: null });
    }
    if (to === 'standby') this.wantRuntime('standby');
    else if (to === 'inactive' || to === 'maintenance' || to === 'starting') this.wantRuntime('stopped');
  }

  wantRuntime(mode: RuntimeMode): void {
    if (mode === this.runtimeWanted) return; // reached, or asked for and on its way
    this.runtimeWanted = mode;
    this.runtimeReached = false;
    this.out.push({ kind: 'runtime', mode });
  }

  /** Remembers what a promotion is about to change (put back by `undo` if its write fails). */
  promoting(): void {
    this.promotedFrom = {
      role: this.role, reason: this.reason, roleSince: this.roleSince, standbySince: this.standbySince, epoch: this.epoch,
      runtimeWanted: this.runtimeWanted, runtimeReached: this.runtimeReached, holding: this.holding,
    };
  }

  /** Puts back, unseen, what the promotion `p` changed. */
  undo(p: Promoted): void {
    this.role = p.role;
    this.roleSince = p.roleSince;
    this.standbySince = p.standbySince;
    this.epoch = p.epoch;
    this.runtimeWanted = p.runtimeWanted;
    this.runtimeReached = p.runtimeReached;
    this.holding = p.holding;
  }

  /** A new input begins: the last output's promotion is the one a failed write concerns. */
  begin(): void {
    this.lastPromotedFrom = this.promotedFrom;
    this.promotedFrom = null;
  }
}
