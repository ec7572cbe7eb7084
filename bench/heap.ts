// Benchmark of the shared heap against Boost.Interprocess and glibc malloc.
//
// Workload (bench/lib/heap-pattern.ts, identical for every contender and
// checked by checksum): 1,024 live blocks of 16..512 bytes, then free+allocate
// pairs that replace a random block. Contenders, all in the same run:
//   - SharedHeap, one thread, heap in a MAP_SHARED file under /dev/shm (the
//     heap lock, a RobustMutex, taken for every alloc and every free);
//   - SharedHeap, two processes on the same heap at once, each with its own
//     live set and stream (participant seeds 0 and 1);
//   - both again with the thread cache (SharedHeapOptions.threadCache, 16 by
//     default: DEFAULT_THREAD_CACHE; the lock-per-operation runs set 0): frees
//     kept per thread and handed out again without the lock, half of a full
//     class flushed under one lock hold;
//   - C++: Boost.Interprocess managed_shared_memory allocate/deallocate (one
//     process, two processes) and glibc malloc/free (bench/baseline/heap-baseline.cpp,
//     built with the machine's compiler; libboost-dev is installed if missing).
// Summary: ratioVsBoostInterprocessThreadCache = our ns/pair / Boost's ns/pair,
// one process, with the thread cache (--thread-cache, by default the library's
// default, so this is the default configuration; the target is <= 0.5,
// lower is better); ratioVsBoostInterprocess the same with a lock per
// operation (threadCache: 0).
//
// Usage: npx tsx bench/heap.ts [--pairs N] [--warmup N] [--slices K] [--skip-boost] [--json]
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg, tmpdir } from 'node:os';
import { barChartSvg } from './lib/svg-chart.js';
import { writeBenchCharts } from './lib/chart-files.js';
import { existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { openRegion } from '../src/shm/region.js';
import { DEFAULT_THREAD_CACHE, SharedHeap } from '../src/heap/shared-heap.js';
import { forkTs } from '../tools/ts-spawn.js';
import { runHeapBaseline } from './lib/baselines.js';
import { DEFAULT_SEED, LIVE_BLOCKS, participantSeed, precomputePattern, type PrecomputedPattern } from './lib/heap-pattern.js';
import { formatNumber, formatTable, median, ratio } from './lib/stats.js';
import { benchCli } from './lib/bench-cli.js';
import { HEAP_OPTIONS } from './lib/bench-options.js';
import { removeAtExit } from './lib/cleanup.js';

const HEAP_BYTES = 16 << 20; // Boost's segment in the baseline is 16 MiB too
const REGION_BYTES = HEAP_BYTES + (1 << 20);
const TARGET_RATIO = 0.5;

interface Options {
  threadCache: number;
  pairs: number;
  warmup: number;
  slices: number;
  skipBoost: boolean;
  json: boolean;
}

interface ParticipantReport {
  k: number;
  nsPerPair: number;
  /** process.hrtime.bigint() (CLOCK_MONOTONIC, comparable across processes) when the timed loop ended. */
  endNs: string;
}

const HELP = `Usage: npx tsx bench/heap.ts [options]

Free+allocate pairs (1,024 live blocks, 16..512 bytes, random replacement) on
the shared heap (one thread; two processes at once) and, in the same run, on
Boost.Interprocess managed_shared_memory and glibc malloc (C++ baseline).

Options:
  --pairs <n>       timed pairs per contender (default 1000000; a multiple of --slices)
  --warmup <n>      untimed pairs after the fill (default 100000)
  --slices <k>      the timed pairs are cut into k slices for a median (default 10)
  --thread-cache <n> blocks per size class in the thread-cache runs (default
                    ${DEFAULT_THREAD_CACHE}, the library's default)
  --skip-boost      time glibc malloc only on the C++ side (no libboost-dev install)
  --json            print only the summary as one JSON line
  --svg <file>      where to write the chart (default bench/results/heap.svg);
                    <base>.json beside it holds the summary and every slice's ns/pair
  -h, --help        this help
`;

const role = process.argv[2] === '--participant' ? process.argv.slice(3) : null;
if (role) await participant(role);
else await main();

async function main(): Promise<void> {
  const cli = benchCli('bench/heap', HELP.trimEnd(), HEAP_OPTIONS);
  const args = cli.values;
  const options: Options = {
    pairs: cli.int('pairs', 1_000_000, 10, 100_000_000),
    warmup: cli.int('warmup', 100_000, 0, 100_000_000),
    slices: cli.int('slices', 10, 1, 1000),
    threadCache: cli.int('thread-cache', DEFAULT_THREAD_CACHE, 1, 65536),
    skipBoost: args['skip-boost'] ?? false,
    json: args.json ?? false,
  };
  if (options.pairs % options.slices !== 0) cli.fail(`--pairs (${options.pairs}) must be a multiple of --slices (${options.slices})`);
  cli.optionsChecked();
  const log = (line: string) => process.stderr.write(`[heap] ${line}\n`);

  const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'bench-heap-'));
  // Removed in the finally below, or by an interrupt (Ctrl-C), which also kills the participants (lib/cleanup.ts).
  removeAtExit(work);
  try {
    log(`SharedHeap, one thread: ${options.pairs} timed pairs after ${options.warmup} warm-up pairs`);
    const single = await timeSingle(join(work, 'single.bin'), options, 0);
    log(`  lock per operation: ${single.nsPerPair.toFixed(1)} ns/pair (median slice ${single.medianSlice.toFixed(1)}); heap valid afterwards: ${single.valid}`);
    const singleCached = await timeSingle(join(work, 'single-cache.bin'), options, options.threadCache);
    log(`  thread cache ${options.threadCache}: ${singleCached.nsPerPair.toFixed(1)} ns/pair (median slice ${singleCached.medianSlice.toFixed(1)}); valid: ${singleCached.valid}`);
    log('SharedHeap, two processes on one heap');
    const two = await timeTwoProcesses(join(work, 'two.bin'), options, 0);
    log(`  lock per operation: ${two.nsPerPairWall.toFixed(1)} ns/pair wall, per process ${two.perProcess.map((n) => n.toFixed(1)).join(' / ')}; valid: ${two.valid}`);
    const twoCached = await timeTwoProcesses(join(work, 'two-cache.bin'), options, options.threadCache);
    log(`  thread cache ${options.threadCache}: ${twoCached.nsPerPairWall.toFixed(1)} ns/pair wall, per process ${twoCached.perProcess.map((n) => n.toFixed(1)).join(' / ')}; valid: ${twoCached.valid}`);

    const baseline = await runHeapBaseline({ pairs: options.pairs, warmup: options.warmup, slices: options.slices, skipBoost: options.skipBoost });
    const boost = baseline.available ? baseline.result.boostSingle : null;
    const boostTwo = baseline.available ? baseline.result.boostTwoProcess : null;
    const malloc = baseline.available ? baseline.result.mallocSingle : null;
    const ratioVsBoostInterprocess = ratio(single.nsPerPair, boost?.nsPerPair);
    const ratioVsBoostInterprocessThreadCache = ratio(singleCached.nsPerPair, boost?.nsPerPair);
    const summary = {
      summary: 'heap',
      ok: single.valid && two.valid && singleCached.valid && twoCached.valid,
      nsPerPair: round(single.nsPerPair),
      nsPerPairMedianSlice: round(single.medianSlice),
      nsPerPairTwoProcessWall: round(two.nsPerPairWall),
      nsPerPairTwoProcessEach: two.perProcess.map(round),
      boostNsPerPair: boost ? round(boost.nsPerPair) : null,
      boostNsPerPairTwoProcessWall: boostTwo ? round(boostTwo.nsPerPairWall) : null,
      nsPerPairThreadCache: round(singleCached.nsPerPair),
      nsPerPairThreadCacheTwoProcessWall: round(twoCached.nsPerPairWall),
      threadCache: options.threadCache,
      mallocNsPerPair: malloc ? round(malloc.nsPerPair) : null,
      ratioVsBoostInterprocess,
      ratioVsBoostInterprocessThreadCache,
      ratioVsBoostInterprocessThreadCacheTwoProcess: ratio(twoCached.nsPerPairWall, boostTwo?.nsPerPairWall),
      ratioVsBoostInterprocessTwoProcess: ratio(two.nsPerPairWall, boostTwo?.nsPerPairWall),
      ratioVsMalloc: ratio(single.nsPerPair, malloc?.nsPerPair),
      target: TARGET_RATIO,
      /** The default configuration (the thread cache at its default size) within the target; null if not measured. */
      meetsTarget:
        ratioVsBoostInterprocessThreadCache === null || options.threadCache !== DEFAULT_THREAD_CACHE ? null : ratioVsBoostInterprocessThreadCache <= TARGET_RATIO,
      meetsTargetLockPerOperation: ratioVsBoostInterprocess === null ? null : ratioVsBoostInterprocess <= TARGET_RATIO,
      defaultThreadCache: DEFAULT_THREAD_CACHE,
      boostVersion: baseline.available ? baseline.result.boostVersion : null,
      baselineUnavailable: baseline.available ? (baseline.result.boostUnavailableReason ?? null) : baseline.reason,
      pairs: options.pairs,
      warmup: options.warmup,
      liveBlocks: LIVE_BLOCKS,
    };
    const cachedName = `SharedHeap, thread cache ${options.threadCache}${options.threadCache === DEFAULT_THREAD_CACHE ? ' (default)' : ''}`;
    if (!options.json) {
      process.stdout.write(
        formatTable(
          ['contender', 'ns/pair (1 process)', 'ns/pair (2 processes, wall)', 'ratio ours/Boost (1 process)'],
          [
            [cachedName, formatNumber(summary.nsPerPairThreadCache), formatNumber(summary.nsPerPairThreadCacheTwoProcessWall), formatNumber(ratioVsBoostInterprocessThreadCache)],
            ['SharedHeap, lock per op (threadCache: 0)', formatNumber(summary.nsPerPair), formatNumber(summary.nsPerPairTwoProcessWall), formatNumber(ratioVsBoostInterprocess)],
            ['Boost.Interprocess managed_shared_memory', formatNumber(summary.boostNsPerPair), formatNumber(summary.boostNsPerPairTwoProcessWall), '1'],
            ['glibc malloc (private, one thread)', formatNumber(summary.mallocNsPerPair), null, null],
          ],
        ) + '\n',
      );
      const verdict = (met: boolean | null) => (met === null ? 'not measured' : met ? 'met' : 'NOT met');
      process.stdout.write(
        `ratio vs Boost.Interprocess, one process: ${formatNumber(ratioVsBoostInterprocessThreadCache)} with ${cachedName} (target <= ${TARGET_RATIO} in the default configuration: ${verdict(summary.meetsTarget)}), ` +
          `${formatNumber(ratioVsBoostInterprocess)} with a lock per operation (${verdict(summary.meetsTargetLockPerOperation)})\n`,
      );
    }
    const pair = (name: string, v: number | null) => ({ name, value: v });
    writeBenchCharts(
      'heap',
      args.svg,
      {
        ...summary,
        samples: {
          sliceNsPerPair: single.sliceNs,
          sliceNsPerPairThreadCache: singleCached.sliceNs,
          nsPerPairTwoProcessEachThreadCache: twoCached.perProcess,
          boostSliceNsPerPair: boost?.sliceNsPerPair ?? null,
          mallocSliceNsPerPair: malloc?.sliceNsPerPair ?? null,
        },
      },
      barChartSvg({
        title: 'SharedHeap free+allocate pair vs Boost.Interprocess (same run)',
        subtitle: `${process.version}, ${new Date().toISOString().slice(0, 16)} UTC, load ${loadavg().map((l) => l.toFixed(1)).join(' / ')}; ${LIVE_BLOCKS} live blocks, ${options.pairs} timed pairs`,
        groups: [
          {
            label: 'one process',
            unit: 'ns/pair',
            better: 'lower',
            bars: [
              pair(cachedName, summary.nsPerPairThreadCache),
              pair('SharedHeap, lock per op', summary.nsPerPair),
              pair('Boost.Interprocess', summary.boostNsPerPair),
              pair('glibc malloc (private)', summary.mallocNsPerPair),
            ],
          },
          {
            label: 'two processes on one heap, wall time / all pairs',
            unit: 'ns/pair',
            better: 'lower',
            bars: [
              pair(cachedName, summary.nsPerPairThreadCacheTwoProcessWall),
              pair('SharedHeap, lock per op', summary.nsPerPairTwoProcessWall),
              pair('Boost.Interprocess', summary.boostNsPerPairTwoProcessWall),
            ],
          },
        ],
      }),
    );
    process.stdout.write(JSON.stringify(summary) + '\n');
    process.exitCode = summary.ok ? 0 : 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Fill, untimed warm-up, then `slices` timed slices; the same loop the C++ side runs. */
function replay(heap: SharedHeap, p: PrecomputedPattern, options: Options, onTimed?: () => void): { nsPerPair: number; sliceNs: number[] } {
  const live = new Float64Array(LIVE_BLOCKS);
  for (let i = 0; i < LIVE_BLOCKS; i++) live[i] = heap.alloc(p.fill[i]!, 4 /* GENERATE_EXCEPTIONS */);
  const { slots, sizes } = p;
  let i = 0;
  for (; i < options.warmup; i++) {
    const s = slots[i]!;
    heap.free(live[s]!);
    live[s] = heap.alloc(sizes[i]!);
  }
  onTimed?.();
  const perSlice = options.pairs / options.slices;
  const sliceNs: number[] = [];
  let total = 0;
  for (let k = 0; k < options.slices; k++) {
    const end = i + perSlice;
    const t0 = process.hrtime.bigint();
    for (; i < end; i++) {
      const s = slots[i]!;
      heap.free(live[s]!);
      live[s] = heap.alloc(sizes[i]!);
    }
    const dt = Number(process.hrtime.bigint() - t0);
    total += dt;
    sliceNs.push(dt / perSlice);
  }
  // A failed alloc would have returned 0 and poisoned the run: check once, outside the timing.
  for (let s = 0; s < LIVE_BLOCKS; s++) if (live[s] === 0) throw new Error(`heap bench: an allocation failed (${heap.lastError?.code})`);
  for (let s = 0; s < LIVE_BLOCKS; s++) heap.free(live[s]!, 4);
  heap.flushCache(4);
  return { nsPerPair: total / options.pairs, sliceNs };
}

async function timeSingle(path: string, options: Options, threadCache: number): Promise<{ nsPerPair: number; medianSlice: number; sliceNs: number[]; valid: boolean }> {
  const region = await openRegion(path, { size: REGION_BYTES, create: true });
  try {
    const heap = SharedHeap.open(region, 'heap', HEAP_BYTES, { threadCache });
    const p = precomputePattern(participantSeed(DEFAULT_SEED, 0), options.warmup + options.pairs);
    const r = replay(heap, p, options);
    return { nsPerPair: r.nsPerPair, medianSlice: median(r.sliceNs), sliceNs: r.sliceNs, valid: heap.validate().valid };
  } finally {
    region.close();
  }
}

// ---- two processes ----------------------------------------------------------------------
// Sync words (a named object in the region): [0] ready count, [1] go.

async function timeTwoProcesses(path: string, options: Options, threadCache: number): Promise<{ nsPerPairWall: number; perProcess: number[]; valid: boolean }> {
  const region = await openRegion(path, { size: REGION_BYTES, create: true });
  const children: ChildProcess[] = [];
  try {
    const heap = SharedHeap.open(region, 'heap', HEAP_BYTES);
    const { offset: syncOffset } = region.findOrCreate('bench-sync', 64);
    const sync = new Int32Array(region.buffer, syncOffset, 16);
    const reports: Promise<ParticipantReport>[] = [];
    for (const k of [0, 1]) {
      const child = forkTs(new URL(import.meta.url), ['--participant', path, String(k), JSON.stringify({ ...options, threadCache })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(child);
      reports.push(new Promise((resolve, reject) => {
        child.once('message', (m) => resolve(m as ParticipantReport));
        child.once('exit', (code, signal) => reject(new Error(`participant ${k} ended (${signal ?? code}) before reporting`)));
      }));
    }
    // Both have filled and warmed up (each spins on `go` afterwards, as the C++ children do).
    while (Atomics.load(sync, 0) < 2) {
      if (children.some((c) => c.exitCode !== null || c.signalCode !== null)) throw new Error('a participant died before it was ready');
      await new Promise((r) => setTimeout(r, 1));
    }
    const go = process.hrtime.bigint();
    Atomics.store(sync, 1, 1);
    const results = await Promise.all(reports);
    const end = results.map((r) => BigInt(r.endNs)).reduce((a, b) => (a > b ? a : b));
    return {
      nsPerPairWall: Number(end - go) / (2 * options.pairs),
      perProcess: results.sort((a, b) => a.k - b.k).map((r) => r.nsPerPair),
      valid: heap.validate().valid,
    };
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    region.close();
  }
}

async function participant(args: string[]): Promise<void> {
  const [path, kText, optionsText] = args;
  const k = Number(kText);
  const options = JSON.parse(optionsText!) as Options;
  const region = await openRegion(path!);
  const heap = SharedHeap.open(region, 'heap', HEAP_BYTES, { threadCache: options.threadCache });
  const sync = new Int32Array(region.buffer, region.find('bench-sync')!, 16);
  const p = precomputePattern(participantSeed(DEFAULT_SEED, k), options.warmup + options.pairs);
  let endNs = 0n;
  const whole = { ...options, slices: 1 };
  const r = replay(heap, p, whole, () => {
    Atomics.add(sync, 0, 1);
    while (Atomics.load(sync, 1) === 0) {
      // spin: the parent sets `go` as soon as both are here
    }
  });
  endNs = process.hrtime.bigint();
  process.send!({ k, nsPerPair: r.nsPerPair, endNs: String(endNs) } satisfies ParticipantReport, () => {
    region.close();
    process.exit(0);
  });
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
