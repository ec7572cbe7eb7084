// bench/fast-paths.ts: the uncontended fast paths, ours against glibc's, in
// rounds (issue 17). Each round times --pairs acquire+release pairs:
//   mutex   RobustMutex acquire()+release() / robust pthread_mutex lock+unlock
//   rwlock  RobustRwLock acquireRead()+releaseRead() / pthread_rwlock rdlock+unlock
// Ours runs in a plain `node` child on the compiled dist/ (as production code
// runs); glibc's in bench/baseline/fast-paths.c, built in the same run. Every
// round reports wall time and CPU time per pair: on a loaded machine the CPU
// time moves far less. The runs alternate ours / C --runs times, so both see
// the same minutes.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildCBaseline } from './lib/baselines.js';
import { benchCli, listOption } from './lib/bench-cli.js';
import { writeBenchCharts } from './lib/chart-files.js';
import { formatTable, ratio, summarize, type Summary } from './lib/stats.js';
import { barChartSvg } from './lib/svg-chart.js';

const USAGE = `Usage: npx tsx bench/fast-paths.ts [options]

Times the uncontended fast paths in rounds, robust-shm (dist/, plain node)
against glibc built in the same run:
  mutex   RobustMutex acquire+release vs robust pthread_mutex lock+unlock
  rwlock  RobustRwLock acquireRead+releaseRead vs pthread_rwlock rdlock+unlock

Options:
  --only <list>   mutex,rwlock (default both)
  --rounds <n>    timed rounds per run (default 30)
  --pairs <n>     acquire+release pairs per round (default 1000000)
  --runs <n>      alternating ours/C runs (default 2); rounds of all runs pooled
  --json          one JSON line with every figure
  --svg <file>    where to write the chart (default bench/results/fast-paths.svg);
                  <base>.json beside it holds the figures and every round
  -h, --help      this help

Targets (issue 17): mutex <= 1.5x glibc, rwlock read <= 2x glibc.`;

const cli = benchCli('bench/fast-paths', USAGE, {
  only: { type: 'string' },
  rounds: { type: 'string' },
  pairs: { type: 'string' },
  runs: { type: 'string' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
} as const);
const args = cli.values;
const fail: (message: string) => never = cli.fail;
const ROUNDS = cli.int('rounds', 30, 1);
const PAIRS = cli.int('pairs', 1_000_000, 1);
const RUNS = cli.int('runs', 2, 1);
const WHATS = listOption('only', args.only, ['mutex', 'rwlock'] as const, fail);
type What = (typeof WHATS)[number];
const progress = (m: string): void => { if (!args.json) process.stderr.write(`bench/fast-paths: ${m}\n`); };

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));
if (!existsSync(DIST)) fail('dist/index.js is missing: run npm run build first');

// The child: one lock in a SharedArrayBuffer, a warm-up round, then the timed rounds.
const CHILD = `
const { RobustMutex, RobustRwLock } = await import(${JSON.stringify(DIST)});
const [what, rounds, pairs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const buffer = new SharedArrayBuffer(65536);
let pair;
if (what === 'mutex') {
  const m = RobustMutex.initialize(buffer, 0);
  pair = (n) => { for (let i = 0; i < n; i++) { m.acquire(); m.release(); } };
} else {
  const rw = RobustRwLock.initialize(buffer, 0);
  pair = (n) => { for (let i = 0; i < n; i++) { rw.acquireRead(); rw.releaseRead(); } };
}
const wallNs = [], cpuNs = [];
pair(pairs);
for (let r = 0; r < rounds; r++) {
  const c0 = process.cpuUsage(), w0 = performance.now();
  pair(pairs);
  const w1 = performance.now(), c = process.cpuUsage(c0);
  wallNs.push((w1 - w0) * 1e6 / pairs);
  cpuNs.push((c.user + c.system) * 1e3 / pairs);
}
process.stdout.write(JSON.stringify({ what, wallNs, cpuNs }) + '\\n');
process.exit(0);
`;

interface Rounds { wallNs: number[]; cpuNs: number[] }

function runJson(file: string, argv: string[]): Promise<Rounds> {
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: 300_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${file} failed: ${err.message}\n${stderr}`));
      try { resolve(JSON.parse(stdout.trim().split('\n').pop()!) as Rounds); } catch (e) { reject(new Error(`bad output from ${file}: ${stdout}`)); }
    });
  });
}

const built = await buildCBaseline('fast-paths.c', 'fast-paths');
if (!built.available) fail(`the C baseline did not build: ${built.reason}`);
const results: Record<string, { ours: Rounds; glibc: Rounds }> = {};
try {
  for (const what of WHATS) {
    const ours: Rounds = { wallNs: [], cpuNs: [] };
    const glibc: Rounds = { wallNs: [], cpuNs: [] };
    for (let run = 1; run <= RUNS; run++) {
      progress(`${what}: run ${run}/${RUNS}, ours, ${ROUNDS} rounds x ${PAIRS} pairs`);
      const o = await runJson(process.execPath, ['--input-type=module', '-e', CHILD, what, String(ROUNDS), String(PAIRS)]);
      progress(`${what}: run ${run}/${RUNS}, glibc`);
      const g = await runJson(built.result.binary, ['--what', what, '--rounds', String(ROUNDS), '--pairs', String(PAIRS)]);
      ours.wallNs.push(...o.wallNs); ours.cpuNs.push(...o.cpuNs);
      glibc.wallNs.push(...g.wallNs); glibc.cpuNs.push(...g.cpuNs);
    }
    results[what] = { ours, glibc };
  }
} finally {
  await built.result.remove();
}

const TARGET: Record<What, number> = { mutex: 1.5, rwlock: 2 };
const figures = Object.fromEntries(Object.entries(results).map(([what, { ours, glibc }]) => {
  const s = (x: number[]): Summary => summarize(x);
  const f = { ours: { wall: s(ours.wallNs), cpu: s(ours.cpuNs) }, glibc: { wall: s(glibc.wallNs), cpu: s(glibc.cpuNs) } };
  return [what, {
    ...f,
    ratioWallMedian: ratio(f.ours.wall.median, f.glibc.wall.median),
    ratioCpuMedian: ratio(f.ours.cpu.median, f.glibc.cpu.median),
    target: TARGET[what as What],
  }];
}));
writeBenchCharts(
  'fast-paths',
  args.svg,
  { bench: 'fast-paths', node: process.version, rounds: ROUNDS * RUNS, pairs: PAIRS, figures, roundsNs: results },
  barChartSvg({
    title: 'Uncontended fast paths: robust-shm (dist/, plain node) vs glibc',
    subtitle: `${process.version}, ${new Date().toISOString().slice(0, 16)} UTC, load ${loadavg().map((l) => l.toFixed(1)).join(' / ')}; median of ${ROUNDS * RUNS} rounds x ${PAIRS} pairs`,
    groups: Object.entries(figures).flatMap(([what, f]) => [
      { label: `${what}: wall time per acquire+release`, unit: 'ns', better: 'lower' as const, bars: [{ name: 'robust-shm', value: f.ours.wall.median }, { name: 'glibc', value: f.glibc.wall.median }] },
      { label: `${what}: CPU time per acquire+release`, unit: 'ns', better: 'lower' as const, bars: [{ name: 'robust-shm', value: f.ours.cpu.median }, { name: 'glibc', value: f.glibc.cpu.median }] },
    ]),
    notes: ['mutex: robust pthread_mutex lock+unlock; rwlock: pthread_rwlock rdlock+unlock; targets 1.5x (mutex), 2x (rwlock read).'],
  }),
);
if (args.json) {
  process.stdout.write(`${JSON.stringify({ bench: 'fast-paths', node: process.version, rounds: ROUNDS * RUNS, pairs: PAIRS, figures })}\n`);
} else {
  const rows = Object.entries(figures).flatMap(([what, f]) => [
    [`${what} wall ns/pair`, f.ours.wall.median.toFixed(1), f.ours.wall.p90.toFixed(1), f.glibc.wall.median.toFixed(1), f.glibc.wall.p90.toFixed(1), f.ratioWallMedian, `<= ${f.target}`],
    [`${what} CPU ns/pair`, f.ours.cpu.median.toFixed(1), f.ours.cpu.p90.toFixed(1), f.glibc.cpu.median.toFixed(1), f.glibc.cpu.p90.toFixed(1), f.ratioCpuMedian, `<= ${f.target}`],
  ]);
  process.stdout.write(`${formatTable(['figure', 'ours median', 'ours p90', 'glibc median', 'glibc p90', 'ratio (medians)', 'target'], rows)}\n`);
}
