/**
 * The health score: probe readings combined into 0–255 with the meaning OPC UA gives
 * ServiceLevel (Part 4, 6.6.2.4.2): 0 maintenance, 1 no data, 2–199 degraded, 200–255
 * healthy. Pure.
 */
export const SERVICE_LEVEL = { maintenance: 0, noData: 1, degradedMin: 2, degradedMax: 199, healthyMin: 200, healthy: 255 } as const;

export interface ProbeWeight {
  name: string;
  /** Points taken off 255 while the probe fails (1–253). */
  weight: number;
}

export interface ProbeReading {
  name: string;
  ok: boolean;
  /** What was seen, for status and logs ("PLC1: BadCommunicationError"). */
  detail: string;
}

export interface Health {
  score: number;
  /** The failing probe that weighs most, with its detail; null when healthy. */
  failing: string | null;
}

/**
 * Probes that have not reported yet are left out; with probes declared and none reported,
 * the score is "no data". A failing probe always drops the score into the degraded range.
 */
export function healthScore(probes: ProbeWeight[], readings: ReadonlyMap<string, ProbeReading>, maintenance: boolean): Health {
  if (maintenance) return { score: SERVICE_LEVEL.maintenance, failing: 'maintenance' };
  if (probes.length === 0) return { score: SERVICE_LEVEL.healthy, failing: null };
  let seen = 0;
  let lost = 0;
  let worst: { p: ProbeWeight; r: ProbeReading } | null = null;
  for (const p of probes) {
    const r = readings.get(p.name);
    if (!r) continue;
    seen += 1;
    if (r.ok) continue;
    lost += p.weight;
    if (!worst || p.weight > worst.p.weight) worst = { p, r };
  }
  if (seen === 0) return { score: SERVICE_LEVEL.noData, failing: 'no probe has reported yet' };
  if (!worst) return { score: SERVICE_LEVEL.healthy, failing: null };
  const score = Math.max(SERVICE_LEVEL.degradedMin, Math.min(SERVICE_LEVEL.degradedMax, SERVICE_LEVEL.healthy - lost));
  return { score, failing: `${worst.p.name}: ${worst.r.detail}` };
}

export interface ProbeStatus extends ProbeReading {
  kind: 'system' | 'witness' | 'opcua' | 'mssql';
  weight: number;
  /** ISO time of the last reading, null before the first. */
  at: string | null;
  isolating: boolean;
}

/**
 * What this server tells OPC UA clients (Server.ServiceLevel): the Active its score, a
 * Standby at most `standbyLevel` (degraded, so clients prefer the Active), a server that is
 * neither 1 (no data), Maintenance 0.
 */
export function serviceLevel(role: string, score: number, standbyLevel: number): number {
  if (role === 'maintenance') return SERVICE_LEVEL.maintenance;
  if (role === 'active' || role === 'deactivating') return score;
  if (role === 'standby' || role === 'activating') return Math.min(score, standbyLevel);
  return SERVICE_LEVEL.noData;
}
