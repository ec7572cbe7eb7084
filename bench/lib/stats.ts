// Small statistics and formatting helpers for bench/ (not used by the library).

/** Summary of a sample set. Percentiles use linear interpolation between closest ranks. */
export interface Summary {
  count: number;
  min: number;
  p10: number;
  median: number;
  p90: number;
  max: number;
  mean: number;
}

function requireSamples(samples: readonly number[]): number[] {
  if (samples.length === 0) throw new RangeError('statistics of an empty sample set');
  for (const s of samples) {
    if (!Number.isFinite(s)) throw new RangeError(`non-finite sample ${s}`);
  }
  return [...samples].sort((a, b) => a - b);
}

function percentileOfSorted(sorted: readonly number[], p: number): number {
  const rank = p * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

/** p in [0, 1]: 0.5 is the median, 0.9 the 90th percentile. */
export function percentile(samples: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`percentile must be within [0, 1], got ${p}`);
  return percentileOfSorted(requireSamples(samples), p);
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 0.5);
}

export function mean(samples: readonly number[]): number {
  const sorted = requireSamples(samples);
  return sorted.reduce((acc, s) => acc + s, 0) / sorted.length;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = requireSamples(samples);
  return {
    count: sorted.length,
    min: sorted[0]!,
    p10: percentileOfSorted(sorted, 0.1),
    median: percentileOfSorted(sorted, 0.5),
    p90: percentileOfSorted(sorted, 0.9),
    max: sorted[sorted.length - 1]!,
    mean: sorted.reduce((acc, s) => acc + s, 0) / sorted.length,
  };
}

/** Nanoseconds elapsed since `start` (a process.hrtime.bigint() reading), as a number. */
export function elapsedNs(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

/** A number with about three significant digits: 12.3, 0.0845, 1234. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  if (abs === 0) return '0';
  return value.toPrecision(3);
}

/** Ratio a/b rounded for a summary field; null when either side is missing. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a == null || b == null || b === 0) return null;
  return Math.round((a / b) * 1000) / 1000;
}

export type Cell = string | number | null | undefined;

/**
 * A plain-text table: first row is the header, numbers are right-aligned and
 * formatted with formatNumber, strings left-aligned.
 */
export function formatTable(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((row) => header.map((_, i) => {
    const cell = row[i];
    return typeof cell === 'number' || cell === null || cell === undefined ? formatNumber(cell) : cell;
  }));
  const numeric = header.map((_, i) => rows.every((row) => typeof row[i] !== 'string'));
  const widths = header.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...text.map(line)].join('\n');
}
