/**
 * Prometheus metrics of real nodes: three servers on loopback, each serving `GET /metrics`
 * (domain file `metrics: { port: 0, address: 127.0.0.1 }`). Every scrape is parsed strictly
 * (every line must be a comment, a HELP, a TYPE or a sample of a family typed before it), its
 * values are checked against the node's own status, and then against a failover (the Active
 * SIGKILLed) and a fence (the new Active loses its majority). The Grafana dashboard and the
 * metrics table of docs/logs-and-metrics.md are checked against a real scrape, so neither can drift from the code.
 * Time bounds here are generous: they catch hangs, not speed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { StatusView } from '../../main/ui/contract';
import { METRICS_DOOR } from '../../main/defaults';
import { Cluster, runCli, sleep, waitFor, waitForRoles } from './cluster';

const ROOT = join(__dirname, '..', '..', '..');

// ------------------------------------------------------------------ the text format, strictly

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | null;
  samples: Sample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string, where: string): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`${where}: "${text}" is not a number`);
  return Number(text);
}

/** `{a="x",b="y\"z"}` from position `i` of `line`: the labels and the position after `}`. */
function parseLabels(line: string, i: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  i++; // past {
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: a label without =`);
    const name = line.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: "${name}" is not a label name`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    if (line[eq + 1] !== '"') throw new Error(`${where}: the value of ${name} is not quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] !== '\\') {
        value += line[j];
        continue;
      }
      const esc = line[++j];
      if (esc === 'n') value += '\n';
      else if (esc === '\\' || esc === '"') value += esc;
      else throw new Error(`${where}: bad escape \\${esc} in label ${name}`);
    }
    if (j >= line.length) throw new Error(`${where}: the value of ${name} is not closed`);
    labels[name] = value;
    i = j + 1;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`${where}: expected , or } after label ${name}`);
  }
}

/** The Prometheus text format (0.0.4); throws, naming the line, at anything it does not allow. */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  const series = new Set<string>();
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a line feed');
  text.slice(0, -1).split('\n').forEach((line, n) => {
    const where = `line ${n + 1} "${line}"`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!METRIC_NAME.test(name!)) throw new Error(`${where}: "${name}" is not a metric name`);
      const fam = families.get(name!);
      if (kind === 'TYPE') {
        if (fam) throw new Error(`${where}: a second TYPE, or a TYPE after the family's samples`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`${where}: unknown type "${rest}"`);
        families.set(name!, { type: rest as Family['type'], help: helps.get(name!) ?? null, samples: [] });
      } else {
        if (helps.has(name!)) throw new Error(`${where}: a second HELP`);
        helps.set(name!, rest);
        if (fam) fam.help = rest;
      }
      return;
    }
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) throw new Error(`${where}: not a sample`);
    const name = line.slice(0, nameEnd);
    if (!METRIC_NAME.test(name)) throw new Error(`${where}: "${name}" is not a metric name`);
    const { labels, end } = line[nameEnd] === '{' ? parseLabels(line, nameEnd, where) : { labels: {}, end: nameEnd };
    const rest = line.slice(end);
    const m = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
    if (!m) throw new Error(`${where}: expected " value [timestamp]" after the name and labels`);
    const fam = families.get(name);
    if (!fam) throw new Error(`${where}: a sample of ${name} before its TYPE`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(key)) throw new Error(`${where}: the same series twice`);
    series.add(key);
    fam.samples.push({ name, labels, value: parseValue(m[1]!, where) });
  });
  return families;
}

// ------------------------------------------------------------------ scraping

function httpGet(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

class Scrape {
  constructor(readonly families: Map<string, Family>) {}

  family(name: string): Family {
    const f = this.families.get(name);
    assert.ok(f, `no metric ${name} in the scrape; it has ${[...this.families.keys()].join(', ')}`);
    return f;
  }

  /** The one sample of `name` whose labels include `labels`. */
  value(name: string, labels: Record<string, string> = {}): number {
    const found = this.family(name).samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    assert.equal(found.length, 1, `${name}${JSON.stringify(labels)}: ${found.length} samples`);
    return found[0]!.value;
  }

  /** The label value of the one series of a state set that is 1 (among those with `labels`). */
  state(name: string, label: string, labels: Record<string, string> = {}): string {
    const series = this.family(name).samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    assert.ok(series.length > 1, `${name}${JSON.stringify(labels)}: a state set has a series per state, found ${series.length}`);
    assert.ok(series.every((s) => s.value === 0 || s.value === 1), `${name}: a state set is 0 or 1`);
    const on = series.filter((s) => s.value === 1);
    assert.equal(on.length, 1, `${name}${JSON.stringify(labels)}: exactly one state is 1, found ${on.map((s) => s.labels[label]).join(', ') || 'none'}`);
    return on[0]!.labels[label]!;
  }
}

async function scrape(url: string): Promise<Scrape> {
  const r = await httpGet(url);
  assert.equal(r.status, 200, r.body);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  return new Scrape(parseExposition(r.body));
}

// ------------------------------------------------------------------ the domain

describe('the strict parser of the text format', () => {
  it('reads labels with escapes, and refuses what the format does not allow', () => {
    const ok = parseExposition('# HELP x_total A help.\n# TYPE x_total counter\nx_total{a="q\\"uote",b="back\\\\slash\\nline"} 3\n\n# TYPE y gauge\ny -Inf\n');
    assert.deepEqual(ok.get('x_total')!.samples, [{ name: 'x_total', labels: { a: 'q"uote', b: 'back\\slash\nline' }, value: 3 }]);
    assert.equal(ok.get('x_total')!.help, 'A help.');
    assert.equal(ok.get('y')!.samples[0]!.value, -Infinity);
    for (const [bad, why] of [
      ['x 1\n', /before its TYPE/],
      ['# TYPE x gauge\nx 1', /line feed/],
      ['# TYPE x gauge\nx{a="1} 1\n', /not closed/],
      ['# TYPE x gauge\nx{a="1",a="2"} 1\n', /label a twice/],
      ['# TYPE x gauge\nx{a=1} 1\n', /not quoted/],
      ['# TYPE x gauge\nx one\n', /not a number/],
      ['# TYPE x gauge\nx 1\nx 2\n', /the same series twice/],
      ['# TYPE x gauge\n# TYPE x gauge\n', /a second TYPE/],
      ['# TYPE x meter\n', /unknown type/],
      ['# TYPE x gauge\nx{a="1"}1\n', /expected " value/],
    ] as const) assert.throws(() => parseExposition(bad), why, bad);
  });
});

describe('Prometheus metrics of three real nodes', () => {
  const c = new Cluster(['a', 'b', 'c'], {
    // A virtual IP that no card of loopback can take: its metrics are served (held 0, failed 1).
    extra: 'metrics: { port: 0, address: 127.0.0.1 }\nprobes: [{ name: system, kind: system }]\nvirtualIp: { address: 127.0.0.200/8 }',
    runtime: { processes: [{ name: 'scada', command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'] }] },
  });
  const urls = new Map<string, string>();
  const domain = () => c.status('a').then((s) => s.domain);
  const scrapedAt = new Map<string, number>();
  const of = async (server: string) => {
    const m = await scrape(urls.get(server)!);
    scrapedAt.set(server, Date.now());
    return m;
  };
  /** A scrape rendered after every earlier one: a node serves one rendering for METRICS_DOOR.cacheMs. */
  const fresh = async (server: string) => {
    await sleep((scrapedAt.get(server) ?? 0) + METRICS_DOOR.cacheMs + 50 - Date.now());
    return of(server);
  };

  before(async () => {
    c.startAll();
    await waitForRoles(c, { a: 'active', b: 'standby', c: 'inactive' }, 15_000);
    for (const s of c.servers) urls.set(s, (await c.status(s)).metrics!.url);
  });
  after(() => c.stop());

  it('duplex status --json shows metrics.url; the start is logged with it; only GET /metrics answers', async () => {
    const r = await runCli(['status', '--domain', c.file, '--server', 'b', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const url = (JSON.parse(r.stdout) as StatusView).metrics?.url;
    assert.match(url ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.equal(url, urls.get('b'));
    assert.equal(new Set(urls.values()).size, 3, 'each node its own port');
    assert.ok(c.nodes.get('b')!.output.some((l) => l.includes(`info [b] metrics: Prometheus metrics at ${url}`)), c.nodes.get('b')!.output.join('\n'));
    assert.equal((await httpGet(url!.replace(/\/metrics$/, '/'))).status, 404);
    assert.equal((await httpGet(url!.replace(/\/metrics$/, '/status'))).status, 404);
    assert.equal((await httpGet(url!, 'POST')).status, 405);
  });

  it('every node\'s scrape parses strictly and agrees with its own status', async () => {
    const name = await domain();
    for (const server of c.servers) {
      const before = await c.status(server);
      const m = await fresh(server);
      const after = await c.status(server);
      const why = `${server}: ${JSON.stringify(after)}`;
      for (const f of m.families.values()) {
        assert.ok(f.help, `every family has HELP`);
        for (const s of f.samples) assert.deepEqual([s.labels.domain, s.labels.server], [name, server], `${s.name}: domain and server on every series`);
        if (f.type === 'counter') for (const s of f.samples) assert.ok(s.name.endsWith('_total') && s.value >= 0, `${s.name}: a counter ends in _total`);
      }
      // Roles are settled: before and after agree, and so does the scrape between them.
      assert.equal(before.role, after.role, why);
      assert.equal(m.state('duplex_role', 'role'), after.role, why);
      for (const p of after.peers) {
        assert.equal(m.state('duplex_peer_role', 'role', { peer: p.server }), p.role, why);
        const heard = m.value('duplex_peer_last_heard_seconds', { peer: p.server });
        assert.ok(heard >= 0 && heard < 5, `${server} heard ${p.server} ${heard} s ago`);
      }
      assert.equal(m.family('duplex_peer_role').samples.length, 2 * 9, 'two peers, nine states each');
      assert.equal(m.value('duplex_epoch'), after.epoch, why);
      assert.equal(m.value('duplex_max_epoch'), after.maxEpoch, why);
      assert.equal(m.value('duplex_health_score'), after.health.score, why);
      assert.equal(m.state('duplex_sync_state', 'state'), after.sync.state, why);
      assert.equal(m.value('duplex_domain_revision'), after.sync.revision.n, why);
      // Counters read from the status lie between the status before and the status after.
      assert.deepEqual(m.family('duplex_dropped_datagrams_total').samples.map((s) => s.labels.reason).sort(), Object.keys(after.dropped).sort());
      for (const [reason, n] of Object.entries(after.dropped)) {
        const v = m.value('duplex_dropped_datagrams_total', { reason });
        assert.ok(before.dropped[reason]! <= v && v <= n, `${reason}: ${before.dropped[reason]} <= ${v} <= ${n}`);
      }
      assert.deepEqual(m.family('duplex_runtime_restarts_total').samples.map((s) => [s.labels.process, s.value]), after.runtime.processes.map((p) => [p.name, p.restarts]));
      assert.equal(m.value('duplex_runtime_crash_loops'), after.runtime.failures.count);
      assert.deepEqual(after.vip, { address: '127.0.0.200/8', card: null, held: false, error: after.vip?.error ?? null });
      assert.match(after.vip?.error ?? '', /cannot take the virtual IP 127.0.0.200\/8: no card here has an address in/);
      assert.equal(m.value('duplex_vip_held', { address: '127.0.0.200/8' }), 0);
      assert.equal(m.value('duplex_vip_failed', { address: '127.0.0.200/8' }), 1);
      for (const counted of ['duplex_failovers_total', 'duplex_switchovers_total', 'duplex_fences_total']) assert.equal(m.value(counted), 0, `${server}: ${counted}`);
    }
  });

  it('SIGKILL the Active: the new Active counts one failover, roles and epoch move, the dead one\'s silence grows', async () => {
    const [b0, c0] = await Promise.all([of('b'), of('c')]);
    assert.equal(b0.state('duplex_role', 'role'), 'standby');
    assert.equal(c0.state('duplex_peer_role', 'role', { peer: 'a' }), 'active');
    c.kill('a', 'SIGKILL');
    await waitForRoles(c, { b: 'active' }, 10_000);
    const b1 = await fresh('b');
    assert.equal(b1.value('duplex_failovers_total'), b0.value('duplex_failovers_total') + 1);
    assert.equal(b1.value('duplex_switchovers_total'), b0.value('duplex_switchovers_total'));
    assert.equal(b1.state('duplex_role', 'role'), 'active');
    assert.ok(b1.value('duplex_epoch') > b0.value('duplex_epoch'), `epoch ${b0.value('duplex_epoch')} → ${b1.value('duplex_epoch')}`);
    assert.ok(b1.value('duplex_max_epoch') > b0.value('duplex_max_epoch'));
    // The others see a unreachable and b Active; a's silence grows from scrape to scrape.
    const c1 = await waitFor('c to see a unreachable and b active', 10_000, async () => {
      const m = await of('c');
      return m.state('duplex_peer_role', 'role', { peer: 'a' }) === 'unreachable' && m.state('duplex_peer_role', 'role', { peer: 'b' }) === 'active' ? m : undefined;
    }, 100);
    assert.equal((await fresh('b')).state('duplex_peer_role', 'role', { peer: 'a' }), 'unreachable');
    assert.equal(c1.value('duplex_failovers_total'), 0, 'only the server that took over counts the failover');
    const silent = c1.value('duplex_peer_last_heard_seconds', { peer: 'a' });
    await waitFor('a\'s silence to grow on c', 10_000, async () => ((await of('c')).value('duplex_peer_last_heard_seconds', { peer: 'a' }) > silent + 0.5 ? true : undefined), 100);
    assert.ok(c1.value('duplex_peer_last_heard_seconds', { peer: 'b' }) < silent, 'b is still heard');
  });

  it('the new Active loses its majority (c paused): its runtime is fenced and counted', async () => {
    const before = (await of('b')).value('duplex_fences_total');
    c.kill('c', 'SIGSTOP');
    try {
      await waitFor('b to count a fence', 15_000, async () => ((await of('b')).value('duplex_fences_total') > before ? true : undefined), 100);
      const b = await c.status('b');
      assert.ok(b.events.some((e) => e.from === 'active' && /majority/.test(e.reason)), JSON.stringify(b.events));
    } finally {
      c.kill('c', 'SIGCONT');
    }
    await waitFor('an Active again', 15_000, async () => (Object.values(await c.roles()).includes('active') ? true : undefined), 100);
    // The guardian may report one loss of authority more than once: it is one fence.
    assert.equal((await of('b')).value('duplex_fences_total'), before + 1);
  });

  it('the Grafana dashboard uses only metrics, labels and values a real scrape has, and the metrics page of docs/ lists every metric', async () => {
    const scrapes = await Promise.all(['b', 'c'].map(of));
    const families = new Map<string, Family>();
    for (const s of scrapes) for (const [k, f] of s.families) families.set(k, { ...f, samples: [...(families.get(k)?.samples ?? []), ...f.samples] });
    const dashboard = JSON.parse(readFileSync(join(ROOT, 'resources', 'grafana', 'duplex-dashboard.json'), 'utf8')) as Dashboard;
    const exprs = queriesOf(dashboard);
    assert.ok(exprs.length >= 10, `only ${exprs.length} queries found`);
    const used = new Set<string>();
    for (const expr of exprs) {
      for (const m of expr.matchAll(/\b(duplex_[a-z0-9_]+)\b(\{[^}]*\})?/g)) {
        const [, name, selector = ''] = m;
        const fam = families.get(name!);
        assert.ok(fam, `the dashboard queries ${name}, which no node serves: ${expr}`);
        used.add(name!);
        for (const [, label, op, value] of selector.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
          assert.ok(fam.samples.some((s) => label! in s.labels), `the dashboard filters ${name} by ${label}, a label it does not have: ${expr}`);
          if (op === '=' && !value!.includes('$')) assert.ok(fam.samples.some((s) => s.labels[label!] === value), `the dashboard wants ${name}{${label}="${value}"}, a value no node serves: ${expr}`);
        }
      }
    }
    // Every panel of the dashboard is fed, and every metric reaches some panel.
    assert.deepEqual([...families.keys()].filter((n) => !used.has(n)), [], 'metrics no panel shows');
    const variables = dashboard.templating.list.map((v) => v.name);
    for (const v of ['datasource', 'domain', 'server']) assert.ok(variables.includes(v), `variable ${v}: ${variables.join(', ')}`);
    const page = readFileSync(join(ROOT, 'docs', 'logs-and-metrics.md'), 'utf8');
    for (const name of families.keys()) assert.ok(page.includes(`| \`${name}\``), `the metrics table of docs/logs-and-metrics.md lacks ${name}`);
  });
});

interface Panel {
  type: string;
  panels?: Panel[];
  targets?: { expr?: string }[];
}

interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; query?: string | { query?: string } }[] };
}

/** Every PromQL text of the dashboard: panel targets (rows included) and variable queries. */
function queriesOf(d: Dashboard): string[] {
  const panels = (list: Panel[]): Panel[] => list.flatMap((p) => [p, ...panels(p.panels ?? [])]);
  const targets = panels(d.panels).flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
  const variables = d.templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query?.query ?? ''));
  return [...targets, ...variables].filter((q) => q.includes('duplex_'));
}
