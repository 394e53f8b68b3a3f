/**
 * Real `duplex run` processes on loopback multicast, for integration tests and benchmarks.
 * Each domain gets its own random multicast group and port, so test files never hear each other.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { insertBeforeEnd } from '../../main/domain/end';
import { initDomain } from '../../main/domain/init';
import { locateDomain } from '../../main/domain/load';
import { askNode } from '../../main/node/admin-client';
import { nodePaths } from '../../main/node/paths';
import type { StatusView } from '../../main/ui/contract';
import type { ProcessView } from '../../main/ui/contract';
import { tempDir } from '../fixtures/temp';

export const CLI = join(__dirname, '..', '..', 'main', 'cli.js');

export interface RunningNode {
  server: string;
  proc: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
}

export class Cluster {
  readonly dir: string;
  readonly file: string;
  readonly group: string;
  readonly port: number;
  readonly nodes = new Map<string, RunningNode>();

  /**
   * `separate`: every server gets its own folder `<dir>/<server>/` with its own copy of the
   * domain file and secret, as on real servers (the domain file is then synced between them).
   */
  /**
   * Every server takes any free admin port (`adminPort: 0`), so that a test never depends on the
   * fixed ports being free (a demo running beside the tests, another test's node); `fixedAdminPorts`
   * gives each a fixed port of its own in the domain file (`adminPorts`), as a real domain has,
   * drawn at random so that it is not the standard 47810 + its place that a demo may hold.
   */
  constructor(readonly servers: string[], opts: { extra?: string; runtime?: Record<string, unknown>; sync?: Record<string, unknown>; appVersion?: string; separate?: boolean; fixedAdminPorts?: boolean } = {}) {
    this.dir = tempDir('duplex-it-');
    this.file = join(this.dir, 'plant.yaml');
    this.port = 20_000 + Math.floor(Math.random() * 40_000);
    this.group = `239.255.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    initDomain({ file: this.file, servers, port: this.port, group: this.group, interface: '127.0.0.1', runtime: opts.runtime, sync: opts.sync, appVersion: opts.appVersion, anyAdminPort: true });
    if (opts.fixedAdminPorts) {
      const base = 20_000 + Math.floor(Math.random() * 40_000);
      servers.forEach((s, i) => (this.adminPorts[s] = base + i));
      let i = 0;
      writeFileSync(this.file, readFileSync(this.file, 'utf8').replace(/adminPort: 0 .*/g, () => `adminPort: ${base + i++}`));
    }
    // Before the end line, which must stay last.
    if (opts.extra) writeFileSync(this.file, insertBeforeEnd(readFileSync(this.file, 'utf8'), opts.extra));
    this.separate = opts.separate ?? false;
    if (this.separate) {
      for (const s of servers) {
        mkdirSync(join(this.dir, s));
        copyFileSync(this.file, this.fileOf(s));
        copyFileSync(join(this.dir, 'duplex.secret'), join(this.dir, s, 'duplex.secret'));
      }
    }
  }

  private readonly separate: boolean;
  /** Each server's fixed admin port, with `fixedAdminPorts`. */
  readonly adminPorts: Record<string, number> = {};

  /** The domain file the node of `server` uses. */
  fileOf(server: string): string {
    return this.separate ? join(this.dir, server, 'plant.yaml') : this.file;
  }

  /** A path in the folder of `server`'s domain file. */
  pathOf(server: string, ...rel: string[]): string {
    return join(this.separate ? join(this.dir, server) : this.dir, ...rel);
  }

  /** `nodeArgs`: options for Node itself (e.g. `-r` a fixture); `cli`: another install's cli.js. */
  start(server: string, opts: { nodeArgs?: string[]; cli?: string } = {}): RunningNode {
    // Node for Windows under Wine cannot write to a pipe (EBADF): there the output goes to <dir>/<server>.out.
    const toFile = process.platform === 'win32' ? openSync(join(this.dir, `${server}.out`), 'a') : null;
    const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.cli ?? CLI, 'run', '--domain', this.fileOf(server), '--server', server], { stdio: ['ignore', toFile ?? 'pipe', toFile ?? 'pipe'], windowsHide: true });
    if (toFile !== null) closeSync(toFile);
    const output: string[] = [];
    const collect = (b: Buffer) => output.push(...b.toString('utf8').split('\n').filter(Boolean));
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const n = { server, proc, output, exited };
    this.nodes.set(server, n);
    return n;
  }

  startAll(): void {
    for (const s of this.servers) this.start(s);
  }

  /** The node log of `server` (duplex.log in its state folder) as it is now. */
  log(server: string): string {
    return readFileSync(nodePaths(locateDomain(this.fileOf(server)).domain, server).log, 'utf8');
  }

  async status(server: string, timeoutMs = 2_000): Promise<StatusView> {
    return (await askNode(locateDomain(this.fileOf(server)).domain, server, 'GET', '/status', undefined, timeoutMs)).body as StatusView;
  }

  /** One supervised process of a server (the first declared when no name is given). */
  async process(server: string, name?: string): Promise<ProcessView> {
    const procs = (await this.status(server)).runtime.processes;
    const p = name === undefined ? procs[0] : procs.find((q) => q.name === name);
    if (!p) throw new Error(`${server} has no supervised process ${name ?? ''}`);
    return p;
  }

  /** Status of every running node, or null for one that does not answer. */
  async sample(): Promise<Map<string, StatusView | null>> {
    const running = [...this.nodes.values()].filter((n) => n.proc.exitCode === null && n.proc.signalCode === null);
    const results = await Promise.all(running.map((n) => this.status(n.server, 1_000).catch(() => null)));
    return new Map(running.map((n, i) => [n.server, results[i]!]));
  }

  async roles(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [s, st] of await this.sample()) out[s] = st?.role ?? 'no answer';
    return out;
  }

  kill(server: string, signal: NodeJS.Signals): void {
    this.nodes.get(server)!.proc.kill(signal);
  }

  /**
   * A machine crash as far as loopback can show one: the node, its guardian and the runtime's
   * process groups are killed at once, so nobody releases the Active term. Resolves to the
   * crash itself, ready to be timed.
   */
  async crasher(server: string): Promise<() => void> {
    const runtimes = (await this.status(server)).runtime.processes.map((p) => p.pid).filter((p): p is number => !!p);
    const guardian = (JSON.parse(readFileSync(this.pathOf(server, 'duplex-state', server, 'guardian.json'), 'utf8')) as { pid: number }).pid;
    return () => {
      this.kill(server, 'SIGSTOP');
      process.kill(guardian, 'SIGKILL');
      for (const pid of runtimes) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone already: it dies with its guardian (a parent-death signal, or its PID namespace)
        }
      }
      this.kill(server, 'SIGKILL');
    };
  }

  async stop(): Promise<void> {
    for (const n of this.nodes.values()) {
      if (n.proc.exitCode === null && n.proc.signalCode === null) {
        if (process.platform !== 'win32') n.proc.kill('SIGCONT'); // Windows has no SIGCONT
        n.proc.kill('SIGTERM');
      }
    }
    // Long enough for a node to stop a runtime that ignores SIGTERM (its stop timeout is 5 s).
    await Promise.all([...this.nodes.values()].map((n) => Promise.race([n.exited, sleep(15_000).then(() => n.proc.kill('SIGKILL'))])));
    // Windows: a guardian left by a node killed with TerminateProcess holds its log open.
    if (process.platform === 'win32') {
      for (const s of this.servers) {
        try {
          process.kill((JSON.parse(readFileSync(this.pathOf(s, 'duplex-state', s, 'guardian.json'), 'utf8')) as { pid: number }).pid);
        } catch {
          // no guardian, or gone
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 250 });
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a value (not undefined) or the time is up; the error says what was awaited. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await sleep(everyMs);
  }
}

/** Waits until the running nodes report exactly these roles. */
export function waitForRoles(c: Cluster, want: Record<string, string>, timeoutMs: number): Promise<Record<string, string>> {
  return waitFor(`roles ${JSON.stringify(want)}`, timeoutMs, async () => {
    const r = await c.roles();
    return Object.entries(want).every(([s, role]) => r[s] === role) ? r : undefined;
  });
}

/** Runs `duplex` with these arguments; `env` is added to this process's environment. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('exit', (code) => resolveRun({ code, stdout, stderr }));
  });
}
