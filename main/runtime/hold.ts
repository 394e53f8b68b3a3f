/**
 * How the guardian holds the runtime's process tree, so that whatever kills the guardian (with
 * its node: Task Manager's "End process tree", `taskkill /F /IM Duplex.exe`, the OOM killer,
 * `kill -9` of both) kills the runtime and everything it started. Nothing may run in active
 * mode without a Duplex process able to fence it. Chosen once, when the guardian starts
 * (`holdRuntimeTree`), and logged there in one line saying what is and is not covered.
 *
 * Linux, `pid-namespace` (as root) or `user-namespace` (not root: a user namespace too, where
 * the kernel allows unprivileged ones): each runtime process runs as
 *
 *   setpriv --pdeathsig KILL -- unshare [--user --map-current-user] --pid --fork --kill-child=SIGKILL --
 *     sh -c FIRST sh RUNTIME <guardian pid> <command> <args…>
 *
 * The guardian's death SIGKILLs unshare (a parent-death signal, kept across exec); unshare's
 * death SIGKILLs the namespace's first process, the `sh` (--kill-child); and when a PID
 * namespace's first process dies the kernel SIGKILLs every process in it. So a runtime that
 * starts children, grandchildren or double-forked daemons is covered: none can leave the
 * namespace. The `sh` is that first process so that the runtime is not: the first process of a
 * namespace ignores every signal from outside that it has no handler for, which would break
 * the graceful stop. The runtime itself is `setsid` into a session and process group of its
 * own, as a runtime started without the namespace is: the stop signal goes to that group and
 * never reaches unshare (which SIGHUP or SIGUSR1 would end, and the runtime with it). Leading
 * its group already, it writes its pid as the machine sees it on fd 3 (the one the supervisor,
 * the pid file, the status and hooks' DUPLEX_PID carry), after checking that unshare's parent
 * is still the guardian: a guardian that died before the parent-death signal was armed leaves
 * nothing running.
 *
 * Inside, the runtime sees the namespace's numbering: its own pid is 2. `ps` and /proc still
 * show the machine's processes.
 *
 * Linux, `parent-death-signal` (no namespace can be made): `setpriv --pdeathsig KILL -- <command>`:
 * the runtime process itself dies with the guardian, what it started does not.
 * Windows, `job-object`: the guardian puts itself into a job object with
 * JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE that only it holds a handle to (not inheritable), so every
 * process it starts, and all they start, is in the job from birth; the job ends them all when
 * the guardian's handle closes, however the guardian ends. Through koffi (an FFI package that
 * ships prebuilt binaries for Windows), no native code of ours.
 * `none`: neither could be set up; the runtime is spawned as before (on Windows, Node's own job
 * still ends the runtime process itself, not what it started).
 */
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';
import { isMainThread } from 'node:worker_threads';

export type HoldKind = 'pid-namespace' | 'user-namespace' | 'parent-death-signal' | 'job-object' | 'none';

export interface RuntimeHold {
  kind: HoldKind;
  /** Whether everything a runtime starts dies with the guardian too, not just the runtime process itself. */
  wholeTree: boolean;
  /** One line for the guardian's log: what is held, and when not the whole tree, what is not and what to do. */
  detail: string;
  /** Linux: the program and arguments that run `command args` held; null: spawned as it is. */
  wrap: ((command: string, args: readonly string[]) => { command: string; args: string[] }) | null;
  /**
   * The wrapped runtime reports its pid on fd 3 (`pid N`) and runs under a `sh` that ends with
   * its exit status (a signal N reads as code 128+N there).
   */
  reportsPid: boolean;
}

/**
 * Run by the namespace's first process: the runtime's command follows. It starts the runtime
 * in a session and process group of its own (setsid, no fork: the pid stays) and waits for it.
 */
const FIRST = 'i=$1; shift; setsid -- sh -c "$i" sh "$@"; exit $?';
/**
 * Then, as the runtime's own process, already leading its group (so that a stop signal sent to
 * that group as soon as its pid is known reaches it): $1 is the guardian's pid. /proc is the
 * machine's, so its stat gives the pid the machine knows and the parent chain
 * this → sh → unshare → guardian. Then it becomes the runtime (exec keeps the pid).
 */
const RUNTIME = [
  'g=$1; shift',
  'read -r s _ _ c _ </proc/self/stat && read -r _ _ _ u _ </proc/$c/stat && read -r _ _ _ o _ </proc/$u/stat || exit 125',
  '[ "$o" = "$g" ] || { echo orphan >&3; exit 125; }',
  'echo "pid $s" >&3',
  'exec "$@" 3>&-',
].join('\n');

function namespaced(user: boolean, guardianPid: number) {
  return (command: string, args: readonly string[]) => ({
    command: 'setpriv',
    args: ['--pdeathsig', 'KILL', '--', 'unshare', ...(user ? ['--user', '--map-current-user'] : []), '--pid', '--fork', '--kill-child=SIGKILL', '--',
      'sh', '-c', FIRST, 'sh', RUNTIME, String(guardianPid), command, ...args],
  });
}

const deathSignalOnly = (command: string, args: readonly string[]) => ({ command: 'setpriv', args: ['--pdeathsig', 'KILL', '--', command, ...args] });

/** Runs `true` held this way; null when it works, else what went wrong (the tool's own words). */
function tryHold(wrap: RuntimeHold['wrap'] & object, reportsPid: boolean): string | null {
  const { command, args } = wrap('true', []);
  const r = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], timeout: 5_000 });
  if (r.error) return r.error.message;
  const said = r.stderr?.toString().trim().split('\n').at(-1) ?? '';
  if (r.status !== 0) return said || `exit ${r.status ?? r.signal}`;
  if (reportsPid && !/^pid \d+$/m.test(r.output[3]?.toString() ?? '')) return 'no pid reported';
  return null;
}

/**
 * Sets up how this process (the guardian) holds the runtime processes it starts, trying the
 * strongest first. The process that spawns them must call it on its main thread: a parent-death
 * signal fires when the parent *thread* ends.
 */
export function holdRuntimeTree(guardianPid = process.pid): RuntimeHold {
  if (process.platform === 'win32') return jobObject();
  if (process.platform !== 'linux') return none(`nothing holds the runtime's processes on ${process.platform}: if the guardian is killed, they run on until the next node of this server stops them`);
  if (!isMainThread) return none('the guardian spawns from a worker thread, where a parent-death signal would fire when that thread ends; the runtime is spawned as it is');
  const pidns = namespaced(false, guardianPid);
  const asRoot = tryHold(pidns, true);
  if (asRoot === null) {
    return { kind: 'pid-namespace', wholeTree: true, wrap: pidns, reportsPid: true,
      detail: 'each runtime process runs in a PID namespace of its own (setpriv --pdeathsig, unshare --pid --kill-child): whatever kills this guardian kills the runtime and every process it started' };
  }
  const userns = namespaced(true, guardianPid);
  const asUser = tryHold(userns, true);
  if (asUser === null) {
    return { kind: 'user-namespace', wholeTree: true, wrap: userns, reportsPid: true,
      detail: `each runtime process runs in a user and PID namespace of its own (not root: ${asRoot}): whatever kills this guardian kills the runtime and every process it started`};
  }
  const noNamespace = `cannot make a PID namespace (${asRoot}; with a user namespace: ${asUser})`;
  if (tryHold(deathSignalOnly, false) === null) {
    return { kind: 'parent-death-signal', wholeTree: false, wrap: deathSignalOnly, reportsPid: false,
      detail: `${noNamespace}: if this guardian is killed, the runtime process itself dies with it (parent-death signal), but processes it started run on until the next node of this server stops them. Run Duplex as root, or allow user namespaces (sysctl kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0)` };
  }
  return none(`${noNamespace}, and setpriv does not run: if this guardian is killed, the runtime runs on until the next node of this server stops it. Install util-linux (apt-get install util-linux)`);
}

function none(detail: string): RuntimeHold {
  return { kind: 'none', wholeTree: false, detail, wrap: null, reportsPid: false };
}

/**
 * How a held process ended: `code N` or `signal SIG…`. Under the namespace's `sh` a runtime
 * killed by signal N ends the sh with code 128+N, which reads back as the signal; a runtime
 * that itself exits with 128+N reads the same way (as in any shell: they cannot be told apart).
 */
export function exitText(code: number | null, signal: NodeJS.Signals | null, throughShell: boolean): string {
  if (signal) return `signal ${signal}`;
  if (throughShell && code !== null && code > 128) {
    const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return `signal ${name}`;
  }
  return `code ${code}`;
}

const JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000;
const JobObjectExtendedLimitInformation = 9;
/** Kept for the life of the process: the handle that, when it closes, ends every process of the job. */
export let heldJob: unknown = null;

/** Windows: this process (the guardian) into a new kill-on-close job object. */
function jobObject(): RuntimeHold {
  const notCovered = 'if the guardian is killed, Node\'s own job still ends each runtime process it started, but not what those started: they run on until the next node of this server stops them';
  let koffi: typeof import('koffi');
  try {
    koffi = require('koffi') as typeof import('koffi');
  } catch (e) {
    return none(`cannot load koffi to make a job object (${(e as Error).message}): ${notCovered}. Reinstall Duplex`);
  }
  try {
    const k32 = koffi.load('kernel32.dll');
    const basic = koffi.struct('DUPLEX_JOBOBJECT_BASIC_LIMIT_INFORMATION', {
      PerProcessUserTimeLimit: 'int64', PerJobUserTimeLimit: 'int64', LimitFlags: 'uint32',
      MinimumWorkingSetSize: 'size_t', MaximumWorkingSetSize: 'size_t', ActiveProcessLimit: 'uint32',
      Affinity: 'uintptr_t', PriorityClass: 'uint32', SchedulingClass: 'uint32',
    });
    const io = koffi.struct('DUPLEX_IO_COUNTERS', { r: 'uint64', w: 'uint64', o: 'uint64', rb: 'uint64', wb: 'uint64', ob: 'uint64' });
    const extended = koffi.struct('DUPLEX_JOBOBJECT_EXTENDED_LIMIT_INFORMATION', {
      BasicLimitInformation: basic, IoInfo: io,
      ProcessMemoryLimit: 'size_t', JobMemoryLimit: 'size_t', PeakProcessMemoryUsed: 'size_t', PeakJobMemoryUsed: 'size_t',
    });
    // A null security descriptor: the handle is not inheritable, so no child can keep the job open.
    const CreateJobObjectW = k32.func('void* __stdcall CreateJobObjectW(void*, void*)');
    const SetInformationJobObject = k32.func('bool __stdcall SetInformationJobObject(void*, int, _In_ DUPLEX_JOBOBJECT_EXTENDED_LIMIT_INFORMATION*, uint32)');
    const AssignProcessToJobObject = k32.func('bool __stdcall AssignProcessToJobObject(void*, void*)');
    const IsProcessInJob = k32.func('bool __stdcall IsProcessInJob(void*, void*, _Out_ int*)');
    const GetCurrentProcess = k32.func('void* __stdcall GetCurrentProcess()');
    const GetLastError = k32.func('uint32 __stdcall GetLastError()');
    const failed = (what: string) => none(`cannot ${what} (Windows error ${GetLastError()}): ${notCovered}`);
    const self = GetCurrentProcess();
    const before = [0];
    IsProcessInJob(self, null, before);
    const job = CreateJobObjectW(null, null);
    if (!job) return failed('create a job object');
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, { BasicLimitInformation: { LimitFlags: JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE } }, koffi.sizeof(extended))) {
      return failed('make the job object kill its processes when it closes');
    }
    // In a job already (a service wrapper's): the new one nests inside it (Windows 8 and later).
    if (!AssignProcessToJobObject(job, self)) return failed(`put the guardian into a job object${before[0] ? ' (it runs in a job already that does not allow nesting)' : ''}`);
    const inJob = [0];
    if (!IsProcessInJob(self, job, inJob) || !inJob[0]) return failed('find the guardian in its job object');
    heldJob = job;
    return { kind: 'job-object', wholeTree: true, wrap: null, reportsPid: false,
      detail: `the guardian and every process it starts run in a job object that ends them all when the guardian ends (kill on job close)${before[0] ? ', nested in the job the guardian was started in' : ''}: whatever kills this guardian kills the runtime and every process it started` };
  } catch (e) {
    return none(`cannot make a job object (${(e as Error).message}): ${notCovered}`);
  }
}
