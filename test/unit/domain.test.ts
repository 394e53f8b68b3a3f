import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DomainFileError, loadDomain, parseDomain } from '../../main/domain/load';
import { initDomain } from '../../main/domain/init';
import { loadSecret } from '../../main/domain/secret';
import { DEFAULT_TIMINGS, validateTimings } from '../../main/defaults';
import { resolveInterface } from '../../main/node/interfaces';

const GOOD = `domain: plant
servers:
  - name: a
    role: main
  - name: b
    role: backup
multicast:
  interface: 127.0.0.1
`;

function problems(text: string): string[] {
  try {
    parseDomain(text, 'plant.yaml');
  } catch (e) {
    assert.ok(e instanceof DomainFileError);
    return e.problems;
  }
  assert.fail('expected the domain file to be refused');
}

describe('domain file', () => {
  it('fills every default', () => {
    const d = parseDomain(GOOD, 'plant.yaml');
    assert.deepEqual(d.timings, { ...DEFAULT_TIMINGS });
    assert.equal(d.failback, 'manual');
    assert.equal(d.multicast.group, '239.255.80.1');
    assert.equal(d.servers[1]!.maintenance, false);
  });

  it('names the line and field of a wrong value', () => {
    const p = problems(GOOD.replace('role: backup', 'role: standby'));
    assert.deepEqual(p, ['line 6: servers[1].role: role must be one of main, backup, inactive']);
  });

  it('names an unknown (misspelt) field and its line', () => {
    const p = problems(`${GOOD}failbak: auto\n`);
    assert.deepEqual(p, ['line 9: failbak: unknown field (check its spelling)']);
  });

  it('reports YAML syntax errors with their line', () => {
    const p = problems('domain: plant\nservers:\n  - name: a\n   role: main\n');
    assert.match(p[0]!, /^line \d+: YAML syntax/);
  });

  it('refuses two mains, duplicate names and a missing interface', () => {
    const p = problems('domain: plant\nservers:\n  - name: a\n    role: main\n  - name: a\n    role: main\n');
    assert.ok(p.some((x) => /line 5: servers\[1\]\.name: server name "a" is used twice/.test(x)), p.join('\n'));
    assert.ok(p.some((x) => /exactly one server must have role main \(found 2\)/.test(x)), p.join('\n'));
    assert.ok(p.some((x) => /servers\[0\]\.address: server a needs an address, or set multicast.interface/.test(x)), p.join('\n'));
  });

  it('refuses timings that cannot work, naming the field', () => {
    const p = problems(`${GOOD}timings:\n  heartbeatIntervalMs: 500\n  failureTimeoutMs: 600\n`);
    assert.ok(p.some((x) => /^line 11: timings\.failureTimeoutMs: is 600; it must be at least 3 × timings\.heartbeatIntervalMs/.test(x)), p.join('\n'));
    assert.deepEqual(validateTimings(DEFAULT_TIMINGS), []);
  });

  it('refuses a group outside 239.255/16 and a bad interface', () => {
    const p = problems(GOOD.replace('interface: 127.0.0.1', 'interface: eth0\n  group: 224.0.0.251'));
    assert.ok(p.some((x) => /multicast\.group: .*organization-local/.test(x)), p.join('\n'));
    assert.ok(p.some((x) => /multicast\.interface: .*IPv4 address .* or a network in CIDR form/.test(x)), p.join('\n'));
  });

  it('runtime processes: defaults, names from the command, one name per process', () => {
    const d = parseDomain(`${GOOD}runtime:\n  processes:\n    - command: C:\\Plant\\E3Run.exe\n    - command: /opt/opc/server\n      runOn: both\n      onActivate: [/opt/opc/takeover]\n`, 'plant.yaml');
    assert.equal(d.runtime!.confirmResume, false);
    const [a, b] = d.runtime!.processes;
    assert.deepEqual([a!.name, a!.runOn, a!.stopSignal, a!.stopTimeoutMs, a!.args, a!.env], ['E3Run', 'active', 'SIGTERM', 5000, [], {}]);
    assert.deepEqual([b!.name, b!.runOn, b!.onActivate], ['server', 'both', ['/opt/opc/takeover']]);
    const p = problems(`${GOOD}runtime:\n  processes:\n    - command: /opt/rt\n    - command: /usr/rt\n`);
    assert.ok(p.some((x) => /runtime\.processes\[1\]\.name: process name "rt" is used twice; give each process its own name/.test(x)), p.join('\n'));
  });

  it('runtime processes: hooks and standby args need runOn both; bad signals and commands are named', () => {
    const h = problems(`${GOOD}runtime:\n  processes:\n    - command: /opt/rt\n      onActivate: [/opt/hook]\n      standbyArgs: [--standby]\n`);
    assert.ok(h.some((x) => /line 12: runtime\.processes\[0\]\.onActivate: onActivate needs runOn: both/.test(x)), h.join('\n'));
    assert.ok(h.some((x) => /runtime\.processes\[0\]\.standbyArgs: standbyArgs needs runOn: both/.test(x)), h.join('\n'));
    const p = problems(`${GOOD}runtime:\n  processes:\n    - command: /opt/rt\n      stopSignal: SIGKILL\n      stopCommand: []\n`);
    assert.ok(p.some((x) => /runtime\.processes\[0\]\.stopSignal: stopSignal must be one of SIGTERM, SIGINT/.test(x)), p.join('\n'));
    assert.ok(p.some((x) => /runtime\.processes\[0\]\.stopCommand: stopCommand must name at least the program to run/.test(x)), p.join('\n'));
    const q = problems(`${GOOD}runtime:\n  processes: []\n`);
    assert.ok(q.some((x) => /runtime\.processes: runtime\.processes must list at least one process/.test(x)), q.join('\n'));
  });

  it('duplex init writes a file that loads, and a private secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'duplex-init-'));
    const r = initDomain({ file: join(dir, 'plant.yaml'), servers: ['a', 'b', 'c'], port: 40000 });
    const d = loadDomain(r.file);
    assert.deepEqual(d.config.servers.map((s) => [s.name, s.role]), [['a', 'main'], ['b', 'backup'], ['c', 'inactive']]);
    assert.equal(d.config.multicast.port, 40000);
    assert.equal(statSync(r.secretFile).mode & 0o777, 0o600);
    assert.equal(loadSecret(r.secretFile).secret.length, 32);
    assert.throws(() => initDomain({ file: r.file, servers: ['a'] }), /exists already; use --force/);
    const before = readFileSync(r.secretFile, 'utf8');
    initDomain({ file: r.file, servers: ['a', 'b'], force: true });
    assert.equal(readFileSync(r.secretFile, 'utf8'), before, 'an existing secret is kept');
  });

  it('chooses the interface by address or by network', () => {
    const here = ['127.0.0.1', '192.168.10.11', '10.1.2.3'];
    assert.equal(resolveInterface('192.168.10.11', here), '192.168.10.11');
    assert.equal(resolveInterface('192.168.10.0/24', here), '192.168.10.11');
    assert.equal(resolveInterface('10.0.0.0/8', here), '10.1.2.3');
    assert.equal(resolveInterface('172.16.0.0/12', here), null);
    assert.equal(resolveInterface('192.168.10.12', here), null);
  });
});
