// Plain SVG charts for the benches (no plotting service, no dependency): the
// distribution of a latency as cumulative curves, one per series, on a
// logarithmic time axis (the tails of these figures span three decades); and
// figures side by side as horizontal bars (ours against C or a peer).
import { percentile } from './stats.js';

/** One curve: its name in the legend and its samples (ms). */
export interface CdfSeries {
  name: string;
  samples: readonly number[];
}

export interface CdfChartOptions {
  title: string;
  subtitle?: string;
  series: readonly CdfSeries[];
  /** Axis label, e.g. "kill() -> waiter's return (ms)". */
  xLabel: string;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Cumulative distribution curves with p50 and p90 guide lines; returns the SVG text. */
export function cdfChartSvg(options: CdfChartOptions): string {
  const width = 940;
  const legendRows = options.series.length;
  const plot = { left: 60, top: 60, width: 480, height: 300 };
  const height = Math.max(plot.top + plot.height + 60, plot.top + legendRows * 18 + 20);
  const all = options.series.flatMap((s) => s.samples).filter((v) => v > 0 && Number.isFinite(v));
  if (all.length === 0) throw new RangeError('cdfChartSvg: no positive samples');
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all))));
  const x = (v: number) => plot.left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plot.width;
  const y = (p: number) => plot.top + (1 - p) * plot.height;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${plot.left}" y="22" font-size="15" font-weight="bold">${escape(options.title)}</text>`);
  if (options.subtitle) out.push(`<text x="${plot.left}" y="40" fill="#555">${escape(options.subtitle)}</text>`);
  // Decades on the x axis, quartiles on the y axis.
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    const px = x(d).toFixed(1);
    out.push(`<line x1="${px}" y1="${plot.top}" x2="${px}" y2="${plot.top + plot.height}" stroke="#ddd"/>`);
    out.push(`<text x="${px}" y="${plot.top + plot.height + 16}" text-anchor="middle">${d >= 1 ? d.toFixed(0) : d.toPrecision(1)}</text>`);
  }
  for (const p of [0, 0.25, 0.5, 0.75, 0.9, 1]) {
    const py = y(p).toFixed(1);
    const guide = p === 0.5 || p === 0.9;
    out.push(`<line x1="${plot.left}" y1="${py}" x2="${plot.left + plot.width}" y2="${py}" stroke="${guide ? '#aaa' : '#eee'}"${guide ? ' stroke-dasharray="4 3"' : ''}/>`);
    out.push(`<text x="${plot.left - 6}" y="${(y(p) + 4).toFixed(1)}" text-anchor="end">${p === 0.5 ? 'p50' : p === 0.9 ? 'p90' : p.toFixed(2)}</text>`);
  }
  out.push(`<rect x="${plot.left}" y="${plot.top}" width="${plot.width}" height="${plot.height}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${plot.left + plot.width / 2}" y="${plot.top + plot.height + 36}" text-anchor="middle">${escape(options.xLabel)} (log scale)</text>`);
  options.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const sorted = [...s.samples].sort((a, b) => a - b);
    const points: string[] = [];
    sorted.forEach((v, k) => {
      // A step: up at each sample.
      points.push(`${x(v).toFixed(1)},${y(k / sorted.length).toFixed(1)}`, `${x(v).toFixed(1)},${y((k + 1) / sorted.length).toFixed(1)}`);
    });
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${points.join(' ')}"/>`);
    const ly = plot.top + 6 + i * 18;
    const median = sorted.length ? percentile(sorted, 0.5) : 0;
    const p90 = sorted.length ? percentile(sorted, 0.9) : 0;
    out.push(`<line x1="${plot.left + plot.width + 16}" y1="${ly}" x2="${plot.left + plot.width + 36}" y2="${ly}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${plot.left + plot.width + 42}" y="${ly + 4}">${escape(s.name)} (${fmt(median)} / ${fmt(p90)})</text>`);
  });
  out.push(`<text x="${plot.left + plot.width + 16}" y="${plot.top + legendRows * 18 + 14}" fill="#555">(median / p90, ms)</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One bar: a contender's figure; `value` null when that contender has none in the run. */
export interface Bar {
  name: string;
  value: number | null;
  /** Shown instead of the number, e.g. "never" or "n/a" for a null value. */
  text?: string;
  /** A marker on the bar's row, e.g. the C figure of the same run: a black tick with its own label. */
  reference?: { name: string; value: number } | null;
}

/** A figure: its bars share one linear scale (each group has its own: their units differ). */
export interface BarGroup {
  label: string;
  unit: string;
  /** Which way is better, said in the group's heading. */
  better?: 'lower' | 'higher';
  /** Write "(×ours/reference)" beside a reference (default true; false for counts such as hand-offs). */
  showRatio?: boolean;
  bars: readonly Bar[];
}

export interface BarChartOptions {
  title: string;
  subtitle?: string;
  groups: readonly BarGroup[];
  /** Lines under the chart (load, commit, what a marker means). */
  notes?: readonly string[];
}

/**
 * Horizontal bars with their value written at their end, one block per group;
 * a bar's name always gets the same colour in every group, so "robust-shm"
 * against "glibc" (or one Node against another) reads across the chart.
 */
export function barChartSvg(options: BarChartOptions): string {
  if (options.groups.length === 0) throw new RangeError('barChartSvg: no groups');
  const width = 940;
  const nameWidth = 210;
  const plot = { left: 20 + nameWidth, width: 440 };
  const barHeight = 16;
  const barGap = 4;
  const names: string[] = [];
  for (const g of options.groups) for (const b of g.bars) if (!names.includes(b.name)) names.push(b.name);
  const color = (name: string) => COLORS[names.indexOf(name) % COLORS.length]!;
  const out: string[] = [];
  let y = options.subtitle ? 62 : 46;
  const body: string[] = [];
  for (const group of options.groups) {
    const values = group.bars.flatMap((b) => [b.value, b.reference?.value ?? null]).filter((v): v is number => v !== null && Number.isFinite(v) && v >= 0);
    const max = values.length ? Math.max(...values) : 0;
    const scale = (v: number) => (max > 0 ? (v / max) * plot.width : 0);
    const better = group.better ? `, ${group.better} is better` : '';
    body.push(`<text x="20" y="${y + 12}" font-weight="bold">${escape(group.label)} <tspan font-weight="normal" fill="#555">(${escape(group.unit)}${better})</tspan></text>`);
    y += 20;
    for (const bar of group.bars) {
      const cy = y + barHeight / 2 + 4;
      body.push(`<text x="${plot.left - 8}" y="${cy}" text-anchor="end">${escape(bar.name)}</text>`);
      const ok = bar.value !== null && Number.isFinite(bar.value);
      const w = ok ? Math.max(scale(bar.value!), 1) : 0;
      if (ok) body.push(`<rect x="${plot.left}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${color(bar.name)}"/>`);
      let label = bar.text ?? (ok ? `${formatValue(bar.value!)} ${group.unit}` : 'n/a');
      if (bar.reference && Number.isFinite(bar.reference.value)) {
        const rx = plot.left + scale(bar.reference.value);
        body.push(`<line x1="${rx.toFixed(1)}" y1="${y - 2}" x2="${rx.toFixed(1)}" y2="${y + barHeight + 2}" stroke="black" stroke-width="2.5"/>`);
        label += `; ${bar.reference.name} ${formatValue(bar.reference.value)}`;
        if (ok && bar.reference.value > 0 && group.showRatio !== false) label += ` (×${formatValue(bar.value! / bar.reference.value)})`;
      }
      const lx = plot.left + Math.max(w, bar.reference ? scale(bar.reference.value) : 0) + 6;
      body.push(`<text x="${lx.toFixed(1)}" y="${cy}">${escape(label)}</text>`);
      y += barHeight + barGap;
    }
    y += 12;
  }
  // The legend flows left to right, wrapping; a 12px sans-serif character is about 7px wide.
  const legend: string[] = [];
  let lx = 20;
  let ly = y + 4;
  for (const n of names) {
    const entry = 16 + n.length * 7 + 24;
    if (lx > 20 && lx + entry > width - 20) {
      lx = 20;
      ly += 18;
    }
    legend.push(`<rect x="${lx}" y="${ly}" width="12" height="12" fill="${color(n)}"/><text x="${lx + 16}" y="${ly + 10}">${escape(n)}</text>`);
    lx += entry;
  }
  y = ly + 24;
  const notes = (options.notes ?? []).map((n, i) => `<text x="20" y="${y + 12 + i * 16}" fill="#555">${escape(n)}</text>`);
  const height = y + (options.notes?.length ?? 0) * 16 + 12;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="20" y="22" font-size="15" font-weight="bold">${escape(options.title)}</text>`);
  if (options.subtitle) out.push(`<text x="20" y="40" fill="#555">${escape(options.subtitle)}</text>`);
  out.push(...body, ...legend, ...notes, '</svg>');
  return out.join('\n') + '\n';
}

/** Integers as they are, others to about three significant digits; thousands grouped: 0.0845, 12.3, 1,234, 26,700,000. */
function formatValue(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US');
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  if (abs >= 1) return v.toFixed(2);
  if (abs === 0) return '0';
  return v.toPrecision(3);
}

function fmt(v: number): string {
  return v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
}
