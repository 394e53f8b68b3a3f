/**
 * `duplex service install|uninstall`: the files it writes and the commands it runs, for Windows
 * (WinSW, firewall, ACLs) and Linux (a systemd unit, checked with systemd-analyze verify where
 * it is installed). Nothing is installed here: the plan is data, read on any machine.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { aclCommand, describePlan, installPlan, uninstallPlan, type ServiceTarget } from '../../main/service/plan';
import { runCli } from '../integration/cluster';
import { tempDir } from '../fixtures/temp';

const WIN: ServiceTarget = {
  platform: 'win32',
  exe: 'C:\\Program Files\\Duplex\\Duplex.exe',
  cli: 'C:\\Program Files\\Duplex\\resources\\app.asar\\out\\main\\cli.js',
  domainFile: 'C:\\Plant & Co\\plant.yaml',
  server: 'SRV1',
  secretFile: 'C:\\Plant & Co\\duplex.secret',
  stateDir: 'C:\\Plant & Co\\duplex-state\\SRV1',
  ports: { heartbeats: 47900, sync: 47901, opcua: 4841 },
  account: null,
  winsw: 'C:\\Program Files\\Duplex\\resources\\winsw\\winsw.exe',
  serviceDir: 'C:\\ProgramData\\Duplex\\service',
};

test('Windows: WinSW runs Duplex.exe as Node from boot, restarts it, and the plan sets ACLs and the firewall for the domain\'s ports', () => {
  const plan = installPlan(WIN);
  assert.deepEqual(plan.copies, [
    { from: WIN.winsw, to: 'C:\\ProgramData\\Duplex\\service\\DuplexService.exe' },
    { from: `${WIN.winsw}.config`, to: 'C:\\ProgramData\\Duplex\\service\\DuplexService.exe.config' },
  ]);
  assert.equal(plan.files.length, 1);
  assert.equal(plan.files[0]!.path, 'C:\\ProgramData\\Duplex\\service\\DuplexService.xml');
  const xml = plan.files[0]!.content;
  assert.match(xml, /<id>Duplex<\/id>/);
  assert.match(xml, /<executable>C:\\Program Files\\Duplex\\Duplex.exe<\/executable>/);
  const args = [...xml.matchAll(/<argument>([^<]*)<\/argument>/g)].map((m) => m[1]);
  assert.deepEqual(args, [WIN.cli, 'run', '--domain', 'C:\\Plant &amp; Co\\plant.yaml', '--server', 'SRV1'], 'every argument its own element, XML-escaped');
  assert.match(xml, /<env name="ELECTRON_RUN_AS_NODE" value="1"\/>/);
  assert.match(xml, /<startmode>Automatic<\/startmode>/);
  assert.match(xml, /<onfailure action="restart"/);
  assert.doesNotMatch(xml, /serviceaccount/, 'LocalSystem unless an account is given');
  assert.match(installPlan({ ...WIN, account: 'PLANT\\svc-duplex$' }).files[0]!.content, /<serviceaccount>\s*<domain>PLANT<\/domain>\s*<user>svc-duplex\$<\/user>/);
  assert.match(installPlan({ ...WIN, account: 'duplex' }).files[0]!.content, /<domain>\.<\/domain>\s*<user>duplex<\/user>/, 'a local account');

  const argv = plan.commands.map((c) => c.argv);
  assert.deepEqual(argv[0], ['icacls', WIN.stateDir, '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F']);
  assert.deepEqual(argv[1], ['icacls', WIN.secretFile, '/inheritance:r', '/grant:r', '*S-1-5-18:F', '*S-1-5-32-544:F']);
  // The rules are replaced by name (the installer's have the same names), never by program:
  // that would take other programs' rules when Duplex runs under a plain node.exe.
  assert.deepEqual(argv.slice(2, 5), ['Duplex heartbeats', 'Duplex domain sync', 'Duplex OPC UA endpoint'].map((n) => ['netsh', 'advfirewall', 'firewall', 'delete', 'rule', `name=${n}`]));
  assert.ok(plan.commands.slice(2, 5).every((c) => c.ignoreFailure), 'no old rules is fine');
  const rules = argv.filter((a) => a[3] === 'add').map((a) => [a[5], a[8], a[9], a[10]]);
  assert.deepEqual(rules, [
    ['name=Duplex heartbeats', 'protocol=UDP', 'localport=47900', `program=${WIN.exe}`],
    ['name=Duplex domain sync', 'protocol=TCP', 'localport=47901', `program=${WIN.exe}`],
    ['name=Duplex OPC UA endpoint', 'protocol=TCP', 'localport=4841', `program=${WIN.exe}`],
  ]);
  assert.deepEqual(argv.slice(-2), [['C:\\ProgramData\\Duplex\\service\\DuplexService.exe', 'install'], ['C:\\ProgramData\\Duplex\\service\\DuplexService.exe', 'start']]);
  assert.ok(plan.commands.filter((c) => c.argv[3] !== 'delete').every((c) => !c.ignoreFailure), 'a failed ACL, rule or install stops the install');
  // The state folder exists before its ACL is set; a service installed before is removed first.
  assert.deepEqual(plan.dirs, [WIN.stateDir]);
  assert.deepEqual(plan.before.map((c) => c.argv), [['sc', 'stop', 'Duplex'], ['sc', 'delete', 'Duplex']]);
  assert.match(xml, /<stopparentprocessfirst>true<\/stopparentprocessfirst>/, 'the node stops first, then what it started');
  assert.deepEqual(aclCommand('C:\\x', 'PLANT\\svc', false).slice(-1), ['PLANT\\svc:M'], 'the service account gets its own entry');
  assert.equal(installPlan({ ...WIN, ports: { heartbeats: 47800, sync: 0, opcua: null } }).commands.filter((c) => c.argv[3] === 'add').length, 1, 'no rule for a port the domain picks at random (0) or does not use');
});

test('Windows: uninstall removes the service, its wrapper and the firewall rules, and keeps the domain file, the secret and the logs', () => {
  const plan = uninstallPlan(WIN);
  assert.deepEqual(plan.commands.map((c) => c.argv), [
    ['C:\\ProgramData\\Duplex\\service\\DuplexService.exe', 'stop'],
    ['C:\\ProgramData\\Duplex\\service\\DuplexService.exe', 'uninstall'],
    ...['Duplex heartbeats', 'Duplex domain sync', 'Duplex OPC UA endpoint'].map((n) => ['netsh', 'advfirewall', 'firewall', 'delete', 'rule', `name=${n}`]),
  ]);
  assert.deepEqual(plan.removes, ['C:\\ProgramData\\Duplex\\service\\DuplexService.exe', 'C:\\ProgramData\\Duplex\\service\\DuplexService.exe.config', 'C:\\ProgramData\\Duplex\\service\\DuplexService.xml']);
  assert.ok(plan.commands.every((c) => c.ignoreFailure), 'uninstall goes on past what is already gone');
});

test('Linux: a systemd unit with the same meaning, that systemd-analyze verify accepts', (t) => {
  const plan = installPlan({ ...WIN, platform: 'linux', exe: process.execPath, cli: '/opt/duplex/out/main/cli.js', domainFile: '/srv/plant dir/plant.yaml', secretFile: '/srv/plant dir/duplex.secret', account: 'duplex' });
  assert.equal(plan.files[0]!.path, '/etc/systemd/system/duplex.service');
  const unit = plan.files[0]!.content;
  assert.match(unit, new RegExp(`^ExecStart=${process.execPath} /opt/duplex/out/main/cli.js run --domain "/srv/plant dir/plant.yaml" --server SRV1$`, 'm'));
  for (const line of ['Restart=on-failure', 'KillMode=process', 'User=duplex', 'WantedBy=multi-user.target', 'After=network-online.target']) assert.match(unit, new RegExp(`^${line}$`, 'm'));
  assert.deepEqual(plan.commands.map((c) => c.argv), [
    ['chown', 'duplex', '/srv/plant dir/duplex.secret'], ['chown', '-R', 'duplex', WIN.stateDir],
    ['chmod', '600', '/srv/plant dir/duplex.secret'], ['systemctl', 'daemon-reload'], ['systemctl', 'enable', '--now', 'duplex.service'],
  ]);
  assert.deepEqual(uninstallPlan({ platform: 'linux', serviceDir: '' }).removes, ['/etc/systemd/system/duplex.service']);

  if (spawnSync('systemd-analyze', ['--version']).status !== 0) return t.skip('systemd-analyze is not installed');
  const dir = tempDir('duplex-unit-');
  try {
    const verify = (text: string) => {
      writeFileSync(join(dir, 'duplex.service'), text);
      return spawnSync('systemd-analyze', ['verify', join(dir, 'duplex.service')], { encoding: 'utf8' });
    };
    const ok = verify(unit.replace(/^User=.*\n/m, '')); // the account need not exist here
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stderr.split('\n').filter((l) => l.includes('duplex.service')).join('\n'), '', 'no complaint about the unit');
    // The check can fail: a unit with a broken line is refused.
    assert.notEqual(verify(unit.replace(/^ExecStart=/m, 'ExecStart=relative/')).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('duplex service install --dry-run prints the plan for the domain file\'s ports and changes nothing; mistakes are named', async () => {
  const dir = tempDir('duplex-svc-');
  try {
    const file = join(dir, 'plant.yaml');
    assert.equal((await runCli(['init', '--domain', file, '--servers', 'a,b', '--port', '47950'])).code, 0);
    const r = await runCli(['service', 'install', '--domain', file, '--server', 'a', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), describePlan(installPlan({ ...WIN, platform: 'linux', exe: process.execPath, cli: join(__dirname, '..', '..', 'main', 'cli.js'), domainFile: file, server: 'a', secretFile: join(dir, 'duplex.secret'), stateDir: join(dir, 'duplex-state', 'a'), ports: { heartbeats: 47950, sync: 47801, opcua: null } })));
    const wrong = await runCli(['service', 'install', '--domain', file, '--server', 'z', '--dry-run']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /server z is not in .*plant\.yaml; the servers are a, b/);
    assert.match((await runCli(['service', 'install', '--domain', file, '--dry-run'])).stderr, /needs --server/);
    const restart = await runCli(['service', 'restart']);
    assert.equal(restart.code, 2);
    assert.match(restart.stderr, /duplex service has no command "restart"; there are: install, uninstall, status/);
    assert.match((await runCli(['service', 'uninstall', '--dry-run'])).stdout, /systemctl disable --now duplex.service[\s\S]*remove \/etc\/systemd\/system\/duplex.service/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
