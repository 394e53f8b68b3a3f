/** The runtime's processes as the supervisor runs them on this server: the domain file's entries, with this node's files and the restart policy. */
import { join } from 'node:path';
import { RUNTIME_CRASH_LOOP_EXITS, RUNTIME_CRASH_LOOP_WINDOW_MS, RUNTIME_RESTART_INITIAL_MS, RUNTIME_RESTART_MAX_MS } from '../defaults';
import type { Domain } from '../domain/load';
import { domainPath } from '../domain/location';
import { pidFileName } from '../runtime/host';
import type { ProcessSpec } from '../runtime/runtime';
import type { NodePaths } from './paths';

export function processSpecs(domain: Domain, server: string, paths: NodePaths): ProcessSpec[] {
  return (domain.config.runtime?.processes ?? []).map((p): ProcessSpec => ({
    ...p,
    cwd: domainPath(domain, p.cwd ?? '.'),
    env: { ...p.env, DUPLEX_SERVER: server },
    logFile: join(paths.logs, `runtime-${p.name}.log`),
    pidFile: join(paths.dir, pidFileName(p.name)),
    restart: {
      initialDelayMs: RUNTIME_RESTART_INITIAL_MS, maxDelayMs: RUNTIME_RESTART_MAX_MS,
      crashLoopExits: RUNTIME_CRASH_LOOP_EXITS, windowMs: RUNTIME_CRASH_LOOP_WINDOW_MS,
    },
  }));
}
