// Benchmark of RobustQueue against BullMQ on a local redis-server (Debian's
// package, started by this bench on a free loopback port and stopped at the
// end): the same workloads through both.
//   1. jobs/s: 1 producer (this process) + 2 consumer processes, 100-byte and
//      4 KiB payloads;
//   2. a consumer SIGKILLed mid-job -> the job taken again by another
//      consumer (median, p90): ours, BullMQ at its defaults (lockDuration and
//      stalledInterval 30 s) and BullMQ at 1 s;
//   3. a consumer whose event loop is blocked 45 s mid-job: how many times the
//      job went to another consumer meanwhile (ours, BullMQ at its defaults).
// Speed is measured here, never asserted in tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { barChartSvg } from './lib/svg-chart.js';
import { writeBenchCharts } from './lib/chart-files.js';
import { join } from 'node:path';
import { openRegion } from '../src/shm/region.js';
import { RobustQueue } from '../src/queue/robust-queue.js';
import { forkTs } from '../tools/ts-spawn.js';
import { parentDeathEnv } from '../src/workers/parent-death.js';
import { summarize, type Summary } from './lib/stats.js';
import { RETAKE_F64, T, T_INTS, TABLE_BYTES, MAX_ROUNDS, monotonicMs, type QueueBenchData, type QueueBenchRole } from './lib/queue-bench-table.js';
import { benchCli } from './lib/bench-cli.js';
import { removeAtExit } from './lib/cleanup.js';
import { QueueFullError } from '../src/queue/queue-errors.js';

const HELP = `Usage: npx tsx bench/queue.ts [options]

RobustQueue against BullMQ on a local redis-server (started on a free loopback
port and stopped by the bench; without redis-server the bench says so and
prints RobustQueue's figures alone):
  - jobs/s, 1 producer + 2 consumer processes, 100 B and 4 KiB payloads;
  - a consumer SIGKILLed mid-job -> the job taken again (median, p90): ours,
    BullMQ at its defaults (lockDuration/stalledInterval 30 s), BullMQ at 1 s;
  - a consumer blocked 45 s mid-job: deliveries of its job to another consumer.

Options:
  --jobs <n>            jobs per throughput run of RobustQueue (default 20000)
  --bull-jobs <n>       jobs per throughput run of BullMQ (default 3000)
  --rounds <n>          kill rounds for ours and BullMQ at 1 s (default 20, max ${MAX_ROUNDS})
  --default-rounds <n>  kill rounds for BullMQ at its defaults (default 3; ~30-60 s each)
  --block-ms <n>        how long the blocked consumer blocks (default 45000)
  --msync-jobs <n>      jobs for the durability cost: enqueue + take + ack on a region file
                        on disk, with and without Region.flush() (msync) after each change (default 500)
  --msync-dir <dir>     where that file goes (default: the OS temp dir; must not be tmpfs to mean anything)
  --no-bullmq           RobustQueue's figures only
  --json                progress on stderr, one JSON summary line on stdout
  --svg <file>          where to write the chart (default bench/results/queue.svg);
                        <base>.json beside it holds the figures and every kill round's sample
  -h, --help            this help

Targets (issue 19): throughputRatioVsBullmq >= 20 (100 B), redeliveryMsMedian <= 5,
redeliveryMsP90 <= 20, blockedConsumerDoubleDeliveries 0.`;

const cli = benchCli('bench/queue', HELP, {
  jobs: { type: 'string' },
  'bull-jobs': { type: 'string' },
  rounds: { type: 'string' },
  'default-rounds': { type: 'string' },
  'block-ms': { type: 'string' },
  'no-bullmq': { type: 'boolean' },
  'msync-jobs': { type: 'string' },
  'msync-dir': { type: 'string' },
  json: { type: 'boolean' },
  svg: { type: 'string' },
} as const);
const args = cli.values;
const JOBS = cli.int('jobs', 20_000, 100, 10_000_000);
const BULL_JOBS = cli.int('bull-jobs', 3_000, 100, 1_000_000);
const ROUNDS = cli.int('rounds', 20, 1, MAX_ROUNDS - 10);
const DEFAULT_ROUNDS = cli.int('default-rounds', 3, 0, 50);
const BLOCK_MS = cli.int('block-ms', 45_000, 1_000, 600_000);
const MSYNC_JOBS = cli.int('msync-jobs', 500, 0, 1_000_000);
const MSYNC_DIR = args['msync-dir'] ?? tmpdir();
const JSON_OUT = args.json;
const say = (line: string): void => void process.stderr.write(line + '\n');

const path = `/dev/shm/robust-shm-bench-queue-${process.pid}`;
// Removed in the finally at the end, or by an interrupt (Ctrl-C), which also kills the
// participants and redis-server (lib/cleanup.ts).
removeAtExit(path, `${path}.lock`);
const region = await openRegion(path, { size: 64 * 1024 * 1024, create: true });
const tableOffset = region.findOrCreate('table', TABLE_BYTES).offset;
const table = new Int32Array(region.buffer, tableOffset, T_INTS);
const times = new Float64Array(region.buffer, tableOffset, RETAKE_F64 + MAX_ROUNDS);
const children = new Set<ChildProcess>();
const participant = new URL('./lib/queue-bench-participant.ts', import.meta.url);
let redis: ChildProcess | undefined;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1);
  }
}

function start(role: QueueBenchRole, extra: Partial<QueueBenchData> = {}): ChildProcess {
  const d: QueueBenchData = { role, path, queueOffset: 0, tableOffset, ...extra };
  const child = forkTs(participant, [JSON.stringify(d)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...parentDeathEnv() } });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

async function startReady(role: QueueBenchRole, extra: Partial<QueueBenchData> = {}): Promise<ChildProcess> {
  const before = Atomics.load(table, T.ready);
  const child = start(role, extra);
  await until(() => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${role} exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    return Atomics.load(table, T.ready) > before;
  }, 60_000, `${role} to start`);
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

function reset(): void {
  for (let i = 0; i < T_INTS; i++) Atomics.store(table, i, 0);
  times.fill(0, RETAKE_F64);
}

// ---- RobustQueue -----------------------------------------------------------

let queueCount = 0;
function freshQueue(maxJobBytes: number): RobustQueue {
  return RobustQueue.open(region, `q${++queueCount}`, { capacity: 1024, maxJobBytes });
}

async function oursThroughput(bytes: number): Promise<number> {
  reset();
  const queue = freshQueue(bytes);
  const consumers = [await startReady('ours-consumer', { queueOffset: queue.byteOffset }), await startReady('ours-consumer', { queueOffset: queue.byteOffset })];
  const payload = new Uint8Array(bytes).fill(0x61);
  const started = performance.now();
  for (let i = 0; i < JOBS; i++) {
    // Blocks while the consumers are behind; a queue full for 100 ms lets the event loop run
    // (an interrupt's cleanup, the exit of a consumer that died, which no enqueue would outwait).
    for (;;) {
      try {
        queue.enqueue(payload, { timeoutMs: 100 });
        break;
      } catch (error) {
        if (!(error instanceof QueueFullError)) throw error;
        await new Promise((resolve) => setImmediate(resolve));
        const dead = consumers.find((c) => c.exitCode !== null || c.signalCode !== null);
        if (dead) throw new Error(`a consumer exited (${dead.exitCode ?? dead.signalCode}) with the queue full`);
      }
    }
  }
  await until(() => Atomics.load(table, T.consumed) >= JOBS, 600_000, 'the consumers to finish');
  const seconds = (performance.now() - started) / 1000;
  Atomics.store(table, T.stop, 1);
  await Promise.all(consumers.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve(null) : c.once('exit', resolve)))));
  return JOBS / seconds;
}

async function oursRedelivery(): Promise<number[]> {
  reset();
  const queue = freshQueue(100);
  const retaker = await startReady('ours-retaker', { queueOffset: queue.byteOffset });
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const holder = await startReady('ours-holder', { queueOffset: queue.byteOffset });
    const id = queue.enqueue('held');
    await until(() => Atomics.load(table, T.holderTook) === id, 30_000, 'the holder to take its job');
    Atomics.store(table, T.retaker, 1);
    await until(() => Atomics.load(table, T.retaker) === 2, 30_000, 'the retaker to wait');
    await sleep(5);
    const killedAt = monotonicMs();
    holder.kill('SIGKILL');
    await until(() => times[RETAKE_F64 + id]! > 0, 30_000, 'the retake');
    samples.push(times[RETAKE_F64 + id]! - killedAt);
    await kill(holder);
    await until(() => Atomics.load(table, T.retaker) === 0, 30_000, 'the retaker to ack');
  }
  Atomics.store(table, T.stop, 1);
  await kill(retaker);
  return samples;
}

/**
 * The price of durability beyond a process crash: a region file on disk and
 * Region.flush() (msync, synchronous) after every enqueue and every ack, in
 * one thread, against the same loop without flushing.
 */
async function durability(): Promise<{ flushed: number; unflushed: number; dir: string }> {
  const file = join(MSYNC_DIR, `robust-shm-bench-queue-msync-${process.pid}`);
  const forget = removeAtExit(file, `${file}.lock`);
  const disk = await openRegion(file, { size: 1024 * 1024, create: true });
  try {
    const run = (flush: boolean, name: string): number => {
      const queue = RobustQueue.open(disk, name, { capacity: 64, maxJobBytes: 100 });
      const payload = new Uint8Array(100).fill(0x62);
      const started = performance.now();
      for (let i = 0; i < MSYNC_JOBS; i++) {
        queue.enqueue(payload);
        if (flush) disk.flush();
        queue.take()!.ack();
        if (flush) disk.flush();
      }
      return MSYNC_JOBS / ((performance.now() - started) / 1000);
    };
    const unflushed = run(false, 'plain');
    const flushed = run(true, 'flushed');
    return { flushed, unflushed, dir: MSYNC_DIR };
  } finally {
    rmSync(file, { force: true });
    rmSync(`${file}.lock`, { force: true, recursive: true });
    forget();
  }
}

// ---- BullMQ ------------------------------------------------------------------

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

async function startRedis(): Promise<number | null> {
  const binary = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
  if (!binary) return null;
  const port = await freePort();
  redis = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  redis.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await until(() => out.includes('Ready to accept connections'), 20_000, 'redis-server to start');
  return port;
}

async function bullThroughput(port: number, bytes: number): Promise<number> {
  reset();
  const { Queue } = await import('bullmq');
  const name = `tp-${bytes}-${process.pid}`;
  const queue = new Queue(name, { connection: { host: '127.0.0.1', port } });
  const consumers = [await startReady('bull-consumer', { redisPort: port, bullQueue: name }), await startReady('bull-consumer', { redisPort: port, bullQueue: name })];
  const payload = 'a'.repeat(bytes);
  const started = performance.now();
  // Adds pipelined 100 at a time (kinder to BullMQ than one awaited round trip per job).
  for (let i = 0; i < BULL_JOBS; i += 100) {
    const batch: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(BULL_JOBS, i + 100); k++) batch.push(queue.add('job', { n: k, payload }, { removeOnComplete: true }));
    await Promise.all(batch);
  }
  await until(() => Atomics.load(table, T.consumed) >= BULL_JOBS, 600_000, 'the BullMQ consumers to finish');
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(consumers.map(kill));
  await queue.obliterate({ force: true });
  await queue.close();
  return BULL_JOBS / seconds;
}

async function bullRedelivery(port: number, rounds: number, lockMs: number | undefined, label: string): Promise<number[]> {
  const { Queue } = await import('bullmq');
  const name = `kill-${label}-${process.pid}`;
  const queue = new Queue(name, { connection: { host: '127.0.0.1', port } });
  const extra = { redisPort: port, bullQueue: name, ...(lockMs === undefined ? {} : { lockMs }) };
  const retaker = await startReady('bull-retaker', extra);
  const samples: number[] = [];
  for (let r = 1; r <= rounds; r++) {
    const holder = await startReady('bull-holder', extra);
    await queue.add('job', { n: r }, { removeOnComplete: true });
    await until(() => Atomics.load(table, T.holderTook) === r, 30_000, 'the BullMQ holder to take its job');
    Atomics.store(table, T.retaker, 1);
    await until(() => Atomics.load(table, T.retaker) === 2, 30_000, 'the BullMQ retaker to start');
    await sleep(5);
    const killedAt = monotonicMs();
    holder.kill('SIGKILL');
    await until(() => times[RETAKE_F64 + r]! > 0, 300_000, `BullMQ (${label}) to take the job again`);
    samples.push(times[RETAKE_F64 + r]! - killedAt);
    say(`  BullMQ ${label}: round ${r}/${rounds}: retaken after ${(samples.at(-1)! / 1000).toFixed(2)} s`);
    await kill(holder);
  }
  await kill(retaker);
  await queue.obliterate({ force: true });
  await queue.close();
  return samples;
}

/** Both blocked consumers at once (ours and BullMQ's each block BLOCK_MS): deliveries of the blocked job to the watcher. */
async function blocked(port: number | null): Promise<{ ours: number; bull: number | null; bullBlockerLostLock: boolean | null }> {
  reset();
  const queue = freshQueue(100);
  const oursBlocker = await startReady('ours-blocker', { queueOffset: queue.byteOffset, blockMs: BLOCK_MS });
  queue.enqueue('blocked job');
  let bullQueue: import('bullmq').Queue | undefined;
  let bullBlocker: ChildProcess | undefined;
  const name = `blocked-${process.pid}`;
  if (port !== null) {
    const { Queue } = await import('bullmq');
    bullQueue = new Queue(name, { connection: { host: '127.0.0.1', port } });
    bullBlocker = await startReady('bull-blocker', { redisPort: port, bullQueue: name, blockMs: BLOCK_MS });
    await bullQueue.add('job', { n: 1 });
  }
  await until(() => Atomics.load(table, T.oursBlocker) === 1, 30_000, 'our blocker to take its job');
  if (port !== null) await until(() => Atomics.load(table, T.bullBlocker) === 1, 30_000, 'the BullMQ blocker to take its job');
  // The watchers start once the blockers hold their jobs: anything they get is a second delivery.
  const watchers = [await startReady('ours-blocked-watcher', { queueOffset: queue.byteOffset })];
  if (port !== null) watchers.push(await startReady('bull-blocked-watcher', { redisPort: port, bullQueue: name }));
  say(`  both consumers blocked for ${BLOCK_MS / 1000} s ...`);
  await until(() => Atomics.load(table, T.oursBlocker) === 2 && (port === null || Atomics.load(table, T.bullBlocker) === 2), BLOCK_MS + 60_000, 'the blockers to finish');
  // A BullMQ job whose lock lapsed while its worker was blocked is run again at the next stalled check,
  // which may come after the block ended (its completion failed meanwhile): watch for 2 x stalledInterval (30 s).
  if (port !== null) {
    say('  watching for a second run of the BullMQ job (up to 65 s) ...');
    const watchUntil = performance.now() + 65_000;
    while (Atomics.load(table, T.bullDouble) === 0 && performance.now() < watchUntil) await sleep(50);
  }
  await sleep(1000);
  Atomics.store(table, T.stop, 1);
  await Promise.all([...watchers, oursBlocker, ...(bullBlocker ? [bullBlocker] : [])].map(kill));
  if (bullQueue) {
    await bullQueue.obliterate({ force: true });
    await bullQueue.close();
  }
  return { ours: Atomics.load(table, T.oursDouble), bull: port === null ? null : Atomics.load(table, T.bullDouble), bullBlockerLostLock: port === null ? null : Atomics.load(table, T.bullBlockerLostLock) === 1 };
}

// ---- run -----------------------------------------------------------------------

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
const ms = (s: Summary): { median: number; p90: number; count: number } => ({ median: round(s.median), p90: round(s.p90), count: s.count });
try {
  let port: number | null = null;
  if (!args['no-bullmq']) {
    port = await startRedis();
    if (port === null) say('bench/queue: redis-server is not installed (apt-get install -y redis-server): RobustQueue figures only.');
    else say(`redis-server on 127.0.0.1:${port}`);
  }
  say(`RobustQueue throughput: ${JOBS} jobs, 100 B ...`);
  const ours100 = await oursThroughput(100);
  say(`  ${Math.round(ours100)} jobs/s`);
  say(`RobustQueue throughput: ${JOBS} jobs, 4 KiB ...`);
  const ours4k = await oursThroughput(4096);
  say(`  ${Math.round(ours4k)} jobs/s`);
  say(`RobustQueue: SIGKILL of a consumer mid-job -> retake, ${ROUNDS} rounds ...`);
  const oursKillSamples = await oursRedelivery();
  const oursKill = summarize(oursKillSamples);
  say(`  median ${oursKill.median.toFixed(2)} ms, p90 ${oursKill.p90.toFixed(2)} ms`);

  let durable: Awaited<ReturnType<typeof durability>> | null = null;
  if (MSYNC_JOBS > 0) {
    say(`RobustQueue on a file in ${MSYNC_DIR}: ${MSYNC_JOBS} jobs with and without msync after each change ...`);
    durable = await durability();
    say(`  ${Math.round(durable.flushed)} jobs/s flushed, ${Math.round(durable.unflushed)} jobs/s not`);
  }
  let bull100: number | null = null;
  let bull4k: number | null = null;
  let bullKill1s: Summary | null = null;
  let bullKillDefault: Summary | null = null;
  let bullKill1sSamples: number[] | null = null;
  let bullKillDefaultSamples: number[] | null = null;
  let block: Awaited<ReturnType<typeof blocked>>;
  if (port !== null) {
    say(`BullMQ throughput: ${BULL_JOBS} jobs, 100 B ...`);
    bull100 = await bullThroughput(port, 100);
    say(`  ${Math.round(bull100)} jobs/s`);
    say(`BullMQ throughput: ${BULL_JOBS} jobs, 4 KiB ...`);
    bull4k = await bullThroughput(port, 4096);
    say(`  ${Math.round(bull4k)} jobs/s`);
    say(`BullMQ lockDuration/stalledInterval 1 s: SIGKILL -> retake, ${ROUNDS} rounds ...`);
    reset();
    bullKill1sSamples = await bullRedelivery(port, ROUNDS, 1000, '1s');
    bullKill1s = summarize(bullKill1sSamples);
    say(`BullMQ defaults: SIGKILL -> retake, ${DEFAULT_ROUNDS} rounds, and the ${BLOCK_MS / 1000} s blocked consumer (ours and BullMQ's) ...`);
    reset();
    if (DEFAULT_ROUNDS > 0) {
      bullKillDefaultSamples = await bullRedelivery(port, DEFAULT_ROUNDS, undefined, 'default');
      bullKillDefault = summarize(bullKillDefaultSamples);
    }
    block = await blocked(port);
  } else {
    block = await blocked(null);
  }
  const figures = {
    jobs: JOBS,
    bullJobs: BULL_JOBS,
    oursJobsPerSec100B: Math.round(ours100),
    oursJobsPerSec4KiB: Math.round(ours4k),
    bullmqJobsPerSec100B: bull100 === null ? null : Math.round(bull100),
    bullmqJobsPerSec4KiB: bull4k === null ? null : Math.round(bull4k),
    throughputRatioVsBullmq: bull100 === null ? null : round(ours100 / bull100, 1),
    throughputRatioVsBullmq4KiB: bull4k === null ? null : round(ours4k / bull4k, 1),
    redeliveryMsMedian: round(oursKill.median),
    redeliveryMsP90: round(oursKill.p90),
    redeliveryRounds: oursKill.count,
    bullmqRedeliveryMs1s: bullKill1s ? ms(bullKill1s) : null,
    bullmqRedeliveryMsDefault: bullKillDefault ? ms(bullKillDefault) : null,
    msyncDir: durable?.dir ?? null,
    msyncJobsPerSec: durable ? Math.round(durable.flushed) : null,
    noMsyncJobsPerSecSameFile: durable ? Math.round(durable.unflushed) : null,
    blockedConsumerMs: BLOCK_MS,
    blockedConsumerDoubleDeliveries: block.ours,
    bullmqBlockedConsumerDoubleDeliveries: block.bull,
    bullmqBlockedConsumerLostItsLock: block.bullBlockerLostLock,
    targetsMet: {
      throughput: bull100 === null ? null : ours100 / bull100 >= 20,
      redeliveryMedian: oursKill.median <= 5,
      redeliveryP90: oursKill.p90 <= 20,
      doubleDeliveries: block.ours === 0,
    },
  };
  const killBar = (name: string, k: Summary | null) => ({ name, value: k ? k.median : null, ...(k ? { text: `${round(k.median)} ms (p90 ${round(k.p90)})` } : {}) });
  writeBenchCharts(
    'queue',
    args.svg,
    { ...figures, samples: { redeliveryMs: oursKillSamples, bullmqRedeliveryMs1s: bullKill1sSamples, bullmqRedeliveryMsDefault: bullKillDefaultSamples } },
    barChartSvg({
      title: 'RobustQueue vs BullMQ on a local redis-server (same run)',
      subtitle: `${process.version}, ${new Date().toISOString().slice(0, 16)} UTC, load ${loadavg().map((l) => l.toFixed(1)).join(' / ')}; 1 producer + 2 consumer processes`,
      groups: [
        { label: 'throughput, 100 B jobs', unit: 'jobs/s', better: 'higher', bars: [{ name: 'RobustQueue', value: figures.oursJobsPerSec100B }, { name: 'BullMQ', value: figures.bullmqJobsPerSec100B }] },
        { label: 'throughput, 4 KiB jobs', unit: 'jobs/s', better: 'higher', bars: [{ name: 'RobustQueue', value: figures.oursJobsPerSec4KiB }, { name: 'BullMQ', value: figures.bullmqJobsPerSec4KiB }] },
        {
          label: 'consumer SIGKILLed mid-job -> job taken again, median',
          unit: 'ms',
          better: 'lower',
          bars: [killBar('RobustQueue', oursKill), killBar('BullMQ, lock 1 s', bullKill1s), killBar('BullMQ, defaults (30 s)', bullKillDefault)],
        },
      ],
      notes: [`A consumer blocked ${BLOCK_MS / 1000} s mid-job: its job delivered again ${block.ours} time(s) by RobustQueue, ${block.bull ?? 'n/a'} by BullMQ.`],
    }),
  );
  if (JSON_OUT) process.stdout.write(JSON.stringify(figures) + '\n');
  else {
    const line = (label: string, value: unknown): void => void process.stdout.write(`${label.padEnd(52)} ${String(value)}\n`);
    line('jobs/s 100 B (RobustQueue / BullMQ)', `${figures.oursJobsPerSec100B} / ${figures.bullmqJobsPerSec100B ?? '-'}  (x${figures.throughputRatioVsBullmq ?? '-'})`);
    line('jobs/s 4 KiB (RobustQueue / BullMQ)', `${figures.oursJobsPerSec4KiB} / ${figures.bullmqJobsPerSec4KiB ?? '-'}  (x${figures.throughputRatioVsBullmq4KiB ?? '-'})`);
    line('SIGKILL -> retake, RobustQueue (median / p90 ms)', `${figures.redeliveryMsMedian} / ${figures.redeliveryMsP90}`);
    line('SIGKILL -> retake, BullMQ 1 s (median / p90 ms)', bullKill1s ? `${round(bullKill1s.median)} / ${round(bullKill1s.p90)}` : '-');
    line('SIGKILL -> retake, BullMQ defaults (median / p90 ms)', bullKillDefault ? `${round(bullKillDefault.median)} / ${round(bullKillDefault.p90)}` : '-');
    line('file on disk: jobs/s with / without msync per change', durable ? `${figures.msyncJobsPerSec} / ${figures.noMsyncJobsPerSecSameFile}` : '-');
    line(`blocked ${BLOCK_MS / 1000} s: double deliveries (RobustQueue / BullMQ)`, `${block.ours} / ${block.bull ?? '-'}`);
  }
} finally {
  Atomics.store(table, T.stop, 1);
  await Promise.all([...children].map(kill));
  if (redis && redis.exitCode === null) {
    const gone = new Promise((resolve) => redis!.once('exit', resolve));
    redis.kill('SIGTERM');
    await Promise.race([gone, sleep(5000)]);
    if (redis.exitCode === null && redis.signalCode === null) redis.kill('SIGKILL');
  }
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
}
