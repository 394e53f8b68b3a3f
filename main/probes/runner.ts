/**
 * Runs the domain's probes, each on its own interval with its timeout, and reports the
 * combined health whenever a reading changes it. Logs every change of a probe's verdict.
 */
import type { ProbeConfig } from '../domain/schema';
import type { Logger } from '../util/logger';
import { createProbe, withTimeout, type Probe, type ProbeContext } from './probes';
import { healthScore, type Health, type ProbeReading, type ProbeStatus } from './score';

export type { ProbeStatus };
export { loadProbeLibraries } from './probes';

export interface HealthReport extends Health {
  /** The failing check that may mean this server is cut off, null when none. */
  isolated: string | null;
}

export class ProbeRunner {
  private readonly probes: { cfg: ProbeConfig; probe: Probe }[];
  private readonly readings = new Map<string, ProbeReading & { at: string; isolating: boolean }>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private maintenance = false;

  constructor(configs: ProbeConfig[], ctx: ProbeContext, private readonly log: Logger, private readonly onHealth: (h: HealthReport) => void) {
    this.probes = configs.map((cfg) => ({ cfg, probe: createProbe(cfg, ctx) }));
  }

  start(): void {
    for (const p of this.probes) void this.loop(p);
    this.emit();
  }

  /** In Maintenance the score is 0 whatever the probes say. */
  setMaintenance(on: boolean): void {
    if (on === this.maintenance) return;
    this.maintenance = on;
    this.emit();
  }

  health(): HealthReport {
    const h = healthScore(this.probes.map((p) => p.cfg), this.readings, this.maintenance);
    const iso = [...this.readings.values()].find((r) => !r.ok && r.isolating);
    return { ...h, isolated: iso ? `${iso.name}: ${iso.detail}` : null };
  }

  status(): ProbeStatus[] {
    return this.probes.map(({ cfg }) => {
      const r = this.readings.get(cfg.name);
      return { name: cfg.name, kind: cfg.kind, weight: cfg.weight, ok: r?.ok ?? false, detail: r?.detail ?? 'no reading yet', at: r?.at ?? null, isolating: r?.isolating ?? false };
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(this.probes.map((p) => p.probe.close().catch(() => undefined)));
  }

  private async loop(p: { cfg: ProbeConfig; probe: Probe }): Promise<void> {
    while (!this.stopped) {
      let r;
      try {
        // The adapters keep their own deadlines; this one catches an adapter that does not.
        r = await withTimeout(p.probe.check(), p.cfg.timeoutMs + 1_000, p.cfg.name);
      } catch (e) {
        r = { ok: false, detail: (e as Error).message };
      }
      if (this.stopped) return;
      const before = this.readings.get(p.cfg.name);
      this.readings.set(p.cfg.name, { name: p.cfg.name, ok: r.ok, detail: r.detail, at: new Date().toISOString(), isolating: r.isolating === true });
      if (!before || before.ok !== r.ok) {
        if (r.ok) this.log.info('probe', `${p.cfg.name} (${p.cfg.kind}) healthy: ${r.detail}`);
        else this.log.warn('probe', `${p.cfg.name} (${p.cfg.kind}) failing: ${r.detail}`);
      }
      this.emit();
      await new Promise<void>((resolveWait) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          resolveWait();
        }, p.cfg.intervalMs);
        this.timers.add(t);
      });
    }
  }

  private last = '';

  private emit(): void {
    const h = this.health();
    const key = JSON.stringify(h);
    if (key === this.last) return;
    this.last = key;
    this.onHealth(h);
  }
}
