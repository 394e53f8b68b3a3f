/**
 * Expectations: what an `expect` line (or `tick until`) says about the servers — their roles,
 * whether they are up, fields of engine.status(now) and of the state file by path, and `saw`:
 * what a server did since the last expect line, as effect patterns — and the answer expected to
 * a command. The terms are listed at the top of runner.ts.
 */
import type { EngineStatus } from '../../main/engine/types';
import { ROLES } from '../../main/engine/types';
import { keptOf } from './engine-seams';
import { compare, isNum, type Op, show, termOf, type Value, valueOf, valueText } from './script';
import type { Item, Node, Seen, World } from './world';

/** What is not so (empty: it holds). */
export type Check = () => string[];

/**
 * The clauses of an expectation (separated by `,` words), each a check. An unknown word or field
 * fails now, not when the check runs. `saw` looks at what each server did from `world.seen[since]` on.
 */
export function checksOf(world: World, args: string[], since: number): Check[] {
  const clauses: string[][] = [[]];
  for (const w of args) {
    if (w === ',') clauses.push([]);
    else clauses.at(-1)!.push(w);
  }
  if (clauses.some((c) => !c.length)) throw new Error('an empty clause: expect <server> <what>[, <server> <what>]');
  return clauses.map((c) => clause(world, c, since));
}

function clause(world: World, words: string[], since: number): Check {
  const node = world.node(words[0]);
  const checks: (() => string | null)[] = [];
  const rest = words.slice(1);
  if (!rest.length) throw new Error(`expect ${node.name} what?`);
  for (let i = 0; i < rest.length; i++) {
    const w = rest[i]!;
    if (w === 'saw') {
      checks.push(sawCheck(world, node, rest.slice(i + 1), since));
      break;
    }
    if ((ROLES as readonly string[]).includes(w)) {
      checks.push(() => {
        if (!node.engine) return `${node.name} is down, expected ${w}`;
        const role = node.engine.status(world.now).role;
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
    field(world, node, t.key); // an unknown field is an error now, not when the check runs
    checks.push(() => {
      let expected = value;
      let about = valueText(value);
      const other = value.kind === 'word' ? world.nodes.get(value.s) : undefined;
      const actual = field(world, node, t.key);
      if (other && (typeof actual === 'number' || actual === null)) {
        const v = field(world, other, t.key);
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
function field(world: World, node: Node, key: string): unknown {
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
    const v = node.engine.commandVerdicts(world.now) as Record<string, string | null>;
    if (path.length !== 1 || !(path[0]! in v)) throw new Error(`verdict.<${Object.keys(v).join('|')}>, not ${key}`);
    return v[path[0]!];
  }
  const s: EngineStatus = node.engine.status(world.now);
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

function dig(obj: unknown, path: string[], key: string): unknown {
  let v: unknown = obj;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || !(p in (v as object))) throw new Error(`no field "${key}" (see the list at the top of test/scenarios/runner.ts)`);
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

/** The answer to a command as the line expects it (see inputs.ts, answerOf); throws what differs. */
export function checkAnswer(wanted: { accepted: boolean; text: string | undefined }, r: { accepted: boolean; message: string }): void {
  const verdict = wanted.accepted ? 'accepted' : 'refused';
  const got = `${r.accepted ? 'accepted' : 'refused'}: ${r.message}`;
  if (wanted.accepted !== r.accepted) throw new Error(`expected ${verdict}, got ${got}`);
  if (wanted.text !== undefined) {
    const v = valueOf(wanted.text);
    const ok = v.kind === 'exact' ? r.message === v.s : compare(r.message, '~', v);
    if (!ok) throw new Error(`expected the message ${v.kind === 'exact' ? 'to be' : 'to contain'} ${valueText(v)}, got ${got}`);
  }
}

// ---------------------------------------------------------------- saw: effect patterns

interface Pattern {
  kind: string;
  main: string | null;
  fields: { key: string; op: Op; value: Value }[];
  text: Value | null;
}

const ITEM_KINDS = ['role', 'runtime', 'persist', 'done', 'hold', 'fence', 'yield', 'compatibility', 'fault', 'heartbeat'] as const;

function sawCheck(world: World, node: Node, words: string[], since: number): () => string | null {
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
    const mine = world.seen.slice(since).filter((s) => s.server === node.name);
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
