/**
 * Quorum in the engine: several engines on a hand-driven network whose links can be cut one
 * way or both, ticked every 25 ms. Datagrams arrive 1 ms after they are sent.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leaseMs } from '../../main/defaults';
import type { Engine } from '../../main/engine/engine';
import type { Effect, Heartbeat, ServerKind } from '../../main/engine/types';
import { engine, hb, T } from './harness';

const F = T.failureTimeoutMs;

class Net {
  readonly engines = new Map<string, Engine>();
  readonly effects: { at: number; server: string; effect: Effect }[] = [];
  private readonly cut = new Set<string>();
  private inFlight: { at: number; to: string; msg: Heartbeat }[] = [];
  private fences: { at: number; server: string; reason: string }[] = [];
  readonly down = new Set<string>();
  now = 0;
  /** How long the guardian takes to kill a runtime and say so. */
  fenceMs = 1;

  constructor(kinds: Record<string, ServerKind>, quorum: 'auto' | 'off' = 'auto') {
    for (const name of Object.keys(kinds)) this.engines.set(name, engine(name, kinds, { quorum, boot: 1 }));
  }

  e(name: string): Engine {
    return this.engines.get(name)!;
  }

  /** Cuts (or mends) the link between a and b, both ways unless `oneWay` (a → b only). */
  setCut(a: string, b: string, on: boolean, oneWay = false): void {
    for (const k of oneWay ? [`${a}>${b}`] : [`${a}>${b}`, `${b}>${a}`]) {
      if (on) this.cut.add(k);
      else this.cut.delete(k);
    }
  }

  isolate(a: string, on: boolean): void {
    for (const b of this.engines.keys()) if (b !== a) this.setCut(a, b, on);
  }

  private out(server: string, o: { send: Heartbeat[]; effects: Effect[] }): void {
    for (const effect of o.effects) {
      this.effects.push({ at: this.now, server, effect });
      // The guardian: the runtime is dead `fenceMs` after the fence, and it says so.
      if (effect.kind === 'fence') this.fences.push({ at: this.now + this.fenceMs, server, reason: effect.reason });
    }
    for (const msg of o.send) {
      for (const to of this.engines.keys()) {
        if (to !== server && !this.cut.has(`${server}>${to}`)) this.inFlight.push({ at: this.now + 1, to, msg: structuredClone(msg) });
      }
    }
  }

  /** Runs until `to`: deliveries as they fall due, ticks every 25 ms. */
  run(to: number): void {
    while (this.now < to) {
      this.now += 1;
      const due = this.inFlight.filter((d) => d.at <= this.now);
      this.inFlight = this.inFlight.filter((d) => d.at > this.now);
      for (const d of due) if (!this.down.has(d.to)) this.out(d.to, this.e(d.to).receive(d.msg, this.now));
      const fenced = this.fences.filter((f) => f.at <= this.now);
      this.fences = this.fences.filter((f) => f.at > this.now);
      for (const f of fenced) this.out(f.server, this.e(f.server).observe({ kind: 'fenced', reason: f.reason }, this.now));
      if (this.now % 25 === 0) for (const [name, e] of this.engines) if (!this.down.has(name)) this.out(name, e.tick(this.now));
    }
  }

  roles(): string {
    return [...this.engines].map(([n, e]) => `${n}=${e.currentRole}`).join(' ');
  }

  /** Role changes after `from`, as "server:from→to". */
  changes(from: number): string[] {
    return this.effects.filter((x) => x.at > from && x.effect.kind === 'role').map((x) => {
      const r = x.effect as Extract<Effect, { kind: 'role' }>;
      return `${x.server}:${r.from}→${r.to}`;
    });
  }

  when(server: string, pred: (e: Effect) => boolean, after = 0): number | null {
    return this.effects.find((x) => x.server === server && x.at > after && pred(x.effect))?.at ?? null;
  }
}

const MBW = { a: 'main', b: 'backup', w: 'witness' } as const;

/** a Active, b Standby, w a witness, settled. */
function settled(kinds: Record<string, ServerKind> = MBW): Net {
  const net = new Net(kinds);
  net.run(3000);
  assert.equal(net.e('a').currentRole, 'active', net.roles());
  assert.equal(net.e('b').currentRole, 'standby', net.roles());
  return net;
}

describe('quorum: voters and witnesses', () => {
  it('a witness votes but is never Active or Standby, and the main becomes Active only with its vote', () => {
    const net = settled();
    const w = net.e('w');
    assert.equal(w.currentRole, 'inactive');
    const q = net.e('a').status(net.now).quorum;
    assert.deepEqual({ on: q.on, voters: q.voters, majority: q.majority, has: q.has }, { on: true, voters: ['a', 'b', 'w'], majority: 2, has: true });
    assert.match(q.supports!, /^a \(term/);
    assert.ok(q.leaseMs! > 0 && q.leaseMs! <= leaseMs(T), `lease ${q.leaseMs}`);
    assert.match(w.status(net.now).quorum.supports!, /^a \(term \d+, acknowledged\)/);
    // The witness's role and reason say what it is.
    assert.match(w.status(net.now).reason, /declared "witness"/);
  });

  it('two voters: no quorum, and status says what a cut network does and that a witness prevents it', () => {
    const net = new Net({ a: 'main', b: 'backup' });
    net.run(2000);
    const q = net.e('a').status(net.now).quorum;
    assert.equal(q.on, false);
    assert.match(q.warning!, /a cut redundancy network gives two Actives until it heals.*witness/);
    const off = new Net({ a: 'main', b: 'backup', c: 'backup' }, 'off');
    off.run(2000);
    assert.match(off.e('a').status(off.now).quorum.warning!, /quorum is off in the domain file/);
  });

  it('without quorum, a cut network gives two Actives (today\'s behaviour, which the warning names)', () => {
    const net = new Net({ a: 'main', b: 'backup' });
    net.run(2000);
    net.setCut('a', 'b', true);
    net.run(4000);
    assert.equal(net.e('a').currentRole, 'active');
    assert.equal(net.e('b').currentRole, 'active');
  });
});

describe('quorum: partitions', () => {
  it('the Active cut off from all fences its runtime before the majority side takes over', () => {
    const net = settled();
    const cutAt = net.now;
    net.isolate('a', true);
    net.run(cutAt + 3000);
    const fenced = net.when('a', (e) => e.kind === 'fence', cutAt);
    const promoted = net.when('b', (e) => e.kind === 'role' && e.to === 'active', cutAt);
    assert.ok(fenced !== null && promoted !== null, net.changes(cutAt).join(', '));
    // The lease ends the margin before the others can declare it dead.
    assert.ok(fenced <= cutAt + leaseMs(T), `fenced ${fenced - cutAt} ms after the cut`);
    // The margin between the lease and the failure timeout (less a tick of this test's clock).
    assert.ok(promoted - fenced >= F - leaseMs(T) - 25, `only ${promoted - fenced} ms between the fence and the takeover`);
    // Within the failure timeout, a vote's round trip and a tick.
    assert.ok(promoted <= cutAt + F + 100, `b promoted ${promoted - cutAt} ms after the cut`);
    assert.equal(net.e('a').currentRole, 'standby');
    const [fencing, stepDown] = net.effects.filter((x) => x.server === 'a' && x.at > cutAt && x.effect.kind === 'role').map((x) => x.effect as Extract<Effect, { kind: 'role' }>);
    assert.equal(fencing!.to, 'deactivating');
    assert.match(fencing!.reason, /^lost the majority's support: b, w acknowledged none of its recent heartbeats \(2 of 3 voters needed, itself included\): killing the runtime$/);
    assert.match(stepDown!.reason, /^Active term \d+ ended: lost the majority's support: .*; the guardian killed the runtime; /);
    // The minority side never promotes, however long the cut lasts.
    net.run(cutAt + 20_000);
    assert.equal(net.e('a').currentRole, 'standby');
    assert.equal(net.e('a').status(net.now).quorum.has, false);
    // Healed: one Active, the old one Standby.
    net.isolate('a', false);
    net.run(net.now + 3000);
    assert.equal(net.e('b').currentRole, 'active');
    assert.equal(net.e('a').currentRole, 'standby');
  });

  it('the Active↔Standby link cut while both reach the witness: no role change', () => {
    const net = settled();
    const cutAt = net.now;
    net.setCut('a', 'b', true);
    net.run(cutAt + 10_000);
    assert.deepEqual(net.changes(cutAt), []);
    assert.equal(net.e('a').currentRole, 'active');
    // The Standby says why it does not take over.
    assert.match(net.e('b').status(net.now).reason, /asking the voters/);
  });

  it('the witness down on its own: no role change', () => {
    const net = settled();
    const at = net.now;
    net.down.add('w');
    net.run(at + 10_000);
    assert.deepEqual(net.changes(at), []);
  });

  it('links cut one way: the Active hears nobody but is heard: it fences, and only then does anyone take over', () => {
    const net = settled();
    const at = net.now;
    net.setCut('b', 'a', true, true);
    net.setCut('w', 'a', true, true);
    net.run(at + 5000);
    const fenced = net.when('a', (e) => e.kind === 'fence', at);
    assert.ok(fenced !== null, net.changes(at).join(', '));
    const promoted = net.when('b', (e) => e.kind === 'role' && e.to === 'active', at);
    if (promoted !== null) assert.ok(promoted > fenced, `b promoted at ${promoted}, a fenced at ${fenced}`);
  });

  it('an Active that lost its lease holds the term until the guardian confirms the kill: no voter it still reaches votes before', () => {
    const net = settled();
    net.fenceMs = 500; // a slow kill
    const at = net.now;
    net.setCut('a', 'b', true); // b hears no Active and asks the voters
    net.setCut('w', 'a', true, true); // w still hears a, but a no longer hears w: a's lease runs out
    net.run(at + 5000);
    const fenced = net.when('a', (e) => e.kind === 'fence', at);
    const ended = net.when('a', (e) => e.kind === 'role' && e.from === 'deactivating', at);
    const promoted = net.when('b', (e) => e.kind === 'role' && e.to === 'active', at);
    assert.ok(fenced !== null && ended !== null && promoted !== null, net.changes(at).join(', '));
    assert.ok(ended >= fenced + 500, 'the term ended only once the kill was confirmed');
    assert.ok(promoted > ended, `b promoted at ${promoted}, before a's runtime was confirmed dead at ${ended}`);
  });

  it('supports given to an earlier claim never count for a later one with the same epoch', () => {
    const a = engine('a', MBW, { quorum: 'auto', boot: 7 });
    const { claim } = firstClaim(a);
    const vote = (n: number) => ({ kind: 'heartbeat' as const, from: 'w', role: 'inactive' as const, epoch: 0, maxEpoch: 0, eligible: false, awareness: 0, ack: { to: 'a', epoch: claim.claim!, boot: 7, n, ms: 3 * F } });
    // An Active appears: a drops its claim; later it asks again for the same epoch.
    a.receive(hb('b', 'active', 1, { maxEpoch: 1 }), 1000);
    assert.equal(a.status(1000).quorum.supports, null);
    let again: Heartbeat | undefined;
    for (let t = 1025; !again && t < 1000 + 3 * F; t += 25) again = a.tick(t).send.find((m) => m.claim !== undefined);
    assert.ok(again, 'a asks again once b is silent');
    // The vote w gave to the first claim arrives late: it must not make a Active.
    a.receive(vote(claim.n!), 2000 + F);
    assert.notEqual(a.currentRole, 'active');
    a.receive(vote(again.n!), 2000 + F + 1);
    assert.equal(a.currentRole, 'active');
  });

  it('quorum coming into force on a running Active (a witness added) keeps its runtime while the acknowledgements come in', () => {
    const net = new Net({ a: 'main', b: 'backup' });
    net.run(3000);
    assert.equal(net.e('a').currentRole, 'active');
    const at = net.now;
    const kinds = { a: 'main', b: 'backup', w: 'witness' } as const;
    const cfg = (self: string) => ({ self, servers: Object.entries(kinds).map(([name, kind]) => ({ name, kind, maintenance: false })), failback: 'manual' as const, quorum: 'auto' as const, boot: 1, timings: T });
    net.engines.set('w', engine('w', kinds, { quorum: 'auto', boot: 1 }, net.now));
    for (const s of ['a', 'b']) net.e(s).reconfigure(cfg(s), net.now);
    net.run(at + 5000);
    assert.equal(net.when('a', (e) => e.kind === 'fence', at), null);
    assert.deepEqual(net.changes(at).filter((c) => !c.startsWith('w:')), [], 'a and b keep their roles');
    assert.equal(net.e('a').status(net.now).quorum.on, true);
  });

  it('a server alone is in the minority: it never promotes, and activate says why', () => {
    const net = settled();
    const at = net.now;
    net.isolate('b', true);
    net.run(at + 5000);
    assert.equal(net.e('b').currentRole, 'standby');
    const r = net.e('b').command({ kind: 'activate' }, net.now);
    assert.equal(r.accepted, false);
    assert.match(r.message, /hears 1 of 3 voters \(b\); 2 are needed: a server in the minority never becomes Active/);
  });
});

/** Ticks a starting engine until it asks the voters for a term: that heartbeat and when it was built. */
function firstClaim(a: Engine): { claim: Heartbeat; at: number } {
  for (let at = 0; at < 2000; at += 25) {
    const claim = a.tick(at).send.find((m) => m.claim !== undefined);
    if (claim) return { claim, at };
  }
  throw new Error('no claim within 2 s');
}

describe('quorum: the lease and the votes', () => {
  it('the lease runs from the send time of the heartbeat acknowledged, stretched by the voter\'s awareness', () => {
    const a = engine('a', MBW, { quorum: 'auto', boot: 7 });
    // Discovery over: a asks the voters for a term; b and w support it from that heartbeat on.
    const { claim, at: t0 } = firstClaim(a);
    const ack = (from: string, ms: number, at: number) => a.receive({ kind: 'heartbeat', from, role: 'standby', epoch: 0, maxEpoch: 0, eligible: from !== 'w', awareness: 0, ack: { to: 'a', epoch: claim.claim!, boot: 7, n: claim.n!, ms } }, at);
    ack('b', F, 950);
    assert.equal(a.currentRole, 'active');
    assert.equal(a.status(950).quorum.leaseMs, t0 + leaseMs(T) - 950);
    // A voter with awareness 1 promises twice the failure timeout.
    ack('w', 2 * F, 960);
    assert.equal(a.status(960).quorum.leaseMs, t0 + F + leaseMs(T) - 960);
    // A voter that stops acknowledging takes its support away; the other holds it for a while.
    a.receive({ kind: 'heartbeat', from: 'w', role: 'inactive', epoch: 0, maxEpoch: 0, eligible: false, awareness: 0 }, 970);
    assert.equal(a.status(970).quorum.leaseMs, t0 + leaseMs(T) - 970);
    // It runs out: the runtime is killed now (a fence effect, before the runtime leaves active mode).
    const end = a.tick(t0 + leaseMs(T));
    const kinds = end.effects.map((e) => e.kind);
    assert.ok(kinds.includes('fence'), JSON.stringify(end.effects));
    assert.ok(kinds.indexOf('fence') < kinds.indexOf('runtime'));
    // The term is held (its heartbeats still claim it, it votes for nobody) until the guardian says the runtime is dead.
    assert.equal(a.currentRole, 'deactivating');
    assert.equal(end.send.at(-1)?.role, 'deactivating');
    a.observe({ kind: 'runtime', mode: 'standby' }, t0 + leaseMs(T) + 5);
    assert.equal(a.currentRole, 'deactivating', 'the runtime reaching standby is not enough: the kill must be confirmed');
    const done = a.observe({ kind: 'fenced', reason: 'killed' }, t0 + leaseMs(T) + 10);
    assert.equal(a.currentRole, 'standby');
    const role = done.effects.find((e) => e.kind === 'role') as Extract<Effect, { kind: 'role' }>;
    assert.match(role.reason, /Active term \d+ ended: lost the majority's support: b, w acknowledged none of its recent heartbeats .*; the guardian killed the runtime/);
  });

  it('an acknowledgement of another boot counts for nothing (a restarted node numbers its heartbeats afresh)', () => {
    const a = engine('a', MBW, { quorum: 'auto', boot: 8 });
    const { claim } = firstClaim(a);
    a.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 0, eligible: true, awareness: 0, ack: { to: 'a', epoch: claim.claim!, boot: 7, n: claim.n!, ms: F } }, 950);
    assert.notEqual(a.currentRole, 'active');
  });

  it('a voter that hears the Active does not vote for a candidate', () => {
    const w = engine('w', MBW, { quorum: 'auto', boot: 1 });
    let n = 0;
    for (let t = 0; t <= 2000; t += 100) {
      n += 1;
      w.receive({ kind: 'heartbeat', from: 'a', role: 'active', epoch: 3, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n }, t);
      const out = w.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n, claim: 4 }, t);
      for (const m of out.send) assert.notEqual(m.ack?.to, 'b', `voted for b at ${t}`);
      w.tick(t);
    }
    // Silent for the failure timeout: the promise has run out and the vote goes to b.
    const sent: Heartbeat[] = [];
    for (let t = 2025; t <= 2000 + F + 100; t += 25) {
      n += 1;
      sent.push(...w.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n, claim: 4 }, t).send);
      sent.push(...w.tick(t).send);
    }
    assert.ok(sent.some((m) => m.ack?.to === 'b' && m.ack.epoch === 4));
  });

  it('after a restart a server supports no one until its forgotten promises have run out', () => {
    const w = engine('w', MBW, { quorum: 'auto', boot: 2, persisted: { maxEpoch: 3, promiseMs: 4 * F } });
    const vote = (t: number) => [...w.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n: t, claim: 4 }, t).send, ...w.tick(t).send];
    for (let t = 0; t < 4 * F; t += 50) for (const m of vote(t)) assert.equal(m.ack, undefined, `supported ${m.ack?.to} at ${t}`);
    const later = vote(4 * F + 10);
    assert.ok(later.some((m) => m.ack?.to === 'b'), 'voted after the blackout');
    // A fresh server (never supported anyone) may vote at once.
    const fresh = engine('w', MBW, { quorum: 'auto', boot: 1 });
    const outs = [fresh.receive({ kind: 'heartbeat', from: 'b', role: 'standby', epoch: 0, maxEpoch: 0, eligible: true, awareness: 0, boot: 1, n: 1, claim: 1 }, 0), fresh.tick(0)];
    assert.ok(outs.flatMap((o) => o.send).some((m) => m.ack?.to === 'b'));
    // The first support is persisted, so the next restart keeps the blackout.
    assert.ok(outs.flatMap((o) => o.effects).some((e) => e.kind === 'persist' && e.state.promiseMs === F));
    // A longer promise (awareness raised) is persisted before it is sent.
    const grown = fresh.observe({ kind: 'send-failed' }, 10);
    assert.equal(grown.send.at(-1)?.ack?.ms, 2 * F);
    assert.ok(grown.effects.some((e) => e.kind === 'persist' && e.state.promiseMs === 2 * F));
  });

  it('a release heard while a restarted Standby still waits out its old promises is acted on as soon as they have run out', () => {
    const b = engine('b', MBW, { quorum: 'auto', boot: 2, persisted: { maxEpoch: 3, promiseMs: 1000 } });
    const fromA = (t: number, extra: Partial<Heartbeat>) => b.receive({ kind: 'heartbeat', from: 'a', role: 'active', epoch: 3, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n: t, ...extra }, t);
    for (let t = 0; t <= 400; t += 25) {
      if (t % 200 === 0) fromA(t, {});
      b.tick(t);
    }
    assert.equal(b.currentRole, 'standby');
    // a's guardian releases the term to b at 450; b may ask the voters only from 1000 on.
    fromA(450, { role: 'inactive', eligible: false, released: 'b', n: 451 });
    let claimedAt: number | null = null;
    for (let t = 475; t < 1300 && claimedAt === null; t += 25) if (b.tick(t).send.some((m) => m.claim !== undefined)) claimedAt = t;
    assert.ok(claimedAt !== null && claimedAt >= 1000 && claimedAt < 1100, `claimed at ${claimedAt}`);
  });

  it('two or more heartbeats lost in a row from a peer raise awareness; one does not, nor a gap after a long silence', () => {
    const w = engine('w', MBW, { quorum: 'auto', boot: 1 });
    const from = (n: number, t: number) => w.receive({ kind: 'heartbeat', from: 'a', role: 'active', epoch: 3, maxEpoch: 3, eligible: true, awareness: 0, boot: 1, n }, t);
    from(1, 0);
    from(3, 400); // n 2 lost
    assert.equal(w.status(400).awareness, 0);
    from(6, 1000); // n 4 and 5 lost
    assert.equal(w.status(1000).awareness, 1);
    // Back after a silence longer than the failure timeout (cut off, not lossy): no raise.
    from(30, 1000 + F + 10);
    assert.equal(w.status(1000 + F + 10).awareness, 1);
  });
});
