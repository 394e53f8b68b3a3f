/**
 * The OPC UA endpoint's trust list and session limits without a server: who a certificate
 * says it is, the command that trusts it (run here with sh, against names that carry shell
 * syntax), the bounded rejected folder, the session gate's verdicts and log lines, and the
 * rate limit of log lines that outsiders can cause.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeCertificate, leafOf, nameInLog, pruneRejected, trustCommand } from '../../main/opcua/trust';
import { SessionGate, type Client } from '../../main/opcua/sessions';
import { LogLimiter } from '../../main/util/log-limit';
import type { Logger } from '../../main/util/logger';
import { CA_PEM, CLIENT_PEM } from '../fixtures/certificates';
import { tempDir } from '../fixtures/temp';

const der = (pem: string) => Buffer.from(new X509Certificate(pem).raw);
const CLIENT = '9c52a73a4438377d202f4a864be34a9bb4ec7e70';

function withDir<T>(f: (dir: string) => T): T {
  const dir = tempDir('duplex-trust-');
  try {
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('a refused client certificate', () => {
  it('is named by its common name, application URI and SHA-1 thumbprint (node-opcua\'s file name), also when its chain follows it', () => {
    const one = describeCertificate(der(CLIENT_PEM));
    assert.deepEqual(one, { thumbprint: CLIENT, name: "HMI 'one' $(reboot) ü", uri: 'urn:plant:hmi1' });
    const chain = Buffer.concat([der(CLIENT_PEM), der(CA_PEM)]);
    assert.deepEqual(leafOf(chain), der(CLIENT_PEM));
    assert.deepEqual(describeCertificate(chain), one);
    assert.deepEqual(describeCertificate(der(CA_PEM)), { thumbprint: '74d0c72c97335164649de1519f123dddf570428c', name: 'Plant CA', uri: null });
  });

  it('that cannot be read still has a thumbprint, and describing it does not throw', () => {
    const junk = Buffer.from('not a certificate');
    assert.deepEqual(describeCertificate(junk), { thumbprint: '34491fe877745149646ce28c6b98961e9124390b', name: '(unreadable certificate)', uri: null });
    assert.equal(describeCertificate(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 1])).name, '(unreadable certificate)');
  });

  it('is trusted by the logged command (sh): the one file with its thumbprint moves, whatever the folders and the name hold', () => withDir((dir) => {
    const pki = join(dir, "state 'a' $(touch pwned)");
    const rejected = join(pki, 'rejected');
    const trusted = join(pki, 'trusted', 'certs');
    mkdirSync(rejected, { recursive: true });
    mkdirSync(trusted, { recursive: true });
    const file = `HMI 'one' $(touch pwned2) ü[${CLIENT}].pem`; // node-opcua's name: <common name>[<thumbprint>].pem
    writeFileSync(join(rejected, file), CLIENT_PEM);
    writeFileSync(join(rejected, 'other[74d0c72c97335164649de1519f123dddf570428c].pem'), CA_PEM);
    const command = trustCommand(rejected, trusted, CLIENT, 'linux');
    assert.ok(!command.includes('HMI'), 'nothing the client chose is in the command');
    execFileSync('sh', ['-c', command], { cwd: dir });
    assert.deepEqual(readdirSync(trusted), [file]);
    assert.deepEqual(readdirSync(rejected), ['other[74d0c72c97335164649de1519f123dddf570428c].pem']);
    assert.equal(existsSync(join(dir, 'pwned')) || existsSync(join(dir, 'pwned2')), false, 'no command substitution ran');
  }));

  it('on Windows: one move line for cmd.exe and PowerShell alike; a thumbprint that is not hex is refused', () => {
    assert.equal(trustCommand('C:\\ProgramData\\Duplex\\a\\pki\\own\\rejected', 'C:\\ProgramData\\Duplex\\a\\pki\\own\\trusted\\certs', CLIENT, 'win32'),
      `move "C:\\ProgramData\\Duplex\\a\\pki\\own\\rejected\\*${CLIENT}*.pem" "C:\\ProgramData\\Duplex\\a\\pki\\own\\trusted\\certs"`);
    assert.throws(() => trustCommand('/r', '/t', `${CLIENT.slice(1)}'`, 'linux'), /not a SHA-1 thumbprint/);
  });

  it('the rejected folder keeps its newest certificates only', async () => {
    const dir = tempDir('duplex-trust-');
    try {
      for (let i = 0; i < 5; i++) {
        const f = join(dir, `c${i}.pem`);
        writeFileSync(f, 'x');
        utimesSync(f, 1_000 + i, 1_000 + i);
      }
      writeFileSync(join(dir, 'notes.txt'), 'kept');
      assert.equal(await pruneRejected(dir, 3), 2);
      assert.deepEqual(readdirSync(dir).sort(), ['c2.pem', 'c3.pem', 'c4.pem', 'notes.txt']);
      assert.equal(await pruneRejected(dir, 3), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

class Lines implements Logger {
  readonly lines: string[] = [];
  readonly file = null;
  info = (_e: string, d: string) => void this.lines.push(d);
  warn = (_e: string, d: string) => void this.lines.push(d);
  error = (_e: string, d: string) => void this.lines.push(d);
}

describe('the session gate', () => {
  const cert = (thumbprint: string, name: string) => ({ thumbprint, name, uri: null });
  const hmi: Client = { address: '10.0.0.5', certificate: cert('a'.repeat(40), 'HMI "1"\nwarn forged line') };
  const sameMachineOtherApp: Client = { address: '10.0.0.5', certificate: cert('b'.repeat(40), 'Historian') };
  const plain: Client = { address: '10.0.0.6', certificate: null };
  const limits = { maxSessions: 4, maxSessionsPerClient: 2, sessionTimeoutMaxMs: 60_000 };

  it('refuses a client beyond its share (a client: an address with a certificate), and frees it when a session closes', () => {
    const log = new Lines();
    const gate = new SessionGate<number>(limits, log, 60_000, () => 0);
    assert.equal(gate.admit(hmi, 0, false), 'ok');
    gate.opened(1, hmi);
    gate.opened(2, hmi);
    assert.equal(gate.admit(hmi, 2, false), 'refuse');
    assert.equal(gate.admit(sameMachineOtherApp, 2, false), 'ok', 'another certificate on the same machine is another client');
    assert.equal(gate.admit(plain, 2, false), 'ok');
    assert.deepEqual(log.lines, [
      'OPC UA client 10.0.0.5 (certificate "HMI \\"1\\"\\nwarn forged line", thumbprint aaaaaaaaaaaaaaaa…) already holds 2 sessions (opcuaServer.maxSessionsPerClient): ' +
      'its new session is refused. Sessions it abandoned are freed 60 s after its last request; a client that needs more at once (a terminal server running several HMIs) needs a higher opcuaServer.maxSessionsPerClient',
    ]);
    gate.closed(1);
    assert.equal(gate.admit(hmi, 1, false), 'ok');
  });

  it('says who holds the sessions when all are taken, and leaves the refusal to node-opcua; not when one can be freed', () => {
    const log = new Lines();
    const gate = new SessionGate<number>(limits, log, 60_000, () => 0);
    gate.opened(1, hmi);
    gate.opened(2, hmi);
    gate.opened(3, sameMachineOtherApp);
    gate.opened(4, plain);
    assert.equal(gate.admit(plain, 4, true), 'ok');
    assert.deepEqual(log.lines, [], 'a session never activated is closed to make room: nothing runs out');
    assert.equal(gate.admit(plain, 4, false), 'ok');
    assert.deepEqual(log.lines, [
      'all 4 OPC UA sessions are taken (opcuaServer.maxSessions): a new session from 10.0.0.6 (no certificate) is refused. ' +
      'Most are held by 10.0.0.5 "HMI \\"1\\"\\nwarn forged line" (2), 10.0.0.5 "Historian" (1), 10.0.0.6 (1). Abandoned sessions are freed 60 s after their last request; if this many clients are expected, raise opcuaServer.maxSessions',
    ]);
  });

  it('logs one line per client a minute', () => {
    const log = new Lines();
    let now = 0;
    const gate = new SessionGate<number>(limits, log, 60_000, () => now);
    gate.opened(1, hmi);
    gate.opened(2, hmi);
    for (let i = 0; i < 5; i++) gate.admit(hmi, 2, false);
    assert.equal(log.lines.length, 1);
    now = 59_999;
    gate.admit(hmi, 2, false);
    assert.equal(log.lines.length, 1);
    now = 60_000;
    gate.admit(hmi, 2, false);
    assert.equal(log.lines.length, 2);
  });
});

describe('log lines outsiders can cause', () => {
  it('one line per key per interval, and at most so many a minute over all keys; the next line says how many were left out', () => {
    let now = 0;
    const l = new LogLimiter(3_600_000, 3, () => now);
    assert.equal(l.pass('a'), '');
    assert.equal(l.pass('a'), null);
    assert.equal(l.pass('b'), '');
    assert.equal(l.pass('c'), '');
    assert.equal(l.pass('d'), null, 'the fourth key in a minute');
    assert.equal(l.pass('e'), null);
    assert.equal(l.pass('a'), null, 'a repeat is not counted as left out');
    now = 60_000;
    assert.equal(l.pass('d'), ' (2 similar lines left out before this one)');
    assert.equal(l.pass('f'), '');
    now = 3_600_000;
    assert.equal(l.pass('a'), '', 'the same key again after its interval');
  });

  it('forgets the oldest keys beyond its bound', () => {
    const l = new LogLimiter(3_600_000, 1_000, () => 0, 2);
    l.pass('a');
    l.pass('b');
    l.pass('c'); // forgets a
    assert.equal(l.pass('b'), null);
    assert.equal(l.pass('a'), '');
  });

  it('a name a client chose is quoted, its quotes and line breaks escaped, and cut short', () => {
    assert.equal(nameInLog('HMI "1"\nwarn opcua: forged'), '"HMI \\"1\\"\\nwarn opcua: forged"');
    assert.equal(nameInLog('x'.repeat(200)), `"${'x'.repeat(120)}… (200 characters)"`);
  });
});
