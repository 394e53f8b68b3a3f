import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rng } from '../sim/random';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DomainFileError, DomainFileSyntaxError, DomainFileUnfinished, loadDomain, parseDomain, readDomainBytes } from '../../main/domain/load';
import { domainFileText, finishDomainFile, initDomain } from '../../main/domain/init';
import { END_LINE, insertBeforeEnd, withEndLine } from '../../main/domain/end';
import { loadSecret } from '../../main/domain/secret';
import { DEFAULT_TIMINGS, validateTimings } from '../../main/defaults';
import { resolveInterface } from '../../main/node/interfaces';
import { domainChanges } from '../../main/domain/changes';
import { tempDir } from '../fixtures/temp';

/** A domain file's content; `withEndLine` makes it a whole file. */
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
    parseDomain(withEndLine(text), 'plant.yaml');
  } catch (e) {
    assert.ok(e instanceof DomainFileError);
    return e.problems;
  }
  assert.fail('expected the domain file to be refused');
}

describe('domain file', () => {
  it('fills every default', () => {
    const d = parseDomain(withEndLine(GOOD), 'plant.yaml');
    assert.deepEqual(d.timings, { ...DEFAULT_TIMINGS });
    assert.equal(d.failback, 'manual');
    assert.equal(d.multicast.group, '239.255.80.1');
    assert.equal(d.servers[1]!.maintenance, false);
  });

  it('names the line and field of a wrong value', () => {
    const p = problems(GOOD.replace('role: backup', 'role: standby'));
    assert.deepEqual(p, ['line 6: servers[1].role: role must be one of main, backup, inactive, witness']);
  });

  it('names an unknown (misspelt) field and its line', () => {
    const p = problems(`${GOOD}failbak: auto\n`);
    assert.deepEqual(p, ['line 9: failbak: unknown field (check its spelling)']);
  });

  it('a YAML syntax error is one line: the file, the line and column, what is wrong in plain words', () => {
    /** The error of `text` (with its end line) as duplex prints it. */
    const syntax = (text: string): string => {
      try {
        parseDomain(withEndLine(text), 'plant.yaml');
      } catch (e) {
        assert.ok(e instanceof DomainFileSyntaxError, `${(e as Error).message}`);
        assert.equal(e.problems.length, 1);
        assert.equal(e.message, `plant.yaml ${e.problems[0]}`);
        return e.message;
      }
      assert.fail(`taken: ${text}`);
    };
    const cases: [string, string][] = [
      // A key indented one space less than its section: at the key, not at the indentation.
      ['domain: plant\nservers:\n  - name: a\n   role: main\n', 'plant.yaml line 4, column 4: this line is indented as an item of a list but does not start with "- " (check the indentation)'],
      [GOOD.replace('  interface: 127.0.0.1', '  interface: 127.0.0.1: x'), 'plant.yaml line 8, column 14: a mapping value is not allowed here (check the indentation; a value that holds ": " needs quotes)'],
      [GOOD.replace('  - name: b', '- name: b'), 'plant.yaml line 5, column 1: a mapping value is not allowed here (check the indentation; a value that holds ": " needs quotes)'],
      [GOOD.replace('    role: backup', '\t  role: backup'), 'plant.yaml line 6, column 1: a tab indents this line; indent with spaces only'],
      // Never closed: at its opening quote, not where the parser gave up (the end of the file).
      [GOOD.replace('domain: plant', 'domain: "plant'), 'plant.yaml line 1, column 9: the " that starts this value is never closed: add the closing " at the end of the value'],
      [`${GOOD}stateDir: "C:\\duplex\\state"\n`, 'plant.yaml line 9, column 14: a backslash in a "double-quoted" value starts an escape that YAML does not know: write \\\\ for one backslash, or put the value in single quotes (as for a Windows path)'],
      [`${GOOD}failback:manual\n`, 'plant.yaml line 9, column 1: this line is not "key: value" (is the ":" after the key, or the space after the ":", missing? check the indentation)'],
    ];
    for (const [text, message] of cases) {
      const said = syntax(text);
      assert.equal(said, message, text);
      assert.doesNotMatch(said, /\n/);
    }
  });

  it('a domain file that does not exist: says so, and how to get one', () => {
    const file = join(tempDir('duplex-missing-'), 'plant.yaml');
    assert.throws(() => readDomainBytes(file), (e: Error) => {
      assert.ok(e instanceof DomainFileError);
      assert.equal(e.message, `the domain file ${file} does not exist. Check the path (--domain, or DUPLEX_DOMAIN); on a server joining a domain, copy the domain file and its secret from another server; for a new domain, write both with: duplex init --domain ${file} --servers <a>,<b>`);
      return true;
    });
    assert.throws(() => loadDomain(file), /plant\.yaml does not exist\. Check the path/);
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
    const d = parseDomain(withEndLine(`${GOOD}runtime:\n  processes:\n    - command: C:\\Plant\\E3Run.exe\n    - command: /opt/opc/server\n      runOn: both\n      onActivate: [/opt/opc/takeover]\n`), 'plant.yaml');
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
    const dir = tempDir('duplex-init-');
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

  it('metrics: off when absent; a port (0: any free one) and 127.0.0.1 by default; a change needs a restart', () => {
    const off = parseDomain(withEndLine(GOOD), 'plant.yaml');
    assert.equal(off.metrics, undefined);
    const on = parseDomain(withEndLine(`${GOOD}metrics:\n  port: 9469\n`), 'plant.yaml');
    assert.deepEqual(on.metrics, { port: 9469, address: '127.0.0.1' });
    assert.deepEqual(parseDomain(withEndLine(`${GOOD}metrics: { port: 9469, address: 0.0.0.0, bearerTokenFile: metrics.token }\n`), 'plant.yaml').metrics, { port: 9469, address: '0.0.0.0', bearerTokenFile: 'metrics.token' });
    assert.deepEqual(parseDomain(withEndLine(`${GOOD}metrics: { port: 0, address: 10.20.0.0/16 }\n`), 'plant.yaml').metrics, { port: 0, address: '10.20.0.0/16' });
    assert.deepEqual(domainChanges(off, on, 'a'), { restart: ['metrics'], live: [] });
  });

  it('metrics: a port outside 0 and 1024-65535, a missing port, a bad address or a port shared with sync are refused, naming the field', () => {
    const port = 'metrics.port must be 0 (any free port) or 1024-65535';
    assert.deepEqual(problems(`${GOOD}metrics:\n  port: 80\n`), [`line 10: metrics.port: ${port}`]);
    assert.deepEqual(problems(`${GOOD}metrics:\n  port: 65536\n`), [`line 10: metrics.port: ${port}`]);
    assert.deepEqual(problems(`${GOOD}metrics:\n  port: 9469.5\n`), [`line 10: metrics.port: ${port}`]);
    assert.deepEqual(problems(`${GOOD}metrics:\n  port: "9469"\n`), [`line 10: metrics.port: ${port}; remove the metrics section to switch the metrics off`]);
    const missing = problems(`${GOOD}metrics:\n  address: 0.0.0.0\n`);
    assert.equal(missing.length, 1, missing.join('\n'));
    assert.match(missing[0]!, /metrics\.port: metrics\.port must be 0 \(any free port\) or 1024-65535; remove the metrics section to switch the metrics off$/);
    assert.deepEqual(problems(`${GOOD}metrics:\n  port: 9469\n  address: eth0\n`),
      ['line 11: metrics.address: metrics.address must be 127.0.0.1 (this machine only, the default), 0.0.0.0 (every interface), an IPv4 address (10.20.0.11) or a network in CIDR form (10.20.0.0/16) that picks each server\'s card on it']);
    assert.deepEqual(problems(`${GOOD}metrics:\n  port: 9469\n  bearerTokenFile: a\n  basicAuthFile: b\n`), ['line 12: metrics.basicAuthFile: metrics: set bearerTokenFile or basicAuthFile, not both']);
    assert.deepEqual(problems(`${GOOD}metrics:\n  port: 9469\n  bind: 0.0.0.0\n`), ['line 11: metrics.bind: unknown field (check its spelling)']);
    assert.deepEqual(problems(`${GOOD}sync:\n  port: 9469\nmetrics:\n  port: 9469\n`), ['line 12: metrics.port: metrics.port 9469 is also sync.port; give the metrics their own port']);
  });

  it('opcuaServer: secure by default (no None, every interface, 50 sessions, 5 per client); its fields are checked; a change needs a restart, but for standbyServiceLevel', () => {
    const off = parseDomain(withEndLine(GOOD), 'plant.yaml');
    const on = parseDomain(withEndLine(`${GOOD}opcuaServer: { port: 4841 }\n`), 'plant.yaml');
    assert.deepEqual(on.opcuaServer, { port: 4841, standbyServiceLevel: 150, address: '0.0.0.0', allowUnsecured: false, maxSessions: 50, maxSessionsPerClient: 5 });
    const set = parseDomain(withEndLine(`${GOOD}opcuaServer: { port: 4841, address: 10.20.0.0/16, allowUnsecured: true, maxSessions: 20, maxSessionsPerClient: 19 }\n`), 'plant.yaml');
    assert.deepEqual(set.opcuaServer, { port: 4841, standbyServiceLevel: 150, address: '10.20.0.0/16', allowUnsecured: true, maxSessions: 20, maxSessionsPerClient: 19 });
    assert.deepEqual(problems(`${GOOD}opcuaServer:\n  port: 4841\n  address: eth0\n`),
      ['line 11: opcuaServer.address: opcuaServer.address must be 0.0.0.0 (every interface), an IPv4 address (10.20.0.11) or a network in CIDR form (10.20.0.0/16) that picks each server\'s card on it']);
    assert.deepEqual(problems(`${GOOD}opcuaServer:\n  port: 4841\n  allowUnsecured: yes please\n`), ['line 11: opcuaServer.allowUnsecured: opcuaServer.allowUnsecured must be true or false']);
    assert.deepEqual(problems(`${GOOD}opcuaServer:\n  port: 4841\n  maxSessions: 10\n  maxSessionsPerClient: 10\n`),
      ['line 12: opcuaServer.maxSessionsPerClient: opcuaServer.maxSessionsPerClient must be below opcuaServer.maxSessions, or one client could take every session']);
    assert.deepEqual(problems(`${GOOD}opcuaServer:\n  port: 4841\n  maxSessions: 1\n`), ['line 11: opcuaServer.maxSessions: opcuaServer.maxSessions must be at least 2']);
    assert.deepEqual(problems(`${GOOD}opcuaServer:\n  port: 4841\n  maxSessionsPerClient: 0\n`), ['line 11: opcuaServer.maxSessionsPerClient: opcuaServer.maxSessionsPerClient must be at least 1']);
    assert.deepEqual(domainChanges(off, on, 'a'), { restart: ['opcuaServer'], live: [] });
    assert.deepEqual(domainChanges(on, set, 'a'), { restart: ['opcuaServer'], live: [] });
    const level = parseDomain(withEndLine(`${GOOD}opcuaServer: { port: 4841, standbyServiceLevel: 120 }\n`), 'plant.yaml');
    assert.deepEqual(domainChanges(on, level, 'a'), { restart: [], live: [] }, 'the Standby\'s level is read at every change of role or health');
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


/** A real domain file as `duplex init` writes it, with a runtime section, probes and four servers. */
function realDomainFile(): Buffer {
  const text = domainFileText({
    file: '/plant/plant.yaml',
    servers: ['srv1', 'srv2', 'srv3', 'srv4'],
    interface: '192.168.10.0/24',
    runtime: {
      confirmResume: false,
      processes: [
        { name: 'scada', command: '/opt/plant/runtime', args: ['--project', 'plant.prj'], runOn: 'active' },
        { name: 'opc', command: '/opt/opc/server', runOn: 'both', standbyArgs: ['--standby'], stopTimeoutMs: 8000 },
      ],
    },
  });
  return Buffer.from(insertBeforeEnd(text, `# Health probes (README: "Health and rated failover").
probes:
  - name: system
    kind: system
    minFreeDiskMB: 1000   # the state folder's disk
  - name: gateway
    kind: witness
    address: 192.168.10.1
    method: tcp
    port: 443
health:
  marginPoints: 50
  holdMs: 5000`));
}

function refusedAsUnfinished(text: string, what: string): void {
  assert.throws(() => parseDomain(text, '/plant/plant.yaml'), (e: unknown) => {
    assert.ok(e instanceof DomainFileUnfinished, `${what}: refused, but not as unfinished: ${(e as Error).message}`);
    return true;
  }, `${what}: a cut-short file was loaded`);
}

describe('the end line: a domain file cut short is never loaded', () => {
  const whole = realDomainFile();
  const text = whole.toString('utf8');
  // Everything up to the end of the end line's text: a cut before this loses content.
  const endOfContent = Buffer.byteLength(text.slice(0, text.lastIndexOf(END_LINE) + END_LINE.length));

  it('duplex init writes the end line last, and the whole file loads with every section', () => {
    assert.equal(text.trimEnd().split('\n').pop(), END_LINE);
    const d = parseDomain(text, '/plant/plant.yaml');
    assert.deepEqual(d.servers.map((s) => s.name), ['srv1', 'srv2', 'srv3', 'srv4']);
    assert.deepEqual(d.runtime!.processes.map((p) => p.name), ['scada', 'opc']);
    assert.deepEqual(d.probes.map((p) => p.name), ['system', 'gateway']);
  });

  it('cut at every line boundary: refused as unfinished', () => {
    let cuts = 0;
    for (let i = 0; i < whole.length - 1; i++) {
      if (whole[i] !== 0x0a) continue;
      refusedAsUnfinished(whole.subarray(0, i + 1).toString('utf8'), `cut after byte ${i + 1} (a line boundary)`);
      cuts++;
    }
    refusedAsUnfinished('', 'an empty file');
    assert.ok(cuts > 60, `${cuts} line boundaries`);
  });

  it('cut at 300 random byte offsets (seeded): refused as unfinished', () => {
    const random = rng(11_6);
    for (let k = 0; k < 300; k++) {
      const at = Math.floor(random() * endOfContent);
      refusedAsUnfinished(whole.subarray(0, at).toString('utf8'), `cut after byte ${at} (seed 116, draw ${k})`);
    }
  });

  it('many of those cuts are at harmless points: without the end line they would load, e.g. with the runtime section gone', () => {
    const beforeRuntime = text.slice(0, text.indexOf('\nruntime:') + 1);
    const d = parseDomain(withEndLine(beforeRuntime), '/plant/plant.yaml');
    assert.equal(d.runtime, undefined, 'the cut file is a valid domain file without its runtime');
    let harmless = 0;
    for (let i = 0; i < whole.length - 1; i++) {
      if (whole[i] !== 0x0a) continue;
      try {
        parseDomain(withEndLine(whole.subarray(0, i + 1).toString('utf8')), '/plant/plant.yaml');
        harmless++;
      } catch {
        // cut where the rest is needed: refused for its content too
      }
    }
    assert.ok(harmless >= 10, `${harmless} line boundaries give a valid file once the end line is added`);
  });

  it('a cut that removes only what follows the end line loses nothing and loads the same', () => {
    const want = parseDomain(text, '/plant/plant.yaml');
    for (let at = endOfContent; at < whole.length; at++) assert.deepEqual(parseDomain(whole.subarray(0, at).toString('utf8'), 'p'), want);
    assert.deepEqual(parseDomain(`${text}\n\n  \n`, 'p'), want, 'blank lines after it');
    assert.deepEqual(parseDomain(text.replace(/\n/g, '\r\n'), 'p'), want, 'Windows line ends');
  });

  it('the message names the file and says what to do; the line twice or not last is refused', () => {
    const cut = text.slice(0, text.indexOf('\nruntime:') + 1);
    assert.throws(() => parseDomain(cut, '/plant/plant.yaml'), (e: Error) => {
      assert.equal(e.message, `the domain file /plant/plant.yaml does not end with the line "${END_LINE}": it may still be being written or was cut short; finish the edit and keep that line last. If it is a whole file from a Duplex that did not write this line yet, check it and add the line with: duplex domain finish /plant/plant.yaml`);
      return true;
    });
    const after = `${text}servers: []\n`;
    assert.throws(() => parseDomain(after, 'p'), /does not end with the line .*\(it is on line \d+, with more after it\)/);
    const twice = text.replace('\nsecretFile:', `\n${END_LINE}\nsecretFile:`);
    assert.throws(() => parseDomain(twice, 'p'), (e: unknown) => {
      assert.ok(e instanceof DomainFileError && !(e instanceof DomainFileUnfinished));
      assert.match(e.problems[0]!, /^line \d+: the end line .* is there twice; keep it only as the last line of the file/);
      return true;
    });
  });

  it('loadDomain refuses a file cut short; duplex domain finish adds the line to a whole file from an older Duplex', () => {
    const dir = tempDir('duplex-end-');
    const file = join(dir, 'plant.yaml');
    writeFileSync(file, text.slice(0, text.indexOf('\nruntime:') + 1));
    assert.throws(() => loadDomain(file), DomainFileUnfinished);
    const old = GOOD; // a file written before the end line existed
    writeFileSync(file, old);
    assert.throws(() => loadDomain(file), /duplex domain finish/);
    assert.equal(finishDomainFile(file), true);
    assert.equal(readFileSync(file, 'utf8'), `${old}${END_LINE}\n`);
    assert.equal(loadDomain(file).config.domain, 'plant');
    assert.equal(finishDomainFile(file), false, 'already finished: nothing to do');
    writeFileSync(file, GOOD.replace('role: backup', 'role: standby'));
    assert.throws(() => finishDomainFile(file), /servers\[1\]\.role/);
    assert.equal(readFileSync(file, 'utf8'), GOOD.replace('role: backup', 'role: standby'), 'an invalid file is left as it is');
    writeFileSync(file, `${GOOD}${END_LINE}\nfailback: auto\n`);
    assert.throws(() => finishDomainFile(file), /the end line is there already, but not only as the last line/);
  });
});
