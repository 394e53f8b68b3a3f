/** Where a server's node keeps its files: `<stateDir>/<server>/`. The CLI finds the admin endpoint here. */
import { join } from 'node:path';
import { domainPath, type DomainLocation } from '../domain/location';

export interface NodePaths {
  dir: string;
  state: string;
  admin: string;
  /** The admin token, kept across restarts so an open status window reconnects (never in a support archive). */
  adminToken: string;
  lock: string;
  log: string;
  logs: string;
  /** The domain revision in force on this server. */
  revision: string;
}

export function nodePaths(domain: DomainLocation, server: string): NodePaths {
  const dir = join(domainPath(domain, domain.config.stateDir), server);
  return {
    dir,
    state: join(dir, 'state.json'),
    admin: join(dir, 'admin.json'),
    adminToken: join(dir, 'admin.token'),
    lock: join(dir, 'node.lock'),
    log: join(dir, 'logs', 'duplex.log'),
    logs: join(dir, 'logs'),
    revision: join(dir, 'revision.json'),
  };
}
