// The soak's chart, as a standalone SVG (hand-written: two series and their
// axes need no plotting library). Top: detection latency of each kill that
// orphaned the ledger mutex (kill issued -> next owner's 'abandoned'), log
// scale, one dot per kill, coloured by how the owner died. Bottom: kills per
// second over the run (5-second buckets).
import type { DetectionSample } from './soak-run.js';

const W = 900;
const H = 560;
const LEFT = 70;
const RIGHT = 20;
const TOP_PLOT = { y: 50, h: 280 };
const BOTTOM_PLOT = { y: 400, h: 120 };
const COLORS: Record<string, string> = {
  SIGKILL: '#d62728',
  'worker.terminate()': '#1f77b4',
  AbortSignal: '#2ca02c',
};

export interface ChartInput {
  title: string;
  seconds: number;
  samples: DetectionSample[];
  killTimes: number[];
  /** A line under the title: figures, machine load. */
  subtitle: string;
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function soakChartSvg(input: ChartInput): string {
  const span = Math.max(1, input.seconds);
  const x = (t: number) => LEFT + (t / span) * (W - LEFT - RIGHT);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${esc(input.title)}</text>`);
  out.push(`<text x="${LEFT}" y="38" fill="#444">${esc(input.subtitle)}</text>`);

  // Detection latency, log scale from 0.01 ms to the largest decade needed.
  const maxMs = Math.max(1, ...input.samples.map((s) => s.ms));
  const lo = -2;
  const hi = Math.max(1, Math.ceil(Math.log10(maxMs)));
  const y = (ms: number) => TOP_PLOT.y + TOP_PLOT.h - ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / (hi - lo)) * TOP_PLOT.h;
  for (let d = lo; d <= hi; d++) {
    const yy = y(10 ** d);
    out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    out.push(`<text x="${LEFT - 6}" y="${yy + 4}" text-anchor="end">${10 ** d >= 1 ? 10 ** d : (10 ** d).toFixed(-d)} ms</text>`);
  }
  out.push(`<text x="14" y="${TOP_PLOT.y + TOP_PLOT.h / 2}" transform="rotate(-90 14 ${TOP_PLOT.y + TOP_PLOT.h / 2})" text-anchor="middle">detection latency (kill -> abandoned)</text>`);
  for (const s of input.samples) {
    out.push(`<circle cx="${x(s.t).toFixed(1)}" cy="${y(s.ms).toFixed(1)}" r="1.8" fill="${COLORS[s.how] ?? '#777'}" fill-opacity="0.6"/>`);
  }
  let lx = W - RIGHT - 330;
  for (const [how, color] of Object.entries(COLORS)) {
    out.push(`<circle cx="${lx}" cy="${TOP_PLOT.y - 6}" r="4" fill="${color}"/><text x="${lx + 8}" y="${TOP_PLOT.y - 2}">${esc(how)}</text>`);
    lx += 110;
  }

  // Kill rate: 5-second buckets.
  const bucket = 5;
  const counts = new Array<number>(Math.max(1, Math.ceil(span / bucket))).fill(0);
  for (const t of input.killTimes) counts[Math.min(counts.length - 1, Math.floor(t / bucket))]!++;
  const rates = counts.map((c, i) => c / Math.min(bucket, span - i * bucket || bucket));
  const maxRate = Math.max(1, ...rates);
  const ry = (r: number) => BOTTOM_PLOT.y + BOTTOM_PLOT.h - (r / maxRate) * BOTTOM_PLOT.h;
  for (const r of [0, maxRate / 2, maxRate]) {
    out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${ry(r)}" y2="${ry(r)}" stroke="#ddd"/>`);
    out.push(`<text x="${LEFT - 6}" y="${ry(r) + 4}" text-anchor="end">${r.toFixed(1)}/s</text>`);
  }
  const points = rates.map((r, i) => `${x(Math.min(span, (i + 0.5) * bucket)).toFixed(1)},${ry(r).toFixed(1)}`).join(' ');
  out.push(`<polyline points="${points}" fill="none" stroke="#9467bd" stroke-width="1.5"/>`);
  out.push(`<text x="14" y="${BOTTOM_PLOT.y + BOTTOM_PLOT.h / 2}" transform="rotate(-90 14 ${BOTTOM_PLOT.y + BOTTOM_PLOT.h / 2})" text-anchor="middle">kills/s</text>`);

  // Time axis (shared).
  const step = niceStep(span);
  for (let t = 0; t <= span + 1e-9; t += step) {
    out.push(`<line x1="${x(t)}" x2="${x(t)}" y1="${BOTTOM_PLOT.y + BOTTOM_PLOT.h}" y2="${BOTTOM_PLOT.y + BOTTOM_PLOT.h + 4}" stroke="#000"/>`);
    out.push(`<text x="${x(t)}" y="${BOTTOM_PLOT.y + BOTTOM_PLOT.h + 16}" text-anchor="middle">${Math.round(t)} s</text>`);
  }
  out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${TOP_PLOT.y + TOP_PLOT.h}" y2="${TOP_PLOT.y + TOP_PLOT.h}" stroke="#000"/>`);
  out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${BOTTOM_PLOT.y + BOTTOM_PLOT.h}" y2="${BOTTOM_PLOT.y + BOTTOM_PLOT.h}" stroke="#000"/>`);
  out.push(`<text x="${(LEFT + W - RIGHT) / 2}" y="${H - 6}" text-anchor="middle">time since the soak started</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function niceStep(span: number): number {
  const raw = span / 10;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? raw;
}
