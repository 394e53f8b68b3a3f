/**
 * The simulated world of a scenario: the servers (each a role engine, or down), the network
 * between them, the clock and what is due on it, and the stand-ins for what surrounds an engine
 * in a real node — its driver (writes, sends, the timer), the runtime, the guardian and the state
 * file. Its rules of time are described at the top of runner.ts; the runner reads the script's
 * lines and acts on the world through the methods here.
 */
import { DEFAULT_TIMINGS, type Timings } from '../../main/defaults';
import { Engine } from '../../main/engine/engine';
import type {
  Effect, EngineConfig, Heartbeat, NodeInfo, Observation, Output, PersistedState, QuorumMode, RatedConfig, RuntimeMode, ServerKind,
} from '../../main/engine/types';
import { NOTHING_KEPT, persistedOf, wakeOf } from './engine-seams';

const DELIVERY_MS = 1;
const DEFAULT_RUNTIME_MS = 10;
const DEFAULT_FENCE_MS = 1;

export interface Node {
  name: string;
  engine: Engine | null; // null: down (crashed, stopped itself, or not started yet)
  boot: number;
  /** Incremented with every crash: replies meant for an earlier process are dropped. */
  gen: number;
  /** What its state file holds (written by persist effects). */
  store: PersistedState | null;
  wakeAt: number;
  frozenUntil: number | null;
  /** Inputs that arrived while frozen, in order. */
  inbox: Input[];
  runtimeDelay: number;
  runtimeStuck: boolean;
  runtimeFreeAt: number;
  runtimeWaiting: RuntimeMode[];
  /** How long the guardian takes to answer a fence; null: it does not. */
  fenceDelay: number | null;
  diskError: string | null;
  info: NodeInfo | null;
  /** The domain revision this server has (null until it starts: then the newest). */
  domain: Domain | null;
}

export type Input = { kind: 'receive'; msg: Heartbeat } | { kind: 'observe'; fact: Observation } | { kind: 'reconfigure' };

interface Scheduled {
  at: number;
  /** Within one moment: deliveries (0) before replies and observations (1); ticks come last. */
  cls: 0 | 1;
  seq: number;
  to: string;
  /** For replies: the process they are meant for (-1: any, as for the network). */
  gen: number;
  input: Input;
}

/** What a server did: an effect or a heartbeat it sent. */
export type Item = Effect | Heartbeat;

export interface Seen {
  at: number;
  server: string;
  item: Item;
}

export interface Domain {
  servers: { name: string; kind: ServerKind; maintenance: boolean }[];
  quorum: QuorumMode;
  failback: 'manual' | 'auto';
  timings: Timings;
  confirmResume: boolean;
  rated: RatedConfig | null;
  failureResetMs: number | null;
}

export class World {
  now = 0;
  readonly nodes = new Map<string, Node>();
  /** The newest domain revision (each server has its own copy of the one it was given). */
  readonly domain: Domain = { servers: [], quorum: 'auto', failback: 'manual', timings: { ...DEFAULT_TIMINGS }, confirmResume: false, rated: null, failureResetMs: null };
  /** Everything every server did, in order. */
  readonly seen: Seen[] = [];
  /** `allow two-active`: two Active servers at once are no failure. */
  allowTwoActive = false;
  /** Defaults for servers declared later (`runtime * …`, `guardian * …`). */
  runtimeDefault = DEFAULT_RUNTIME_MS;
  fenceDefault: number | null = DEFAULT_FENCE_MS;
  private events: Scheduled[] = [];
  private seq = 0;
  /** Links cut, as `from>to`. */
  private readonly cuts = new Set<string>();
  /** How many more heartbeats are lost on `from>to` (or `from>*`). */
  private readonly drops = new Map<string, number>();

  // ------------------------------------------------------------ servers

  node(name: string | undefined): Node {
    const n = name === undefined ? undefined : this.nodes.get(name);
    if (!n) throw new Error(`no server "${name ?? ''}" (declared: ${[...this.nodes.keys()].join(', ') || 'none'})`);
    return n;
  }

  /** `*` or a server name. */
  nodesOf(name: string | undefined): Node[] {
    return name === '*' ? [...this.nodes.values()] : [this.node(name)];
  }

  /** A server that takes input now: running and not frozen. */
  up(name: string | undefined): Node & { engine: Engine } {
    const n = this.node(name);
    if (!n.engine) throw new Error(`${n.name} is down`);
    if (n.frozenUntil !== null) throw new Error(`${n.name} is frozen until ${n.frozenUntil} ms: it takes no input`);
    return n as Node & { engine: Engine };
  }

  /** A server new to the world: down, with the runtime's and guardian's defaults. */
  add(name: string): Node {
    const node: Node = {
      name, engine: null, boot: 0, gen: 0, store: null, wakeAt: Infinity, frozenUntil: null, inbox: [],
      runtimeDelay: this.runtimeDefault, runtimeStuck: false, runtimeFreeAt: 0, runtimeWaiting: [],
      fenceDelay: this.fenceDefault, diskError: null, info: null, domain: null,
    };
    this.nodes.set(name, node);
    return node;
  }

  /** Every server's role, epochs and reason now. */
  picture(): string {
    const rows = [`  at ${this.now} ms:`];
    for (const node of this.nodes.values()) {
      const e = node.engine;
      if (!e) {
        rows.push(`    ${node.name.padEnd(4)} down`);
        continue;
      }
      const s = e.status(this.now);
      const flags = node.frozenUntil !== null ? ` (frozen until ${node.frozenUntil} ms)` : '';
      rows.push(`    ${node.name.padEnd(4)} ${s.role.padEnd(12)} epoch ${s.epoch} (max ${s.maxEpoch})${flags}: ${s.reason}`);
    }
    return rows.join('\n');
  }

  // ------------------------------------------------------------ processes

  /** The engine configuration of `node` from the domain revision it has. */
  private configOf(node: Node): EngineConfig {
    const d = (node.domain ??= structuredClone(this.domain));
    const cfg: EngineConfig = {
      self: node.name,
      servers: d.servers.map((s) => ({ ...s })),
      failback: d.failback,
      quorum: d.quorum,
      timings: { ...d.timings },
      boot: node.boot,
    };
    if (d.rated) cfg.rated = { ...d.rated };
    if (d.confirmResume) cfg.confirmResume = true;
    if (d.failureResetMs !== null) cfg.failureResetMs = d.failureResetMs;
    return cfg;
  }

  /**
   * A new domain revision reaches `only` these servers (null: all): servers new to the list
   * start with it; a running server applies it (a frozen one when it wakes); a server that is
   * down starts with it.
   */
  reconfigure(only: string[] | null, added: Node[] = []): void {
    for (const node of added) this.boot(node);
    for (const node of this.nodes.values()) {
      if (added.includes(node) || (only && !only.includes(node.name))) continue;
      node.domain = structuredClone(this.domain);
      if (node.engine) this.inputOrQueue(node, { kind: 'reconfigure' });
    }
  }

  /** A new process: an Engine from the state file, ticked at once (the driver's start), then told its info. */
  boot(node: Node): void {
    node.boot += 1;
    node.gen += 1;
    node.frozenUntil = null;
    node.inbox = [];
    node.runtimeFreeAt = 0;
    node.runtimeWaiting = [];
    node.engine = new Engine(this.configOf(node), node.store ?? persistedOf(NOTHING_KEPT), this.now);
    this.apply(node, node.engine.tick(this.now));
    if (node.engine && node.info) this.apply(node, node.engine.setInfo(node.info, this.now));
  }

  /** The process is gone: engine, runtime and guardian, and what was meant for them. */
  down(node: Node): void {
    node.engine = null;
    node.gen += 1;
    node.frozenUntil = null;
    node.inbox = [];
    node.wakeAt = Infinity;
    node.runtimeWaiting = [];
  }

  /**
   * The machine stops (`crash a`); with `release` only the node process dies: if it was Active
   * (or deactivating), its guardian, which outlives it, kills the runtime and multicasts the
   * release notice naming the Standby it heard.
   */
  crash(node: Node, release: boolean): void {
    if (release && node.engine) {
      const s = node.engine.status(this.now);
      if (s.role === 'active' || s.role === 'deactivating') {
        const notice: Heartbeat = { kind: 'heartbeat', from: node.name, role: 'inactive', epoch: s.epoch, maxEpoch: s.maxEpoch, eligible: false, awareness: s.awareness, ended: 'fenced' };
        const standby = s.peers.find((p) => p.role === 'standby');
        if (standby) notice.released = standby.server;
        if (node.info) notice.info = node.info;
        this.down(node);
        this.record(node, notice);
        this.broadcast(node.name, notice);
        return;
      }
    }
    this.down(node);
  }

  /** The runtime now takes `ms` to reach each mode asked, and answers what it was asked while stuck. */
  runtimeAnswers(node: Node, ms: number): void {
    node.runtimeDelay = ms;
    node.runtimeStuck = false;
    const waiting = node.runtimeWaiting;
    node.runtimeWaiting = [];
    for (const mode of waiting) this.runtimeReply(node, mode);
  }

  // ------------------------------------------------------------ the network

  /** Cuts the link `from>to` (one way), or mends it. */
  setCut(from: string, to: string, cut: boolean): void {
    if (cut) this.cuts.add(`${from}>${to}`);
    else this.cuts.delete(`${from}>${to}`);
  }

  /** Every link mended. */
  healAll(): void {
    this.cuts.clear();
  }

  /** The next `count` heartbeats from `from` to `to` (`*`: to anyone) are lost. */
  drop(from: string, to: string, count: number): void {
    this.drops.set(`${from}>${to}`, count);
  }

  private broadcast(from: string, msg: Heartbeat): void {
    for (const to of this.nodes.keys()) {
      if (to === from || this.cuts.has(`${from}>${to}`)) continue;
      const key = this.drops.has(`${from}>${to}`) ? `${from}>${to}` : this.drops.has(`${from}>*`) ? `${from}>*` : null;
      if (key !== null) {
        const left = this.drops.get(key)! - 1;
        if (left > 0) this.drops.set(key, left);
        else this.drops.delete(key);
        continue;
      }
      this.schedule(this.now + DELIVERY_MS, 0, to, -1, { kind: 'receive', msg: structuredClone(msg) });
    }
  }

  // ------------------------------------------------------------ outputs

  /** What the node's driver does with an output: write, send, carry out the effects, set the timer. */
  apply(node: Node, out: Output): void {
    const engine = node.engine;
    if (!engine) return;
    for (const effect of out.effects) {
      if (effect.kind !== 'persist') continue;
      if (node.diskError !== null) {
        if (effect.critical) return this.unkept(node, out, node.diskError);
        continue;
      }
      node.store = structuredClone(effect.state);
      engine.stored(effect.state);
    }
    node.wakeAt = Math.max(wakeOf(out), this.now + 1);
    for (const effect of out.effects) this.record(node, effect);
    for (const msg of out.send) {
      this.record(node, msg);
      this.broadcast(node.name, msg);
    }
    for (const effect of out.effects) this.carryOut(node, effect);
  }

  /** A write this output needed failed: nothing of it is sent, nothing that takes authority is done (driver.ts, unkept). */
  private unkept(node: Node, out: Output, error: string): void {
    node.wakeAt = Math.max(wakeOf(out), this.now + 1);
    for (const effect of out.effects) {
      if (effect.kind === 'persist' || (effect.kind === 'runtime' && effect.mode === 'active') || (effect.kind === 'role' && effect.to === 'active') || (effect.kind === 'hold' && effect.reason !== null)) continue;
      if (effect.kind === 'done') {
        this.record(node, { ...effect, ok: false, message: `${effect.command} not done: ${node.name} cannot write its state (${error})` });
        continue;
      }
      this.record(node, effect);
      this.carryOut(node, effect);
    }
    if (node.engine) this.apply(node, node.engine.observe({ kind: 'store-failed', error }, this.now));
  }

  private record(node: Node, item: Item): void {
    this.seen.push({ at: this.now, server: node.name, item: structuredClone(item) });
  }

  private carryOut(node: Node, effect: Effect): void {
    switch (effect.kind) {
      case 'runtime':
        if (node.runtimeStuck) node.runtimeWaiting.push(effect.mode);
        else this.runtimeReply(node, effect.mode);
        break;
      case 'fence':
        if (node.fenceDelay !== null) this.observeAt(node, this.now + node.fenceDelay, { kind: 'fenced', reason: effect.reason });
        break;
      case 'yield':
        this.down(node); // fail-stop, as the driver does
        break;
      default:
        break;
    }
  }

  /** The runtime reaches each mode asked, one change after the other. */
  private runtimeReply(node: Node, mode: RuntimeMode): void {
    const at = Math.max(this.now, node.runtimeFreeAt) + node.runtimeDelay;
    node.runtimeFreeAt = at;
    this.observeAt(node, at, { kind: 'runtime', mode });
  }

  // ------------------------------------------------------------ inputs and time

  /** An input to a server that takes input now (see up). */
  input(node: Node, input: Input): void {
    const engine = node.engine;
    if (!engine) return;
    const now = this.now;
    this.apply(node, input.kind === 'receive' ? engine.receive(input.msg, now) : input.kind === 'observe' ? engine.observe(input.fact, now) : engine.reconfigure(this.configOf(node), now));
  }

  /** The server's current process observes `fact` at `at` (not if it has crashed by then). */
  observeAt(node: Node, at: number, fact: Observation): void {
    this.schedule(at, 1, node.name, node.gen, { kind: 'observe', fact });
  }

  private schedule(at: number, cls: 0 | 1, to: string, gen: number, input: Input): void {
    this.events.push({ at, cls, seq: this.seq++, to, gen, input });
  }

  /** Runs the world until `to` (or until `until` holds): true when it held. */
  advance(to: number, until?: () => boolean): boolean {
    for (;;) {
      if (until?.()) return true;
      const next = this.nextMoment();
      if (next > to) {
        this.now = Math.max(this.now, to);
        return until ? until() : true;
      }
      this.now = Math.max(this.now, next);
      this.moment();
      this.neverTwoActive();
    }
  }

  private nextMoment(): number {
    let next = Infinity;
    for (const e of this.events) next = Math.min(next, e.at);
    for (const n of this.nodes.values()) {
      if (!n.engine) continue;
      next = Math.min(next, n.frozenUntil ?? n.wakeAt);
    }
    return next;
  }

  /** Everything due now: thaws, deliveries, replies, ticks — again until nothing is left. */
  private moment(): void {
    for (let round = 0; ; round++) {
      if (round > 1000) throw new Error(`no end to what happens at ${this.now} ms (an engine asks to be ticked again and again?)`);
      let did = false;
      for (const node of this.nodes.values()) {
        if (node.engine && node.frozenUntil !== null && node.frozenUntil <= this.now) {
          this.thaw(node);
          did = true;
        }
      }
      const due = this.events.filter((e) => e.at <= this.now).sort((x, y) => x.cls - y.cls || x.seq - y.seq);
      if (due.length) {
        this.events = this.events.filter((e) => e.at > this.now);
        did = true;
        for (const e of due) this.deliver(e);
      }
      for (const node of this.nodes.values()) {
        if (node.engine && node.frozenUntil === null && node.wakeAt <= this.now) {
          this.apply(node, node.engine.tick(this.now));
          did = true;
        }
      }
      if (!did) return;
    }
  }

  private deliver(e: Scheduled): void {
    const node = this.nodes.get(e.to)!;
    if (e.gen !== -1 && e.gen !== node.gen) return;
    this.inputOrQueue(node, e.input);
  }

  /** An input now, or when the process wakes if it is frozen; lost if it is down. */
  private inputOrQueue(node: Node, input: Input): void {
    if (!node.engine) return;
    if (node.frozenUntil !== null) node.inbox.push(input);
    else this.input(node, input);
  }

  /** The process runs again: its overdue timer first (Node runs timers before I/O), then what piled up. */
  private thaw(node: Node): void {
    node.frozenUntil = null;
    if (node.engine && node.wakeAt <= this.now) this.apply(node, node.engine.tick(this.now));
    const inbox = node.inbox;
    node.inbox = [];
    for (const input of inbox) this.input(node, input);
  }

  /** Never two servers Active at once among those up and not frozen (unless allowed). */
  neverTwoActive(): void {
    if (this.allowTwoActive) return;
    const active = [...this.nodes.values()].filter((n) => n.engine && n.frozenUntil === null && n.engine.currentRole === 'active');
    if (active.length > 1) throw new Error(`two servers Active at once at ${this.now} ms: ${active.map((n) => `${n.name} (epoch ${n.engine!.currentEpoch})`).join(' and ')}`);
  }
}
