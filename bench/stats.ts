/** Median and nearest-rank percentiles for benchmark figures. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

export function summary(label: string, values: number[], unit: string, digits = 0): string {
  const f = (v: number) => v.toFixed(digits);
  return `${label.padEnd(34)} median ${f(percentile(values, 50))} ${unit}   p99 ${f(percentile(values, 99))} ${unit}   min ${f(Math.min(...values))}   max ${f(Math.max(...values))}   (n=${values.length})`;
}
