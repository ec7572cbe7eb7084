// The async half of bench/mutex.ts (issue 11): acquireAsync() against acquire()
// in the same run and the same harness.
// - Cross-process hand-over: this process holds the mutex, a child waits (sync
//   or async, rounds interleaved), this process releases at t0; the sample is
//   the child's CLOCK_MONOTONIC right after its acquire returned, minus t0.
// - Death detection with a sync or an async waiter (child process): the owner
//   (a child process SIGKILLed, or a worker thread terminate()d, parked inside
//   its critical section) dies at t0; the sample ends when the waiter's
//   acquire returned 'abandoned'.
// - 500 pending acquireAsync() in one child on 50 mutexes this process holds
//   and then releases: the child's CPU while they wait (500 ms) and the wall
//   and CPU time until all 500 returned; once with futex_waitv, once with the
//   old slice polling (ROBUST_SHM_ASYNC_WAIT=slices in the child).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { bundleEntries } from '../../tools/bundle-entries.js';
import { RobustMutex, type NamedObjectHost } from '../../src/locks/robust-mutex.js';
import type { ParkingLot } from '../../src/workers/park.js';
import { forkReady, type FleetMember } from '../../src/workers/fleet.js';
import { startTsWorker, tsFork } from '../../tools/ts-spawn.js';
import { summarize, median, type Summary } from './stats.js';
import type { AsyncBenchCommand, AsyncBenchParticipantData } from './async-bench-participant.js';
import { removeAtExit } from './cleanup.js';

export interface AsyncBenchOptions {
  region: NamedObjectHost;
  path: string;
  lot: ParkingLot;
  /** Lot slots this harness may use (owner, waiter). */
  slots: [number, number];
  rounds: number;
  /** 'bundled': a worker-thread owner runs the participant bundled into plain JS (as bench/mutex.ts's); 'tsx': through tsx. */
  threadOwner: 'bundled' | 'tsx';
  progress(message: string): void;
}

/**
 * bench/baseline/futex-hop.c: a cross-process FUTEX_WAKE to a FUTEX_WAIT thread (acquire()'s path), through
 * a futex_waitv thread + eventfd to an epoll_wait thread (acquireAsync()'s), and through an io_uring
 * FUTEX_WAIT's eventfd to an epoll_wait thread (the alternative, when io_uring is allowed).
 */
export type FutexHopFloor =
  | { available: true; rounds: number; directMsMedian: number; directMsP90: number; hopMsMedian: number; hopMsP90: number; uringMsMedian?: number; uringMsP90?: number }
  | { available: false; reason: string };

export interface AsyncBenchResult {
  asyncMechanism: string;
  cFloor: FutexHopFloor;
  handover: { sync: Summary; async: Summary };
  death: { process: { sync: Summary; async: Summary }; thread: { sync: Summary; async: Summary } };
  manyPending: Record<'futex_waitv' | 'slice-polling', ManyPendingFigures>;
  /** Every sample (ms) behind the summaries above, for the charts. */
  samplesMs: {
    handover: { sync: number[]; async: number[] };
    death: { process: { sync: number[]; async: number[] }; thread: { sync: number[]; async: number[] } };
  };
}

export interface ManyPendingFigures {
  mechanism: string;
  /** The waiting child's CPU time as a share of wall time while 500 acquires wait (%). */
  idleCpuPercent: number;
  /** From the first release to the last of the 500 acquires returning. */
  releaseWallMs: number;
  releaseCpuMs: number;
}

export const participantUrl = new URL('./async-bench-participant.ts', import.meta.url);
const MANY_MUTEXES = 50;
const PER_MUTEX = 10;
const MANY_ROUNDS = 3;
const IDLE_MS = 500;

type Port = { on: Function; off: Function };
function next<T = Record<string, unknown>>(port: Port, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string; error?: string }) => {
      if (m.type === 'error') {
        port.off('message', on);
        reject(new Error(m.error));
      }
      if (m.type !== type) return;
      port.off('message', on);
      resolve(m as T);
    };
    port.on('message', on);
  });
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runAsyncBench(options: AsyncBenchOptions): Promise<AsyncBenchResult> {
  const { region, path, lot, progress } = options;
  const children = new Set<FleetMember>();
  const workers = new Set<Worker>();
  const [ownerSlot, waiterSlot] = options.slots;
  let bundleDir: string | undefined;
  let bundled: string | undefined;
  if (options.threadOwner === 'bundled') {
    bundleDir = mkdtempSync(join(tmpdir(), 'robust-shm-bench-async-'));
    removeAtExit(bundleDir);
    const files = await bundleEntries({ entries: { 'async-bench-participant': participantUrl }, outdir: bundleDir, packages: 'inline' });
    bundled = files['async-bench-participant']!;
  }
  const dataFor = (slot: number): AsyncBenchParticipantData => ({ path, lotOffset: lot.byteOffset, slot });
  async function fork(slot: number, env?: NodeJS.ProcessEnv): Promise<FleetMember> {
    const m = await forkReady(participantUrl, [JSON.stringify(dataFor(slot))], { fork: env ? { ...tsFork, env: { ...process.env, ...env } } : tsFork });
    children.add(m);
    return m;
  }
  async function thread(slot: number): Promise<Worker> {
    const data = { ...dataFor(slot), buffer: region.buffer };
    const worker = bundled ? new Worker(bundled, { workerData: { data } }) : startTsWorker(participantUrl, data);
    workers.add(worker);
    await next(worker, 'ready');
    return worker;
  }
  const send = (m: FleetMember, command: AsyncBenchCommand) => m.child.send(command);
  async function untilWaiting(mutex: RobustMutex): Promise<void> {
    const deadline = performance.now() + 30_000;
    while (mutex.inspect().waiters < 1) {
      if (performance.now() > deadline) throw new Error('the waiter never blocked');
      await sleep(1);
    }
    // Let the waiter settle into its sleep (it registers just before it).
    await sleep(5);
  }

  try {
    // ---- hand-over ------------------------------------------------------
    const handoverMutex = RobustMutex.open(region, 'async-handover');
    const waiter = await fork(waiterSlot);
    const handover = { sync: [] as number[], async: [] as number[] };
    progress(`async: cross-process hand-over, ${options.rounds} rounds each of sync and async`);
    for (let round = 0; round < options.rounds; round++) {
      for (const mode of ['sync', 'async'] as const) {
        handoverMutex.acquire();
        const waited = next<{ status: string; at: string }>(waiter.child, 'waited');
        send(waiter, { cmd: 'wait', mutexOffset: handoverMutex.byteOffset, mode });
        await untilWaiting(handoverMutex);
        const t0 = process.hrtime.bigint();
        handoverMutex.release();
        const result = await waited;
        if (result.status !== 'acquired') throw new Error(`hand-over round ${round} (${mode}): ${result.status}`);
        handover[mode].push(Number(BigInt(result.at) - t0) / 1e6);
      }
    }

    // ---- death detection ---------------------------------------------------
    const deathSamples = { process: { sync: [] as number[], async: [] as number[] }, thread: { sync: [] as number[], async: [] as number[] } };
    const death = async (kind: 'process' | 'thread') => {
      const mutex = RobustMutex.open(region, `async-death-${kind}`, { policy: 'windows' });
      const samples = { sync: [] as number[], async: [] as number[] };
      const startOwner = () => (kind === 'process' ? fork(ownerSlot) : thread(ownerSlot));
      let nextOwner = startOwner();
      progress(`async: death detection (${kind}), ${options.rounds} rounds each of a sync and an async waiter`);
      for (let round = 0; round < options.rounds; round++) {
        for (const mode of ['sync', 'async'] as const) {
          const owner = await nextOwner;
          lot.request(ownerSlot);
          const hold: AsyncBenchCommand = { cmd: 'hold', mutexOffset: mutex.byteOffset };
          if (owner instanceof Worker) owner.postMessage(hold);
          else send(owner, hold);
          await lot.waitUntilParkedAsync(ownerSlot, { timeoutMs: 30_000 });
          const waited = next<{ status: string; at: string }>(waiter.child, 'waited');
          send(waiter, { cmd: 'wait', mutexOffset: mutex.byteOffset, mode });
          await untilWaiting(mutex);
          if (round + 1 < options.rounds || mode === 'sync') nextOwner = startOwner();
          let t0: bigint;
          if (owner instanceof Worker) {
            t0 = process.hrtime.bigint();
            void owner.terminate();
            workers.delete(owner);
          } else {
            t0 = process.hrtime.bigint();
            owner.child.kill('SIGKILL');
          }
          const result = await waited;
          if (result.status !== 'abandoned') throw new Error(`death round ${round} (${kind}, ${mode}): ${result.status}`);
          samples[mode].push(Number(BigInt(result.at) - t0) / 1e6);
          if (!(owner instanceof Worker)) await owner.exit;
        }
      }
      deathSamples[kind] = samples;
      return { sync: summarize(samples.sync), async: summarize(samples.async) };
    };
    const deathProcess = await death('process');
    const deathThread = await death('thread');

    // ---- 500 pending ---------------------------------------------------------
    const { offset: manyOffset } = region.findOrCreate('async-many', MANY_MUTEXES * RobustMutex.BYTES, (at) => {
      for (let i = 0; i < MANY_MUTEXES; i++) RobustMutex.initialize(region.buffer, at + i * RobustMutex.BYTES);
    });
    const many = Array.from({ length: MANY_MUTEXES }, (_, i) => RobustMutex.at(region.buffer, manyOffset + i * RobustMutex.BYTES));
    const manyPending = async (env: NodeJS.ProcessEnv | undefined): Promise<ManyPendingFigures> => {
      const child = await fork(waiterSlot, env);
      const rounds: ManyPendingFigures[] = [];
      for (let round = 0; round < MANY_ROUNDS; round++) {
        for (const m of many) m.acquire();
        const armed = next<{ mechanism: string; atUs: number; cpuUs: number }>(child.child, 'armed');
        const done = next<{ atUs: number; cpuUs: number }>(child.child, 'done');
        send(child, { cmd: 'many', mutexOffsets: many.map((m) => m.byteOffset), perMutex: PER_MUTEX });
        const a = await armed;
        await sleep(IDLE_MS);
        const marked = next<{ atUs: number; cpuUs: number }>(child.child, 'marked');
        send(child, { cmd: 'mark' });
        const k = await marked;
        const t0 = Number(process.hrtime.bigint() / 1000n);
        for (const m of many) m.release();
        const d = await done;
        rounds.push({
          mechanism: a.mechanism,
          idleCpuPercent: (100 * (k.cpuUs - a.cpuUs)) / (k.atUs - a.atUs),
          releaseWallMs: (d.atUs - t0) / 1000,
          releaseCpuMs: (d.cpuUs - k.cpuUs) / 1000,
        });
      }
      child.child.kill('SIGKILL');
      await child.exit;
      children.delete(child);
      return {
        mechanism: rounds[0]!.mechanism,
        idleCpuPercent: median(rounds.map((r) => r.idleCpuPercent)),
        releaseWallMs: median(rounds.map((r) => r.releaseWallMs)),
        releaseCpuMs: median(rounds.map((r) => r.releaseCpuMs)),
      };
    };
    progress(`async: ${MANY_MUTEXES * PER_MUTEX} pending acquireAsync on ${MANY_MUTEXES} mutexes, futex_waitv and slice polling`);
    const kernel = await manyPending(undefined);
    const slices = await manyPending({ ROBUST_SHM_ASYNC_WAIT: 'slices' });
    progress('async: C floor of the wake paths (bench/baseline/futex-hop.c)');
    const cFloor = await futexHopFloor(Math.max(100, options.rounds * 5));
    return {
      asyncMechanism: handoverMutex.asyncWaitMechanism,
      cFloor,
      handover: { sync: summarize(handover.sync), async: summarize(handover.async) },
      death: { process: deathProcess, thread: deathThread },
      manyPending: { futex_waitv: kernel, 'slice-polling': slices },
      samplesMs: { handover, death: deathSamples },
    };
  } finally {
    await Promise.all([...workers].map((w) => w.terminate()));
    await Promise.all(
      [...children].map((m) => {
        if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
        return m.exit;
      }),
    );
    if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
  }
}

async function futexHopFloor(rounds: number): Promise<FutexHopFloor> {
  const dir = mkdtempSync(join(tmpdir(), 'robust-shm-bench-hop-'));
  const forget = removeAtExit(dir);
  try {
    const exe = join(dir, 'futex-hop');
    const source = new URL('../baseline/futex-hop.c', import.meta.url).pathname;
    await promisify(execFile)('cc', ['-O2', '-pthread', '-o', exe, source], { timeout: 120_000 });
    const { stdout } = await promisify(execFile)(exe, [String(rounds)], { timeout: 300_000 });
    return JSON.parse(stdout) as FutexHopFloor;
  } catch (error) {
    return { available: false, reason: (error as Error).message.split('\n')[0]! };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    forget();
  }
}

/** The summary fields of issue 11. */
export function asyncSummary(r: AsyncBenchResult): Record<string, unknown> {
  const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
  return {
    asyncMechanism: r.asyncMechanism,
    asyncHandoverMsMedian: r.handover.async.median,
    asyncHandoverMsP90: r.handover.async.p90,
    syncHandoverMsMedian: r.handover.sync.median,
    syncHandoverMsP90: r.handover.sync.p90,
    asyncHandoverRatioVsSync: ratio(r.handover.async.median, r.handover.sync.median),
    asyncDeathDetectionMsMedianProcess: r.death.process.async.median,
    asyncDeathDetectionRatioVsSync: ratio(r.death.process.async.median, r.death.process.sync.median),
    asyncDeathDetectionMsMedianThread: r.death.thread.async.median,
    asyncDeathDetectionRatioVsSyncThread: ratio(r.death.thread.async.median, r.death.thread.sync.median),
    asyncHandoverMs: r.handover,
    asyncDeathDetectionMs: r.death,
    asyncManyPending: r.manyPending,
    asyncCFloor: r.cFloor,
    asyncTargets: { asyncHandoverRatioVsSync: 1.5, asyncDeathDetectionRatioVsSync: 1.5 },
  };
}

/** Table rows in bench/mutex.ts's shape: figure, async, sync (or the old slice polling), ratio. */
export function asyncRows(r: AsyncBenchResult): [string, number, number, number][] {
  const row = (figure: string, a: number, b: number): [string, number, number, number] => [figure, a, b, Math.round((a / b) * 1000) / 1000];
  const k = r.manyPending.futex_waitv;
  const s = r.manyPending['slice-polling'];
  const floor = r.cFloor.available ? [row('C floor: futex_waitv thread + eventfd vs FUTEX_WAIT (ms median)', r.cFloor.hopMsMedian, r.cFloor.directMsMedian)] : [];
  if (r.cFloor.available && r.cFloor.uringMsMedian !== undefined) floor.push(row('C floor: io_uring FUTEX_WAIT + eventfd vs FUTEX_WAIT (ms median)', r.cFloor.uringMsMedian, r.cFloor.directMsMedian));
  return [
    row(`async vs sync hand-over, process (ms median, ${r.asyncMechanism})`, r.handover.async.median, r.handover.sync.median),
    ...floor,
    row('async vs sync hand-over, process (ms p90)', r.handover.async.p90, r.handover.sync.p90),
    row('async vs sync death detection, process (ms median)', r.death.process.async.median, r.death.process.sync.median),
    row('async vs sync death detection, thread (ms median)', r.death.thread.async.median, r.death.thread.sync.median),
    row('500 pending async: CPU while waiting (%), futex_waitv vs slices', k.idleCpuPercent, s.idleCpuPercent),
    row('500 pending async: release wall (ms), futex_waitv vs slices', k.releaseWallMs, s.releaseWallMs),
    row('500 pending async: release CPU (ms), futex_waitv vs slices', k.releaseCpuMs, s.releaseCpuMs),
  ];
}
