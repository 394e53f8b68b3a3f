/**
 * The engine's parts, as the decisions (roles.ts, transitions.ts, commands.ts) and the
 * heartbeat see them. Each part owns its state; `cfg` and `servers` are replaced when the domain
 * file changes.
 */
import type { Awareness } from './awareness';
import type { Compatibility } from './compatibility';
import type { CrashLoops } from './crash-loops';
import type { Faults } from './faults';
import type { Local } from './local';
import type { Out } from './out';
import type { Peers } from './peers';
import type { Servers } from './servers';
import type { Switchover } from './switchover';
import type { EngineConfig } from './types';
import type { Votes } from './votes';

export interface Core {
  cfg: EngineConfig;
  servers: Servers;
  readonly boot: number;
  readonly local: Local;
  readonly awareness: Awareness;
  readonly peers: Peers;
  readonly votes: Votes;
  readonly switchover: Switchover;
  readonly loops: CrashLoops;
  readonly faults: Faults;
  readonly compat: Compatibility;
  readonly out: Out;
}
