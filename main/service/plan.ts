/**
 * What `duplex service install|uninstall|status` does, as data: the files it writes and the
 * commands it runs, in order. Pure (no IO), so that tests read the plan for Windows and for
 * Linux on any machine, and `--dry-run` prints it.
 *
 * Windows: the node runs as the service "Duplex" from boot, before anyone logs on, under WinSW
 * (the service wrapper node-windows packages; it speaks to the service manager, runs the node,
 * restarts it when it fails and stops it with Ctrl+C, which the node takes as SIGINT and stops
 * cleanly). The node is the installed Duplex.exe run as Node (ELECTRON_RUN_AS_NODE), or any
 * node.exe. The plan also sets the firewall rules for the domain's ports and the ACLs of the
 * secret and the state folder.
 *
 * Linux: a systemd unit with the same meaning (started at boot, restarted on failure, stopped
 * with SIGTERM). KillMode=process: when the node dies, its guardian stays to fence or hand over
 * the runtime, as it does under WinSW and in the tray; a node restarted meanwhile takes it back.
 */
import { posix, win32 } from 'node:path';
import type { DomainConfig } from '../domain/schema';

export const WIN_SERVICE = 'Duplex';
export const LINUX_UNIT = 'duplex.service';

/** SIDs, so that the commands work in every Windows language: LocalSystem and Administrators. */
const SYSTEM_SID = '*S-1-5-18';
const ADMINS_SID = '*S-1-5-32-544';

export interface ServiceTarget {
  platform: 'win32' | 'linux';
  /** The program that runs Node: Duplex.exe (with ELECTRON_RUN_AS_NODE) or node. */
  exe: string;
  /** Duplex's cli.js. */
  cli: string;
  /** Absolute path of the domain file. */
  domainFile: string;
  server: string;
  /** Absolute paths of the domain secret and this server's state folder. */
  secretFile: string;
  stateDir: string;
  /** The ports the domain uses (for the firewall rules). */
  ports: { heartbeats: number; sync: number; opcua: number | null };
  /** The account the service runs as; LocalSystem (Windows) or root (Linux) when null. */
  account: string | null;
  /** Windows: WinSW's executable as installed with Duplex (resources\winsw\winsw.exe). */
  winsw: string;
  /** Windows: where the service's wrapper and its configuration go (%ProgramData%\Duplex\service). */
  serviceDir: string;
}

export interface ServicePlan {
  /** Folders made first (the state folder, before its ACL is set). */
  dirs: string[];
  /** Commands run before anything is copied (a service installed before is stopped and removed). */
  before: { argv: string[]; ignoreFailure?: boolean }[];
  /** Files written: path and content. */
  files: { path: string; content: string }[];
  /** Files copied: from, to. */
  copies: { from: string; to: string }[];
  /** Commands run in this order (argv); `ignoreFailure` for the ones that may find nothing to do. */
  commands: { argv: string[]; ignoreFailure?: boolean }[];
  /** Files removed. */
  removes: string[];
}

export function portsOf(cfg: DomainConfig): ServiceTarget['ports'] {
  return { heartbeats: cfg.multicast.port, sync: cfg.sync.port, opcua: cfg.opcuaServer?.port ?? null };
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function winswXml(t: ServiceTarget): string {
  const args = [t.cli, 'run', '--domain', t.domainFile, '--server', t.server];
  // WinSW 2 wants the domain and the user apart (DOMAIN\\user, or a local .\\user). An account
  // with a password (not a managed or virtual account) gets it in the service manager.
  const [domain, user] = t.account === null ? ['', ''] : t.account.includes('\\') ? t.account.split(/\\(.*)/s) as [string, string] : ['.', t.account];
  const account = t.account === null ? '' : [
    '  <serviceaccount>',
    `    <domain>${xml(domain)}</domain>`,
    `    <user>${xml(user)}</user>`,
    '    <allowservicelogon>true</allowservicelogon>',
    '  </serviceaccount>',
  ].join('\n') + '\n';
  return `<!-- Written by "duplex service install"; "duplex service uninstall" removes it. -->
<service>
  <id>${WIN_SERVICE}</id>
  <name>Duplex</name>
  <description>Duplex hot-standby redundancy: server ${xml(t.server)} of ${xml(t.domainFile)}</description>
  <executable>${xml(t.exe)}</executable>
${args.map((a) => `  <argument>${xml(a)}</argument>`).join('\n')}
  <env name="ELECTRON_RUN_AS_NODE" value="1"/>
  <startmode>Automatic</startmode>
  <depend>Tcpip</depend>
  <stoptimeout>60sec</stoptimeout>
  <stopparentprocessfirst>true</stopparentprocessfirst>
  <onfailure action="restart" delay="5 sec"/>
  <onfailure action="restart" delay="30 sec"/>
  <resetfailure>1 hour</resetfailure>
  <logpath>${xml(win32.join(t.stateDir, 'logs'))}</logpath>
  <log mode="roll-by-size"><sizeThreshold>10240</sizeThreshold><keepFiles>4</keepFiles></log>
${account}</service>
`;
}

/** Duplex's firewall rules, by fixed names (the installer's too), so that they are replaced and removed by name alone. */
export const FIREWALL_RULES = ['Duplex heartbeats', 'Duplex domain sync', 'Duplex OPC UA endpoint'] as const;

function firewallRules(t: ServiceTarget): { name: string; protocol: 'UDP' | 'TCP'; port: number }[] {
  const [heartbeats, sync, opcua] = FIREWALL_RULES;
  return [
    { name: heartbeats, protocol: 'UDP' as const, port: t.ports.heartbeats },
    ...(t.ports.sync ? [{ name: sync, protocol: 'TCP' as const, port: t.ports.sync }] : []),
    ...(t.ports.opcua ? [{ name: opcua, protocol: 'TCP' as const, port: t.ports.opcua }] : []),
  ];
}

const deleteRules = () => FIREWALL_RULES.map((name) => ({ argv: ['netsh', 'advfirewall', 'firewall', 'delete', 'rule', `name=${name}`], ignoreFailure: true }));

/** The icacls command that leaves `path` to LocalSystem, Administrators and the service account only. */
export function aclCommand(path: string, account: string | null, folder: boolean): string[] {
  const inherit = folder ? '(OI)(CI)' : '';
  return ['icacls', path, '/inheritance:r', '/grant:r', `${SYSTEM_SID}:${inherit}F`, `${ADMINS_SID}:${inherit}F`, ...(account ? [`${account}:${inherit}M`] : [])];
}

function unit(t: ServiceTarget): string {
  const q = (s: string) => (/[\s"\\]/.test(s) ? `"${s.replace(/(["\\])/g, '\\$1')}"` : s);
  return `# Written by "duplex service install"; "duplex service uninstall" removes it.
[Unit]
Description=Duplex hot-standby redundancy (server ${t.server} of ${t.domainFile})
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${[t.exe, t.cli, 'run', '--domain', t.domainFile, '--server', t.server].map(q).join(' ')}
Restart=on-failure
RestartSec=5
# SIGTERM to the node only: it stops the runtime and hands over; its guardian ends after it.
KillMode=process
TimeoutStopSec=60
${t.account ? `User=${t.account}\n` : ''}
[Install]
WantedBy=multi-user.target
`;
}

export function installPlan(t: ServiceTarget): ServicePlan {
  if (t.platform === 'linux') {
    const file = posix.join('/etc/systemd/system', LINUX_UNIT);
    return {
      dirs: [t.stateDir],
      before: [{ argv: ['systemctl', 'stop', LINUX_UNIT], ignoreFailure: true }],
      files: [{ path: file, content: unit(t) }],
      copies: [],
      commands: [
        ...(t.account ? [{ argv: ['chown', t.account, t.secretFile] }, { argv: ['chown', '-R', t.account, t.stateDir] }] : []),
        { argv: ['chmod', '600', t.secretFile] },
        { argv: ['systemctl', 'daemon-reload'] },
        { argv: ['systemctl', 'enable', '--now', LINUX_UNIT] },
      ],
      removes: [],
    };
  }
  const wrapper = win32.join(t.serviceDir, `${WIN_SERVICE}Service.exe`);
  return {
    dirs: [t.stateDir],
    before: [{ argv: ['sc', 'stop', WIN_SERVICE], ignoreFailure: true }, { argv: ['sc', 'delete', WIN_SERVICE], ignoreFailure: true }],
    files: [{ path: win32.join(t.serviceDir, `${WIN_SERVICE}Service.xml`), content: winswXml(t) }],
    // WinSW 2 runs on .NET 2 or 4; its .config beside it lets it start where only 4 is installed.
    copies: [{ from: t.winsw, to: wrapper }, { from: `${t.winsw}.config`, to: `${wrapper}.config` }],
    commands: [
      { argv: aclCommand(t.stateDir, t.account, true) },
      { argv: aclCommand(t.secretFile, t.account, false) },
      ...deleteRules(),
      ...firewallRules(t).map((r) => ({ argv: ['netsh', 'advfirewall', 'firewall', 'add', 'rule', `name=${r.name}`, 'dir=in', 'action=allow', `protocol=${r.protocol}`, `localport=${r.port}`, `program=${t.exe}`, 'enable=yes'] })),
      { argv: [wrapper, 'install'] },
      { argv: [wrapper, 'start'] },
    ],
    removes: [],
  };
}

/** Removes the service and its firewall rules; keeps the domain file, the secret and the logs. */
export function uninstallPlan(t: Pick<ServiceTarget, 'platform' | 'serviceDir'>): ServicePlan {
  if (t.platform === 'linux') {
    return {
      dirs: [],
      before: [],
      files: [],
      copies: [],
      commands: [{ argv: ['systemctl', 'disable', '--now', LINUX_UNIT], ignoreFailure: true }, { argv: ['systemctl', 'daemon-reload'] }],
      removes: [posix.join('/etc/systemd/system', LINUX_UNIT)],
    };
  }
  const wrapper = win32.join(t.serviceDir, `${WIN_SERVICE}Service.exe`);
  return {
    dirs: [],
    before: [],
    files: [],
    copies: [],
    commands: [
      { argv: [wrapper, 'stop'], ignoreFailure: true },
      { argv: [wrapper, 'uninstall'], ignoreFailure: true },
      ...deleteRules(),
    ],
    removes: [wrapper, `${wrapper}.config`, win32.join(t.serviceDir, `${WIN_SERVICE}Service.xml`)],
  };
}

/** The service manager's view of the service. */
export function statusCommand(platform: 'win32' | 'linux'): string[] {
  return platform === 'linux' ? ['systemctl', 'is-active', LINUX_UNIT] : ['sc', 'query', WIN_SERVICE];
}

/** The plan as a technician reads it (`--dry-run`). */
export function describePlan(p: ServicePlan): string {
  const quote = (a: string) => (/[\s"]/.test(a) ? `"${a}"` : a);
  return [
    ...p.before.map((c) => `run ${c.argv.map(quote).join(' ')}   (may find nothing to do)`),
    ...p.dirs.map((d) => `make folder ${d}`),
    ...p.copies.map((c) => `copy ${quote(c.from)} ${quote(c.to)}`),
    ...p.files.map((f) => `write ${f.path}:\n${f.content.replace(/^/gm, '    ')}`),
    ...p.commands.map((c) => `run ${c.argv.map(quote).join(' ')}${c.ignoreFailure ? '   (may find nothing to do)' : ''}`),
    ...p.removes.map((r) => `remove ${r}`),
  ].join('\n');
}
