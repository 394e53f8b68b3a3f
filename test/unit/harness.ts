/** Small helpers to drive one engine by hand in unit tests. */
import { DEFAULT_TIMINGS, type Timings } from '../../main/defaults';
import { Engine } from '../../main/engine/engine';
import type { Effect, Heartbeat, Output, PersistedState, QuorumMode, RatedConfig, Role, ServerKind } from '../../main/engine/types';

export const T = DEFAULT_TIMINGS;
/** The step tests tick at: finer than any deadline, so no tick is ever late. */
export const TICK = 25;

/**
 * One engine. Quorum is off unless `quorum: 'auto'` is given: most unit tests pin rules that
 * hold with and without it, driving one engine by hand without voters' acknowledgements; the
 * quorum tests give it and play the voters.
 */
export function engine(self: string, kinds: Record<string, ServerKind>, opts: { failback?: 'manual' | 'auto'; persisted?: Partial<PersistedState>; timings?: Partial<Timings>; maintenanceDecl?: string[]; rated?: RatedConfig; confirmResume?: boolean; failureResetMs?: number; quorum?: QuorumMode; boot?: number } = {}, now = 0): Engine {
  return new Engine(
    {
      self,
      servers: Object.entries(kinds).map(([name, kind]) => ({ name, kind, maintenance: (opts.maintenanceDecl ?? []).includes(name) })),
      failback: opts.failback ?? 'manual',
      quorum: opts.quorum ?? 'off',
      ...(opts.boot !== undefined ? { boot: opts.boot } : {}),
      timings: { ...T, ...opts.timings },
      ...(opts.rated ? { rated: opts.rated } : {}),
      ...(opts.confirmResume ? { confirmResume: true } : {}),
      ...(opts.failureResetMs ? { failureResetMs: opts.failureResetMs } : {}),
    },
    { maxEpoch: 0, maintenance: false, ...opts.persisted },
    now,
  );
}

export function hb(from: string, role: Role, epoch = 0, extra: Partial<Heartbeat> = {}): Heartbeat {
  return { kind: 'heartbeat', from, role, epoch, maxEpoch: epoch, eligible: true, awareness: 0, ...extra };
}

export function roles(out: Output): Effect[] {
  return out.effects.filter((e) => e.kind === 'role');
}

export function effectsOf<K extends Effect['kind']>(out: Output, kind: K): Extract<Effect, { kind: K }>[] {
  return out.effects.filter((e): e is Extract<Effect, { kind: K }> => e.kind === kind);
}

/** Ticks from `from` to `to` every tick interval, returning all outputs merged. */
export function tickUntil(e: Engine, from: number, to: number, step = TICK, feed?: (now: number) => Heartbeat[]): Output {
  const merged: Output = { send: [], effects: [], lease: { notice: null, standbyReady: false, quorumUntil: null }, wakeAt: Infinity };
  for (let now = from; now <= to; now += step) {
    for (const m of feed?.(now) ?? []) {
      const o = e.receive(m, now);
      merged.send.push(...o.send);
      merged.effects.push(...o.effects);
    }
    const o = e.tick(now);
    merged.send.push(...o.send);
    merged.effects.push(...o.effects);
    merged.lease = o.lease; // the last output's
    merged.wakeAt = o.wakeAt;
  }
  return merged;
}
