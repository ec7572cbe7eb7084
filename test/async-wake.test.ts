// acquireAsync() and the parking lot's async wait are woken by the kernel
// across processes (futex_waitv waiter threads), with no slice timer: the
// mutex here looks at the owner's liveness only every 10 s, so anything that
// returns well before that was woken by a release or by the kernel's
// robust-list wake at the owner's death (issue 11). Time bounds below are
// safety nets; the figures are in bench/mutex.ts.
import { describe, expect, it } from 'vitest';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { kernelWait, kernelWaitStats } from '../src/locks/kernel-waits.js';
import { native } from '../src/native/index.js';
import type { AcquireResult } from '../src/locks/types.js';
import { useResources } from './helpers/resources.js';
import { mutexWorld, processParticipant, threadParticipant, waitFor, type MutexWorld, type Participant } from './fixtures/mutex-setup.js';

const LOOK_MS = 10_000;
/** Far below LOOK_MS: a wake that did not come from the kernel would take 10 s. */
const SAFETY_MS = 5_000;

function slowLooking(w: MutexWorld): RobustMutex {
  return RobustMutex.at(w.region.buffer, w.mutex.byteOffset, { livenessIntervalMs: LOOK_MS });
}

/** A child process that holds the mutex, parked inside its critical section in slot 0. */
async function parkedHolder(res: ReturnType<typeof useResources>, w: MutexWorld): Promise<{ holder: Participant; done: Promise<unknown> }> {
  const holder = await processParticipant(res, w.data(0));
  w.lot.request(0);
  const done = holder.request({ cmd: 'cs' });
  done.catch(() => {});
  await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
  return { holder, done };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe('async waits woken by the kernel', () => {
  const res = useResources();

  it('uses futex_waitv here, and says so in inspect()', async () => {
    const w = await mutexWorld(res);
    expect(w.mutex.asyncWaitMechanism).toBe('futex_waitv');
    expect(w.mutex.inspect().asyncWaits).toBe('futex_waitv');
  });

  it('acquireAsync returns after a release in another process (liveness looks every 10 s)', async () => {
    const w = await mutexWorld(res);
    const mutex = slowLooking(w);
    const { done } = await parkedHolder(res, w);
    const pending = mutex.acquireAsync();
    waitFor(() => kernelWaitStats().environment === 1, 10_000, 'the async wait to be registered');
    expect(mutex.inspect().state).toBe('owned');
    const released = performance.now();
    w.lot.release(0); // the holder leaves its critical section and releases the mutex
    const result = await within(pending, SAFETY_MS, 'acquireAsync after a cross-process release');
    expect(performance.now() - released).toBeLessThan(SAFETY_MS);
    expect(result).toMatchObject({ owned: true, status: 'acquired', abandoned: false });
    mutex.release();
    expect(await done).toMatchObject({ status: 'acquired' });
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0 });
  }, 30_000);

  it('acquireAsync returns "abandoned" after the holding process is SIGKILLed (liveness looks every 10 s)', async () => {
    const w = await mutexWorld(res);
    const mutex = slowLooking(w);
    const { holder } = await parkedHolder(res, w);
    const pending = mutex.acquireAsync();
    waitFor(() => kernelWaitStats().environment === 1, 10_000, 'the async wait to be registered');
    const killed = performance.now();
    await holder.kill();
    const result = await within(pending, SAFETY_MS, 'acquireAsync after the owner was SIGKILLed');
    expect(performance.now() - killed).toBeLessThan(SAFETY_MS);
    expect(result).toMatchObject({ owned: true, status: 'abandoned', depth: 1 });
    mutex.markConsistent();
    mutex.release();
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0 });
  }, 30_000);

  it('acquireAsync returns "abandoned" after the holding worker thread is terminated (liveness looks every 10 s)', async () => {
    const w = await mutexWorld(res);
    const mutex = slowLooking(w);
    const holder = await threadParticipant(res, w.data(0), w.region);
    w.lot.request(0);
    holder.request({ cmd: 'cs' }).catch(() => {});
    await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    const pending = mutex.acquireAsync();
    waitFor(() => kernelWaitStats().environment === 1, 10_000, 'the async wait to be registered');
    const terminated = performance.now();
    await holder.kill();
    const result = await within(pending, SAFETY_MS, 'acquireAsync after the owner thread was terminated');
    expect(performance.now() - terminated).toBeLessThan(SAFETY_MS);
    expect(result).toMatchObject({ owned: true, status: 'abandoned', previousOwner: { tid: holder.tid } });
    mutex.markConsistent();
    mutex.release();
  }, 30_000);

  it('aborting one of 100 pending acquires rejects it promptly; the 99 others complete; no native wait is left', async () => {
    const w = await mutexWorld(res);
    const mutex = slowLooking(w);
    const { done } = await parkedHolder(res, w);
    const controllers = Array.from({ length: 100 }, () => new AbortController());
    const outcomes: Promise<AcquireResult>[] = controllers.map((c) =>
      mutex.acquireAsync({ signal: c.signal }).then((r) => {
        // All 100 run in this thread: the first owner's siblings acquire recursively; each releases its level.
        if (r.owned) mutex.release();
        return r;
      }),
    );
    waitFor(() => kernelWaitStats().environment === 100, 10_000, '100 async waits to be registered');
    // Same (word, value): one futex_waitv slot serves all of them.
    expect(kernelWaitStats().words).toBe(1);
    const reason = new Error('this one gave up');
    const aborted = performance.now();
    controllers[37]!.abort(reason);
    await expect(within(outcomes[37]!, 1_000, 'the aborted acquire')).rejects.toBe(reason);
    expect(performance.now() - aborted).toBeLessThan(1_000);
    expect(kernelWaitStats().environment).toBe(99);
    expect(mutex.inspect().owner?.pid).not.toBe(process.pid); // aborting took nothing

    w.lot.release(0);
    const rest = await within(Promise.all(outcomes.filter((_, i) => i !== 37)), SAFETY_MS, 'the 99 other acquires');
    expect(rest.every((r) => r.owned && r.status === 'acquired')).toBe(true);
    await done;
    expect(mutex.inspect().state).toBe('free');
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0, words: 0 });
  }, 30_000);

  it('a worker terminated with pending async acquires: terminate() is prompt, its waits are detached, later acquires work', async () => {
    const w = await mutexWorld(res);
    const worker = await threadParticipant(res, w.data(1), w.region);
    expect(w.mutex.acquire()).toMatchObject({ status: 'acquired' });
    const pending = Array.from({ length: 8 }, () => worker.request({ cmd: 'acquireAsync' }));
    for (const p of pending) p.catch(() => {});
    // The worker's waits sit in the process-wide registry the main thread can read.
    waitFor(() => kernelWaitStats().process === 8, 10_000, "the worker's 8 async waits");
    const started = performance.now();
    await worker.kill();
    expect(performance.now() - started).toBeLessThan(2_000);
    for (const p of pending) await expect(p).rejects.toThrow(/ended before answering/);
    expect(kernelWaitStats()).toMatchObject({ process: 0 });

    // The process is healthy: timers run, the mutex hands over, a new worker waits and is woken.
    await new Promise((resolve) => setTimeout(resolve, 1));
    const next = await threadParticipant(res, w.data(2), w.region);
    const waited = next.request({ cmd: 'acquireAsync' });
    waitFor(() => kernelWaitStats().process === 1, 10_000, "the new worker's async wait");
    w.mutex.release();
    expect(await within(waited, SAFETY_MS, "the new worker's acquireAsync")).toMatchObject({ status: 'acquired' });
    expect(await within(w.mutex.acquireAsync(), SAFETY_MS, 'acquireAsync here')).toMatchObject({ status: 'acquired' });
    w.mutex.release();
  }, 30_000);

  it('a timer keeps firing while 100 async acquires are pending', async () => {
    const w = await mutexWorld(res);
    const mutex = slowLooking(w);
    const { done } = await parkedHolder(res, w);
    const outcomes = Array.from({ length: 100 }, () =>
      mutex.acquireAsync().then((r) => {
        if (r.owned) mutex.release();
        return r;
      }),
    );
    let ticks = 0;
    await within(
      new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          if (++ticks === 50) {
            clearInterval(timer);
            resolve();
          }
        }, 1);
      }),
      SAFETY_MS,
      '50 timer ticks',
    );
    expect(ticks).toBe(50);
    expect(kernelWaitStats().environment).toBe(100); // still all pending: nothing polled them awake
    w.lot.release(0);
    await within(Promise.all(outcomes), SAFETY_MS, 'the 100 acquires');
    await done;
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0 });
  }, 30_000);

  it("the parking lot's async wait is woken when a participant in another process parks", async () => {
    const w = await mutexWorld(res);
    const participant = await processParticipant(res, w.data(0));
    w.lot.request(0);
    const parked = w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    waitFor(() => kernelWaitStats().environment === 1, 10_000, 'the async wait on the slot');
    const done = participant.request({ cmd: 'cs' });
    expect(await within(parked, SAFETY_MS, 'waitUntilParkedAsync')).toMatchObject({ pid: participant.pid });
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0 });
    w.lot.release(0);
    expect(await done).toMatchObject({ status: 'acquired' });
  }, 30_000);

  it('without futex_waitv (ROBUST_SHM_ASYNC_WAIT=slices) a child falls back to slice polling and still gets the mutex', async () => {
    const w = await mutexWorld(res);
    expect(w.mutex.acquire()).toMatchObject({ status: 'acquired' });
    process.env['ROBUST_SHM_ASYNC_WAIT'] = 'slices';
    let child: Participant;
    try {
      child = await processParticipant(res, w.data(1));
    } finally {
      delete process.env['ROBUST_SHM_ASYNC_WAIT'];
    }
    expect(await child.request({ cmd: 'mechanism' })).toMatchObject({ status: 'slice-polling' });
    const waited = child.request({ cmd: 'acquireAsync' });
    waitFor(() => w.mutex.inspect().waiters === 1, 10_000, 'the child to wait');
    w.mutex.release();
    expect(await within(waited, SAFETY_MS, 'the slice-polling acquireAsync')).toMatchObject({ status: 'acquired' });
  }, 30_000);

  it('300 distinct words: more than one waiter thread (127 words each), every wait woken, none left; a timeout withdraws its wait', async () => {
    const sab = new SharedArrayBuffer(4 * 300);
    const words = new Int32Array(sab);
    const waits = Array.from({ length: 300 }, (_, i) => kernelWait(sab, i * 4, 0, Infinity));
    expect(kernelWaitStats()).toMatchObject({ environment: 300, process: 300, words: 300 });
    expect(kernelWaitStats().threads).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < 300; i++) {
      Atomics.store(words, i, 1);
      native().futexWake(sab, i * 4, 1);
    }
    expect(await within(Promise.all(waits), SAFETY_MS, '300 kernel waits')).toEqual(Array(300).fill('woken'));
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0, words: 0 });
    // A value that already differs ends the wait at once; a timeout withdraws it.
    expect(await within(kernelWait(sab, 0, 0, Infinity), SAFETY_MS, 'a changed word')).toBe('woken');
    expect(await kernelWait(sab, 0, 1, 20)).toBe('timed-out');
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0 });
  });
});
