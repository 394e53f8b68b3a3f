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
 *
 * THE FILES. This one reads a script line by line and carries out each verb; script.ts splits the
 * text into lines and words and formats the error that names a line; inputs.ts reads the words of
 * domain, state, info, command and observe lines into the engine's types; world.ts is the
 * simulated world (servers, network, clock, and the stand-ins for the driver, runtime, guardian
 * and state file); expectations.ts checks expect and saw; engine-seams.ts holds what the runner
 * needs from the engine beyond its inputs, status and output.
 */
import { readFileSync } from 'node:fs';
import { checkAnswer, checksOf } from './expectations';
import { answerOf, commandOf, infoOf, observationOf, serversOf, setOptions, stateFileOf } from './inputs';
import { type Line, lineError, isNum, plain, ScenarioError, stepsOf } from './script';
import { World } from './world';

export { ScenarioError } from './script';

const DEFAULT_UNTIL_MS = 60_000;
/** The lines that start the servers at time 0 when they come first; the others (declarations, settings) do not. */
const STARTERS = new Set(['mark', 'tick', 'expect', 'cut', 'heal', 'partition', 'drop', 'freeze', 'stall', 'crash', 'restart', 'start', 'command', 'observe']);

/** One run of a script: reads it line by line and acts on its world. */
class Scenario {
  private readonly world = new World();
  private started = false;
  /** Where the window of `saw` starts in world.seen: consecutive expect lines share one. */
  private windowStart = 0;
  private lastWasExpect = false;
  /** Moments named by `mark`, for `tick until … within <ms> of <mark>`. */
  private readonly marks = new Map<string, number>();
  /** Servers crashed before the start: down from time 0. */
  private readonly notStarted = new Set<string>();

  constructor(private readonly file: string) {}

  run(text: string): { lines: number; now: number } {
    const { steps, lastLine } = stepsOf(text);
    let count = 0;
    for (const line of steps) {
      if ('error' in line) throw this.error(line, line.error);
      count++;
      try {
        this.step(line);
        if (this.started) this.world.neverTwoActive();
      } catch (e) {
        if (e instanceof ScenarioError) throw e;
        throw this.error(line, (e as Error).message);
      }
    }
    if (!this.started) throw this.error({ n: lastLine, text: '(end of file)' }, 'the scenario never started: no line after the declarations');
    return { lines: count, now: this.world.now };
  }

  private error(line: { n: number; text: string }, what: string): ScenarioError {
    return lineError(this.file, line, what, this.world.picture());
  }

  private step(line: Line): void {
    const [verb, ...args] = line.words as [string, ...string[]];
    const isExpect = verb === 'expect' || (verb === 'tick' && args[0] === 'until');
    if (!isExpect && this.lastWasExpect) this.windowStart = this.world.seen.length;
    this.lastWasExpect = isExpect;
    if (!this.started && STARTERS.has(verb) && !(verb === 'crash' && args.length === 1)) this.start();
    switch (verb) {
      case 'servers': return this.serversLine(args);
      case 'domain': return this.domainLine(args);
      case 'state': return this.stateLine(args);
      case 'tick': return this.tickLine(args);
      case 'expect': return this.expectLine(args);
      case 'cut': return this.cutLine(args, true);
      case 'heal': return this.cutLine(args, false);
      case 'partition': return this.partitionLine(args);
      case 'drop': return this.dropLine(args);
      case 'freeze': return this.freezeLine(args);
      case 'stall': return this.stallLine(args);
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
        this.marks.set(args[0]!, this.world.now);
        return;
      case 'allow': case 'forbid':
        if (args.join(' ') !== 'two-active') throw new Error(`${verb} takes "two-active"`);
        this.world.allowTwoActive = verb === 'allow';
        return;
      default:
        throw new Error(`unknown verb "${verb}" (see the top of test/scenarios/runner.ts)`);
    }
  }

  private start(): void {
    if (!this.world.domain.servers.length) throw new Error('no servers declared (servers a:main b:backup …) before the first step');
    this.started = true;
    for (const node of this.world.nodes.values()) if (!this.notStarted.has(node.name)) this.world.boot(node);
  }

  // ------------------------------------------------------------ the domain

  /** `… only a,b`: the revision reaches only these servers (for now); null: every server. */
  private only(args: string[]): { args: string[]; only: string[] | null } {
    const i = args.indexOf('only');
    if (i === -1) return { args, only: null };
    if (!this.started) throw new Error('only: a revision reaches some servers only once they run');
    if (i !== args.length - 2) throw new Error('only <server>[,<server>…] comes last');
    return { args: args.slice(0, i), only: args[i + 1]!.split(',').map((n) => this.world.node(n).name) };
  }

  private serversLine(all: string[]): void {
    const { args, only } = this.only(all);
    const servers = serversOf(args);
    this.world.domain.servers = servers;
    const added = servers.filter((s) => !this.world.nodes.has(s.name)).map((s) => this.world.add(s.name));
    if (this.started) this.world.reconfigure(only, added);
  }

  private domainLine(all: string[]): void {
    const { args, only } = this.only(all);
    setOptions(this.world.domain, args);
    if (this.started) this.world.reconfigure(only);
  }

  private stateLine(args: string[]): void {
    const [name, ...rest] = args;
    const node = this.world.node(name);
    if (node.engine) throw new Error(`${node.name} is running: its state file is set before it starts`);
    node.store = stateFileOf(node.store, rest);
  }

  private infoLine(args: string[]): void {
    const [name, ...rest] = args;
    const node = this.world.node(name);
    const info = infoOf(node.info, rest);
    node.info = info;
    if (node.engine && node.frozenUntil === null) this.world.apply(node, node.engine.setInfo(info, this.world.now));
  }

  // ------------------------------------------------------------ time and expectations

  private tickLine(args: string[]): void {
    const world = this.world;
    if (args[0] === 'until') {
      const w = args.indexOf('within');
      const clauses = args.slice(1, w === -1 ? undefined : w);
      const tail = w === -1 ? [] : args.slice(w + 1);
      const limit = w === -1 ? DEFAULT_UNTIL_MS : Number(tail[0]);
      if (!Number.isFinite(limit) || limit < 0 || !(tail.length <= 1 || (tail.length === 3 && tail[1] === 'of'))) throw new Error('tick until <expectation> [within <ms> [of <mark>]]');
      const from = tail.length === 3 ? this.marks.get(tail[2]!) : world.now;
      if (from === undefined) throw new Error(`no mark "${tail[2]!}" (mark <name> sets one)`);
      const checks = checksOf(world, clauses, this.windowStart);
      if (!world.advance(Math.max(world.now, from + limit), () => checks.every((c) => c().length === 0))) {
        const why = checks.flatMap((c) => c());
        throw new Error(`not so within ${limit} ms (from ${from} ms${tail.length === 3 ? `, mark ${tail[2]!}` : ''}):\n${why.join('\n')}`);
      }
      return;
    }
    if (args.length !== 1 || !isNum(args[0]!) || Number(args[0]) < 0) throw new Error('tick <ms> or tick until <expectation> [within <ms>]');
    world.advance(world.now + Number(args[0]));
  }

  private expectLine(args: string[]): void {
    const checks = checksOf(this.world, args, this.windowStart);
    const why = checks.flatMap((c) => c());
    if (why.length) throw new Error(why.join('\n'));
  }

  // ------------------------------------------------------------ the network

  private cutLine(args: string[], on: boolean): void {
    const world = this.world;
    if (!on && !args.length) {
      world.healAll();
      return;
    }
    if (!args.length) throw new Error('cut what? cut a | cut a-b | cut a>b');
    for (const a of args) {
      let links: [string, string][];
      if (a.includes('>')) {
        const [x, y] = a.split('>');
        links = [[world.node(x).name, world.node(y).name]];
      } else if (a.includes('-')) {
        const [x, y] = a.split('-');
        links = [[world.node(x).name, world.node(y).name], [y!, x!]];
      } else {
        const x = world.node(a).name;
        links = [...world.nodes.keys()].filter((y) => y !== x).flatMap((y): [string, string][] => [[x, y], [y, x]]);
      }
      for (const [from, to] of links) world.setCut(from, to, on);
    }
  }

  private partitionLine(args: string[]): void {
    const groups: string[][] = [[]];
    for (const a of args) {
      if (a === '|') groups.push([]);
      else groups.at(-1)!.push(this.world.node(a).name);
    }
    if (groups.length < 2 || groups.some((g) => !g.length)) throw new Error('partition a b | c d: two or more groups separated by |');
    for (const g of groups) for (const h of groups) if (g !== h) for (const x of g) for (const y of h) this.world.setCut(x, y, true);
  }

  private dropLine(args: string[]): void {
    const [link, count] = args;
    const m = /^([^>]+)>([^>]+)$/.exec(link ?? '');
    if (!m || !isNum(count ?? '')) throw new Error('drop a>b <count> (or a>* for every receiver)');
    this.world.node(m[1]);
    if (m[2] !== '*') this.world.node(m[2]);
    this.world.drop(m[1]!, m[2]!, Number(count));
  }

  // ------------------------------------------------------------ processes

  private freezeLine(args: string[]): void {
    const node = this.world.up(args[0]);
    if (!isNum(args[1] ?? '')) throw new Error('freeze <server> <ms>');
    node.frozenUntil = this.world.now + Number(args[1]);
  }

  /** The process's next timer fires `ms` late (its event loop stalled): frozen from now until then. */
  private stallLine(args: string[]): void {
    const node = this.world.up(args[0]);
    if (!isNum(args[1] ?? '') || args.length !== 2) throw new Error('stall <server> <ms>');
    node.frozenUntil = node.wakeAt + Number(args[1]);
  }

  private crashLine(args: string[]): void {
    const node = this.world.node(args[0]);
    if (!this.started) {
      // Before the start: the server is not running at time 0 (start it later with `start`).
      this.notStarted.add(node.name);
      return;
    }
    if (!node.engine) throw new Error(`${node.name} is down already`);
    if (args[1] !== 'release' && args.length > 1) throw new Error('crash <server> [release]');
    this.world.crash(node, args[1] === 'release');
  }

  private restartLine(args: string[]): void {
    const node = this.world.node(args[0]);
    if (args.length > 1) throw new Error('restart <server>');
    if (node.engine) this.world.down(node);
    this.world.boot(node);
  }

  private diskLine(args: string[]): void {
    const node = this.world.node(args[0]);
    if (args[1] === 'full') node.diskError = args[2] ? plain(args[2]) : 'disk full';
    else if (args[1] === 'ok') node.diskError = null;
    else throw new Error('disk <server> full ["error"] | disk <server> ok');
  }

  private runtimeLine(args: string[]): void {
    const [name, what] = args;
    if (name === '*' && what?.startsWith('delay=')) this.world.runtimeDefault = Number(what.slice(6));
    for (const node of this.world.nodesOf(name)) {
      if (what === 'stuck') node.runtimeStuck = true;
      else if (what?.startsWith('delay=') && isNum(what.slice(6))) this.world.runtimeAnswers(node, Number(what.slice(6)));
      else throw new Error('runtime <server|*> delay=<ms> | runtime <server|*> stuck');
    }
  }

  private guardianLine(args: string[]): void {
    const [name, what] = args;
    let delay: number | null;
    if (what === 'off') delay = null;
    else if (what?.startsWith('delay=') && isNum(what.slice(6))) delay = Number(what.slice(6));
    else throw new Error('guardian <server|*> delay=<ms> | guardian <server|*> off');
    if (name === '*') this.world.fenceDefault = delay;
    for (const node of this.world.nodesOf(name)) node.fenceDelay = delay;
  }

  // ------------------------------------------------------------ inputs by hand

  private commandLine(args: string[]): void {
    const arrow = args.indexOf('->');
    const words = arrow === -1 ? args : args.slice(0, arrow);
    const node = this.world.up(words[0]);
    const { cmd, id } = commandOf(words.slice(1));
    const wanted = answerOf(arrow === -1 ? null : args.slice(arrow + 1));
    const r = node.engine.command(cmd, this.world.now, id);
    this.world.apply(node, r);
    checkAnswer(wanted, r);
  }

  private observeLine(args: string[]): void {
    const world = this.world;
    const node = world.up(args[0]);
    const { fact, every, span } = observationOf(args.slice(1));
    world.input(node, { kind: 'observe', fact });
    if (every !== null) {
      for (let t = world.now + every; t < world.now + span; t += every) world.observeAt(node, t, fact);
    }
  }
}

/** Runs one scenario (the text of a .txt file); `file` names it in errors. Throws ScenarioError. */
export function runScenario(text: string, file: string): { lines: number; now: number } {
  return new Scenario(file).run(text);
}

export function runScenarioFile(path: string, shownAs = path): { lines: number; now: number } {
  return runScenario(readFileSync(path, 'utf8'), shownAs);
}
