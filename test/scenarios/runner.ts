/**
 * Engine scenarios: plain-text scripts of several role engines on a simulated network (etcd
 * raft's testdata/*.txt, run by datadriven, is the model). One scenario per .txt file in
 * test/scenarios/ (README.md there); test/unit/scenarios.test.ts runs each through runScenario.
 *
 * THE FORMAT. One step per line, top to bottom; `#` starts a comment (a whole line, or to the
 * end of a line). Words are separated by spaces; "double quotes" keep spaces in one word, and so
 * does /a regex/ after an operator. A file starts with a comment that says what it shows.
 *
 * The domain (before the first step; given later, a line is a new domain revision: every server
 * applies it at once with engine.reconfigure — `… only a,b`: only those for now — a frozen one
 * when it wakes; servers new to the list start with it):
 *   servers a:main b:backup c:inactive w:witness    b:backup:maintenance = maintenance set in the file
 *   domain quorum=off failback=auto confirmResume=on rated=50/2000 failureResetMs=5000
 *          failureTimeoutMs=2000 …                  and any other field of Timings. Defaults: quorum
 *                                                   auto (as in a domain file), failback manual, DEFAULT_TIMINGS
 *   state b maxEpoch=40 epoch=3 maintenance=true promiseMs=3200 failures=2 last="…" resetAt=50000 banned=true
 *                                                   b's state file before it starts (epoch: its last
 *                                                   Active term; maxEpoch: the highest epoch it knows)
 *   crash b                                         before the first step: b is not running at time 0
 * At the first step every other server starts at time 0: a new Engine, ticked at once (as the
 * node's driver starts it), then told its info if an info line came first.
 *
 * Time. Each engine is ticked when it asks (wakeOf below) and at no other time; a heartbeat
 * reaches every other server that is up 1 ms after it was sent, unless its link is cut. Within
 * one moment: frozen processes that wake, then deliveries, then runtime and guardian answers
 * and repeated observations, then ticks.
 *   tick 800                          advance the clock 800 ms
 *   tick until b active within 900    advance until the expectation holds (see expect); it fails if
 *                                     it does not within 900 ms (60 s without `within`)
 *   mark cut / tick until … within 900 of cut    the same, counted from the moment marked
 *
 * The network (a server that is down loses what reaches it):
 *   cut a        a hears nobody, nobody hears a        heal a       every link of a mended
 *   cut a-b      the link a–b, both ways               heal a-b
 *   cut a>b      a's heartbeats to b are lost          heal a>b
 *   partition a b | c w    every link between the groups cut      heal     every link mended
 *   drop a>b 2   the next 2 heartbeats from a to b are lost (a>* : to anyone)
 *
 * Processes:
 *   freeze a 3000   a's process stops for 3000 ms: not ticked, reads nothing, takes no command;
 *                   then its overdue tick runs first and what arrived meanwhile is delivered at once
 *   stall a 200     a's next timer fires 200 ms late (frozen from now until then)
 *   crash a         the machine stops: engine, runtime and guardian gone; nothing sent or received
 *   crash a release the node process dies; its guardian, which outlives it, kills the runtime and
 *                   multicasts the release notice (ended: fenced) naming the Standby a heard
 *   restart a       a new process: a new Engine (next boot id) from what a last wrote (persist effects
 *                   are kept in memory), ticked at once; a running server is crashed first (= start a)
 *   disk a full ["error"] / disk a ok    a's writes fail: an output whose write was critical is not
 *                   sent and nothing of it that takes authority is done (as the driver does), then
 *                   the engine observes store-failed
 *   runtime a delay=300   a's runtime reaches each mode asked 300 ms after the last (default 10 ms;
 *                   * for every server); then the engine observes {runtime, mode}.
 *                   runtime a stuck: no answer until the next `runtime a delay=…`
 *   guardian a delay=500 / guardian a off   a fence effect is answered with observe fenced after
 *                   this long (default 1 ms); off: never (observe it by hand)
 *   info a ver=1.2.4 app=2 rev=3 sync=syncing   setInfo: what a says about itself, merged with what
 *                   it said before (first time: ver=1.0.0 app=""); said again after a restart
 *
 * Inputs by hand:
 *   command b activate [-> accepted|refused ["substring" | ="exact" | /regex/]]   (default: accepted)
 *   command a deactivate | clear | maintenance on [force] | maintenance off | report-failure "why"
 *           id=7 anywhere numbers the request (the done effect names it)
 *   observe a runtime-failed "why" | fenced "why" | link down|up ["detail"] | send-failed
 *           | health 120 [failing="…"] [isolated="…"] | name-conflict 10.0.0.9
 *           | unverifiable 10.0.0.7 suspects=a,b | store-failed "error" | runtime active|standby|stopped
 *           … every 200 for 3000    the same observation now and every 200 ms for 3000 ms
 *
 * Expectations (one that fails stops the scenario: file, line, the line, every server's role):
 *   expect a active, b standby epoch>a, w inactive reason~"witness"
 *   Clauses separated by ", ", each a server and terms:
 *     a role (starting active standby inactive maintenance activating deactivating), or up / frozen / down
 *     field OP value      OP: = != < <= > >= ~ (contains, or matches /regex/) !~
 *       field: a path into engine.status(now) — role epoch maxEpoch reason awareness linkUp
 *         incompatible pending faults failures.count failures.banned health.score runtime.wanted
 *         quorum.on quorum.has quorum.voters quorum.heard quorum.majority quorum.warning …;
 *         timeout (effectiveTimeoutMs), lease (quorum.leaseMs), supports (quorum.supports);
 *         peers (their names); peer.b.role, peer.b.eligible, peer.b.lastHeardMs, peer.b.info.app …;
 *         verdict.activate … (commandVerdicts); stored.maxEpoch stored.epoch stored.maintenance
 *         stored.promiseMs stored.failures stored.banned stored.last stored.resetAt (the state file)
 *       value: a number, word, true/false/null, "text" (= exact, ~ contains), /regex/, a list a,b,w,
 *         or another server's name for its value of the same number (epoch>a)
 *     saw PATTERN [then PATTERN …]    this server did these, in this order, since the last expect
 *       line (consecutive expect lines share one window); saw no P; saw 2 P; saw exactly P then P
 *       (every effect of those kinds, and no other). PATTERN: a kind, its main word, key=value
 *       terms, and a text ("substring", ="exact", /regex/):
 *         role active cause=failover "reason"    runtime standby    persist maintenance=true
 *         done ok|failed id=7 "message"    hold "reason" | hold none    fence "reason"    yield "reason"
 *         compatibility active=a "why" | compatibility none    fault on|off "text"
 *         heartbeat (one it sent) grantTo=b | wantFrom=a | eligible=false | refuseTo=c "reason"
 *   Checked after every line and every moment, without being written: never two servers Active at
 *   once among those up and not frozen (a frozen Active is judged when it wakes). `allow two-active`
 *   lifts it (a domain without quorum, cut in two); `forbid two-active` restores it.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_TIMINGS, type Timings } from '../../main/defaults';
import { Engine } from '../../main/engine/engine';
import type {
  Command, Effect, EngineConfig, EngineStatus, Heartbeat, NodeInfo, Observation, Output, PersistedState, QuorumMode,
  RatedConfig, RuntimeFailures, RuntimeMode, ServerKind,
} from '../../main/engine/types';
import { ROLES } from '../../main/engine/types';

// ---------------------------------------------------------------- the engine's seams
// Everything the runner needs from the engine beyond its input methods, status(now),
// commandVerdicts(now) and its Output lives in these few functions.

/** When the engine asks to be ticked next (the output's `wakeAt`). apply() never sets a time at or before now. */
function wakeOf(out: Output): number {
  return out.wakeAt;
}

/** What a server's state file holds, in the scenario's words (those of status: epoch is the last Active term). */
interface Kept {
  maxEpoch: number;
  epoch: number | null;
  maintenance: boolean;
  promiseMs: number | null;
  failures: RuntimeFailures | null;
}

function persistedOf(k: Kept): PersistedState {
  const p: PersistedState = { maxEpoch: k.maxEpoch, maintenance: k.maintenance };
  if (k.epoch !== null) p.epoch = k.epoch;
  if (k.promiseMs !== null) p.promiseMs = k.promiseMs;
  if (k.failures !== null) p.failures = { ...k.failures };
  return p;
}

function keptOf(p: PersistedState): Kept {
  return { maxEpoch: p.maxEpoch, epoch: p.epoch ?? null, maintenance: p.maintenance, promiseMs: p.promiseMs ?? null, failures: p.failures ?? null };
}

const NOTHING_KEPT: Kept = { maxEpoch: 0, epoch: null, maintenance: false, promiseMs: null, failures: null };

// ---------------------------------------------------------------- the model

export class ScenarioError extends Error {}

interface Node {
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

type Input = { kind: 'receive'; msg: Heartbeat } | { kind: 'observe'; fact: Observation } | { kind: 'reconfigure' };

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
type Item = Effect | Heartbeat;

interface Seen {
  at: number;
  server: string;
  item: Item;
}

interface Domain {
  servers: { name: string; kind: ServerKind; maintenance: boolean }[];
  quorum: QuorumMode;
  failback: 'manual' | 'auto';
  timings: Timings;
  confirmResume: boolean;
  rated: RatedConfig | null;
  failureResetMs: number | null;
}

// ---------------------------------------------------------------- words

interface Line {
  n: number;
  text: string;
  words: string[];
}

type Value = { kind: 'exact' | 'contains' | 'word'; s: string } | { kind: 'regex'; re: RegExp };

const OPS = ['!=', '!~', '<=', '>=', '=', '<', '>', '~'] as const;
type Op = (typeof OPS)[number];

/**
 * Splits a line into words: quotes keep spaces, `/…/` after an operator keeps them too, a `,`
 * before a space (or at the end) is a word of its own (`a,b,w` stays one word), `#` ends the line.
 */
function wordsOf(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === ' ' || ch === '\t') {
      i++;
      continue;
    }
    if (ch === '#') break;
    if (ch === ',' && (i + 1 === text.length || text[i + 1] === ' ' || text[i + 1] === '\t')) {
      words.push(',');
      i++;
      continue;
    }
    let w = '';
    while (i < text.length && text[i] !== ' ' && text[i] !== '\t' && !(text[i] === ',' && (i + 1 === text.length || text[i + 1] === ' ' || text[i + 1] === '\t'))) {
      const c = text[i]!;
      const prev = w.at(-1);
      if (c === '"' || (c === '/' && (w === '' || '=~<>!'.includes(prev ?? '')))) {
        const end = closing(text, i);
        w += text.slice(i, end + 1);
        i = end + 1;
        continue;
      }
      w += c;
      i++;
    }
    words.push(w);
  }
  return words;
}

function closing(text: string, start: number): number {
  const q = text[start]!;
  for (let j = start + 1; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === q) return j;
  }
  throw new Error(`no closing ${q}`);
}

function valueOf(raw: string): Value {
  if (raw.startsWith('="') && raw.endsWith('"') && raw.length >= 3) return { kind: 'exact', s: unquote(raw.slice(1)) };
  if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) return { kind: 'contains', s: unquote(raw) };
  if (raw.startsWith('/') && raw.lastIndexOf('/') > 0) {
    const end = raw.lastIndexOf('/');
    return { kind: 'regex', re: new RegExp(raw.slice(1, end), raw.slice(end + 1)) };
  }
  return { kind: 'word', s: raw };
}

function unquote(q: string): string {
  return q.slice(1, -1).replace(/\\(.)/g, '$1');
}

/** A word that is `key=value` (or any operator); null otherwise. */
function termOf(word: string): { key: string; op: Op; raw: string } | null {
  const m = /^([A-Za-z][\w.-]*)(!=|!~|<=|>=|=|<|>|~)(.*)$/s.exec(word);
  return m ? { key: m[1]!, op: m[2] as Op, raw: m[3]! } : null;
}

/** A word as plain text: quotes removed. */
function plain(raw: string): string {
  return raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2 ? unquote(raw) : raw;
}

function show(v: unknown): string {
  if (v === undefined) return 'null';
  if (Array.isArray(v)) return v.map(show).join(',');
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** Whether `actual` stands in relation `op` to `expected` (`other`: the same field of another server, for epoch>a). */
function compare(actual: unknown, op: Op, expected: Value): boolean {
  const a = show(actual);
  if (op === '~' || op === '!~') {
    const hit = expected.kind === 'regex' ? expected.re.test(a) : a.includes(expected.s);
    return op === '~' ? hit : !hit;
  }
  if (expected.kind === 'regex') throw new Error(`a /regex/ goes with ~ or !~, not ${op}`);
  if (op === '=' || op === '!=') {
    const same = a === expected.s || (isNum(a) && isNum(expected.s) && Number(a) === Number(expected.s));
    return op === '=' ? same : !same;
  }
  if (!isNum(a)) throw new Error(`${op} compares numbers; the value is ${a}`);
  if (!isNum(expected.s)) throw new Error(`${op} compares numbers; ${expected.s} is not one`);
  const x = Number(a);
  const y = Number(expected.s);
  return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
}

function isNum(s: string): boolean {
  return s.trim() !== '' && Number.isFinite(Number(s));
}

function valueText(v: Value): string {
  return v.kind === 'regex' ? String(v.re) : v.kind === 'word' ? v.s : JSON.stringify(v.s);
}

// ---------------------------------------------------------------- effect patterns

interface Pattern {
  kind: string;
  main: string | null;
  fields: { key: string; op: Op; value: Value }[];
  text: Value | null;
}

const ITEM_KINDS = ['role', 'runtime', 'persist', 'done', 'hold', 'fence', 'yield', 'compatibility', 'fault', 'heartbeat'] as const;

function patternOf(words: string[]): Pattern {
  const [kind, ...rest] = words;
  if (!kind || !(ITEM_KINDS as readonly string[]).includes(kind)) throw new Error(`"${kind ?? ''}" is not a kind of effect (${ITEM_KINDS.join(', ')})`);
  const p: Pattern = { kind, main: null, fields: [], text: null };
  for (const w of rest) {
    const t = termOf(w);
    if (t) p.fields.push({ key: t.key, op: t.op, value: valueOf(t.raw) });
    else if (w.startsWith('"') || w.startsWith('="') || w.startsWith('/')) p.text = valueOf(w);
    else if (p.main === null) p.main = w;
    else throw new Error(`unexpected "${w}" in a ${kind} pattern`);
  }
  return p;
}

function itemKind(item: Item): string {
  return item.kind;
}

/** The fields of an item a pattern can name (persist: the state file's, in the scenario's words). */
function fieldsOf(item: Item): Record<string, unknown> {
  if (item.kind === 'persist') {
    const k = keptOf(item.state);
    return { ...k, failures: k.failures?.count ?? null, banned: k.failures?.banned ?? false, critical: item.critical };
  }
  return item as unknown as Record<string, unknown>;
}

function mainOf(item: Item): string | null {
  switch (item.kind) {
    case 'role': return item.to;
    case 'runtime': return item.mode;
    case 'done': return item.ok ? 'ok' : 'failed';
    case 'hold': return item.reason === null ? 'none' : 'set';
    case 'compatibility': return item.incompatible === null ? 'none' : 'set';
    case 'fault': return item.on ? 'on' : 'off';
    case 'heartbeat': return item.role;
    default: return null;
  }
}

function textOf(item: Item): string | null {
  switch (item.kind) {
    case 'role': case 'fence': case 'yield': return item.reason;
    case 'hold': return item.reason;
    case 'done': return item.message;
    case 'compatibility': return item.incompatible;
    case 'fault': return item.fault;
    case 'heartbeat': return item.refuseReason ?? null;
    default: return null;
  }
}

function matches(p: Pattern, item: Item): boolean {
  if (itemKind(item) !== p.kind) return false;
  if (p.main !== null && mainOf(item) !== p.main) return false;
  const f = fieldsOf(item);
  for (const { key, op, value } of p.fields) if (!compare(f[key], op, value)) return false;
  if (p.text) {
    const t = textOf(item);
    if (t === null) return false;
    if (p.text.kind === 'exact' ? t !== p.text.s : !compare(t, '~', p.text)) return false;
  }
  return true;
}

/** One line per item, for a failure message. */
function describeItem(s: Seen): string {
  const i = s.item;
  const at = `${s.at} ms`;
  switch (i.kind) {
    case 'role': return `${at} role ${i.from}→${i.to} (epoch ${i.epoch}${i.cause ? `, ${i.cause}` : ''}): ${i.reason}`;
    case 'runtime': return `${at} runtime ${i.mode}`;
    case 'persist': return `${at} persist ${JSON.stringify(keptOf(i.state))}${i.critical ? '' : ' (not critical)'}`;
    case 'done': return `${at} done ${i.ok ? 'ok' : 'failed'} (${i.command}, id ${i.id}): ${i.message}`;
    case 'hold': return `${at} hold ${i.reason === null ? 'none' : i.reason}`;
    case 'fence': return `${at} fence: ${i.reason}`;
    case 'yield': return `${at} yield: ${i.reason}`;
    case 'compatibility': return `${at} compatibility (${i.active}): ${i.incompatible ?? 'none'}${i.activeGone ? ' (Active gone)' : ''}`;
    case 'fault': return `${at} fault ${i.on ? 'on' : 'off'}: ${i.fault}`;
    case 'heartbeat': {
      const extra = (['epoch', 'maxEpoch', 'eligible', 'wantFrom', 'grantTo', 'refuseTo', 'refuseReason', 'released', 'claim'] as const)
        .filter((k) => i[k] !== undefined).map((k) => `${k}=${show(i[k])}`);
      return `${at} heartbeat ${i.role} ${extra.join(' ')}${i.ack ? ` ack=${i.ack.to}/${i.ack.epoch}` : ''}`;
    }
  }
}

// ---------------------------------------------------------------- the runner

const DELIVERY_MS = 1;
const DEFAULT_RUNTIME_MS = 10;
const DEFAULT_FENCE_MS = 1;
const DEFAULT_UNTIL_MS = 60_000;
/** The lines that start the servers at time 0 when they come first; the others (declarations, settings) do not. */
const STARTERS = new Set(['mark', 'tick', 'expect', 'cut', 'heal', 'partition', 'drop', 'freeze', 'stall', 'crash', 'restart', 'start', 'command', 'observe']);

class Scenario {
  now = 0;
  private started = false;
  private readonly nodes = new Map<string, Node>();
  private readonly domain: Domain = { servers: [], quorum: 'auto', failback: 'manual', timings: { ...DEFAULT_TIMINGS }, confirmResume: false, rated: null, failureResetMs: null };
  private events: Scheduled[] = [];
  private seq = 0;
  private readonly cuts = new Set<string>();
  private readonly drops = new Map<string, number>();
  private readonly seen: Seen[] = [];
  private windowStart = 0;
  private lastWasExpect = false;
  private allowTwoActive = false;
  /** Moments named by `mark`, for `tick until … within <ms> of <mark>`. */
  private readonly marks = new Map<string, number>();
  /** Servers crashed before the start: down from time 0. */
  private readonly notStarted = new Set<string>();
  /** Defaults for servers declared later (`runtime * …`, `guardian * …`). */
  private runtimeDefault = DEFAULT_RUNTIME_MS;
  private fenceDefault: number | null = DEFAULT_FENCE_MS;

  constructor(private readonly file: string) {}

  run(text: string): { lines: number; now: number } {
    const lines = text.split('\n').map((t, i) => ({ n: i + 1, text: t }));
    let count = 0;
    for (const { n, text: t } of lines) {
      let words: string[];
      try {
        words = wordsOf(t);
      } catch (e) {
        throw this.error({ n, text: t, words: [] }, (e as Error).message);
      }
      if (!words.length) continue;
      const line = { n, text: t.trim(), words };
      count++;
      try {
        this.step(line);
        if (this.started) this.neverTwoActive();
      } catch (e) {
        if (e instanceof ScenarioError) throw e;
        throw this.error(line, (e as Error).message);
      }
    }
    if (!this.started) throw this.error({ n: lines.length, text: '(end of file)', words: [] }, 'the scenario never started: no line after the declarations');
    return { lines: count, now: this.now };
  }

  private error(line: Line, what: string): ScenarioError {
    return new ScenarioError(`${this.file}:${line.n}: ${line.text}\n  ${what.split('\n').join('\n  ')}\n${this.picture()}`);
  }

  /** Every server's role, epochs and reason now. */
  private picture(): string {
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

  // ------------------------------------------------------------ lines

  private step(line: Line): void {
    const [verb, ...args] = line.words as [string, ...string[]];
    const isExpect = verb === 'expect' || (verb === 'tick' && args[0] === 'until');
    if (!isExpect && this.lastWasExpect) this.windowStart = this.seen.length;
    this.lastWasExpect = isExpect;
    if (!this.started && STARTERS.has(verb) && !(verb === 'crash' && args.length === 1)) this.start();
    switch (verb) {
      case 'servers': return this.declareServers(args);
      case 'domain': return this.declareOptions(args);
      case 'state': return this.declareState(args);
      case 'tick': return this.tickLine(args);
      case 'expect': return this.expectLine(args);
      case 'cut': return this.cutLine(args, true);
      case 'heal': return this.cutLine(args, false);
      case 'partition': return this.partition(args);
      case 'drop': return this.dropLine(args);
      case 'freeze': return this.freeze(args);
      case 'stall': return this.stall(args);
      case 'crash': return this.crashLine(args);
      case 'restart': case 'start': return this.restartLine(args);
      case 'disk': return this.diskLine(args);
      case 'runtime': return this.runtimeLine(args);
      case 'guardian': return this.guardianLine(args);
      case 'info': return this.infoLine(args);
      case 'command': return this.commandLine(args);
      case 'observe': return this.observeLine(args);
      case 'mark':
        if (args.length !== 1) throw new Error('mark <name>');
        this.marks.set(args[0]!, this.now);
        return;
      case 'allow': case 'forbid':
        if (args.join(' ') !== 'two-active') throw new Error(`${verb} takes "two-active"`);
        this.allowTwoActive = verb === 'allow';
        return;
      default:
        throw new Error(`unknown verb "${verb}" (see the top of test/scenarios/runner.ts)`);
    }
  }

  private node(name: string | undefined): Node {
    const n = name === undefined ? undefined : this.nodes.get(name);
    if (!n) throw new Error(`no server "${name ?? ''}" (declared: ${[...this.nodes.keys()].join(', ') || 'none'})`);
    return n;
  }

  /** `*` or a server name. */
  private nodesOf(name: string | undefined): Node[] {
    return name === '*' ? [...this.nodes.values()] : [this.node(name)];
  }

  private up(name: string | undefined): Node & { engine: Engine } {
    const n = this.node(name);
    if (!n.engine) throw new Error(`${n.name} is down`);
    if (n.frozenUntil !== null) throw new Error(`${n.name} is frozen until ${n.frozenUntil} ms: it takes no input`);
    return n as Node & { engine: Engine };
  }

  // ------------------------------------------------------------ the domain

  /** `… only a,b`: the revision reaches only these servers (for now); null: every server. */
  private only(args: string[]): { args: string[]; only: string[] | null } {
    const i = args.indexOf('only');
    if (i === -1) return { args, only: null };
    if (!this.started) throw new Error('only: a revision reaches some servers only once they run');
    if (i !== args.length - 2) throw new Error('only <server>[,<server>…] comes last');
    return { args: args.slice(0, i), only: args[i + 1]!.split(',').map((n) => this.node(n).name) };
  }

  private declareServers(all: string[]): void {
    const { args, only } = this.only(all);
    if (!args.length) throw new Error('servers needs at least one name:kind');
    const servers = args.map((a) => {
      const [name, kind, flag] = a.split(':');
      if (!name || !kind || !['main', 'backup', 'inactive', 'witness'].includes(kind)) throw new Error(`"${a}": write name:kind, kind one of main, backup, inactive, witness`);
      if (flag !== undefined && flag !== 'maintenance') throw new Error(`"${a}": the only flag is :maintenance`);
      return { name, kind: kind as ServerKind, maintenance: flag === 'maintenance' };
    });
    this.domain.servers = servers;
    const added = servers.filter((s) => !this.nodes.has(s.name)).map((s) => this.freshNode(s.name));
    for (const node of added) this.nodes.set(node.name, node);
    if (this.started) this.reconfigure(only, added);
  }

  private freshNode(name: string): Node {
    return {
      name, engine: null, boot: 0, gen: 0, store: null, wakeAt: Infinity, frozenUntil: null, inbox: [],
      runtimeDelay: this.runtimeDefault, runtimeStuck: false, runtimeFreeAt: 0, runtimeWaiting: [],
      fenceDelay: this.fenceDefault, diskError: null, info: null, domain: null,
    };
  }

  private declareOptions(all: string[]): void {
    const { args, only } = this.only(all);
    for (const a of args) {
      const t = termOf(a);
      if (!t || t.op !== '=') throw new Error(`"${a}": write key=value`);
      const v = plain(t.raw);
      const num = () => {
        if (!isNum(v)) throw new Error(`${t.key} takes a number of ms, not "${v}"`);
        return Number(v);
      };
      switch (t.key) {
        case 'quorum':
          if (v !== 'auto' && v !== 'off') throw new Error('quorum=auto or quorum=off');
          this.domain.quorum = v;
          break;
        case 'failback':
          if (v !== 'auto' && v !== 'manual') throw new Error('failback=auto or failback=manual');
          this.domain.failback = v;
          break;
        case 'confirmResume':
          this.domain.confirmResume = v === 'on' || v === 'true';
          break;
        case 'rated': {
          const m = /^(\d+)\/(\d+)$/.exec(v);
          if (v === 'off') this.domain.rated = null;
          else if (m) this.domain.rated = { marginPoints: Number(m[1]), holdMs: Number(m[2]) };
          else throw new Error('rated=<margin points>/<hold ms>, e.g. rated=50/2000, or rated=off');
          break;
        }
        case 'failureResetMs':
          this.domain.failureResetMs = num();
          break;
        default:
          if (!(t.key in DEFAULT_TIMINGS)) throw new Error(`unknown domain option "${t.key}"`);
          this.domain.timings[t.key as keyof Timings] = num();
      }
    }
    if (this.started) this.reconfigure(only);
  }

  private declareState(args: string[]): void {
    const [name, ...rest] = args;
    const node = this.node(name);
    if (node.engine) throw new Error(`${node.name} is running: its state file is set before it starts`);
    const k: Kept = { ...(node.store ? keptOf(node.store) : NOTHING_KEPT) };
    let failures: RuntimeFailures | null = k.failures ? { ...k.failures } : null;
    const f = () => (failures ??= { count: 1, last: 'crash loop', resetAt: 0, banned: false });
    for (const a of rest) {
      const t = termOf(a);
      if (!t || t.op !== '=') throw new Error(`"${a}": write key=value`);
      const v = plain(t.raw);
      switch (t.key) {
        case 'maxEpoch': k.maxEpoch = Number(v); break;
        case 'epoch': k.epoch = Number(v); break;
        case 'maintenance': k.maintenance = v === 'true' || v === 'on'; break;
        case 'promiseMs': k.promiseMs = Number(v); break;
        case 'failures': f().count = Number(v); break;
        case 'last': f().last = v; break;
        case 'resetAt': f().resetAt = Number(v); break;
        case 'banned': f().banned = v === 'true'; break;
        default: throw new Error(`unknown state field "${t.key}" (maxEpoch, epoch, maintenance, promiseMs, failures, last, resetAt, banned)`);
      }
    }
    k.failures = failures;
    if (k.epoch !== null && k.epoch > k.maxEpoch) k.maxEpoch = k.epoch;
    node.store = persistedOf(k);
  }

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

  private start(): void {
    if (!this.domain.servers.length) throw new Error('no servers declared (servers a:main b:backup …) before the first step');
    this.started = true;
    for (const node of this.nodes.values()) if (!this.notStarted.has(node.name)) this.boot(node);
  }

  /**
   * A new domain revision reaches `only` these servers (null: all): servers new to the list
   * start with it; a running server applies it (a frozen one when it wakes); a server that is
   * down starts with it.
   */
  private reconfigure(only: string[] | null, added: Node[] = []): void {
    for (const node of added) this.boot(node);
    for (const node of this.nodes.values()) {
      if (added.includes(node) || (only && !only.includes(node.name))) continue;
      node.domain = structuredClone(this.domain);
      if (node.engine) this.inputOrQueue(node, { kind: 'reconfigure' });
    }
  }

  /** A new process: an Engine from the state file, ticked at once (the driver's start), then told its info. */
  private boot(node: Node): void {
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

  // ------------------------------------------------------------ outputs

  /** What the node's driver does with an output: write, send, carry out the effects, set the timer. */
  private apply(node: Node, out: Output): void {
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
        if (node.fenceDelay !== null) this.schedule(this.now + node.fenceDelay, 1, node.name, node.gen, { kind: 'observe', fact: { kind: 'fenced', reason: effect.reason } });
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
    this.schedule(at, 1, node.name, node.gen, { kind: 'observe', fact: { kind: 'runtime', mode } });
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

  private schedule(at: number, cls: 0 | 1, to: string, gen: number, input: Input): void {
    this.events.push({ at, cls, seq: this.seq++, to, gen, input });
  }

  private down(node: Node): void {
    node.engine = null;
    node.gen += 1;
    node.frozenUntil = null;
    node.inbox = [];
    node.wakeAt = Infinity;
    node.runtimeWaiting = [];
  }

  // ------------------------------------------------------------ time

  /** Runs the world until `to` (or until `until` holds): true when it held. */
  private advance(to: number, until?: () => boolean): boolean {
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

  private input(node: Node, input: Input): void {
    const engine = node.engine;
    if (!engine) return;
    const now = this.now;
    this.apply(node, input.kind === 'receive' ? engine.receive(input.msg, now) : input.kind === 'observe' ? engine.observe(input.fact, now) : engine.reconfigure(this.configOf(node), now));
  }

  /** The process runs again: its overdue timer first (Node runs timers before I/O), then what piled up. */
  private thaw(node: Node): void {
    node.frozenUntil = null;
    if (node.engine && node.wakeAt <= this.now) this.apply(node, node.engine.tick(this.now));
    const inbox = node.inbox;
    node.inbox = [];
    for (const input of inbox) this.input(node, input);
  }

  private neverTwoActive(): void {
    if (this.allowTwoActive) return;
    const active = [...this.nodes.values()].filter((n) => n.engine && n.frozenUntil === null && n.engine.currentRole === 'active');
    if (active.length > 1) throw new Error(`two servers Active at once at ${this.now} ms: ${active.map((n) => `${n.name} (epoch ${n.engine!.currentEpoch})`).join(' and ')}`);
  }

  private tickLine(args: string[]): void {
    if (args[0] === 'until') {
      const w = args.indexOf('within');
      const clauses = args.slice(1, w === -1 ? undefined : w);
      const tail = w === -1 ? [] : args.slice(w + 1);
      const limit = w === -1 ? DEFAULT_UNTIL_MS : Number(tail[0]);
      if (!Number.isFinite(limit) || limit < 0 || !(tail.length <= 1 || (tail.length === 3 && tail[1] === 'of'))) throw new Error('tick until <expectation> [within <ms> [of <mark>]]');
      const from = tail.length === 3 ? this.marks.get(tail[2]!) : this.now;
      if (from === undefined) throw new Error(`no mark "${tail[2]!}" (mark <name> sets one)`);
      const checks = this.parseExpect(clauses);
      if (!this.advance(Math.max(this.now, from + limit), () => checks.every((c) => c().length === 0))) {
        const why = checks.flatMap((c) => c());
        throw new Error(`not so within ${limit} ms (from ${from} ms${tail.length === 3 ? `, mark ${tail[2]!}` : ''}):\n${why.join('\n')}`);
      }
      return;
    }
    if (args.length !== 1 || !isNum(args[0]!) || Number(args[0]) < 0) throw new Error('tick <ms> or tick until <expectation> [within <ms>]');
    this.advance(this.now + Number(args[0]));
  }

  // ------------------------------------------------------------ the network and processes

  private cutLine(args: string[], on: boolean): void {
    if (!on && !args.length) {
      this.cuts.clear();
      return;
    }
    if (!args.length) throw new Error('cut what? cut a | cut a-b | cut a>b');
    for (const a of args) {
      let pairs: string[];
      if (a.includes('>')) {
        const [x, y] = a.split('>');
        pairs = [`${this.node(x).name}>${this.node(y).name}`];
      } else if (a.includes('-')) {
        const [x, y] = a.split('-');
        pairs = [`${this.node(x).name}>${this.node(y).name}`, `${y}>${x}`];
      } else {
        const x = this.node(a).name;
        pairs = [...this.nodes.keys()].filter((y) => y !== x).flatMap((y) => [`${x}>${y}`, `${y}>${x}`]);
      }
      for (const p of pairs) {
        if (on) this.cuts.add(p);
        else this.cuts.delete(p);
      }
    }
  }

  private partition(args: string[]): void {
    const groups: string[][] = [[]];
    for (const a of args) {
      if (a === '|') groups.push([]);
      else groups.at(-1)!.push(this.node(a).name);
    }
    if (groups.length < 2 || groups.some((g) => !g.length)) throw new Error('partition a b | c d: two or more groups separated by |');
    for (const g of groups) for (const h of groups) if (g !== h) for (const x of g) for (const y of h) this.cuts.add(`${x}>${y}`);
  }

  private dropLine(args: string[]): void {
    const [link, count] = args;
    const m = /^([^>]+)>([^>]+)$/.exec(link ?? '');
    if (!m || !isNum(count ?? '')) throw new Error('drop a>b <count> (or a>* for every receiver)');
    this.node(m[1]);
    if (m[2] !== '*') this.node(m[2]);
    this.drops.set(`${m[1]}>${m[2]}`, Number(count));
  }

  private freeze(args: string[]): void {
    const node = this.up(args[0]);
    if (!isNum(args[1] ?? '')) throw new Error('freeze <server> <ms>');
    node.frozenUntil = this.now + Number(args[1]);
  }

  /** The process's next timer fires `ms` late (its event loop stalled): frozen from now until then. */
  private stall(args: string[]): void {
    const node = this.up(args[0]);
    if (!isNum(args[1] ?? '') || args.length !== 2) throw new Error('stall <server> <ms>');
    node.frozenUntil = node.wakeAt + Number(args[1]);
  }

  private crashLine(args: string[]): void {
    const node = this.node(args[0]);
    if (!this.started) {
      // Before the start: the server is not running at time 0 (start it later with `start`).
      this.notStarted.add(node.name);
      return;
    }
    if (!node.engine) throw new Error(`${node.name} is down already`);
    if (args[1] === 'release') {
      // Its guardian outlives the node: it kills the runtime and multicasts the release notice.
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
    } else if (args.length > 1) throw new Error('crash <server> [release]');
    this.down(node);
  }

  private restartLine(args: string[]): void {
    const node = this.node(args[0]);
    if (args.length > 1) throw new Error('restart <server>');
    if (node.engine) this.down(node);
    this.boot(node);
  }

  private diskLine(args: string[]): void {
    const node = this.node(args[0]);
    if (args[1] === 'full') node.diskError = args[2] ? plain(args[2]) : 'disk full';
    else if (args[1] === 'ok') node.diskError = null;
    else throw new Error('disk <server> full ["error"] | disk <server> ok');
  }

  private runtimeLine(args: string[]): void {
    const [name, what] = args;
    if (name === '*' && what?.startsWith('delay=')) this.runtimeDefault = Number(what.slice(6));
    for (const node of this.nodesOf(name)) {
      if (what === 'stuck') node.runtimeStuck = true;
      else if (what?.startsWith('delay=') && isNum(what.slice(6))) {
        node.runtimeDelay = Number(what.slice(6));
        node.runtimeStuck = false;
        const waiting = node.runtimeWaiting;
        node.runtimeWaiting = [];
        for (const mode of waiting) this.runtimeReply(node, mode);
      } else throw new Error('runtime <server|*> delay=<ms> | runtime <server|*> stuck');
    }
  }

  private guardianLine(args: string[]): void {
    const [name, what] = args;
    let delay: number | null;
    if (what === 'off') delay = null;
    else if (what?.startsWith('delay=') && isNum(what.slice(6))) delay = Number(what.slice(6));
    else throw new Error('guardian <server|*> delay=<ms> | guardian <server|*> off');
    if (name === '*') this.fenceDefault = delay;
    for (const node of this.nodesOf(name)) node.fenceDelay = delay;
  }

  private infoLine(args: string[]): void {
    const [name, ...rest] = args;
    const node = this.node(name);
    const info: NodeInfo = node.info ? structuredClone(node.info) : { ver: '1.0.0', app: '', rev: { n: 1, t: 0, h: '0000000000000000' }, sync: 'in-sync', port: 1 };
    for (const a of rest) {
      const t = termOf(a);
      if (!t || t.op !== '=') throw new Error(`"${a}": write key=value`);
      const v = plain(t.raw);
      switch (t.key) {
        case 'ver': info.ver = v; break;
        case 'app': info.app = v; break;
        case 'rev': info.rev = { ...info.rev, n: Number(v) }; break;
        case 'sync':
          if (!['in-sync', 'syncing', 'conflict', 'error'].includes(v)) throw new Error('sync=in-sync|syncing|conflict|error');
          info.sync = v as NodeInfo['sync'];
          break;
        default: throw new Error(`unknown info field "${t.key}" (ver, app, rev, sync)`);
      }
    }
    node.info = info;
    if (node.engine && node.frozenUntil === null) this.apply(node, node.engine.setInfo(info, this.now));
  }

  // ------------------------------------------------------------ inputs by hand

  private commandLine(args: string[]): void {
    const arrow = args.indexOf('->');
    const words = arrow === -1 ? args : args.slice(0, arrow);
    const wanted = arrow === -1 ? ['accepted'] : args.slice(arrow + 1);
    const node = this.up(words[0]);
    let id = 0;
    const rest = words.slice(1).filter((w) => {
      const t = termOf(w);
      if (t?.key === 'id' && t.op === '=') {
        id = Number(t.raw);
        return false;
      }
      return true;
    });
    const [name, ...more] = rest;
    let cmd: Command;
    switch (name) {
      case 'activate': case 'deactivate': case 'clear':
        if (more.length) throw new Error(`${name} takes nothing more`);
        cmd = { kind: name };
        break;
      case 'maintenance':
        if ((more[0] !== 'on' && more[0] !== 'off') || more.length > 2 || (more[1] !== undefined && (more[1] !== 'force' || more[0] !== 'on'))) throw new Error('maintenance on [force] | maintenance off');
        cmd = more[1] ? { kind: 'maintenance', on: true, force: true } : { kind: 'maintenance', on: more[0] === 'on' };
        break;
      case 'report-failure':
        if (more.length !== 1) throw new Error('report-failure "reason"');
        cmd = { kind: 'report-failure', reason: plain(more[0]!) };
        break;
      default:
        throw new Error(`unknown command "${name ?? ''}" (activate, deactivate, maintenance on|off [force], report-failure "why", clear)`);
    }
    const [verdict, text, extra] = wanted;
    if ((verdict !== 'accepted' && verdict !== 'refused') || extra !== undefined) throw new Error('after ->: accepted or refused, then maybe "substring", ="exact" or /regex/');
    const r = node.engine.command(cmd, this.now, id);
    this.apply(node, r);
    const got = `${r.accepted ? 'accepted' : 'refused'}: ${r.message}`;
    if ((verdict === 'accepted') !== r.accepted) throw new Error(`expected ${verdict}, got ${got}`);
    if (text !== undefined) {
      const v = valueOf(text);
      const ok = v.kind === 'exact' ? r.message === v.s : compare(r.message, '~', v);
      if (!ok) throw new Error(`expected the message ${v.kind === 'exact' ? 'to be' : 'to contain'} ${valueText(v)}, got ${got}`);
    }
  }

  private observeLine(args: string[]): void {
    const node = this.up(args[0]);
    let words = args.slice(1);
    let every: number | null = null;
    let span = 0;
    const e = words.indexOf('every');
    if (e !== -1) {
      const tail = words.slice(e);
      words = words.slice(0, e);
      if (tail.length !== 4 || tail[2] !== 'for' || !isNum(tail[1]!) || !isNum(tail[3]!) || Number(tail[1]) <= 0) throw new Error('… every <ms> for <ms>');
      every = Number(tail[1]);
      span = Number(tail[3]);
    }
    const fact = this.factOf(words);
    this.input(node, { kind: 'observe', fact });
    if (every !== null) {
      for (let t = this.now + every; t < this.now + span; t += every) this.schedule(t, 1, node.name, node.gen, { kind: 'observe', fact });
    }
  }

  private factOf(words: string[]): Observation {
    const [kind, ...rest] = words;
    const named = (key: string): string | null => {
      const w = rest.find((x) => termOf(x)?.key === key);
      return w === undefined ? null : plain(termOf(w)!.raw);
    };
    const one = (what: string): string => {
      if (rest.length !== 1) throw new Error(`${kind} ${what}`);
      return plain(rest[0]!);
    };
    switch (kind) {
      case 'runtime-failed': return { kind, reason: one('"reason"') };
      case 'fenced': return { kind, reason: one('"reason"') };
      case 'store-failed': return { kind, error: one('"error"') };
      case 'send-failed': return { kind };
      case 'name-conflict': return { kind, address: one('<address>') };
      case 'runtime': {
        const mode = one('active|standby|stopped');
        if (!['active', 'standby', 'stopped'].includes(mode)) throw new Error('runtime active|standby|stopped');
        return { kind, mode: mode as RuntimeMode };
      }
      case 'link': {
        if (rest[0] !== 'up' && rest[0] !== 'down') throw new Error('link up|down ["detail"]');
        const fact: Observation = { kind, up: rest[0] === 'up' };
        if (rest[1] !== undefined) fact.detail = plain(rest[1]);
        return fact;
      }
      case 'health': {
        if (!isNum(rest[0] ?? '')) throw new Error('health <score> [failing="…"] [isolated="…"]');
        return { kind, score: Number(rest[0]), failing: named('failing'), isolated: named('isolated') };
      }
      case 'unverifiable': {
        const address = rest[0];
        const suspects = named('suspects');
        if (!address || address.includes('=')) throw new Error('unverifiable <address> suspects=a,b');
        return { kind, address, suspects: suspects ? suspects.split(',').filter(Boolean) : [] };
      }
      default:
        throw new Error(`unknown observation "${kind ?? ''}" (runtime-failed, fenced, link, send-failed, health, name-conflict, unverifiable, store-failed, runtime)`);
    }
  }

  // ------------------------------------------------------------ expectations

  private expectLine(args: string[]): void {
    const checks = this.parseExpect(args);
    const why = checks.flatMap((c) => c());
    if (why.length) throw new Error(why.join('\n'));
  }

  /** Each clause becomes a check: the list of what is not so (empty: it holds). */
  private parseExpect(args: string[]): (() => string[])[] {
    const clauses: string[][] = [[]];
    for (const w of args) {
      if (w === ',') clauses.push([]);
      else clauses.at(-1)!.push(w);
    }
    if (clauses.some((c) => !c.length)) throw new Error('an empty clause: expect <server> <what>[, <server> <what>]');
    return clauses.map((c) => this.clause(c));
  }

  private clause(words: string[]): () => string[] {
    const node = this.node(words[0]);
    const checks: (() => string | null)[] = [];
    const rest = words.slice(1);
    if (!rest.length) throw new Error(`expect ${node.name} what?`);
    for (let i = 0; i < rest.length; i++) {
      const w = rest[i]!;
      if (w === 'saw') {
        checks.push(this.sawCheck(node, rest.slice(i + 1)));
        break;
      }
      if ((ROLES as readonly string[]).includes(w)) {
        checks.push(() => {
          if (!node.engine) return `${node.name} is down, expected ${w}`;
          const role = node.engine.status(this.now).role;
          return role === w ? null : `${node.name}: role is ${role}, expected ${w}`;
        });
        continue;
      }
      if (w === 'up' || w === 'down' || w === 'frozen') {
        checks.push(() => {
          const state = !node.engine ? 'down' : node.frozenUntil !== null ? 'frozen' : 'up';
          return state === w ? null : `${node.name} is ${state}, expected ${w}`;
        });
        continue;
      }
      const t = termOf(w);
      if (!t) throw new Error(`"${w}" in an expectation: a role, up/down/frozen, field<op>value, or saw …`);
      const value = valueOf(t.raw);
      this.field(node, t.key); // an unknown field is an error now, not when the check runs
      checks.push(() => {
        let expected = value;
        let about = valueText(value);
        const other = value.kind === 'word' ? this.nodes.get(value.s) : undefined;
        const actual = this.field(node, t.key);
        if (other && (typeof actual === 'number' || actual === null)) {
          const v = this.field(other, t.key);
          expected = { kind: 'word', s: show(v) };
          about = `${other.name}'s ${show(v)}`;
        }
        if (value.kind === 'exact' && (t.op === '~' || t.op === '!~')) expected = { kind: 'contains', s: value.s };
        return compare(actual, t.op, expected) ? null : `${node.name}: ${t.key} is ${JSON.stringify(actual ?? null)}, expected ${t.op} ${about}`;
      });
    }
    return () => checks.map((c) => c()).filter((x): x is string => x !== null);
  }

  /** A field of a server now (see the format's list). */
  private field(node: Node, key: string): unknown {
    const [head, ...path] = key.split('.');
    if (head === 'stored') {
      const k = node.store ? keptOf(node.store) : null;
      const view: Record<string, unknown> = k
        ? { maxEpoch: k.maxEpoch, epoch: k.epoch, maintenance: k.maintenance, promiseMs: k.promiseMs, failures: k.failures?.count ?? null, banned: k.failures?.banned ?? false, last: k.failures?.last ?? null, resetAt: k.failures?.resetAt ?? null }
        : {};
      if (path.length !== 1 || !['maxEpoch', 'epoch', 'maintenance', 'promiseMs', 'failures', 'banned', 'last', 'resetAt'].includes(path[0]!)) throw new Error(`stored.<maxEpoch|epoch|maintenance|promiseMs|failures|banned|last|resetAt>, not ${key}`);
      return view[path[0]!] ?? null;
    }
    if (!node.engine) return null;
    if (head === 'verdict') {
      const v = node.engine.commandVerdicts(this.now) as Record<string, string | null>;
      if (path.length !== 1 || !(path[0]! in v)) throw new Error(`verdict.<${Object.keys(v).join('|')}>, not ${key}`);
      return v[path[0]!];
    }
    const s: EngineStatus = node.engine.status(this.now);
    if (head === 'peers' && !path.length) return s.peers.map((p) => p.server);
    if (head === 'peer') {
      const [peer, ...more] = path;
      const p = s.peers.find((x) => x.server === peer);
      if (!p) throw new Error(`${node.name} has no peer "${peer ?? ''}"`);
      return dig(p, more, key);
    }
    const short: Record<string, string[]> = { timeout: ['effectiveTimeoutMs'], lease: ['quorum', 'leaseMs'], supports: ['quorum', 'supports'] };
    return dig(s, short[head!] ?? [head!, ...path], key);
  }

  private sawCheck(node: Node, words: string[]): () => string | null {
    let mode: 'some' | 'no' | 'exactly' | number = 'some';
    let rest = words;
    if (rest[0] === 'no' || rest[0] === 'exactly') {
      mode = rest[0] === 'no' ? 'no' : 'exactly';
      rest = rest.slice(1);
    } else if (isNum(rest[0] ?? '')) {
      mode = Number(rest[0]);
      rest = rest.slice(1);
    }
    const seqs: string[][] = [[]];
    for (const w of rest) {
      if (w === 'then') seqs.push([]);
      else seqs.at(-1)!.push(w);
    }
    if (seqs.some((s) => !s.length)) throw new Error('saw what? e.g. saw fence, saw role active then runtime active');
    const patterns = seqs.map(patternOf);
    if (patterns.length > 1 && (mode === 'no' || typeof mode === 'number')) throw new Error('saw no / saw <n> take one pattern');
    const text = `saw ${words.join(' ')}`;
    return () => {
      const mine = this.seen.slice(this.windowStart).filter((s) => s.server === node.name);
      // Heartbeats are listed only when the expectation is about them: otherwise they bury the effects.
      const shown = patterns.some((p) => p.kind === 'heartbeat') ? mine : mine.filter((s) => s.item.kind !== 'heartbeat');
      const beats = mine.length - shown.length;
      const list = () => [...shown.map((s) => `      ${describeItem(s)}`), ...(beats ? [`      (and ${beats} heartbeats)`] : [])].join('\n') || '      (nothing)';
      const fail = (why: string) => `${node.name}: ${why} (expected ${text}); since the last expect it did:\n${list()}`;
      if (mode === 'no') {
        const hit = mine.find((s) => matches(patterns[0]!, s.item));
        return hit ? fail(`it did: ${describeItem(hit)}`) : null;
      }
      if (typeof mode === 'number') {
        const n = mine.filter((s) => matches(patterns[0]!, s.item)).length;
        return n === mode ? null : fail(`${n} such`);
      }
      if (mode === 'exactly') {
        const kinds = new Set(patterns.map((p) => p.kind));
        const of = mine.filter((s) => kinds.has(itemKind(s.item)));
        const ok = of.length === patterns.length && of.every((s, i) => matches(patterns[i]!, s.item));
        return ok ? null : fail('not exactly that');
      }
      let i = 0;
      for (const s of mine) if (i < patterns.length && matches(patterns[i]!, s.item)) i++;
      return i === patterns.length ? null : fail(patterns.length > 1 ? `not in that order (matched ${i} of ${patterns.length})` : 'not seen');
    };
  }
}

function dig(obj: unknown, path: string[], key: string): unknown {
  let v: unknown = obj;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !(p in (v as object))) throw new Error(`no field "${key}" (see the list at the top of test/scenarios/runner.ts)`);
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/** Runs one scenario (the text of a .txt file); `file` names it in errors. Throws ScenarioError. */
export function runScenario(text: string, file: string): { lines: number; now: number } {
  return new Scenario(file).run(text);
}

export function runScenarioFile(path: string, shownAs = path): { lines: number; now: number } {
  return runScenario(readFileSync(path, 'utf8'), shownAs);
}

