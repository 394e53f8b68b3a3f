/**
 * The parts of the Windows code paths that are plain functions, checked on every platform.
 * The paths themselves run under Wine in `npm run test:windows` (test/windows/scenario.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { staleBecause, takeLock } from '../../main/node/lock';
import { everyoneReads, everyoneReplaces, everyoneWrites, windowsDomainFileProblem } from '../../main/domain/access';
import { retryWhileLocked } from '../../main/util/atomic';
import { eventArgs, eventLogSink } from '../../main/util/event-log';
import { descendantsOf, parseWmicTable, processStartMs, wmiDateMs } from '../../main/util/process';
import { cmdLine, cmdWord, isBatchFile } from '../../main/util/spawn';
import { silentLogger } from '../../main/util/logger';
import { tempDir } from '../fixtures/temp';

test('cmd.exe lines quote every word and caret-escape every metacharacter, quotes included', () => {
  assert.equal(cmdWord('C:\\E3\\takeover.cmd'), 'C:\\E3\\takeover.cmd', 'a plain word goes bare');
  assert.equal(cmdWord('--now'), '--now');
  assert.equal(cmdWord('a,b'), '^"a^,b^"', 'a comma splits batch arguments: quoted');
  assert.equal(cmdWord('My Runtime'), '^"My^ Runtime^"');
  assert.equal(cmdWord('a&b|c<d>e^f%PATH%!x!'), '^"a^&b^|c^<d^>e^^f^%PATH^%^!x^!^"');
  // The program's own parser (MSVCRT): a quote inside is \", backslashes before it doubled,
  // and trailing backslashes doubled so the closing quote stays a quote.
  assert.equal(cmdWord('say "hi"'), '^"say^ \\^"hi\\^"^"');
  assert.equal(cmdWord('C:\\my dir\\'), '^"C:\\my^ dir\\\\^"');
  assert.equal(cmdWord('a\\"b'), '^"a\\\\\\^"b^"');
  assert.equal(cmdWord(''), '^"^"');
  assert.equal(cmdLine('C:\\My Runtime\\run.cmd', ['--now', 'x y']), '"^"C:\\My^ Runtime\\run.cmd^" --now ^"x^ y^""');
  assert.ok(isBatchFile('C:\\E3\\takeover.CMD') && isBatchFile('run.bat ') && !isBatchFile('runtime.exe') && !isBatchFile('cmd'));
});

// Wine's wmic (decoded from UTF-16, as it prints to a pipe): no CreationDate, no spaces in the header.
const WINE = '\uFEFFParentProcessIDProcessID\r\n0    32   \r\n40   56   \r\n56   68   \r\n68   276  \r\n276  292  \r\n';
// Windows' wmic (decoded from UTF-16): the columns in alphabetical order, padded; the idle process has no CreationDate.
const WINDOWS = 'CreationDate               ParentProcessId  ProcessId  \r\r\n                           0                0          \r\r\n20261123221502.500000+060  4                812        \r\r\n20261123221503.250000+060  812              9000       \r\r\n';

test('wmic tables are read column by column, as Wine and Windows print them', () => {
  assert.deepEqual(parseWmicTable(WINE).slice(3), [{ pid: 276, ppid: 68, created: null }, { pid: 292, ppid: 276, created: null }]);
  assert.deepEqual(parseWmicTable(WINDOWS), [{ pid: 812, ppid: 4, created: Date.UTC(2026, 10, 23, 21, 15, 2, 500) }, { pid: 9000, ppid: 812, created: Date.UTC(2026, 10, 23, 21, 15, 3, 250) }]);
  assert.deepEqual(parseWmicTable(''), []);
  assert.deepEqual(parseWmicTable('Error: Invalid query\r\n'), []);
  assert.deepEqual(descendantsOf(56, parseWmicTable(WINE)), [68, 276, 292]);
  assert.deepEqual(descendantsOf(292, parseWmicTable(WINE)), []);
  assert.equal(wmiDateMs('20261123221502.500000+060'), Date.UTC(2026, 10, 23, 21, 15, 2, 500));
  assert.equal(wmiDateMs('20261123221502.500000-300'), Date.UTC(2026, 10, 24, 3, 15, 2, 500));
  assert.equal(wmiDateMs('yesterday'), null);
});

test('the start time of a process is read from the system (Linux: /proc), and agrees with its own clock', { skip: process.platform !== 'linux' }, () => {
  const measured = processStartMs(process.pid);
  assert.ok(measured !== null);
  assert.ok(Math.abs(measured - (Date.now() - process.uptime() * 1000)) < 2_000, `${measured} vs ${Date.now() - process.uptime() * 1000}`);
  assert.equal(processStartMs(2 ** 22 + 7), null, 'no such process');
});

test('a lock is stale when its pid is gone, when it predates the boot, or when the pid started at another time', { skip: process.platform !== 'linux' }, async () => {
  const dir = tempDir('duplex-lock-');
  const file = join(dir, 'node.lock');
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    await new Promise((r) => other.once('spawn', r));
    await new Promise((r) => setTimeout(r, 100));
    const started = processStartMs(other.pid!)!;
    assert.equal(staleBecause({ pid: other.pid!, startedAt: started }), null, 'the live holder keeps its lock');
    assert.equal(staleBecause({ pid: other.pid!, startedAt: 0 }), null, 'a lock of 0.2 (a pid alone) is trusted while the pid lives');
    assert.match(staleBecause({ pid: other.pid!, startedAt: Date.now() - uptime() * 1000 - 60_000 })!, /before this machine started/);
    assert.match(staleBecause({ pid: other.pid!, startedAt: started - 30_000 })!, /another process now/);
    assert.match(staleBecause({ pid: process.pid, startedAt: started })!, /this process/);
    assert.match(staleBecause({ pid: 2 ** 22 + 7, startedAt: Date.now() })!, /gone/);

    // Linux records the boot's id and the start in ticks: a clock step cannot fool them.
    const ticks = Number(readFileSync(`/proc/${other.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[19]);
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    assert.equal(staleBecause({ pid: other.pid!, startedAt: 1, boot, ticks }), null, 'held, whatever the wall clock says');
    assert.match(staleBecause({ pid: other.pid!, startedAt: started, boot: 'another-boot', ticks })!, /before this machine started/);
    assert.match(staleBecause({ pid: other.pid!, startedAt: started, boot, ticks: ticks - 1 })!, /another process now/);
    // The live holder blocks the start, and the message names it.
    writeFileSync(file, JSON.stringify({ pid: other.pid, startedAt: started }));
    assert.throws(() => takeLock(file, 'a', silentLogger), new RegExp(`already running \\(pid ${other.pid}\\)`));
    // A lock left by a power cut, whose pid now belongs to a live process, does not.
    writeFileSync(file, JSON.stringify({ pid: other.pid, startedAt: Date.now() - uptime() * 1000 - 3_600_000 }));
    takeLock(file, 'a', silentLogger);
    const taken = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; startedAt: number; boot: string };
    assert.equal(taken.pid, process.pid);
    assert.equal(taken.boot, boot);
    assert.ok(Math.abs(taken.startedAt - processStartMs(process.pid)!) < 2_000);
  } finally {
    other.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an atomic write waits out a file held open by another program (Windows), within a budget, then says why', () => {
  const locked = (code: string) => Object.assign(new Error(`${code}: operation not permitted, rename`), { code });
  let calls = 0;
  assert.equal(retryWhileLocked(() => {
    if (++calls < 3) throw locked('EBUSY');
    return 'renamed';
  }, 1_000, 'win32'), 'renamed');
  assert.equal(calls, 3);

  calls = 0;
  const t0 = performance.now();
  assert.throws(() => retryWhileLocked(() => {
    calls++;
    throw locked('EPERM');
  }, 300, 'win32'), /EPERM/);
  const took = performance.now() - t0;
  assert.ok(took >= 290 && took < 2_000, `gave up after ${took} ms`);
  assert.ok(calls > 3);

  calls = 0;
  assert.throws(() => retryWhileLocked(() => {
    calls++;
    throw locked('EPERM');
  }, 300, 'linux'), /EPERM/);
  assert.equal(calls, 1, 'elsewhere EPERM is a real refusal: no retry');
  calls = 0;
  assert.throws(() => retryWhileLocked(() => {
    calls++;
    throw locked('ENOENT');
  }, 300, 'win32'), /ENOENT/);
  assert.equal(calls, 1, 'only lock errors are retried');
});

test('a secret whose ACL lets Everyone, Users or Authenticated Users read it is found (SDDL, as icacls /save writes it)', () => {
  // As duplex service install leaves it: SYSTEM and Administrators only.
  assert.equal(everyoneReads('duplex.secret\r\nD:PAI(A;;FA;;;SY)(A;;FA;;;BA)\r\n'), null);
  // As a file in a folder that inherits the usual ACL of C:\ (Users read and execute).
  assert.equal(everyoneReads('duplex.secret\r\nD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)(A;ID;0x1301bf;;;AU)\r\n'), 'Users');
  assert.equal(everyoneReads('D:(A;;FR;;;WD)'), 'Everyone');
  assert.equal(everyoneReads('D:(A;;GR;;;S-1-5-11)'), 'Authenticated Users');
  // Rights that do not include reading the data, and deny entries, are not a leak.
  assert.equal(everyoneReads('D:(A;;0x100000;;;BU)(D;;FA;;;WD)(A;;FA;;;SY)'), null);
  // Only the DACL counts, not the owner or the audit entries.
  assert.equal(everyoneReads('O:BAG:SYD:PAI(A;;FA;;;SY)S:(AU;FA;FA;;;WD)'), null);
  // A secret on drive D: (the name's line starts with "D:\") is read from the SDDL line.
  assert.equal(everyoneReads('D:\\Plant\\duplex.secret\r\nD:AI(A;ID;0x1200a9;;;BU)(A;ID;FA;;;SY)\r\n'), 'Users');
  assert.equal(everyoneReads('D:\\Plant\\duplex.secret\r\nD:PAI(A;;FA;;;SY)(A;;FA;;;BA)\r\n'), null);
  // No DACL at all lets everyone in; so do rights to rewrite the ACL, and domain-wide groups.
  assert.match(everyoneReads('duplex.secret\r\nD:NO_ACCESS_CONTROL\r\n')!, /^Everyone/);
  assert.equal(everyoneReads('D:(A;;WD;;;BU)'), 'Users');
  assert.equal(everyoneReads('D:(A;;0x40000;;;WD)'), 'Everyone');
  assert.equal(everyoneReads('O:BAG:DUD:(A;;FR;;;DU)'), 'Domain Users');
});

test('a domain file whose ACL lets Everyone, Users or Authenticated Users change it, or whose folder lets them replace it, is refused with the icacls that fixes it', () => {
  // C:\Plant made by an Administrator inherits the ACL of C:\ (Authenticated Users may modify what is in it).
  const plant = 'C:\\Plant\r\nD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)(A;OICIID;0x1200a9;;;BU)(A;OICIID;0x1301bf;;;AU)\r\n';
  const yaml = 'plant.yaml\r\nD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)(A;ID;0x1301bf;;;AU)\r\n';
  assert.equal(everyoneWrites(yaml), 'Authenticated Users');
  assert.equal(everyoneReplaces(plant), 'Authenticated Users', 'modify rights passed on to new files (OI)');
  assert.equal(everyoneReads(yaml), 'Users', 'reading is another matter: the domain file may be read by all');
  // As the fix leaves them: SYSTEM and Administrators full control, Users read.
  const safeFolder = 'C:\\Plant\r\nD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;0x1200a9;;;BU)\r\n';
  const safeFile = 'plant.yaml\r\nD:AI(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)\r\n';
  assert.equal(everyoneReplaces(safeFolder), null);
  assert.equal(everyoneWrites(safeFile), null);
  // Rights to create files in a folder (ProgramData's Users) replace nothing; deleting children, or rights on the ACL, do.
  assert.equal(everyoneReplaces('D:(A;CI;DCLC;;;BU)(A;;FA;;;SY)'), null);
  assert.equal(everyoneReplaces('D:(A;;DT;;;BU)'), 'Users');
  assert.equal(everyoneReplaces('D:(A;;WD;;;WD)'), 'Everyone');
  // Writing, appending, deleting, generic write: each lets the file be changed; an entry only for subfolders does not.
  for (const rights of ['DC', 'LC', 'SD', 'GW', 'GA', 'FW', 'WO', '0x2', '0x10000']) assert.equal(everyoneWrites(`D:(A;;${rights};;;BU)`), 'Users', rights);
  assert.equal(everyoneWrites('D:(A;;0x1200a9;;;BU)(A;;FA;;;S-1-5-21-1-2-3-1001)'), null, 'one named account (its owner) is not everyone');
  assert.equal(everyoneWrites('D:(A;CIIO;FA;;;BU)'), null);
  assert.match(everyoneWrites('D:NO_ACCESS_CONTROL')!, /^Everyone/);

  const acls: Record<string, string> = { 'C:\\Plant': plant, 'C:\\Plant\\plant.yaml': yaml };
  assert.equal(windowsDomainFileProblem('C:\\Plant\\plant.yaml', (p) => acls[p] ?? null),
    'the folder C:\\Plant lets Authenticated Users change or replace the domain file C:\\Plant\\plant.yaml (and the files Duplex writes there inherit that): it names the programs Duplex runs as SYSTEM, so anyone who logs on to this server could run anything on it. ' +
    'Run as Administrator: icacls "C:\\Plant" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F *S-1-5-32-545:(OI)(CI)RX (add your service account with :(OI)(CI)M if Duplex does not run as SYSTEM), then: icacls "C:\\Plant\\plant.yaml" /reset');
  acls['C:\\Plant'] = safeFolder;
  acls['C:\\Plant\\plant.yaml'] = 'plant.yaml\r\nD:AI(A;;0x1301bf;;;BU)(A;ID;FA;;;SY)\r\n';
  assert.match(windowsDomainFileProblem('C:\\Plant\\plant.yaml', (p) => acls[p] ?? null)!, /^the domain file C:\\Plant\\plant\.yaml can be changed by Users: .* Run as Administrator: icacls "C:\\Plant\\plant\.yaml" \/inheritance:r \/grant:r \*S-1-5-18:F \*S-1-5-32-544:F \*S-1-5-32-545:RX$/);
  acls['C:\\Plant\\plant.yaml'] = safeFile;
  assert.equal(windowsDomainFileProblem('C:\\Plant\\plant.yaml', (p) => acls[p] ?? null), null);
  assert.equal(windowsDomainFileProblem('C:\\Plant\\plant.yaml', () => null), null, 'no ACL to read (Wine): not refused');
});

test('the Event Log gets role changes, fences, faults, warnings and errors, at most 20 a minute, and says once when it cannot be written', async () => {
  assert.deepEqual(eventArgs('info', 'role', 'standby → active (epoch 3): failover', 'SRV2'), ['/L', 'APPLICATION', '/T', 'INFORMATION', '/SO', 'Duplex', '/ID', '100', '/D', '[SRV2] role: standby → active (epoch 3): failover']);
  assert.equal(eventArgs('info', 'sync', 'revision 4 in force', 'SRV2'), null, 'routine info stays in the file');
  assert.deepEqual(eventArgs('error', 'fence', 'killed scada', 'a')!.slice(2, 8), ['/T', 'ERROR', '/SO', 'Duplex', '/ID', '200']);
  assert.equal(eventArgs('warn', 'probe', 'x\ny', 'a')![7], '900');
  assert.equal(eventArgs('warn', 'probe', 'x\ny', 'a')![9], '[a] probe: x y', 'one line');

  const sent: string[][] = [];
  let clock = 0;
  const broken: string[] = [];
  const sink = eventLogSink('a', (why) => broken.push(why), async (args) => {
    sent.push(args);
    return null;
  }, () => clock);
  for (let i = 0; i < 30; i++) sink('warn', 'runtime', `crash ${i}`);
  sink('info', 'sync', 'routine');
  assert.equal(sent.length, 20);
  clock = 60_000;
  sink('error', 'fence', 'killed');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent.slice(20).map((a) => a[9]), ['[a] log: 10 more events in the last minute are only in the Duplex log file', '[a] fence: killed']);

  let tries = 0;
  const dead = eventLogSink('a', (why) => broken.push(why), async () => {
    tries++;
    return 'spawn eventcreate ENOENT';
  });
  dead('warn', 'fault', 'one');
  await new Promise((r) => setImmediate(r));
  dead('warn', 'fault', 'two');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(broken, ['spawn eventcreate ENOENT']);
  assert.equal(tries, 1, 'nothing more is tried');
});
