/**
 * What a scenario's lines give the engines, read from their words into the engine's types: the
 * servers and options of a domain revision, a state file, a server's info, a command and the
 * answer expected to it, an observation. Nothing here looks at the world; the runner finds the
 * server a line names first, and a line that says something wrong throws here.
 */
import { DEFAULT_TIMINGS, type Timings } from '../../main/defaults';
import type { Command, NodeInfo, Observation, PersistedState, RuntimeFailures, RuntimeMode, ServerKind } from '../../main/engine/types';
import { type Kept, keptOf, NOTHING_KEPT, persistedOf } from './engine-seams';
import { isNum, plain, termOf } from './script';
import type { Domain } from './world';

/** `servers a:main b:backup:maintenance …` */
export function serversOf(args: string[]): Domain['servers'] {
  if (!args.length) throw new Error('servers needs at least one name:kind');
  return args.map((a) => {
    const [name, kind, flag] = a.split(':');
    if (!name || !kind || !['main', 'backup', 'inactive', 'witness'].includes(kind)) throw new Error(`"${a}": write name:kind, kind one of main, backup, inactive, witness`);
    if (flag !== undefined && flag !== 'maintenance') throw new Error(`"${a}": the only flag is :maintenance`);
    return { name, kind: kind as ServerKind, maintenance: flag === 'maintenance' };
  });
}

/** `domain quorum=off failback=auto …`: each option set in `domain`, left to right. */
export function setOptions(domain: Domain, args: string[]): void {
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
        domain.quorum = v;
        break;
      case 'failback':
        if (v !== 'auto' && v !== 'manual') throw new Error('failback=auto or failback=manual');
        domain.failback = v;
        break;
      case 'confirmResume':
        domain.confirmResume = v === 'on' || v === 'true';
        break;
      case 'rated': {
        const m = /^(\d+)\/(\d+)$/.exec(v);
        if (v === 'off') domain.rated = null;
        else if (m) domain.rated = { marginPoints: Number(m[1]), holdMs: Number(m[2]) };
        else throw new Error('rated=<margin points>/<hold ms>, e.g. rated=50/2000, or rated=off');
        break;
      }
      case 'failureResetMs':
        domain.failureResetMs = num();
        break;
      default:
        if (!(t.key in DEFAULT_TIMINGS)) throw new Error(`unknown domain option "${t.key}"`);
        domain.timings[t.key as keyof Timings] = num();
    }
  }
}

/** `state b maxEpoch=40 epoch=3 …`: the state file `store` (null: none yet) with these fields set. */
export function stateFileOf(store: PersistedState | null, args: string[]): PersistedState {
  const k: Kept = { ...(store ? keptOf(store) : NOTHING_KEPT) };
  let failures: RuntimeFailures | null = k.failures ? { ...k.failures } : null;
  const f = () => (failures ??= { count: 1, last: 'crash loop', resetAt: 0, banned: false });
  for (const a of args) {
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
  return persistedOf(k);
}

/** `info a ver=1.2.4 app=2 …`: what the server said before (`info`; null: nothing yet) with these fields changed. */
export function infoOf(info: NodeInfo | null, args: string[]): NodeInfo {
  const next: NodeInfo = info ? structuredClone(info) : { ver: '1.0.0', app: '', rev: { n: 1, t: 0, h: '0000000000000000' }, sync: 'in-sync', port: 1 };
  for (const a of args) {
    const t = termOf(a);
    if (!t || t.op !== '=') throw new Error(`"${a}": write key=value`);
    const v = plain(t.raw);
    switch (t.key) {
      case 'ver': next.ver = v; break;
      case 'app': next.app = v; break;
      case 'rev': next.rev = { ...next.rev, n: Number(v) }; break;
      case 'sync':
        if (!['in-sync', 'syncing', 'conflict', 'error'].includes(v)) throw new Error('sync=in-sync|syncing|conflict|error');
        next.sync = v as NodeInfo['sync'];
        break;
      default: throw new Error(`unknown info field "${t.key}" (ver, app, rev, sync)`);
    }
  }
  return next;
}

/** The words of a command line after the server, before `->`: the command and its request id (`id=7`, default 0). */
export function commandOf(words: string[]): { cmd: Command; id: number } {
  let id = 0;
  const rest = words.filter((w) => {
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
  return { cmd, id };
}

/** The words after `->` (null: no `->`, accepted): the answer expected, and the text of its message as written (a value word). */
export function answerOf(words: string[] | null): { accepted: boolean; text: string | undefined } {
  const [verdict, text, extra] = words ?? ['accepted'];
  if ((verdict !== 'accepted' && verdict !== 'refused') || extra !== undefined) throw new Error('after ->: accepted or refused, then maybe "substring", ="exact" or /regex/');
  return { accepted: verdict === 'accepted', text };
}

/** The words of an observe line after the server: the observation, and `every <ms> for <ms>` (every null: once). */
export function observationOf(args: string[]): { fact: Observation; every: number | null; span: number } {
  let words = args;
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
  return { fact: factOf(words), every, span };
}

function factOf(words: string[]): Observation {
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
