// A participant process of bench/queue.ts: a RobustQueue or BullMQ consumer,
// holder (takes one job and hangs on to it until SIGKILLed), retaker (waits
// for the holder's job after the kill and notes when it got it), blocker
// (blocks its event loop mid-job) or blocked-watcher (counts deliveries of
// the blocked job to itself). It reports through the bench's region file.
import { openRegion } from '../../src/shm/region.js';
import { RobustQueue } from '../../src/queue/robust-queue.js';
import { dieWithParent } from '../../src/workers/parent-death.js';
import { RETAKE_F64, T, T_INTS, monotonicMs, type QueueBenchData } from './queue-bench-table.js';

dieWithParent();
const data = JSON.parse(process.argv[2] ?? '{}') as QueueBenchData;
const region = await openRegion(data.path);
const table = new Int32Array(region.buffer, data.tableOffset, T_INTS);
const times = new Float64Array(region.buffer, data.tableOffset, RETAKE_F64 + 200);
const nap = (ms: number): void => void Atomics.wait(table, T.never, 0, ms);
const stopped = (): boolean => Atomics.load(table, T.stop) !== 0;

async function ours(): Promise<void> {
  const queue = RobustQueue.at(region.buffer, data.queueOffset);
  Atomics.add(table, T.ready, 1);
  switch (data.role) {
    case 'ours-consumer':
      while (!stopped()) {
        const job = queue.take({ timeoutMs: 100 });
        if (job === null) continue;
        job.ack();
        Atomics.add(table, T.consumed, 1);
      }
      return;
    case 'ours-holder': {
      const job = queue.take({ timeoutMs: 60_000 });
      if (job === null) throw new Error('holder: no job');
      Atomics.store(table, T.holderTook, job.id);
      for (;;) nap(60_000);
    }
    case 'ours-retaker':
      while (!stopped()) {
        if (Atomics.load(table, T.retaker) !== 1) {
          nap(1);
          continue;
        }
        Atomics.store(table, T.retaker, 2);
        const job = await queue.takeAsync({ timeoutMs: 60_000 });
        if (job === null) throw new Error('retaker: no job within 60 s');
        times[RETAKE_F64 + job.id] = monotonicMs();
        job.ack();
        Atomics.store(table, T.retaker, 0);
      }
      return;
    case 'ours-blocker': {
      const job = queue.take({ timeoutMs: 60_000 });
      if (job === null) throw new Error('blocker: no job');
      Atomics.store(table, T.oursBlocker, 1);
      nap(data.blockMs!);
      job.ack();
      Atomics.store(table, T.oursBlocker, 2);
      for (;;) nap(60_000);
    }
    case 'ours-blocked-watcher':
      while (!stopped()) {
        const job = await queue.takeAsync({ timeoutMs: 200 });
        if (job === null) continue;
        Atomics.add(table, T.oursDouble, 1);
        job.ack();
      }
      return;
  }
}

async function bull(): Promise<void> {
  const { Worker } = await import('bullmq');
  const connection = { host: '127.0.0.1', port: data.redisPort!, maxRetriesPerRequest: null };
  const settings = data.lockMs === undefined ? {} : { lockDuration: data.lockMs, stalledInterval: data.lockMs };
  const name = data.bullQueue!;
  switch (data.role) {
    case 'bull-consumer': {
      const worker = new Worker(name, async () => {}, { connection, concurrency: 1, ...settings });
      worker.on('completed', () => void Atomics.add(table, T.consumed, 1));
      await worker.waitUntilReady();
      Atomics.add(table, T.ready, 1);
      return;
    }
    case 'bull-holder': {
      const worker = new Worker(
        name,
        async (job) => {
          Atomics.store(table, T.holderTook, (job.data as { n: number }).n);
          await new Promise(() => {});
        },
        { connection, concurrency: 1, ...settings },
      );
      await worker.waitUntilReady();
      Atomics.add(table, T.ready, 1);
      return;
    }
    case 'bull-retaker':
      Atomics.add(table, T.ready, 1);
      // A fresh Worker per round, made when armed (after the holder took the job), so only the holder can take it first.
      for (;;) {
        while (Atomics.load(table, T.retaker) !== 1) {
          if (stopped()) process.exit(0);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        await new Promise<void>((resolve) => {
          const worker = new Worker(
            name,
            async (job) => {
              times[RETAKE_F64 + (job.data as { n: number }).n] = monotonicMs();
              Atomics.store(table, T.retaker, 0);
              setImmediate(() => void worker.close().then(resolve));
            },
            { connection, concurrency: 1, ...settings },
          );
          void worker.waitUntilReady().then(() => Atomics.store(table, T.retaker, 2));
        });
      }
    case 'bull-blocker': {
      const worker = new Worker(
        name,
        async () => {
          Atomics.store(table, T.bullBlocker, 1);
          // The event loop is blocked: no lock renewal runs for blockMs.
          nap(data.blockMs!);
          Atomics.store(table, T.bullBlocker, 2);
        },
        { connection, concurrency: 1, ...settings },
      );
      worker.on('failed', () => void Atomics.store(table, T.bullBlockerLostLock, 1));
      worker.on('error', () => void Atomics.store(table, T.bullBlockerLostLock, 1));
      await worker.waitUntilReady();
      Atomics.add(table, T.ready, 1);
      return;
    }
    case 'bull-blocked-watcher': {
      const worker = new Worker(name, async () => void Atomics.add(table, T.bullDouble, 1), { connection, concurrency: 1, ...settings });
      await worker.waitUntilReady();
      Atomics.add(table, T.ready, 1);
      return;
    }
  }
}

if (data.role.startsWith('ours-')) {
  await ours();
  process.exit(0);
} else {
  await bull();
}
