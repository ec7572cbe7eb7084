// The benches' plain-SVG charts (bench/lib/svg-chart.ts, bench/lib/chart-files.ts):
// what a chart of given figures contains, and where a bench's chart files go.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { barChartSvg, cdfChartSvg } from '../bench/lib/svg-chart.js';
import { writeBenchCharts } from '../bench/lib/chart-files.js';

const rects = (svg: string) => [...svg.matchAll(/<rect x="(\d+(?:\.\d+)?)" y="[^"]+" width="([\d.]+)" height="16" fill="([^"]+)"\/>/g)].map((m) => ({ x: Number(m[1]), width: Number(m[2]), fill: m[3]! }));
const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>(.*?)<\/text>/g)].map((m) => m[1]!.replace(/<[^>]+>/g, ''));

describe('barChartSvg', () => {
  const svg = barChartSvg({
    title: 'ours vs C',
    subtitle: 'one run',
    groups: [
      { label: 'uncontended', unit: 'ns', better: 'lower', bars: [{ name: 'robust-shm', value: 40 }, { name: 'glibc', value: 10 }] },
      { label: 'reads', unit: 'reads/s', better: 'higher', bars: [{ name: 'robust-shm', value: 26_700_000 }, { name: 'glibc', value: null, text: 'never' }] },
      { label: 'per Node', unit: 'ms', bars: [{ name: 'Node 20', value: 2, reference: { name: 'C', value: 0.5 } }] },
    ],
    notes: ['load 5 <on> 2 cores'],
  });

  it('draws one bar per figure with a value, lengths proportional within a group, one colour per contender', () => {
    const bars = rects(svg);
    expect(bars).toHaveLength(4); // the null value has no bar
    const [ours, c, reads, node] = bars;
    expect(ours!.width / c!.width).toBeCloseTo(4, 1);
    expect(reads!.width).toBeCloseTo(ours!.width, 1); // each group has its own scale: its largest bar is full length
    expect(ours!.fill).toBe(reads!.fill);
    expect(ours!.fill).not.toBe(c!.fill);
    expect(node!.fill).not.toBe(ours!.fill);
  });

  it('writes every value, unit, label, legend entry and note, and the text given for a missing value', () => {
    const t = texts(svg);
    for (const s of ['ours vs C', 'one run', 'uncontended (ns, lower is better)', 'reads (reads/s, higher is better)', '40 ns', '10 ns', '26,700,000 reads/s', 'never', 'robust-shm', 'glibc', 'Node 20', 'load 5 &lt;on&gt; 2 cores']) {
      expect(t).toContain(s);
    }
    expect(svg).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('marks a reference (the C figure of the same run) with a tick and writes it with the ratio', () => {
    expect(texts(svg)).toContain('2 ms; C 0.500 (×4)');
    const node = rects(svg)[3]!;
    const tick = /<line x1="([\d.]+)" y1="[^"]+" x2="[\d.]+" y2="[^"]+" stroke="black"/.exec(svg);
    expect(tick).not.toBeNull();
    expect(Number(tick![1]) - node.x).toBeCloseTo(node.width / 4, 0);
  });

  it('leaves the ratio out for a group that asks so (counts such as hand-offs)', () => {
    const counts = barChartSvg({ title: 'c', groups: [{ label: 'hand-offs', unit: 'hand-offs', showRatio: false, bars: [{ name: 'Node 20', value: 1875, reference: { name: 'glibc', value: 33846 } }] }] });
    expect(texts(counts)).toContain('1,875 hand-offs; glibc 33,846');
  });

  it('refuses a chart without groups', () => {
    expect(() => barChartSvg({ title: 'empty', groups: [] })).toThrow(RangeError);
  });
});

describe('cdfChartSvg', () => {
  it('draws one step curve per series with its median and p90 in the legend', () => {
    const svg = cdfChartSvg({ title: 't', xLabel: 'ms', series: [{ name: 'a', samples: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }, { name: 'b', samples: [0.1, 0.2] }] });
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(texts(svg)).toContain('a (5.50 / 9.10)');
    expect(svg).not.toMatch(/NaN/);
  });
});

describe('writeBenchCharts', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('writes the chart at --svg, the JSON beside it and further charts as <base>-<name>.svg', () => {
    dir = mkdtempSync(join(tmpdir(), 'robust-shm-chart-files-'));
    const files = writeBenchCharts('mutex', join(dir, 'run.svg'), { samples: [1, 2] }, '<svg>main</svg>', { death: '<svg>death</svg>' });
    expect(files).toEqual([join(dir, 'run.json'), join(dir, 'run.svg'), join(dir, 'run-death.svg')]);
    expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'))).toEqual({ samples: [1, 2] });
    expect(readFileSync(join(dir, 'run.svg'), 'utf8')).toBe('<svg>main</svg>');
    expect(readFileSync(join(dir, 'run-death.svg'), 'utf8')).toBe('<svg>death</svg>');
  });
});
