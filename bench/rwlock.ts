// Benchmark of RobustRwLock against a process-shared glibc pthread_rwlock_t
// (bench/baseline/pthread-rwlock.c, built and run by bench/lib/baselines.ts in
// the same run): uncontended read acquire+release, read-mostly throughput
// (4 reader processes + 1 writer process), and a reader SIGKILLed while a
// writer waits -> the writer's entry (glibc: never). Speed is measured here,
// never asserted in tests.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { openRegion } from '../src/shm/region.js';
import { RobustRwLock } from '../src/locks/robust-rwlock.js';
import { bundleEntries } from '../tools/bundle-entries.js';
import { awaitMessage } from '../src/workers/await-message.js';
import { runPthreadRwlockBench } from './lib/baselines.js';
import { barChartSvg } from './lib/svg-chart.js';
import { writeBenchCharts } from './lib/chart-files.js';
import { formatTable, median, ratio, summarize } from './lib/stats.js';
import type { RwBenchData } from './lib/rwlock-bench-participant.js';
import { benchCli } from './lib/bench-cli.js';
import { RWLOCK_OPTIONS } from './lib/bench-options.js';
import { removeAtExit } from './lib/cleanup.js';

const HELP = `Usage: npx tsx bench/rwlock.ts [options]

Times RobustRwLock: uncontended read acquire+release, read-mostly throughput
(4 reader processes + 1 writer process with a 20 us gap between writes), and
reader SIGKILL -> the waiting writer's entry. Builds and times the same for a
process-shared glibc pthread_rwlock_t (which never lets the writer in after a
reader's death).

Options:
  --uncontended <n>   read acquire+release pairs (default 2000000)
  --duration-ms <n>   read-mostly run length (default 1000)
  --runs <n>          read-mostly runs of each contender, median taken (default 3)
  --rounds <n>        reader-death rounds, each with a blocking and an async writer (default 30)
  --no-baselines      skip the C baseline
  --json              one JSON summary line on stdout (progress on stderr)
  --svg <file>        where to write the chart (default bench/results/rwlock.svg);
                      <base>.json beside it holds the summary and every raw sample
  -h, --help          this help

Targets (issue 13): uncontendedReadRatioVsPthread <= 2, readMostlyRatioVsPthread <= 2
(pthread reads/s over ours), readerDeathToWriterMsMedian <= 1.`;

const cli = benchCli('bench/rwlock', HELP, RWLOCK_OPTIONS);
const args = cli.values;
const UNCONTENDED = cli.int('uncontended', 2_000_000, 1000);
const DURATION_MS = cli.int('duration-ms', 1000, 100);
const RUNS = cli.int('runs', 3, 1);
const ROUNDS = cli.int('rounds', 30, 1);
cli.optionsChecked();
const READERS = 4;
const GAP_US = 20;
const json = Boolean(args.json);
const progress = (message: string) => process.stderr.write(`[rwlock] ${message}\n`);

const participantUrl = new URL('./lib/rwlock-bench-participant.ts', import.meta.url);
const path = `/dev/shm/robust-shm-bench-rwlock-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
removeAtExit(path, `${path}.lock`);
const bundleDir = mkdtempSync(join(tmpdir(), 'robust-shm-bench-rwlock-'));
removeAtExit(bundleDir);
const children = new Set<ChildProcess>();
const workers = new Set<Worker>();

async function cleanup(): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all([...children].map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  await Promise.all([...workers].map((w) => w.terminate()));
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
  rmSync(bundleDir, { recursive: true, force: true });
}

const nextMessage = <T>(port: ChildProcess | Worker, type: string) =>
  awaitMessage<T & { type: string }>(port, (m) => m.type === type, (code, signal) => new Error(`participant ended (${code ?? signal}) before '${type}'`)).answer;

try {
  const region = await openRegion(path, { size: 256 * 1024, create: true });
  const { 'rwlock-bench-participant': bundle } = await bundleEntries({ entries: { 'rwlock-bench-participant': participantUrl }, outdir: bundleDir, packages: 'inline' });
  const rw = RobustRwLock.open(region, 'bench');
  const wordsOffset = region.findOrCreate('bench-words', 64).offset;
  const words = new Int32Array(region.buffer, wordsOffset, 16);
  const dataFor = (role: RwBenchData['role']): RwBenchData => ({ path, lockOffset: rw.byteOffset, wordsOffset, role, gapUs: GAP_US });
  const forkRole = (role: RwBenchData['role']) => {
    const c = fork(bundle!, [JSON.stringify(dataFor(role))], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(c);
    return c;
  };

  // --- uncontended read -----------------------------------------------------
  // In a child process running the bundled participant (plain JS, as production code runs;
  // under tsx every imported binding is a getter call).
  progress(`uncontended read acquire+release x ${UNCONTENDED}`);
  const timer = fork(bundle!, [JSON.stringify({ ...dataFor('uncontended'), iterations: UNCONTENDED })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(timer);
  const uncontendedReadNs = (await nextMessage<{ nsPerOp: number }>(timer, 'uncontended')).nsPerOp;

  // --- read-mostly ------------------------------------------------------------
  const runsReads: number[] = [];
  const runsWrites: number[] = [];
  let torn = 0;
  for (let run = 0; run < RUNS; run++) {
    progress(`read-mostly run ${run + 1}/${RUNS}: ${READERS} reader processes + 1 writer process, ${DURATION_MS} ms`);
    words.fill(0);
    const group = [...Array.from({ length: READERS }, () => forkRole('reader')), forkRole('writer')];
    await Promise.all(group.map((c) => nextMessage(c, 'ready')));
    const dones = group.map((c) => nextMessage(c, 'done'));
    const t0 = process.hrtime.bigint();
    Atomics.store(words, 0, 1);
    await new Promise((resolve) => setTimeout(resolve, DURATION_MS));
    Atomics.store(words, 1, 1);
    await Promise.all(dones);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    runsReads.push(Atomics.load(words, 2) / secs);
    runsWrites.push(Atomics.load(words, 3) / secs);
    torn += Atomics.load(words, 4);
    await Promise.all(group.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  }
  const readMostlyReadsPerSec = median(runsReads);
  const readMostlyWritesPerSec = median(runsWrites);

  // --- reader death -> writer entry --------------------------------------------
  progress(`reader SIGKILL -> waiting writer's entry, ${ROUNDS} rounds blocking + ${ROUNDS} async`);
  const entrant = new Worker(bundle!, { workerData: { data: { ...dataFor('entrant'), buffer: region.buffer } } });
  workers.add(entrant);
  await nextMessage(entrant, 'ready');
  const deathMs: number[] = [];
  const asyncDeathMs: number[] = [];
  let reclaimedEachRound = true;
  // Alternating rounds: the writer blocks in acquireWrite, or awaits acquireWriteAsync (woken through futex_waitv).
  for (let round = 0; round < 2 * ROUNDS; round++) {
    const asyncRound = round % 2 === 1;
    const holder = forkRole('holder');
    await nextMessage(holder, 'holding');
    const wrote = nextMessage<{ status: string; sharesReclaimed: number; enteredAt: string }>(entrant, 'wrote');
    entrant.postMessage({ cmd: asyncRound ? 'writeAsync' : 'write' });
    while (rw.inspect().state !== 'draining') await new Promise((resolve) => setImmediate(resolve));
    const killedAt = process.hrtime.bigint();
    holder.kill('SIGKILL');
    const result = await wrote;
    if (result.status !== 'acquired' || result.sharesReclaimed !== 1) reclaimedEachRound = false;
    (asyncRound ? asyncDeathMs : deathMs).push(Number(BigInt(result.enteredAt) - killedAt) / 1e6);
    await new Promise((r) => (holder.exitCode !== null || holder.signalCode !== null ? r(null) : holder.once('exit', r)));
    children.delete(holder);
  }
  const death = summarize(deathMs);
  const asyncDeath = summarize(asyncDeathMs);

  // --- glibc ----------------------------------------------------------------------
  const pthread = args['no-baselines']
    ? { available: false as const, reason: 'skipped (--no-baselines)' }
    : await runPthreadRwlockBench({ uncontended: UNCONTENDED, durationMs: DURATION_MS, readers: READERS, writerGapUs: GAP_US });
  const pthreadPw = args['no-baselines']
    ? { available: false as const, reason: 'skipped (--no-baselines)' }
    : await runPthreadRwlockBench({ uncontended: UNCONTENDED, durationMs: DURATION_MS, readers: READERS, writerGapUs: GAP_US, preferWriter: true });
  const p = pthread.available ? pthread.result : null;
  const pw = pthreadPw.available ? pthreadPw.result : null;
  const uncontendedReadRatioVsPthread = p ? ratio(uncontendedReadNs, p.uncontended.nsPerOp) : null;
  const readMostlyRatioVsPthread = p ? ratio(p.readMostly.readsPerSec, readMostlyReadsPerSec) : null;
  const summary = {
    summary: 'rwlock',
    uncontendedReadNs,
    pthreadUncontendedReadNs: p?.uncontended.nsPerOp ?? null,
    uncontendedReadRatioVsPthread,
    readMostlyReadsPerSec,
    readMostlyWritesPerSec,
    pthreadReadMostlyReadsPerSec: p?.readMostly.readsPerSec ?? null,
    pthreadReadMostlyWritesPerSec: p?.readMostly.writesPerSec ?? null,
    readMostlyRatioVsPthread,
    pthreadPreferWriterReadMostlyReadsPerSec: pw?.readMostly.readsPerSec ?? null,
    pthreadPreferWriterReadMostlyWritesPerSec: pw?.readMostly.writesPerSec ?? null,
    readMostlyRatioVsPthreadPreferWriter: pw ? ratio(pw.readMostly.readsPerSec, readMostlyReadsPerSec) : null,
    readerDeathToWriterMsMedian: death.median,
    readerDeathToWriterMsP90: death.p90,
    readerDeathToWriterMsMin: death.min,
    readerDeathToAsyncWriterMsMedian: asyncDeath.median,
    readerDeathToAsyncWriterMsP90: asyncDeath.p90,
    asyncWriterDeathRatioVsSync: ratio(asyncDeath.median, death.median),
    readerDeathRounds: ROUNDS,
    readerDeathSharesReclaimedEachRound: reclaimedEachRound,
    pthreadWriterAfterReaderDeath: 'never (no robust rwlock in glibc; see demos/rwlock-reader-death.ts)',
    torn: torn + (p?.readMostly.torn ? 1 : 0) + (pw?.readMostly.torn ? 1 : 0),
    baselineUnavailable: pthread.available ? undefined : pthread.reason,
    loadAverage: (await import('node:os')).loadavg(),
  };
  const fmtRate = (v: number) => Math.round(v).toLocaleString('en-US');
  writeBenchCharts(
    'rwlock',
    args.svg,
    { ...summary, samples: { readerDeathToWriterMs: deathMs, readerDeathToAsyncWriterMs: asyncDeathMs, readMostlyReadsPerSecRuns: runsReads, readMostlyWritesPerSecRuns: runsWrites } },
    barChartSvg({
      title: 'RobustRwLock vs glibc pthread_rwlock_t (process-shared)',
      subtitle: `${process.version}, ${new Date().toISOString().slice(0, 16)} UTC, load ${summary.loadAverage.map((l) => l.toFixed(1)).join(' / ')}; C built in the same run`,
      groups: [
        { label: 'uncontended read acquire+release', unit: 'ns', better: 'lower', bars: [{ name: 'robust-shm', value: uncontendedReadNs }, { name: 'glibc default', value: p?.uncontended.nsPerOp ?? null }] },
        {
          label: `read-mostly reads/s (${READERS} reader processes + 1 writer, median of ${RUNS})`,
          unit: 'reads/s',
          better: 'higher',
          bars: [
            { name: 'robust-shm', value: readMostlyReadsPerSec, text: `${fmtRate(readMostlyReadsPerSec)} (writer ${fmtRate(readMostlyWritesPerSec)} writes/s)` },
            { name: 'glibc default', value: p?.readMostly.readsPerSec ?? null, ...(p ? { text: `${fmtRate(p.readMostly.readsPerSec)} (writer ${fmtRate(p.readMostly.writesPerSec)} writes/s)` } : {}) },
            { name: 'glibc PREFER_WRITER', value: pw?.readMostly.readsPerSec ?? null, ...(pw ? { text: `${fmtRate(pw.readMostly.readsPerSec)} (writer ${fmtRate(pw.readMostly.writesPerSec)} writes/s)` } : {}) },
          ],
        },
        {
          label: `reader SIGKILL -> waiting writer in, median of ${ROUNDS}`,
          unit: 'ms',
          better: 'lower',
          bars: [
            { name: 'robust-shm', value: death.median, text: `${death.median.toFixed(3)} ms (p90 ${death.p90.toFixed(3)})` },
            { name: 'robust-shm async writer', value: asyncDeath.median, text: `${asyncDeath.median.toFixed(3)} ms (p90 ${asyncDeath.p90.toFixed(3)})` },
            { name: 'glibc default', value: null, text: 'never (no robust rwlock in glibc)' },
          ],
        },
      ],
    }),
  );
  if (json) process.stdout.write(JSON.stringify(summary) + '\n');
  else {
    process.stdout.write(
      formatTable(
        ['figure', 'robust-shm', 'glibc pthread_rwlock_t', 'ratio', 'target'],
        [
          ['uncontended read acquire+release (ns)', uncontendedReadNs.toFixed(1), p?.uncontended.nsPerOp ?? null, uncontendedReadRatioVsPthread, '<= 2'],
          [`read-mostly reads/s (${READERS} readers + 1 writer, processes)`, Math.round(readMostlyReadsPerSec), p ? Math.round(p.readMostly.readsPerSec) : null, readMostlyRatioVsPthread, '<= 2'],
          ['  writes/s in that run (glibc default prefers readers)', Math.round(readMostlyWritesPerSec), p ? Math.round(p.readMostly.writesPerSec) : null, null, ''],
          ['  vs glibc PREFER_WRITER_NONRECURSIVE: reads/s', '', pw ? Math.round(pw.readMostly.readsPerSec) : null, pw ? ratio(pw.readMostly.readsPerSec, readMostlyReadsPerSec) : null, ''],
          ['  its writes/s', '', pw ? Math.round(pw.readMostly.writesPerSec) : null, null, ''],
          [`reader SIGKILL -> writer in (ms, median of ${ROUNDS})`, death.median.toFixed(3), 'never', null, '<= 1'],
          ['  p10 / p90', `${death.p10.toFixed(3)} / ${death.p90.toFixed(3)}`, '', null, ''],
          [`  async writer (acquireWriteAsync, futex_waitv) (ms, median of ${ROUNDS})`, asyncDeath.median.toFixed(3), 'never', ratio(asyncDeath.median, death.median), '<= 1.5x sync'],
        ],
      ) + '\n',
    );
  }
  if (torn > 0) process.exitCode = 1;
} finally {
  await cleanup();
}
