/**
 * The engine driver: the one loop between the pure engine and the world, used by the node
 * (real ports) and by the simulation (simulated ports) alike.
 *
 * It applies the engine's outputs in the order the invariants need: state persisted before
 * any heartbeat that depends on it is sent, then the heartbeats, then the effects in order. A
 * failed write does not stop the node (its vote is needed): nothing of the output that needed
 * it is sent, and nothing of it that takes authority (the runtime's active mode) is done; the
 * engine is told and gives up what is not on disk (engine.ts `storeFailed`). It keeps one timer, set for the moment the engine
 * asked to be ticked; a tick that comes so late that the process must have been frozen looks
 * at the link first. Commands are answered by request id.
 */
import { frozenSince } from '../engine/awareness';
import { commandName } from '../engine/commands';
import type { Engine } from '../engine/engine';
import type { Command as EngineCommand, Effect, EngineConfig, EngineStatus, Heartbeat, Lease, NodeInfo, Observation, Output, PromotionCause } from '../engine/types';
import type { Command, CommandOutcome, CommandVerdicts, Role } from '../ui/contract';
import type { Logger } from '../util/logger';
import type { Clock, HeartbeatTransport, LeaseHolder, LinkCheck, RuntimeControl, StateStore } from './ports';

export interface DriverPorts {
  clock: Clock;
  transport: HeartbeatTransport;
  runtime: RuntimeControl;
  store: StateStore;
  link: LinkCheck;
  lease: LeaseHolder;
  log: Logger;
  /** The driver stopped itself (another node runs as this server); it has logged why. */
  onFatal(message: string): void;
}

export interface RoleEvent {
  at: string;
  from: Role;
  to: Role;
  epoch: number;
  reason: string;
  /** Why a promotion happened (startup, failover, switchover, failback, manual). */
  cause?: PromotionCause;
}

/** A command handed to the engine: accepted or refused at once, and its outcome when it has finished. */
export interface Submitted {
  accepted: boolean;
  message: string;
  outcome: Promise<CommandOutcome>;
}

/** A majority's support that moved on by more than this is told to the guardian at once. */
const QUORUM_RENEW_STEP_MS = 50;

/** Role changes kept for status (the newest last). */
const MAX_EVENTS = 50;

export class EngineDriver {
  private cancelTimer: (() => void) | null = null;
  private timerAt = Infinity;
  private linkUp = true;
  private stopped = false;
  private nextRequest = 1;
  /** What the last lease renewal said: release or not, Standby ready or not. */
  private leaseKind = '';
  /** Until when the last renewal said the majority supports this server (quorum). */
  private quorumRenewedUntil = -Infinity;
  private readonly waiters = new Map<number, { resolve: (r: CommandOutcome) => void; cancel: () => void }>();
  private readonly history: RoleEvent[] = [];
  private readonly listeners = new Set<(e: RoleEvent) => void>();
  private readonly steps = new Set<(out: Output) => void>();
  /** Why the state cannot be written now; null while it can. */
  private storeError: string | null = null;
  /** What the engine's last output said: the guardian's lease, and when to tick it next. */
  private lastLease: Lease = { notice: null, standbyReady: false, quorumUntil: null };
  private wakeAt = Infinity;

  constructor(private readonly engine: Engine, private readonly ports: DriverPorts, private readonly server: string) {}

  /** The first tick: from here on the driver keeps its own timer. */
  start(): void {
    this.apply(this.engine.tick(this.now()));
  }

  receive(msg: Heartbeat): void {
    this.apply(this.engine.receive(msg, this.now()));
  }

  observe(fact: Observation): void {
    this.apply(this.engine.observe(fact, this.now()));
  }

  setInfo(info: NodeInfo): void {
    this.apply(this.engine.setInfo(info, this.now()));
  }

  reconfigure(cfg: EngineConfig): void {
    this.apply(this.engine.reconfigure(cfg, this.now()));
  }

  /** Looks at the own network card and tells the engine when it changed. */
  checkLink(): void {
    if (this.stopped) return;
    const up = this.ports.link.up();
    if (up === this.linkUp) return;
    this.linkUp = up;
    const { detail } = this.ports.link;
    if (up) {
      this.ports.log.info('network', `${detail} is back; joining the multicast group again`);
      this.ports.transport.rejoin();
    } else {
      this.ports.log.warn('network', `${detail} has gone from this machine: this server will not take over while it is missing`);
    }
    this.observe({ kind: 'link', up, detail });
  }

  /** Runs a command; resolves when it has finished or was refused, with a message for people. */
  command(cmd: Command): Promise<CommandOutcome> {
    return cmd.kind === 'resume' ? this.resume() : this.submit(cmd).outcome;
  }

  /** Hands an engine command over; says at once whether it was accepted. */
  submit(cmd: EngineCommand): Submitted {
    const name = commandName(cmd);
    const log = this.ports.log;
    if (this.stopped) {
      const message = `the node of ${this.server} is stopping`;
      return { accepted: false, message, outcome: Promise.resolve({ ok: false, message }) };
    }
    if (cmd.kind === 'report-failure') log.warn('command', `the application reports a failure: ${cmd.reason}`);
    log.info('command', `${name}${cmd.kind === 'maintenance' && cmd.force ? ' --force' : ''} requested`);
    const id = this.nextRequest++;
    const limit = this.engine.config.timings.handoverTimeoutMs * 2;
    const outcome = new Promise<CommandOutcome>((resolve) => {
      const cancel = this.ports.clock.setTimer(this.now() + limit, () => {
        this.waiters.delete(id);
        resolve({ ok: false, message: `${name} did not finish within ${limit} ms; see the log` });
      });
      this.waiters.set(id, { resolve, cancel });
    });
    const result = this.engine.command(cmd, this.now(), id);
    if (!result.accepted) {
      log.warn('command', `${name} refused: ${result.message}`);
      this.settle(id, { ok: false, message: result.message });
    } else {
      this.apply(result);
    }
    return { accepted: result.accepted, message: result.message, outcome };
  }

  private async resume(): Promise<CommandOutcome> {
    const held = this.ports.runtime.held();
    const resumed = await new Promise<boolean>((resolve, reject) => this.ports.runtime.resume().then(resolve, reject));
    if (!resumed) return { ok: false, message: this.notHeld() };
    return { ok: true, message: `runtime resumed (it was held: ${held})` };
  }

  status(): EngineStatus {
    return this.engine.status(this.now());
  }

  /** What each command would do now: null when it can be carried out, otherwise why not (the words its refusal would have). */
  verdicts(): CommandVerdicts {
    return { ...this.engine.commandVerdicts(this.now()), resume: this.ports.runtime.held() ? null : this.notHeld() };
  }

  private notHeld(): string {
    return `nothing to resume: the runtime of ${this.server} is not held`;
  }

  /** The last role changes, oldest first. */
  events(): RoleEvent[] {
    return [...this.history];
  }

  onRoleChange(listener: (e: RoleEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after every step the engine took (an input and its outputs applied), with its output. */
  onStep(listener: (out: Output) => void): () => void {
    this.steps.add(listener);
    return () => this.steps.delete(listener);
  }

  /** The guardian's lease as the engine's last output gave it (the release a clean stop multicasts). */
  get lease(): Lease {
    return this.lastLease;
  }

  /** The own network card as last checked (checkLink). */
  get linkIsUp(): boolean {
    return this.linkUp;
  }

  get role(): Role {
    return this.engine.currentRole;
  }

  /** Stops driving: no more timers, outputs or sends; waiting commands are answered. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = null;
    for (const id of [...this.waiters.keys()]) this.settle(id, { ok: false, message: `the node of ${this.server} stopped` });
  }

  // ---------------------------------------------------------------- the loop

  private now(): number {
    return this.ports.clock.now();
  }

  private apply(out: Output): void {
    if (this.stopped) return;
    const { store, transport, log } = this.ports;
    // State reaches the disk before anyone hears of it: an epoch announced must be an epoch kept.
    for (const effect of out.effects) {
      if (effect.kind !== 'persist') continue;
      try {
        store.write(effect.state);
      } catch (e) {
        const error = (e as Error).message;
        if (effect.critical) return this.unkept(out, error);
        continue; // a retry: this output was built within what is on disk
      }
      this.engine.stored(effect.state);
      if (this.storeError !== null) {
        log.info('state', `the state can be written again (it could not: ${this.storeError}); this server may take the Active role again`);
        this.storeError = null;
      }
    }
    for (const msg of out.send) {
      try {
        transport.send(msg);
      } catch (e) {
        log.warn('network', `cannot send a heartbeat: ${(e as Error).message}`);
      }
    }
    // Renewed with every heartbeat, and at once when what the guardian would do if this node
    // died changes (a Standby became ready, or the Active role began or ended), or when
    // acknowledgements moved the majority's support on (the guardian kills at its end).
    const now = this.now();
    const lease = (this.lastLease = out.lease);
    this.wakeAt = out.wakeAt;
    const kind = `${lease.notice !== null}/${lease.standbyReady}`;
    const quorumMs = lease.quorumUntil === null ? null : Math.max(0, Math.floor(lease.quorumUntil - now));
    const quorumUntil = quorumMs === null ? -Infinity : now + quorumMs;
    if (out.send.length || kind !== this.leaseKind || quorumUntil > this.quorumRenewedUntil + QUORUM_RENEW_STEP_MS) {
      this.leaseKind = kind;
      this.quorumRenewedUntil = quorumUntil;
      try {
        this.ports.lease.renew(lease.notice, lease.standbyReady, quorumMs);
      } catch (e) {
        log.warn('guardian', `cannot renew the guardian's lease: ${(e as Error).message}`);
      }
    }
    for (const effect of out.effects) {
      this.effect(effect);
      if (this.stopped) return;
    }
    this.schedule();
    for (const l of this.steps) l(out);
  }

  private settle(id: number, outcome: CommandOutcome): void {
    const w = this.waiters.get(id);
    if (!w) return;
    this.waiters.delete(id);
    w.cancel();
    w.resolve(outcome);
  }

  /** Carries out one effect (persist effects are written before, in apply). */
  private effect(effect: Effect): void {
    const { log } = this.ports;
    switch (effect.kind) {
      case 'persist':
        break; // written above
      case 'role': {
        const event: RoleEvent = { at: new Date(this.ports.clock.wallMs()).toISOString(), from: effect.from, to: effect.to, epoch: effect.epoch, reason: effect.reason };
        if (effect.cause) event.cause = effect.cause;
        this.history.push(event);
        if (this.history.length > MAX_EVENTS) this.history.shift();
        log.info('role', `${effect.from} → ${effect.to} (epoch ${effect.epoch}): ${effect.reason}`);
        for (const l of this.listeners) l(event);
        break;
      }
      case 'fence':
        // Logged once it is done, by the guardian's answer (with its time): one line per fence.
        this.ports.lease.fence(effect.reason);
        break;
      case 'hold':
        if (effect.reason === null) this.ports.runtime.dropHold();
        else this.ports.runtime.hold(effect.reason);
        break;
      case 'runtime': {
        const mode = effect.mode;
        this.ports.runtime.setMode(mode).then(
          () => this.observe({ kind: 'runtime', mode }),
          (e: Error) => log.error('runtime', `could not reach ${mode} mode: ${e.message}`),
        );
        break;
      }
      case 'compatibility':
        if (effect.incompatible === null && effect.activeGone) {
          log.warn('version', `the Active ${effect.active} is no longer heard: versions are judged only against a live Active, so this server may take over (or be activated) although its versions differ`);
        } else if (effect.incompatible === null) log.info('version', `compatible with the Active ${effect.active} again`);
        else log.warn('version', `incompatible: ${effect.incompatible}; this server will not be Active or Standby`);
        break;
      case 'fault':
        if (effect.on) log.warn('fault', effect.fault);
        else log.info('fault', `over (not seen for the failure timeout): ${effect.fault}`);
        break;
      case 'yield':
        // Another process already runs as this server: fail-stop before claiming anything.
        log.error('fatal', effect.reason);
        this.stop();
        this.ports.onFatal(effect.reason);
        return;
      case 'done':
        log.info('command', `${effect.command} ${effect.ok ? 'done' : 'failed'}: ${effect.message}`);
        this.settle(effect.id, { ok: effect.ok, message: effect.message });
        break;
    }
  }

  /**
   * A write this output needed failed: none of its heartbeats go out, and nothing of it that
   * takes authority is done — no role change to Active, no runtime in active mode, no hold of
   * it; what gives authority up, and the other role changes, are done as usual. A command it
   * finished is answered as not done. Then the engine hears of it and gives up what is not on
   * disk (a promotion of this output is undone unseen).
   */
  private unkept(out: Output, error: string): void {
    const { log } = this.ports;
    if (this.storeError === null) {
      log.error('state', `${error}: this server keeps voting within what is on disk, but takes neither the Active role nor Maintenance until its state can be written again. Free space on that disk (or fix the permissions of the state folder)`);
    }
    this.storeError = error;
    for (const effect of out.effects) {
      if (effect.kind === 'persist' || (effect.kind === 'runtime' && effect.mode === 'active') || (effect.kind === 'role' && effect.to === 'active') || (effect.kind === 'hold' && effect.reason !== null)) continue;
      if (effect.kind === 'done') {
        log.warn('command', `${effect.command} not done: the state could not be written (${error})`);
        this.settle(effect.id, { ok: false, message: `${effect.command} not done: ${this.server} cannot write its state (${error})` });
        continue;
      }
      this.effect(effect);
      if (this.stopped) return;
    }
    this.apply(this.engine.observe({ kind: 'store-failed', error }, this.now()));
  }

  /**
   * One timer, set for the moment the engine asked for: no polling. A timer already set for
   * that moment or earlier is kept (a tick before it is due is harmless), which spares a
   * timer per received datagram.
   */
  private schedule(): void {
    if (this.stopped) return;
    const at = this.wakeAt;
    if (this.cancelTimer && this.timerAt <= at) return;
    this.cancelTimer?.();
    this.timerAt = at;
    this.cancelTimer = this.ports.clock.setTimer(at, () => this.tick());
  }

  private tick(): void {
    this.cancelTimer = null;
    this.timerAt = Infinity;
    if (this.stopped) return;
    const now = this.now();
    // After a freeze, look at the link before the engine judges anything.
    if (frozenSince(now, this.wakeAt, this.engine.config.timings)) this.checkLink();
    this.apply(this.engine.tick(now));
  }
}
