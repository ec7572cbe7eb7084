// Benchmark of the robust mutex against a glibc PTHREAD_MUTEX_ROBUST +
// PTHREAD_PROCESS_SHARED mutex (built and timed by bench/lib/baselines.ts) and
// proper-lockfile: uncontended acquire+release, two processes and two threads
// contended, and death detection (kill / terminate() -> the blocked waiter's
// "abandoned" return, median of >= 30 rounds). Speed is measured here, never
// asserted in tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { openRegion } from '../src/shm/region.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { ParkingLot } from '../src/workers/park.js';
import { forkReady, type FleetMember } from '../src/workers/fleet.js';
import { startTsWorker, tsFork } from '../tools/ts-spawn.js';
import { bundleEntries } from '../tools/bundle-entries.js';
import { native } from '../src/native/index.js';
import { runPthreadBaseline, type PthreadBaselineResult } from './lib/baselines.js';
import { runLockfileBaseline } from './lib/lockfile-baseline.js';
import { asyncRows, asyncSummary, runAsyncBench, type AsyncBenchResult } from './lib/async-handover.js';
import { formatTable, ratio, summarize, type Summary } from './lib/stats.js';
import { barChartSvg, cdfChartSvg, type CdfSeries } from './lib/svg-chart.js';
import { writeBenchCharts } from './lib/chart-files.js';
import type { BenchParticipantData } from './lib/mutex-bench-participant.js';
import { benchCli } from './lib/bench-cli.js';
import { MUTEX_OPTIONS } from './lib/bench-options.js';
import { removeAtExit } from './lib/cleanup.js';

const HELP = `Usage: npx tsx bench/mutex.ts [options]

Times the robust mutex: uncontended acquire+release, 2 processes and 2 threads
contended (lock / increment / unlock), cross-process hand-over (a waiter blocked
in acquire() in another process, released after 20 ms: release to its return),
beside a bare native futex wait/wake hand-over in the same harness, and
owner-death detection (SIGKILL of a process, worker.terminate() of a thread,
both parked inside the critical section, to a blocked waiter's "abandoned"
return). Builds and times the same figures for a glibc robust process-shared
pthread mutex, and proper-lockfile.

Options:
  --uncontended <n>   acquire+release pairs (default 2000000)
  --contended <n>     lock/unlock per contender (default 200000)
  --rounds <n>        death-detection and hand-over rounds of each kind (default 30, min 1)
  --thread-owner <k>  'bundled' (default): the thread owner runs the participant bundled
                      into plain JS by esbuild, like a production worker; 'tsx': through
                      tsx (its module hooks make worker teardown, hence detection, slower)
  --no-baselines      skip the C and proper-lockfile baselines
  --no-async          skip acquireAsync vs acquire (hand-over, death detection, 500 pending)
  --json              one JSON summary line on stdout (progress goes to stderr)
  --svg <file>        where to write the chart of per-op costs, ours vs glibc (default
                      bench/results/mutex.svg); beside it <base>-death.svg (death detection
                      as CDFs, ours vs glibc's EOWNERDEAD), <base>-handover.svg (hand-over
                      CDFs: acquire(), acquireAsync(), bare futex) and <base>.json (the
                      summary and every raw sample)
  -h, --help          this help

Targets (issue 10): uncontendedRatioVsPthread <= 1.5, contendedProcessRatioVsPthread <= 2,
handoverRatioVsFutex <= 2 (median and p90), deathDetectionMsMedianProcess <= 0.5 with
deathDetectionMsP90Process <= 2, deathDetectionMsMedianThread <= 2.
Targets (issue 11): asyncHandoverRatioVsSync <= 1.5, asyncDeathDetectionRatioVsSync <= 1.5.`;

const cli = benchCli('bench/mutex', HELP, MUTEX_OPTIONS);
const args = cli.values;
const fail: (message: string) => never = cli.fail;
const UNCONTENDED = cli.int('uncontended', 2_000_000, 1000);
const CONTENDED = cli.int('contended', 200_000, 1000);
const ROUNDS = cli.int('rounds', 30, 1);
const json = Boolean(args.json);
const threadOwner = (args['thread-owner'] ?? 'bundled') as 'bundled' | 'tsx';
if (threadOwner !== 'bundled' && threadOwner !== 'tsx') fail(`--thread-owner must be 'bundled' or 'tsx', got '${threadOwner}'`);
cli.optionsChecked();
const progress = (message: string) => process.stderr.write(`[mutex] ${message}\n`);

const participantUrl = new URL('./lib/mutex-bench-participant.ts', import.meta.url);
const path = join('/dev/shm', `robust-shm-bench-mutex-${process.pid}`);
// Removed by cleanup() below, or by an interrupt (Ctrl-C), which also kills every child (lib/cleanup.ts).
removeAtExit(path, `${path}.lock`);
const region = await openRegion(path, { size: 64 * 1024, create: true });
const { offset: wordsOffset } = region.findOrCreate('words', 16);
const { offset: handoverOffset } = region.findOrCreate('handover-word', 8);
const handoverWord = new Int32Array(region.buffer, handoverOffset, 1);
const words = new Int32Array(region.buffer, wordsOffset, 4);
const lot = ParkingLot.open(region, 'park', 4);

const children = new Set<FleetMember>();
const workers = new Set<Worker>();
async function cleanup(): Promise<void> {
  await Promise.all([...workers].map((w) => w.terminate()));
  await Promise.all(
    [...children].map((m) => {
      if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
      return m.exit;
    }),
  );
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
}

function dataFor(mutex: RobustMutex, slot: number): BenchParticipantData {
  return { path, mutexOffset: mutex.byteOffset, lotOffset: lot.byteOffset, wordsOffset, slot };
}
async function forkParticipant(mutex: RobustMutex, slot: number): Promise<FleetMember> {
  const m = await forkReady(participantUrl, [JSON.stringify(dataFor(mutex, slot))], { fork: tsFork });
  children.add(m);
  return m;
}
let bundleDir: string | undefined;
let bundleFile: string | undefined;
/** The participant as one plain .mjs (same source; the native loader keeps finding build/ through its own URL). */
async function bundledParticipant(): Promise<string> {
  if (bundleFile) return bundleFile;
  bundleDir = mkdtempSync(join(tmpdir(), 'robust-shm-bench-'));
  removeAtExit(bundleDir);
  const files = await bundleEntries({ entries: { 'mutex-bench-participant': participantUrl }, outdir: bundleDir, packages: 'inline' });
  bundleFile = files['mutex-bench-participant']!;
  return bundleFile;
}
async function threadParticipant(mutex: RobustMutex, slot: number, kind: 'tsx' | 'bundled' = 'tsx'): Promise<Worker> {
  const data = { ...dataFor(mutex, slot), buffer: region.buffer };
  const worker = kind === 'tsx' ? startTsWorker(participantUrl, data) : new Worker(await bundledParticipant(), { workerData: { data } });
  workers.add(worker);
  await next(worker, 'ready');
  return worker;
}
type Port = { on: Function; off: Function };
function next<T = Record<string, unknown>>(port: Port, type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      port.off('message', on);
      resolve(m as T);
    };
    port.on('message', on);
  });
}

/** Every sample (ms) behind the hand-over and death figures, for the charts and the .json. */
const samplesMs: Record<string, number[]> = {};

// ---- uncontended --------------------------------------------------------
function uncontended(): number {
  const mutex = RobustMutex.open(region, 'uncontended');
  for (let i = 0; i < 100_000; i++) {
    mutex.acquire();
    mutex.release();
  }
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < UNCONTENDED; i++) {
    mutex.acquire();
    mutex.release();
  }
  return Number(process.hrtime.bigint() - t0) / UNCONTENDED;
}

// ---- contended ------------------------------------------------------------
async function contended(kind: 'process' | 'thread'): Promise<{ nsPerOp: number; exact: boolean; handoffs: number }> {
  const mutex = RobustMutex.open(region, `contended-${kind}`);
  Atomics.store(words, 0, 0);
  Atomics.store(words, 1, 0);
  Atomics.store(words, 2, 0);
  const ports: { port: Port; send(m: unknown): void; done?: Promise<{ handoffs: number }> }[] = [];
  for (let i = 0; i < 2; i++) {
    if (kind === 'process') {
      const m = await forkParticipant(mutex, 0);
      ports.push({ port: m.child, send: (x) => m.child.send(x as never) });
    } else {
      const w = await threadParticipant(mutex, 0);
      ports.push({ port: w, send: (x) => w.postMessage(x) });
    }
  }
  const armed = ports.map((p) => next(p.port, 'armed'));
  for (const p of ports) {
    p.done = next<{ handoffs: number }>(p.port, 'contended');
    p.send({ cmd: 'contend', iterations: CONTENDED });
  }
  await Promise.all(armed);
  const t0 = process.hrtime.bigint();
  Atomics.store(words, 0, 1);
  native().futexWake(region.buffer, wordsOffset, 0x7fffffff);
  const results = await Promise.all(ports.map((p) => p.done!));
  const ns = Number(process.hrtime.bigint() - t0);
  return { nsPerOp: ns / (2 * CONTENDED), exact: Atomics.load(words, 1) === 2 * CONTENDED, handoffs: results.reduce((a, r) => a + r.handoffs, 0) };
}

// ---- cross-process hand-over ---------------------------------------------------
/**
 * This process holds the lock (or, for 'futex', a plain word) while a waiter
 * process blocks on it; 20 ms later it releases (wakes). Sample: from just
 * before release() to the waiter's return, both CLOCK_MONOTONIC.
 */
async function handover(kind: 'mutex' | 'futex'): Promise<Summary> {
  const mutex = RobustMutex.open(region, 'handover', { policy: 'windows' });
  const waiter = await forkParticipant(mutex, 1);
  const samples: number[] = [];
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  for (let round = 0; round < ROUNDS; round++) {
    let t0: bigint;
    let returned: Promise<{ at: string; status?: string }>;
    if (kind === 'mutex') {
      mutex.acquire();
      returned = next(waiter.child, 'waited');
      waiter.child.send({ cmd: 'wait' });
      const deadline = performance.now() + 30_000;
      while (mutex.inspect().waiters < 1) {
        if (performance.now() > deadline) throw new Error('the hand-over waiter never blocked');
        await sleep(1);
      }
      await sleep(20);
      t0 = process.hrtime.bigint();
      mutex.release();
    } else {
      Atomics.store(handoverWord, 0, 0);
      returned = next(waiter.child, 'futexWoken');
      waiter.child.send({ cmd: 'futexWait', offset: handoverOffset });
      await sleep(20);
      t0 = process.hrtime.bigint();
      Atomics.store(handoverWord, 0, 1);
      native().futexWake(region.buffer, handoverOffset, 1);
    }
    const result = await returned;
    if (kind === 'mutex' && result.status !== 'acquired') throw new Error(`hand-over round ${round}: waiter got ${result.status}`);
    samples.push(Number(BigInt(result.at) - t0) / 1e6);
  }
  waiter.child.kill('SIGKILL');
  await waiter.exit;
  children.delete(waiter);
  samplesMs[`handover-${kind}`] = samples;
  return summarize(samples);
}

// ---- death detection ------------------------------------------------------
async function deathDetection(kind: 'process' | 'thread'): Promise<Summary> {
  const mutex = RobustMutex.open(region, `death-${kind}`, { policy: 'windows' });
  const waiter = await forkParticipant(mutex, 1);
  const samples: number[] = [];
  const startOwner = () => (kind === 'process' ? forkParticipant(mutex, 0) : threadParticipant(mutex, 0, threadOwner));
  let nextOwner = startOwner();
  for (let round = 0; round < ROUNDS; round++) {
    const owner = await nextOwner;
    lot.request(0);
    if (kind === 'process') (owner as FleetMember).child.send({ cmd: 'hold' });
    else (owner as Worker).postMessage({ cmd: 'hold' });
    await lot.waitUntilParkedAsync(0, { timeoutMs: 30_000 });
    const waited = next<{ status: string; at: string }>(waiter.child, 'waited');
    waiter.child.send({ cmd: 'wait' });
    const deadline = performance.now() + 30_000;
    while (mutex.inspect().waiters < 1) {
      if (performance.now() > deadline) throw new Error('the waiter never blocked');
      await new Promise((r) => setTimeout(r, 1));
    }
    // Let the waiter settle into its sleep (it registers just before it).
    await new Promise((r) => setTimeout(r, 5));
    let t0: bigint;
    if (kind === 'process') {
      const m = owner as FleetMember;
      t0 = process.hrtime.bigint();
      m.child.kill('SIGKILL');
    } else {
      const w = owner as Worker;
      t0 = process.hrtime.bigint();
      void w.terminate();
    }
    const result = await waited;
    if (result.status !== 'abandoned') throw new Error(`round ${round}: waiter got ${result.status}, expected abandoned`);
    samples.push(Number(BigInt(result.at) - t0) / 1e6);
    if (kind === 'process') await (owner as FleetMember).exit;
    // The next owner starts only now: a Node process starting during the kill
    // would load this 2-core machine while the C baseline's forked owner does not.
    if (round + 1 < ROUNDS) nextOwner = startOwner();
  }
  samplesMs[`death-${kind}`] = samples;
  return summarize(samples);
}

let summary: Record<string, unknown> = {};
try {
  progress(`uncontended: ${UNCONTENDED} acquire+release`);
  const uncontendedNs = uncontended();
  progress('contended: 2 processes');
  const cp = await contended('process');
  progress('contended: 2 threads');
  const ct = await contended('thread');
  progress(`hand-over: ${ROUNDS} rounds, mutex and bare futex`);
  const hm = await handover('mutex');
  const hf = await handover('futex');
  progress(`death detection: ${ROUNDS} process kills`);
  const dp = await deathDetection('process');
  progress(`death detection: ${ROUNDS} thread terminations`);
  const dt = await deathDetection('thread');
  const asyncFigures = args['no-async'] ? null : await runAsyncBench({ region, path, lot, slots: [2, 3], rounds: ROUNDS, threadOwner, progress });
  await cleanup();

  const pthread = args['no-baselines'] ? ({ available: false, reason: 'skipped (--no-baselines)' } as const) : await runPthreadBaseline({ uncontended: UNCONTENDED, contended: CONTENDED, rounds: ROUNDS });
  const lockfile = args['no-baselines'] ? null : await runLockfileBaseline({ lockUnlockRounds: 200, staleRounds: 3 });
  const p = pthread.available ? pthread.result : null;
  const rows = [
    ['uncontended acquire+release (ns/op)', uncontendedNs, p?.uncontended.nsPerOp, ratio(uncontendedNs, p?.uncontended.nsPerOp)],
    ['2 processes contended (ns/op)', cp.nsPerOp, p?.contendedProcesses.nsPerOp, ratio(cp.nsPerOp, p?.contendedProcesses.nsPerOp)],
    ['  handoffs', cp.handoffs, p?.contendedProcesses.handoffs, null],
    ['2 threads contended (ns/op)', ct.nsPerOp, p?.contendedThreads.nsPerOp, ratio(ct.nsPerOp, p?.contendedThreads.nsPerOp)],
    ['  handoffs', ct.handoffs, p?.contendedThreads.handoffs, null],
    ['hand-over to a waiting process (ms median)', hm.median, null, null],
    ['  bare futex wait/wake, same harness (ms median)', hf.median, null, ratio(hm.median, hf.median)],
    ['hand-over to a waiting process (ms p90)', hm.p90, null, null],
    ['  bare futex wait/wake, same harness (ms p90)', hf.p90, null, ratio(hm.p90, hf.p90)],
    ['death detection, process (ms median)', dp.median, p?.deathProcess.msMedian, ratio(dp.median, p?.deathProcess.msMedian)],
    ['death detection, process (ms p90)', dp.p90, p?.deathProcess.msP90, ratio(dp.p90, p?.deathProcess.msP90)],
    [`death detection, thread (ms median, ${threadOwner} worker)`, dt.median, p?.deathThreadCancel.msMedian, ratio(dt.median, p?.deathThreadCancel.msMedian)],
  ];
  summary = {
    summary: 'mutex',
    ok: cp.exact && ct.exact,
    uncontendedRatioVsPthread: ratio(uncontendedNs, p?.uncontended.nsPerOp),
    contendedProcessRatioVsPthread: ratio(cp.nsPerOp, p?.contendedProcesses.nsPerOp),
    deathDetectionMsMedianProcess: dp.median,
    deathDetectionMsP90Process: dp.p90,
    deathDetectionMsMedianThread: dt.median,
    handoverMsMedianProcess: hm.median,
    handoverMsP90Process: hm.p90,
    handoverMsMedianFutex: hf.median,
    handoverMsP90Futex: hf.p90,
    handoverRatioVsFutex: ratio(hm.median, hf.median),
    handoverP90RatioVsFutex: ratio(hm.p90, hf.p90),
    uncontendedNsPerOp: uncontendedNs,
    contendedProcessNsPerOp: cp.nsPerOp,
    contendedThreadNsPerOp: ct.nsPerOp,
    contendedHandoffs: { processes: cp.handoffs, threads: ct.handoffs },
    deathDetectionProcessMs: dp,
    deathDetectionThreadMs: dt,
    threadOwner,
    pthread: pthread.available ? p : { unavailable: pthread.reason },
    lockfile: lockfile && { lockUnlockAsyncUsMedian: lockfile.lockUnlockAsyncUs.median, lockUnlockSyncUsMedian: lockfile.lockUnlockSyncUs.median, staleRecoveryMsMedian: lockfile.staleRecoveryMs?.median ?? null },
    handoverMs: { mutex: hm, futex: hf },
    targets: {
      uncontendedRatioVsPthread: 1.5,
      contendedProcessRatioVsPthread: 2,
      handoverRatioVsFutex: 2,
      handoverP90RatioVsFutex: 2,
      deathDetectionMsMedianProcess: 0.5,
      deathDetectionMsP90Process: 2,
      deathDetectionMsMedianThread: 2,
    },
    ...(asyncFigures ? asyncSummary(asyncFigures) : {}),
  };
  if (asyncFigures) rows.push(...asyncRows(asyncFigures));
  writeCharts(args.svg, summary, { uncontendedNs, cp, ct, p, asyncFigures });
  if (json) process.stdout.write(JSON.stringify(summary) + '\n');
  else {
    process.stdout.write(formatTable(['figure', 'robust-shm', 'glibc robust pthread', 'ratio'], rows) + '\n');
    if (lockfile) {
      process.stdout.write(
        `proper-lockfile: lock+unlock ${lockfile.lockUnlockAsyncUs.median.toFixed(0)} us (async), ${lockfile.lockUnlockSyncUs.median.toFixed(0)} us (sync); ` +
          `stale-lock recovery after SIGKILL ${lockfile.staleRecoveryMs ? lockfile.staleRecoveryMs.median.toFixed(0) + ' ms' : 'n/a'} (median)\n`,
      );
    }
    if (!pthread.available) process.stdout.write(`pthread baseline unavailable: ${pthread.reason}\n`);
  }
} finally {
  await cleanup();
}

/** The three charts of one run: per-op bars, death detection CDFs, hand-over CDFs (all series from this run). */
function writeCharts(
  svgPath: string | undefined,
  summary: Record<string, unknown>,
  f: {
    uncontendedNs: number;
    cp: { nsPerOp: number; handoffs: number };
    ct: { nsPerOp: number; handoffs: number };
    p: PthreadBaselineResult | null;
    asyncFigures: AsyncBenchResult | null;
  },
): void {
  const { p, asyncFigures } = f;
  const subtitle = `${process.version}, ${new Date().toISOString().slice(0, 16)} UTC, load ${loadavg().map((l) => l.toFixed(1)).join(' / ')}, ${ROUNDS} rounds; C built in the same run`;
  const bars = barChartSvg({
    title: 'Mutex per-op costs: robust-shm vs glibc robust pthread mutex',
    subtitle,
    groups: [
      { label: 'uncontended acquire+release', unit: 'ns', better: 'lower', bars: [{ name: 'robust-shm', value: f.uncontendedNs }, { name: 'glibc robust', value: p?.uncontended.nsPerOp ?? null }] },
      {
        label: '2 processes contended, per op',
        unit: 'ns',
        better: 'lower',
        bars: [
          { name: 'robust-shm', value: f.cp.nsPerOp, text: `${f.cp.nsPerOp.toFixed(1)} ns, ${f.cp.handoffs} hand-offs` },
          { name: 'glibc robust', value: p?.contendedProcesses.nsPerOp ?? null, ...(p ? { text: `${p.contendedProcesses.nsPerOp.toFixed(1)} ns, ${p.contendedProcesses.handoffs} hand-offs` } : {}) },
        ],
      },
      {
        label: '2 threads contended, per op',
        unit: 'ns',
        better: 'lower',
        bars: [
          { name: 'robust-shm', value: f.ct.nsPerOp, text: `${f.ct.nsPerOp.toFixed(1)} ns, ${f.ct.handoffs} hand-offs` },
          { name: 'glibc robust', value: p?.contendedThreads.nsPerOp ?? null, ...(p ? { text: `${p.contendedThreads.nsPerOp.toFixed(1)} ns, ${p.contendedThreads.handoffs} hand-offs` } : {}) },
        ],
      },
    ],
    notes: ['Contended: a lock that is faster because one side keeps it is not faster; compare the hand-off counts.'],
  });
  const death: CdfSeries[] = [{ name: "robust-shm: SIGKILL -> 'abandoned'", samples: samplesMs['death-process']! }];
  if (p) death.push({ name: 'glibc: SIGKILL -> EOWNERDEAD', samples: p.deathProcess.samplesMs });
  death.push({ name: `robust-shm: terminate() -> 'abandoned' (${threadOwner})`, samples: samplesMs['death-thread']! });
  if (p) death.push({ name: 'glibc: pthread_cancel -> EOWNERDEAD', samples: p.deathThreadCancel.samplesMs });
  const handover: CdfSeries[] = [
    { name: 'acquire() (sync)', samples: samplesMs['handover-mutex']! },
    { name: 'bare futex wait/wake', samples: samplesMs['handover-futex']! },
  ];
  if (asyncFigures) {
    handover.push(
      { name: 'acquireAsync() (async bench)', samples: asyncFigures.samplesMs.handover.async },
      { name: 'acquire() interleaved with it', samples: asyncFigures.samplesMs.handover.sync },
    );
  }
  writeBenchCharts('mutex', svgPath, { ...summary, samplesMs, asyncSamplesMs: asyncFigures?.samplesMs ?? null }, bars, {
    death: cdfChartSvg({ title: 'Owner death -> blocked waiter: robust-shm vs glibc robust mutex', subtitle, series: death, xLabel: 'kill() / terminate() -> waiter returns (ms)' }),
    handover: cdfChartSvg({ title: 'Cross-process hand-over: release -> waiter returns', subtitle, series: handover, xLabel: 'release -> waiter returns (ms)' }),
  });
}
