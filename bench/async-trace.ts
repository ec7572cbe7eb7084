// One async hand-over taken apart: this process holds a RobustMutex, a child
// process waits in acquireAsync() (or acquire(), interleaved), this process
// releases at t0. The child notes when the native waiter's delivery reached JS
// and when its acquire returned, so the async hop splits into kernel wake ->
// waiter thread -> event loop (t0 -> delivery) and delivery -> resolved
// promise. Speed is measured here, never asserted in tests.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { openRegion } from '../src/shm/region.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { forkReady, type FleetMember } from '../src/workers/fleet.js';
import { tsFork } from '../tools/ts-spawn.js';
import { formatTable, summarize, type Summary } from './lib/stats.js';
import { cdfChartSvg } from './lib/svg-chart.js';
import { benchCli } from './lib/bench-cli.js';
import { removeAtExit } from './lib/cleanup.js';

const HELP = `Usage: npx tsx bench/async-trace.ts [options]

Cross-process hand-over to a waiter in acquireAsync() against one in
acquire() (rounds interleaved): release() in this process -> the child's
return, and for async the split at the moment the native futex_waitv
waiter's delivery reached the child's JS.

Options:
  --rounds <n>  hand-overs of each kind (default 30, min 1)
  --json        one JSON summary line on stdout (progress goes to stderr)
  --svg <file>  where to write the chart (default bench/results/async-handover.svg): CDFs of
                the sync and async hand-over and the async one's stretches; the JSON with
                every sample goes beside it (.json)
  -h, --help    this help`;

const cli = benchCli('bench/async-trace', HELP, { rounds: { type: 'string' }, json: { type: 'boolean' }, svg: { type: 'string' } } as const);
const args = cli.values;
const ROUNDS = cli.int('rounds', 30, 1);
const progress = (message: string) => process.stderr.write(`[async-trace] ${message}\n`);

const path = join('/dev/shm', `robust-shm-bench-async-trace-${process.pid}`);
removeAtExit(path, `${path}.lock`);
const region = await openRegion(path, { size: 64 * 1024, create: true });
const mutex = RobustMutex.open(region, 'handover', { policy: 'windows' });
let child: FleetMember | undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Waited = { status: string; deliveredAt: string; steppedAt: string; returnedAt: string };
try {
  child = await forkReady(new URL('./lib/async-trace-participant.ts', import.meta.url), [JSON.stringify({ path, mutexOffset: mutex.byteOffset })], { fork: tsFork });
  const c = child.child;
  const samples = { sync: [] as number[], async: [] as number[], asyncToDelivery: [] as number[], asyncDeliveryToStep: [] as number[], asyncStepToReturn: [] as number[] };
  progress(`${ROUNDS} hand-overs each, sync and async interleaved`);
  for (let round = 0; round < 2 * ROUNDS; round++) {
    const mode = round % 2 === 0 ? 'async' : 'sync';
    mutex.acquire();
    const waited = new Promise<Waited>((resolve) => c.once('message', (m) => resolve(m as Waited)));
    c.send({ mode });
    const deadline = performance.now() + 30_000;
    while (mutex.inspect().waiters < 1) {
      if (performance.now() > deadline) throw new Error('the waiter never blocked');
      await sleep(1);
    }
    await sleep(20);
    const t0 = process.hrtime.bigint();
    mutex.release();
    const r = await waited;
    if (r.status !== 'acquired') throw new Error(`round ${round}: the waiter got ${r.status}`);
    const ms = (a: bigint) => Number(a - t0) / 1e6;
    samples[mode].push(ms(BigInt(r.returnedAt)));
    if (mode === 'async') {
      samples.asyncToDelivery.push(ms(BigInt(r.deliveredAt)));
      samples.asyncDeliveryToStep.push(Number(BigInt(r.steppedAt) - BigInt(r.deliveredAt)) / 1e6);
      samples.asyncStepToReturn.push(Number(BigInt(r.returnedAt) - BigInt(r.steppedAt)) / 1e6);
    }
  }
  const figures: Record<string, Summary> = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
  const summaryLine = { summary: 'async-trace', rounds: ROUNDS, node: process.version, loadavg: loadavg(), ms: figures };
  const svgPath = args.svg ?? fileURLToPath(new URL('./results/async-handover.svg', import.meta.url));
  mkdirSync(dirname(svgPath), { recursive: true });
  writeFileSync(svgPath.replace(/\.svg$/, '') + '.json', JSON.stringify({ ...summaryLine, samplesMs: samples }, null, 1) + '\n');
  writeFileSync(
    svgPath,
    cdfChartSvg({
      title: 'Cross-process hand-over: acquire() vs acquireAsync()',
      subtitle: `${ROUNDS} rounds each, interleaved, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')} (bench/async-trace.ts)`,
      series: [
        { name: 'sync: release -> return', samples: samples.sync },
        { name: 'async: release -> return', samples: samples.async },
        { name: 'async: release -> delivery', samples: samples.asyncToDelivery },
        { name: 'async: delivery -> next look', samples: samples.asyncDeliveryToStep },
        { name: 'async: next look -> return', samples: samples.asyncStepToReturn },
      ],
      xLabel: 'ms',
    }),
  );
  progress(`wrote ${svgPath} and its .json`);
  if (args.json) process.stdout.write(JSON.stringify(summaryLine) + '\n');
  else {
    const rows = Object.entries(figures).map(([k, s]) => [k, s.median, s.p90]);
    process.stdout.write(formatTable(['hand-over (ms)', 'median', 'p90'], rows) + '\n');
  }
} finally {
  if (child) {
    child.child.kill('SIGKILL');
    await child.exit;
  }
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
}
