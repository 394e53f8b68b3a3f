/**
 * `duplex service install|uninstall|status`: carries out the plan of plan.ts on this machine.
 * Run it as Administrator (Windows) or root (Linux); `--dry-run` prints the plan and changes
 * nothing.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadDomain } from '../domain/load';
import { domainPath } from '../domain/location';
import { nodePaths } from '../node/paths';
import { writeFileAtomic } from '../util/atomic';
import { describePlan, installPlan, LINUX_UNIT, portsOf, statusCommand, uninstallPlan, WIN_SERVICE, type ServicePlan, type ServiceTarget } from './plan';

type Platform = ServiceTarget['platform'];

function platform(): Platform {
  if (process.platform === 'win32' || process.platform === 'linux') return process.platform;
  throw new Error(`duplex service runs on Windows and Linux, not on ${process.platform}`);
}

/** Where the Windows service's wrapper and configuration live. */
export const winServiceDir = () => join(process.env.ProgramData ?? 'C:\\ProgramData', 'Duplex', 'service');

/** Whether the Duplex service is installed on this machine (its files are there). */
export function serviceInstalled(): boolean {
  return process.platform === 'win32' ? existsSync(join(winServiceDir(), `${WIN_SERVICE}Service.xml`)) : existsSync(join('/etc/systemd/system', LINUX_UNIT));
}

/** The service for this server of this domain, run by this program (Duplex.exe as Node, or node). */
export function targetFor(domainFile: string, server: string, opts: { account?: string; winsw?: string }): ServiceTarget {
  const d = loadDomain(domainFile);
  if (!d.config.servers.some((s) => s.name === server)) {
    throw new Error(`server ${server} is not in ${d.file}; the servers are ${d.config.servers.map((s) => s.name).join(', ')}`);
  }
  return {
    platform: platform(),
    exe: process.execPath,
    cli: resolve(__dirname, '..', 'cli.js'),
    domainFile: d.file,
    server,
    secretFile: domainPath(d, d.config.secretFile),
    stateDir: nodePaths(d, server).dir,
    ports: portsOf(d.config),
    account: opts.account ?? null,
    winsw: opts.winsw ?? join(dirname(process.execPath), 'resources', 'winsw', 'winsw.exe'),
    serviceDir: winServiceDir(),
  };
}

/** Carries out a plan, stopping at the first command that fails (unless it may find nothing to do). */
export function carryOut(plan: ServicePlan, write: (line: string) => void): void {
  const run = (c: ServicePlan['commands'][number]) => {
    const r = spawnSync(c.argv[0]!, c.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', windowsHide: true });
    const said = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    if (r.status === 0 || c.ignoreFailure) {
      write(`ran ${c.argv.join(' ')}${r.status === 0 ? '' : ` (nothing to do: ${said || r.error?.message || `exit ${r.status}`})`}`);
      return;
    }
    throw new Error(`${c.argv.join(' ')} failed: ${said || r.error?.message || `exit ${r.status}`}. Run duplex service as ${process.platform === 'win32' ? 'Administrator' : 'root'}`);
  };
  plan.before.forEach(run);
  for (const d of plan.dirs) mkdirSync(d, { recursive: true });
  for (const c of plan.copies) {
    if (!existsSync(c.from)) throw new Error(`${c.from} is missing: the service wrapper comes with the Duplex installer; give its path with --winsw <winsw.exe>`);
    mkdirSync(dirname(c.to), { recursive: true });
    copyFileSync(c.from, c.to);
    write(`copied ${c.to}`);
  }
  for (const f of plan.files) {
    writeFileAtomic(f.path, f.content, { keepPrevious: false });
    write(`wrote ${f.path}`);
  }
  plan.commands.forEach(run);
  for (const f of plan.removes) {
    rmSync(f, { force: true });
    write(`removed ${f}`);
  }
}

/** `need` gives a required option of the command line (the CLI's own check: a usage error without it). */
export function serviceCommand(action: 'install' | 'uninstall' | 'status', o: { need: (name: 'domain' | 'server') => string; account?: string; winsw?: string; dryRun: boolean }, write: (line: string) => void): number {
  if (action === 'install') {
    const server = o.need('server');
    const plan = installPlan(targetFor(o.need('domain'), server, o));
    if (o.dryRun) return write(describePlan(plan)), 0;
    carryOut(plan, write);
    write(`ok: the Duplex service runs server ${server} from boot; the tray attaches to it. The domain file, the secret and the logs stay where they are.`);
    return 0;
  }
  if (action === 'uninstall') {
    const plan = uninstallPlan({ platform: platform(), serviceDir: winServiceDir() });
    if (o.dryRun) return write(describePlan(plan)), 0;
    carryOut(plan, write);
    write('ok: the Duplex service is removed; the domain file, the secret and the logs are kept.');
    return 0;
  }
  const argv = statusCommand(platform());
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', windowsHide: true });
  write(serviceInstalled() ? `the Duplex service is installed; ${argv.join(' ')} says: ${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || r.error?.message || `exit ${r.status}`}` : 'the Duplex service is not installed (duplex service install --domain <file> --server <name>)');
  return serviceInstalled() && r.status === 0 ? 0 : 1;
}
