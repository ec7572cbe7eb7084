// RobustQueue under real deaths: a consumer that dies holding a job, by each
// way a Node thread or process can end, gives the job back at once (once,
// with deliveries counted and the dead consumer named); a producer killed
// halfway through copying a job in leaves nothing visible and its slot free;
// a producer or a consumer killed inside the mutex between a job's commit and
// its count (enqueued, acked) still has it counted, once;
// a consumer blocked for 10 s keeps its job; a poison job is dead-lettered.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { useResources } from './helpers/resources.js';
import { bundleQueueParticipants, exitOf, queueWorld, startProcess, startThread, until, type QueueBundle, type QueueWorld } from './fixtures/queue-setup.js';
import { STATE, type QueueEnd } from './fixtures/queue-table.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { RobustQueue } from '../src/queue/robust-queue.js';
import { withTestHooks } from '../src/test-hooks.js';
import { MUTEX_BYTES, OWNER_DIED } from '../src/locks/mutex-layout.js';
import { QUEUE_MUTEX_OFFSET, slotBytes, slotsOffset } from '../src/queue/queue-layout.js';

type Way = { name: string; kind: 'thread' | 'process'; end: QueueEnd; kill: (p: ChildProcess | Worker) => Promise<unknown> };

const exitItself = async (p: ChildProcess | Worker): Promise<unknown> => exitOf(p);
const sigkill = async (p: ChildProcess | Worker): Promise<unknown> => {
  const gone = exitOf(p);
  (p as ChildProcess).kill('SIGKILL');
  return gone;
};
const terminate = async (p: ChildProcess | Worker): Promise<unknown> => (p as Worker).terminate();

const WAYS: Way[] = [
  { name: 'SIGKILL of the process', kind: 'process', end: 'park', kill: sigkill },
  { name: 'process.exit()', kind: 'process', end: 'exit', kill: exitItself },
  { name: 'an uncaught throw', kind: 'process', end: 'throw', kill: exitItself },
  { name: 'SIGKILL of the process hosting it', kind: 'thread', end: 'host-thread', kill: sigkill },
  { name: 'worker.terminate()', kind: 'thread', end: 'park', kill: terminate },
  { name: 'process.exit() in the worker', kind: 'thread', end: 'exit', kill: exitItself },
  { name: 'an uncaught throw in the worker', kind: 'thread', end: 'throw', kill: exitItself },
];

describe('RobustQueue: deaths', () => {
  const res = useResources();
  let bundle: QueueBundle;
  const workers = new Set<Worker>();
  beforeAll(async () => {
    bundle = await bundleQueueParticipants();
  }, 60_000);
  afterAll(() => bundle?.dispose());
  afterEach(async () => {
    await Promise.all([...workers].map((w) => w.terminate()));
    workers.clear();
  });

  /** Start a participant as a process or a worker thread, wait until it parked (`parked`), and kill it there: SIGKILL or terminate(). */
  async function killParked(kind: 'process' | 'thread', w: QueueWorld, data: ReturnType<QueueWorld['data']>, parked: () => boolean, what: string): Promise<void> {
    const p = kind === 'process' ? startProcess(res, bundle.participant, data) : startThread(bundle.participant, data, w.region, (x) => workers.add(x));
    await until(parked, 20_000, what);
    await (kind === 'process' ? sigkill(p) : terminate(p));
  }

  /** The job came back once: the next take gets it with deliveries 2 and the dead consumer, then nothing is left. */
  function expectBackOnce(w: QueueWorld, id: number, deadTid: number): void {
    const job = w.queue.take({ timeoutMs: 10_000 });
    expect(job).not.toBeNull();
    expect(job!.id).toBe(id);
    expect(job!.deliveries).toBe(2);
    expect(job!.redelivered).toBe(true);
    expect(job!.previousOwner?.tid).toBe(deadTid);
    expect(job!.text()).toBe(`job ${id}`);
    job!.ack();
    expect(w.queue.tryTake()).toBeNull();
    const seen = w.queue.inspect();
    expect(seen).toMatchObject({ enqueued: 1, acked: 1, redelivered: 1, deadLettered: 0, ready: 0, taken: [], free: w.queue.capacity });
  }

  for (const way of WAYS) {
    it(`a consumer ${way.kind} ended by ${way.name} mid-job: the job comes back at once, once, deliveries 2`, async () => {
      const w = await queueWorld(res);
      const id = w.queue.enqueue('job 1');
      expect(id).toBe(1);
      const data = w.data(1, way.end, { selfFile: bundle.participant });
      const p = way.kind === 'process' || way.end === 'host-thread' ? startProcess(res, bundle.participant, data) : startThread(bundle.participant, data, w.region, (x) => workers.add(x));
      await until(() => w.row(1, 'state') === STATE.took, 20_000, 'the consumer to take the job');
      const tid = w.row(1, 'tid');
      expect(w.row(1, 'deliveries')).toBe(1);
      // While its consumer lives the job is nobody else's.
      const parked = way.end === 'park' || way.end === 'host-thread';
      if (parked) {
        expect(w.queue.tryTake()).toBeNull();
        expect(w.queue.inspect().taken).toMatchObject([{ id, tid, deliveries: 1, alive: true }]);
      }
      await way.kill(p);
      // Dead and not yet put back (nobody has looked since): inspect() says so.
      if (parked) expect(w.queue.inspect().taken).toMatchObject([{ id, tid, alive: false }]);
      expectBackOnce(w, id, tid);
    });
  }

  it('a piscina task aborted through its AbortSignal mid-job: the job comes back at once, once, deliveries 2', async () => {
    const w = await queueWorld(res);
    const id = w.queue.enqueue('job 1');
    const pool = new Piscina({ filename: bundle.piscinaTask, maxThreads: 1, minThreads: 1 });
    try {
      const controller = new AbortController();
      const run = pool.run({ buffer: w.region.buffer, queueOffset: w.queue.byteOffset, tableOffset: w.tableOffset, slot: 2 }, { signal: controller.signal }).then(
        () => 'resolved',
        (error: Error) => error.name,
      );
      await until(() => w.row(2, 'state') === STATE.took, 20_000, 'the task to take the job');
      const tid = w.row(2, 'tid');
      expect(w.queue.tryTake()).toBeNull();
      controller.abort();
      expect(await run).toBe('AbortError');
      expectBackOnce(w, id, tid);
    } finally {
      await pool.destroy();
    }
  });

  it('an async consumer waiting on an empty queue gets the job when its holder is SIGKILLed', async () => {
    const w = await queueWorld(res);
    const id = w.queue.enqueue('job 1');
    const p = startProcess(res, bundle.participant, w.data(1, 'park'));
    await until(() => w.row(1, 'state') === STATE.took, 20_000, 'the consumer to take the job');
    const tid = w.row(1, 'tid');
    const waiting = w.queue.takeAsync({ timeoutMs: 20_000 });
    await sigkill(p);
    const job = await waiting;
    expect(job).toMatchObject({ id, deliveries: 2 });
    expect(job!.previousOwner?.tid).toBe(tid);
    job!.ack();
  });

  for (const kind of ['process', 'thread'] as const) {
    it(`a producer ${kind} killed halfway through copying a job in: nothing half-written is visible, its slot is free again`, async () => {
      const w = await queueWorld(res, { capacity: 4, maxJobBytes: 4096 });
      await killParked(kind, w, w.data(3, 'produce-park', { payloadBytes: 4000 }), () => w.row(3, 'state') === STATE.parkedInEnqueue, 'the producer to park inside the enqueue');
      expect(w.queue.tryTake()).toBeNull();
      const seen = w.queue.inspect();
      expect(seen).toMatchObject({ ready: 0, enqueued: 0, free: 4, taken: [], repairs: 1 });
      // All four slots take jobs again, and come out whole and in order.
      const ids = [0, 1, 2, 3].map((i) => w.queue.tryEnqueue(`job ${i}`));
      expect(w.queue.tryEnqueue('one too many')).toBe('full');
      for (let i = 0; i < 4; i++) {
        const job = w.queue.tryTake()!;
        expect(job.id).toBe(ids[i]);
        expect(job.text()).toBe(`job ${i}`);
        job.ack();
      }
    });
  }

  /** The counts add up in one snapshot: every job enqueued is acked, waiting, in progress or dead-lettered (none removed here). */
  function expectCountsAddUp(w: QueueWorld): void {
    const seen = w.queue.inspect();
    // An expired job's original slot is not counted: its copy is (ready, or taken).
    expect(seen.enqueued).toBe(seen.acked + seen.ready + seen.taken.filter((t) => !t.leaseExpired).length + seen.deadLetters.length);
  }

  for (const kind of ['process', 'thread'] as const) {
    it(`a consumer ${kind} killed inside the queue mutex after its ack freed the slot, before the ack was counted: the ack counts, once`, async () => {
      const w = await queueWorld(res, { capacity: 4, maxJobBytes: 256 });
      const id = w.queue.enqueue('job 1');
      w.queue.enqueue('job 2');
      await killParked(kind, w, w.data(5, 'ack-park'), () => w.row(5, 'state') === STATE.parkedInAck, 'the consumer to park inside its ack');
      expect(w.row(5, 'id')).toBe(id); // it was acking job 1
      // The acked job is gone for good (not redelivered), and counted.
      expect(w.queue.inspect()).toMatchObject({ enqueued: 2, acked: 1, ready: 1, taken: [], free: 3, redelivered: 0, repairs: 1 });
      expectCountsAddUp(w);
      const next = w.queue.tryTake()!;
      expect(next.text()).toBe('job 2');
      next.ack();
      expect(w.queue.inspect()).toMatchObject({ enqueued: 2, acked: 2, ready: 0, free: 4 });
    });

    it(`a producer ${kind} killed inside the queue mutex after its job became ready, before it was counted: the job is there and counted, once`, async () => {
      const w = await queueWorld(res, { capacity: 4, maxJobBytes: 256 });
      await killParked(kind, w, w.data(6, 'commit-park'), () => w.row(6, 'state') === STATE.parkedAfterEnqueueCommit, 'the producer to park after its commit');
      expect(w.queue.inspect()).toMatchObject({ enqueued: 1, acked: 0, ready: 1, free: 3, repairs: 1 });
      expectCountsAddUp(w);
      const job = w.queue.tryTake()!;
      expect(job).toMatchObject({ id: 1, deliveries: 1 });
      expect(job.data).toEqual(new Uint8Array(64).fill(0xab));
      job.ack();
      expect(w.queue.inspect()).toMatchObject({ enqueued: 1, acked: 1, ready: 0, free: 4 });
    });
  }

  it('a consumer SIGKILLed inside the queue mutex right after claiming a job: the next thread in repairs the queue and gets the job, deliveries 2', async () => {
    const w = await queueWorld(res);
    const id = w.queue.enqueue('job 1');
    w.queue.enqueue('job 2');
    const p = startProcess(res, bundle.participant, w.data(4, 'take-park'));
    await until(() => w.row(4, 'state') === STATE.parkedInTake, 20_000, 'the consumer to park inside take()');
    const tid = w.row(4, 'tid');
    await sigkill(p);
    const job = w.queue.take({ timeoutMs: 10_000 })!;
    expect(job).toMatchObject({ id, deliveries: 2 });
    expect(job.previousOwner?.tid).toBe(tid);
    job.ack();
    const next = w.queue.tryTake()!;
    expect(next).toMatchObject({ deliveries: 1 });
    expect(next.text()).toBe('job 2');
    next.ack();
    expect(w.queue.inspect()).toMatchObject({ repairs: 1, redelivered: 1, acked: 2, free: w.queue.capacity, taken: [] });
  });

  it('a consumer SIGKILLed between claiming a job and linking the claim: the next thread in repairs the queue and gets the job, also before the kernel has marked the claim', async () => {
    // The kernel walks a dying thread's robust list newest first and its
    // list_op_pending last: the queue mutex is marked OWNER_DIED before the
    // taker's 1,500 older held mutexes, and the pending claim after them (tens
    // of microseconds later here). A thread that takes the queue mutex the
    // moment it is marked so repairs the queue while the claim still holds
    // the dead TID: the queue once called that corruption, and a 10,000-kill
    // soak hit it. Rounds until one repair met the claim before its mark (the
    // kernel is not always that slow), at most 10.
    let repairsBeforeTheMark = 0;
    for (let round = 0; round < 10 && repairsBeforeTheMark === 0; round++) {
      const w = await queueWorld(res);
      const holds = { offset: w.region.findOrCreate('holds', 1500 * MUTEX_BYTES).offset, count: 1500 };
      for (let k = 0; k < holds.count; k++) RobustMutex.initialize(w.region.buffer, holds.offset + k * MUTEX_BYTES);
      const id = w.queue.enqueue('job 1');
      const taker = startProcess(res, bundle.participant, w.data(7, 'claim-park', { holds }));
      await until(() => w.row(7, 'state') === STATE.parkedInClaim, 20_000, 'the consumer to park between its claim and its link');
      const tid = w.row(7, 'tid');
      // The claim word (read only): the one slot whose word holds the taker's TID.
      const slots = new Int32Array(w.region.buffer, w.queue.byteOffset + slotsOffset(8), (8 * slotBytes(256)) / 4);
      const claim = [0, 1, 2, 3, 4, 5, 6, 7].map((slot) => (slot * slotBytes(256)) / 4).find((at) => Atomics.load(slots, at) === tid)!;
      expect(claim).toBeDefined();
      const gone = exitOf(taker);
      taker.kill('SIGKILL');
      // Watch the lock word (read only) and go in the moment the kernel marks it.
      const lockWord = new Int32Array(w.region.buffer, w.queue.byteOffset + QUEUE_MUTEX_OFFSET, 1);
      const deadline = performance.now() + 20_000;
      for (let n = 1; (Atomics.load(lockWord, 0) & OWNER_DIED) === 0; n++) {
        if (n % 1_000_000 === 0 && performance.now() > deadline) throw new Error('the kernel did not mark the queue mutex within 20 s');
      }
      // The repair's hook reads the word after the repair did: the kernel only
      // ever changes it from the TID to OWNER_DIED, so the TID here means the
      // repair met it unmarked too.
      const hooked = RobustQueue.at(
        w.region.buffer,
        w.queue.byteOffset,
        withTestHooks({}, {
          onInsideQueueLock: (point) => {
            if (point === 'repair:claimed-ready' && Atomics.load(slots, claim) === tid) repairsBeforeTheMark++;
          },
        }),
      );
      const job = hooked.tryTake();
      await gone;
      // Never delivered: the taker died before counting the delivery.
      expect(job).toMatchObject({ id, deliveries: 1, previousOwner: undefined });
      expect(job!.text()).toBe('job 1');
      expect(w.queue.inspect()).toMatchObject({ repairs: 1, ready: 0, taken: [{ id, alive: true }] });
      expectCountsAddUp(w);
      job!.ack();
    }
    expect(repairsBeforeTheMark).toBeGreaterThan(0);
  });

  it('a consumer blocked in Atomics.wait for 10 s mid-job keeps its job: a waiting consumer does not get it', async () => {
    const w = await queueWorld(res);
    const first = w.queue.enqueue('job 1');
    startProcess(res, bundle.participant, w.data(1, 'block', { blockMs: 10_000 }));
    await until(() => w.row(1, 'state') === STATE.took, 20_000, 'the consumer to take the job');
    let settled = false;
    const waiting = w.queue.takeAsync({ timeoutMs: 60_000 }).finally(() => {
      settled = true;
    });
    const blockedSince = performance.now();
    await until(() => w.row(1, 'state') === STATE.acked, 40_000, 'the blocked consumer to wake and ack');
    expect(performance.now() - blockedSince).toBeGreaterThan(5_000);
    expect(settled).toBe(false);
    const second = w.queue.enqueue('job 2');
    const job = await waiting;
    expect(job).toMatchObject({ id: second, deliveries: 1 });
    job!.ack();
    expect(first).toBe(1);
    expect(w.queue.inspect()).toMatchObject({ enqueued: 2, acked: 2, redelivered: 0 });
  }, 90_000);

  it('with a lease: the copy goes to another consumer while the holder lives; the holder\'s death then just frees its slot', async () => {
    const w = await queueWorld(res, { capacity: 4, maxJobBytes: 64, leaseMs: 200 });
    const id = w.queue.enqueue('job 1');
    const p = startProcess(res, bundle.participant, w.data(1, 'park'));
    await until(() => w.row(1, 'state') === STATE.took, 20_000, 'the consumer to take the job');
    const copy = w.queue.take({ timeoutMs: 20_000 })!;
    expect(copy).toMatchObject({ id, deliveries: 2 });
    expect(w.queue.inspect()).toMatchObject({ free: 2, leasesExpired: 1 });
    await sigkill(p);
    expect(w.queue.recoverDeadConsumers()).toBe(0);
    expect(w.queue.inspect()).toMatchObject({ free: 3, redelivered: 0, taken: [{ id, leaseExpired: false }] });
    copy.ack();
    expect(w.queue.tryTake()).toBeNull();
    expect(w.queue.inspect()).toMatchObject({ free: 4, acked: 1, taken: [] });
  });

  for (const holderDies of [false, true]) {
    it(`with a lease: a repair killed between a lease copy and marking the original expired${holderDies ? ', then the original\'s consumer killed too' : ''}: the job is there once, not twice`, async () => {
      const w = await queueWorld(res, { capacity: 4, maxJobBytes: 64, leaseMs: 200 });
      const id = w.queue.enqueue('job 1');
      const holder = startProcess(res, bundle.participant, w.data(1, 'park'));
      await until(() => w.row(1, 'state') === STATE.took, 20_000, 'the consumer to take the job');
      const repairer = startProcess(res, bundle.participant, w.data(9, 'lease-park'));
      await until(() => w.row(9, 'state') === STATE.parkedInLeaseCopy, 20_000, 'the repairer to park between the copy and the expiry');
      await sigkill(repairer);
      if (holderDies) await sigkill(holder);
      const copy = w.queue.tryTake()!;
      expect(copy).toMatchObject({ id, deliveries: 2 });
      expect(w.queue.tryTake()).toBeNull();
      const seen = w.queue.inspect();
      // The original stays its live consumer's (expired), or is free once it died; either way no second copy.
      expect(seen).toMatchObject({ repairs: 1, leasesExpired: 1, redelivered: 0, free: holderDies ? 3 : 2 });
      expect(seen.taken.map((t) => [t.id, t.leaseExpired]).sort()).toEqual(holderDies ? [[id, false]] : [
        [id, false],
        [id, true],
      ]);
      expectCountsAddUp(w);
      copy.ack();
      expect(w.queue.inspect()).toMatchObject({ enqueued: 1, acked: 1 });
    });
  }

  it('a poison job whose consumers all die is dead-lettered after maxDeliveries (3) and stops coming back', async () => {
    const w = await queueWorld(res, { capacity: 4, maxJobBytes: 64, maxDeliveries: 3 });
    const id = w.queue.enqueue('job 1');
    const tids: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const slot = 10 + attempt;
      const p = startThread(bundle.participant, w.data(slot, 'throw'), w.region, (x) => workers.add(x));
      await until(() => w.row(slot, 'state') === STATE.took, 20_000, `consumer ${attempt} to take the job`);
      expect(w.row(slot, 'deliveries')).toBe(attempt);
      expect(w.row(slot, 'id')).toBe(id);
      if (attempt > 1) expect(w.row(slot, 'prevTid')).toBe(tids[attempt - 2]);
      tids.push(w.row(slot, 'tid'));
      await exitOf(p);
    }
    expect(w.queue.recoverDeadConsumers()).toBe(1);
    expect(w.queue.take({ timeoutMs: 100 })).toBeNull();
    const letters = w.queue.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ id, deliveries: 3, previousOwner: { tid: tids[2] } });
    expect(new TextDecoder().decode(letters[0]!.data)).toBe('job 1');
    expect(w.queue.inspect()).toMatchObject({ deadLetters: [id], deadLettered: 1, redelivered: 3, free: 3 });
    expect(w.queue.removeDeadLetters()).toBe(1);
    expect(w.queue.inspect()).toMatchObject({ deadLetters: [], free: 4 });
  });
});
