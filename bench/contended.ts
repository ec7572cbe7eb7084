// bench/contended.ts: two contenders on one mutex, in rounds, ours against
// glibc's robust process-shared pthread_mutex built in the same run (issue 17,
// item 4). bench/mutex.ts times one cold run of each; here both contenders
// are started once, warmed by an untimed round, and every round reports its
// ns per operation beside its hand-offs and its overlap (the share of the
// round during which both were running their loops), so that a lock that is
// fast because one side waited out the whole round is seen for what it is.
//
// Ours: bench/lib/contended-contender.mjs in plain `node` on the compiled
// dist/ (child processes, or worker threads of one node process). glibc:
// bench/baseline/contended.c, the same loop.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { native } from '../src/native/index.js';
import { openRegion } from '../src/shm/region.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { buildCBaseline } from './lib/baselines.js';
import { formatTable, ratio, summarize, type Summary } from './lib/stats.js';
import { cdfChartSvg } from './lib/svg-chart.js';
import { writeBenchCharts } from './lib/chart-files.js';
import { benchCli, listOption } from './lib/bench-cli.js';
import { CONTENDED_OPTIONS } from './lib/bench-options.js';
import { removeAtExit } from './lib/cleanup.js';

const USAGE = `Usage: npx tsx bench/contended.ts [options]

Two contenders lock / increment / unlock one mutex --ops times per round,
robust-shm (plain node on dist/) against glibc's robust process-shared
pthread_mutex (bench/baseline/contended.c, built in this run). Both are warmed
by an untimed round. Per round: ns per operation, hand-offs (how often the
lock passed between the two) and overlap (share of the round both were
running: 1 = contended throughout, 0 = one ran all its ops before the other
started, so the round measured no contention at all).

Options:
  --only <list>   process,thread (default both)
  --rounds <n>    timed rounds (default 30)
  --ops <n>       lock/unlock per contender per round (default 100000)
  --spin <n>      our mutex's spin count before it sleeps (MutexOptions.spin;
                  default: the library's, 100)
  --json          one JSON line with every figure (progress still on stderr)
  --svg <file>    the chart: ns per op over the rounds, ours vs glibc, as CDFs
                  (default bench/results/contended.svg; its .json beside it)
  -h, --help      this help

Target (issue 17): contended <= 2x glibc per op, with hand-offs beside it.`;

const cli = benchCli('bench/contended', USAGE, CONTENDED_OPTIONS);
const args = cli.values;
const fail: (message: string) => never = cli.fail;
const ROUNDS = cli.int('rounds', 30, 1);
const OPS = cli.int('ops', 100_000, 1);
const SPIN = args.spin === undefined ? undefined : cli.int('spin', 100, 0, 1_000_000);
const MODES = listOption('only', args.only, ['process', 'thread'] as const, fail);
cli.optionsChecked();
type Mode = (typeof MODES)[number];
const progress = (m: string): void => void process.stderr.write(`[contended] ${m}\n`);

const CONTENDER = fileURLToPath(new URL('./lib/contended-contender.mjs', import.meta.url));
if (!existsSync(fileURLToPath(new URL('../dist/index.js', import.meta.url)))) fail('dist/index.js is missing: run npm run build first');

interface Round { nsPerOp: number; handoffs: number; overlap: number; exact: boolean }

/** Ours: contenders in child processes or worker threads, rounds started from here. */
async function ours(mode: Mode): Promise<Round[]> {
  const path = join('/dev/shm', `robust-shm-bench-contended-${process.pid}-${mode}`);
  removeAtExit(path);
  const region = await openRegion(path, { size: 64 * 1024, create: true });
  const children: ChildProcess[] = [];
  const workers: Worker[] = [];
  try {
    RobustMutex.open(region, 'contended');
    const wordsOffset = region.findOrCreate('words', 32).offset;
    const timesOffset = region.findOrCreate('times', 32).offset;
    const words = new Int32Array(region.buffer, wordsOffset, 8);
    const times = new Float64Array(region.buffer, timesOffset, 4);
    Atomics.store(words, 0, -1);
    Atomics.store(words, 3, -1);
    const exits: Promise<void>[] = [];
    for (let me = 0; me < 2; me++) {
      const data = { path, me, rounds: ROUNDS, ops: OPS, wordsOffset, timesOffset, ...(SPIN === undefined ? {} : { spin: SPIN }) };
      if (mode === 'process') {
        const child = spawn(process.execPath, [CONTENDER, JSON.stringify(data)], { stdio: ['ignore', 'inherit', 'inherit'] });
        children.push(child);
        exits.push(new Promise((resolve, reject) => child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`contender ${me} exited with ${code ?? signal}`))))));
      } else {
        const worker = new Worker(CONTENDER, { workerData: data });
        workers.push(worker);
        exits.push(new Promise((resolve, reject) => {
          worker.once('error', reject);
          worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`contender ${me} exited with ${code}`))));
        }));
      }
    }
    const failed = Promise.race(exits.map((e) => e.then(() => new Promise<never>(() => {}))));
    const addon = native();
    const rounds: Round[] = [];
    for (let r = 0; r <= ROUNDS; r++) {
      words[2] = 0;
      const t0 = Number(process.hrtime.bigint());
      Atomics.store(words, 0, r);
      addon.futexWake(region.buffer, wordsOffset, 0x7fffffff);
      // The contenders announce each finish on words[1]; a dead one fails the run instead of hanging it.
      await Promise.race([failed, (async () => {
        let d;
        while ((d = Atomics.load(words, 1)) < 2 * (r + 1)) {
          addon.futexWait(region.buffer, wordsOffset + 4, d, 50);
          await new Promise((resolve) => setImmediate(resolve));
        }
      })()]);
      if (r === 0) continue;
      const [s0, s1, f0, f1] = [times[0]! - t0, times[1]! - t0, times[2]! - t0, times[3]! - t0];
      const last = Math.max(f0, f1);
      const first = Math.min(s0, s1);
      const both = Math.min(f0, f1) - Math.max(s0, s1);
      rounds.push({ nsPerOp: last / (2 * OPS), handoffs: words[4]! + words[5]!, overlap: both > 0 ? both / (last - first) : 0, exact: words[2] === 2 * OPS });
      progress(`ours, ${mode}: round ${r}/${ROUNDS}`);
    }
    await Promise.all(exits);
    return rounds;
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.terminate()));
    region.close();
    rmSync(path, { force: true });
  }
}

function glibc(binary: string, mode: Mode): Promise<Round[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['--mode', mode, '--rounds', String(ROUNDS), '--ops', String(OPS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    const net = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.once('exit', (code, signal) => {
      clearTimeout(net);
      if (code !== 0) return reject(new Error(`the C baseline exited with ${code ?? signal}`));
      try {
        resolve((JSON.parse(out) as { rounds: Round[] }).rounds);
      } catch {
        reject(new Error(`bad output from the C baseline: ${out.slice(0, 200)}`));
      }
    });
  });
}

/**
 * A round "really contended" when both contenders ran their loops together for
 * at least this share of it. On a loaded 2-core machine (or with glibc letting
 * its releaser retake the lock) a round may run one contender and then the
 * other: its ns/op is then an uncontended figure, and a median over such
 * rounds compares unlike things.
 */
const OVERLAPPING = 0.8;
interface Side { nsPerOp: Summary; nsPerOpOverlapping: Summary | null; overlappingRounds: number; handoffs: Summary; overlap: Summary; exact: boolean; rounds: Round[] }
const side = (rounds: Round[]): Side => {
  const overlapping = rounds.filter((r) => r.overlap >= OVERLAPPING).map((r) => r.nsPerOp);
  return {
    nsPerOp: summarize(rounds.map((r) => r.nsPerOp)),
    nsPerOpOverlapping: overlapping.length ? summarize(overlapping) : null,
    overlappingRounds: overlapping.length,
    handoffs: summarize(rounds.map((r) => r.handoffs)),
    overlap: summarize(rounds.map((r) => r.overlap)),
    exact: rounds.every((r) => r.exact),
    rounds,
  };
};

const built = await buildCBaseline('contended.c', 'contended');
if (!built.available) fail(`the C baseline did not build: ${built.reason}`);
const results: Partial<Record<Mode, { ours: Side; glibc: Side; ratioMedian: number | null; ratioP90: number | null }>> = {};
try {
  for (const mode of MODES) {
    progress(`ours, 2 ${mode === 'process' ? 'processes' : 'threads'}: ${ROUNDS} rounds x 2 x ${OPS} ops (+1 warm-up round)`);
    const o = side(await ours(mode));
    progress(`glibc, 2 ${mode === 'process' ? 'processes' : 'threads'}`);
    const g = side(await glibc(built.result.binary, mode));
    if (!o.exact || !g.exact) throw new Error(`a round lost increments (${mode}): the mutex let two contenders in`);
    results[mode] = { ours: o, glibc: g, ratioMedian: ratio(o.nsPerOp.median, g.nsPerOp.median), ratioP90: ratio(o.nsPerOp.p90, g.nsPerOp.p90) };
  }
} finally {
  await built.result.remove();
}

const fix = (v: number, d = 1) => v.toFixed(d);
const summaryLine = {
  bench: 'contended',
  node: process.version,
  rounds: ROUNDS,
  opsPerContender: OPS,
  spin: SPIN ?? 'default',
  load: loadavg()[0]!,
  ...Object.fromEntries(Object.entries(results).map(([mode, r]) => [mode, {
    oursNsPerOpMedian: r.ours.nsPerOp.median, oursNsPerOpP90: r.ours.nsPerOp.p90,
    glibcNsPerOpMedian: r.glibc.nsPerOp.median, glibcNsPerOpP90: r.glibc.nsPerOp.p90,
    ratioMedian: r.ratioMedian, ratioP90: r.ratioP90,
    // Like for like: only the rounds in which both contenders ran together (overlap >= OVERLAPPING).
    oursNsPerOpMedianOverlapping: r.ours.nsPerOpOverlapping?.median ?? null,
    glibcNsPerOpMedianOverlapping: r.glibc.nsPerOpOverlapping?.median ?? null,
    ratioMedianOverlapping: ratio(r.ours.nsPerOpOverlapping?.median, r.glibc.nsPerOpOverlapping?.median),
    oursOverlappingRounds: r.ours.overlappingRounds, glibcOverlappingRounds: r.glibc.overlappingRounds,
    oursHandoffsMedian: r.ours.handoffs.median, glibcHandoffsMedian: r.glibc.handoffs.median,
    oursOverlapMedian: r.ours.overlap.median, glibcOverlapMedian: r.glibc.overlap.median,
    target: 2,
  }])),
};
const roundsByMode = Object.fromEntries(Object.entries(results).map(([m, r]) => [m, { ours: r.ours.rounds, glibc: r.glibc.rounds }]));
writeBenchCharts('contended', args.svg, { ...summaryLine, roundsByMode }, cdfChartSvg({
  title: 'Two contenders on one mutex: ns per operation, per round',
  subtitle: `${ROUNDS} rounds x 2 x ${OPS} ops, ${process.version}, load ${summaryLine.load.toFixed(1)}; hand-offs and overlap medians in the legend`,
  xLabel: 'ns per lock/unlock (wall time of the round / ops)',
  series: Object.entries(results).flatMap(([mode, r]) => [
    { name: `robust-shm, 2 ${mode === 'process' ? 'processes' : 'threads'} (hand-offs ${fix(r.ours.handoffs.median, 0)}, overlap ${fix(r.ours.overlap.median, 2)})`, samples: r.ours.rounds.map((x) => x.nsPerOp) },
    { name: `glibc, 2 ${mode === 'process' ? 'processes' : 'threads'} (hand-offs ${fix(r.glibc.handoffs.median, 0)}, overlap ${fix(r.glibc.overlap.median, 2)})`, samples: r.glibc.rounds.map((x) => x.nsPerOp) },
  ]),
}));

if (args.json) {
  process.stdout.write(JSON.stringify(summaryLine) + '\n');
} else {
  const rows = Object.entries(results).flatMap(([mode, r]) => [
    [`2 ${mode === 'process' ? 'processes' : 'threads'}: ns/op median / p90`, `${fix(r.ours.nsPerOp.median)} / ${fix(r.ours.nsPerOp.p90)}`, `${fix(r.glibc.nsPerOp.median)} / ${fix(r.glibc.nsPerOp.p90)}`, `${r.ratioMedian?.toFixed(2)} / ${r.ratioP90?.toFixed(2)}`],
    [`  rounds with overlap >= ${OVERLAPPING}: ns/op median (rounds)`, r.ours.nsPerOpOverlapping ? `${fix(r.ours.nsPerOpOverlapping.median)} (${r.ours.overlappingRounds})` : `none of ${ROUNDS}`, r.glibc.nsPerOpOverlapping ? `${fix(r.glibc.nsPerOpOverlapping.median)} (${r.glibc.overlappingRounds})` : `none of ${ROUNDS}`, ratio(r.ours.nsPerOpOverlapping?.median, r.glibc.nsPerOpOverlapping?.median)?.toFixed(2) ?? ''],
    [`  hand-offs per round, median (p10..p90)`, `${fix(r.ours.handoffs.median, 0)} (${fix(r.ours.handoffs.p10, 0)}..${fix(r.ours.handoffs.p90, 0)})`, `${fix(r.glibc.handoffs.median, 0)} (${fix(r.glibc.handoffs.p10, 0)}..${fix(r.glibc.handoffs.p90, 0)})`, ''],
    [`  overlap, median (p10..p90)`, `${fix(r.ours.overlap.median, 2)} (${fix(r.ours.overlap.p10, 2)}..${fix(r.ours.overlap.p90, 2)})`, `${fix(r.glibc.overlap.median, 2)} (${fix(r.glibc.overlap.p10, 2)}..${fix(r.glibc.overlap.p90, 2)})`, ''],
  ]);
  process.stdout.write(formatTable(['figure', 'robust-shm', 'glibc', 'ratio'], rows) + '\n');
}
