/**
 * The words a technician reads: the health score, a role and a runtime in words, and the one
 * headline of the plant's state that the status window's banner and the tray's icon are both
 * built from. Pure, and loaded twice: by the main process (the CLI's tables too), and as an ES
 * module by the status window.
 */
import type { RuntimeMode, RuntimeState, StatusView } from './contract';
import { SERVICE_LEVEL } from '../probes/score.js';

/** A health score in words and its number: "healthy 255", "degraded 180", "no data 1", "maintenance 0". */
export function healthWords(score: number | null): string {
  if (score === null) return 'not heard';
  const words = score >= SERVICE_LEVEL.healthyMin ? 'healthy'
    : score >= SERVICE_LEVEL.degradedMin ? 'degraded'
      : score === SERVICE_LEVEL.noData ? 'no data' : 'maintenance';
  return `${words} ${score}`;
}

/**
 * A runtime in words: its mode and what its processes do (`active running`, `standby starting`),
 * `stopped` (as a Standby whose processes run only when Active), `none`. Stopped in active mode
 * keeps the mode (`active stopped`): the Active should be running it.
 */
export function runtimeWords(mode: RuntimeMode, state: RuntimeState): string {
  if (state === 'none') return 'none';
  if (mode !== 'active' && state === 'stopped') return 'stopped';
  return `${mode} ${state === 'held' ? 'HELD' : state}`;
}

/** A role as people write it: `Active`, `Standby`; `unreachable` and `unknown` stay lower case (they are not roles). */
export function roleWord(role: string): string {
  return role === 'unreachable' || role === 'unknown' ? role : role.charAt(0).toUpperCase() + role.slice(1);
}

export interface Headline {
  /** ok: the plant is protected; warning: it runs, but something needs a technician; alarm: the plant is at risk now. */
  level: 'ok' | 'warning' | 'alarm';
  /** What is so, and what to do, in a few words: "Plant not protected: no Standby", "Runtime held: Resume". */
  title: string;
  /** The details behind it, in full. */
  detail: string;
}

const cap = (t: string) => t.charAt(0).toUpperCase() + t.slice(1);
const ACTIVE_LIKE = new Set(['active', 'deactivating']);

/** The first thing a technician must act on, as this server sees the domain; `ok` when there is none. */
export function headline(s: StatusView): Headline {
  const alarm = (title: string, detail: string): Headline => ({ level: 'alarm', title, detail });
  const warning = (title: string, detail: string): Headline => ({ level: 'warning', title, detail });
  const servers = [{ server: s.server, role: s.role as string }, ...s.peers.map((p) => ({ server: p.server, role: p.role as string }))];
  const active = servers.find((x) => ACTIVE_LIKE.has(x.role))?.server ?? null;
  const standby = servers.find((x) => x.role === 'standby' || x.role === 'activating')?.server ?? null;
  const away = s.peers.filter((p) => p.role === 'unreachable' || p.role === 'unknown').map((p) => p.server);

  if (s.incompatible) return warning('Incompatible with the Active', `${s.server}: ${s.incompatible}`);
  const fault = s.faults[0];
  if (fault) {
    // "cannot verify 192.168.10.12: is the secret file the same…" → "Cannot verify 192.168.10.12", and the rest.
    const cut = fault.search(/[:;] /);
    return alarm(cap(cut > 0 ? fault.slice(0, cut) : fault), cut > 0 ? fault.slice(cut + 2) : fault);
  }
  if (s.quorum.on && !s.quorum.has) {
    return alarm('No quorum', `${s.server} hears ${s.quorum.heard.length} of ${s.quorum.voters.length} voters (${s.quorum.majority} needed); it will not take over`);
  }
  if (!active && s.role !== 'starting') {
    return alarm('Plant runtime not running: no Active server', `no server is Active${away.length ? `; not heard: ${away.join(', ')}` : ''}${standby ? `; ${standby} should take over` : ''}`);
  }
  if (s.runtime.held) return alarm('Runtime held: Resume', `${s.runtime.held}; check the plant, then Resume`);
  // Clients reach the plant through the virtual IP: a failure to take or drop it is an alarm.
  if (s.vip && (s.vip.error !== null || s.vip.card === null)) return alarm('Virtual IP problem', `${s.server}: ${s.vip.error ?? 'no card here can take it'}`);
  if (s.sync.state === 'conflict') return warning('Sync conflict', s.sync.message ?? 'review the conflict copy beside the domain file');
  if (s.sync.state === 'error') return warning('Domain file problem', s.sync.message ?? 'see the log');
  if (!s.linkUp) return warning('Redundancy network card down', `${s.server} has lost its own network interface; it will not take over`);
  if (s.runtime.failures.banned) {
    return warning('Runtime crash loops: Clear failures', `${s.server} may be neither Active nor Standby (the last: ${s.runtime.failures.last})`);
  }
  if (active && !standby) {
    return warning('Plant not protected: no Standby', `if ${active} fails, nothing takes over${away.length ? `; not heard: ${away.join(', ')}` : ''}`);
  }
  return { level: 'ok', title: 'Plant protected', detail: active && standby ? `${active} is Active, ${standby} is Standby` : 'starting' };
}
