// Every outcome and error of the robust mutex, recursion (also across
// abandonment), async acquire while the owner is killed (with and without an
// AbortSignal), and a waiter in a worker terminated while it waits.
import { describe, expect, it } from 'vitest';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { useResources } from './helpers/resources.js';
import { mutexWorld, processParticipant, threadParticipant, waitFor } from './fixtures/mutex-setup.js';

describe('robust mutex outcomes', () => {
  const res = useResources();

  it('acquired, busy, timeout, recursion depth, and ERROR_NOT_OWNER on release by a non-owner', async () => {
    const w = await mutexWorld(res);
    const other = await threadParticipant(res, w.data(1), w.region);
    expect(w.mutex.acquire()).toMatchObject({ owned: true, status: 'acquired', abandoned: false, depth: 1 });
    expect(w.mutex.acquire()).toMatchObject({ status: 'acquired', depth: 2 });
    expect(w.mutex.tryAcquire()).toMatchObject({ status: 'acquired', depth: 3 });
    expect(w.mutex.inspect()).toMatchObject({ state: 'owned', depth: 3, ownerAlive: true });
    expect(await other.request({ cmd: 'try' })).toMatchObject({ status: 'busy', abandoned: false });
    expect(await other.request({ cmd: 'cs', timeoutMs: 50 })).toMatchObject({ status: 'timeout' });
    expect(await other.request({ cmd: 'release' })).toMatchObject({ error: 'ERROR_NOT_OWNER' });
    w.mutex.release();
    w.mutex.release();
    expect(w.mutex.inspect().state).toBe('owned'); // one level still held
    w.mutex.release();
    expect(w.mutex.inspect().state).toBe('free');
    let thrown: unknown;
    try {
      w.mutex.release();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'ERROR_NOT_OWNER', errno: 288 });
    expect(await other.request({ cmd: 'cs', timeoutMs: 5_000 })).toMatchObject({ status: 'acquired' });
    expect(() => w.mutex.acquireOrThrow(Number.NaN)).toThrow(/timeoutMs/);
  }, 30_000);

  it('recursion across abandonment: the owner dies at depth 2, the new owner recurses from 1', async () => {
    const w = await mutexWorld(res, { policy: 'windows' });
    const owner = await threadParticipant(res, w.data(0), w.region);
    w.lot.request(0);
    void owner.request({ cmd: 'cs', depth: 2 }).catch(() => {});
    w.lot.waitUntilParked(0, 20_000);
    await owner.kill();
    expect(w.mutex.acquire(10_000)).toMatchObject({ status: 'abandoned', depth: 1 });
    expect(w.mutex.acquire()).toMatchObject({ status: 'acquired', depth: 2 });
    expect(w.mutex.acquire()).toMatchObject({ status: 'acquired', depth: 3 });
    for (let i = 0; i < 3; i++) w.mutex.release();
    expect(w.mutex.inspect()).toMatchObject({ state: 'free', timesAbandoned: 1 });
  }, 30_000);

  it('acquireAsync waiting while the owner process is SIGKILLed resolves "abandoned" without blocking the event loop', async () => {
    const w = await mutexWorld(res);
    const owner = await processParticipant(res, w.data(0));
    w.lot.request(0);
    void owner.request({ cmd: 'cs' }).catch(() => {});
    await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    try {
      const pending = w.mutex.acquireAsync({ timeoutMs: 30_000 });
      await new Promise((resolve) => setTimeout(resolve, 20)); // the loop keeps turning while it waits
      expect(ticks).toBeGreaterThan(0);
      await owner.kill();
      const result = await pending;
      expect(result).toMatchObject({ owned: true, status: 'abandoned', depth: 1 });
    } finally {
      clearInterval(ticker);
    }
    w.mutex.markConsistent();
    w.mutex.release();
  }, 30_000);

  it('acquireAsync with an AbortSignal: aborting rejects with the reason; an unaborted one gets the abandoned mutex', async () => {
    const w = await mutexWorld(res);
    const owner = await processParticipant(res, w.data(0));
    w.lot.request(0);
    void owner.request({ cmd: 'cs' }).catch(() => {});
    await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    const controller = new AbortController();
    const aborted = w.mutex.acquireAsync({ signal: controller.signal });
    const reason = new Error('gave up');
    controller.abort(reason);
    await expect(aborted).rejects.toBe(reason);
    expect(w.mutex.inspect().owner?.pid).toBe(owner.pid); // aborting took nothing
    await expect(w.mutex.acquireAsync({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);

    const kept = new AbortController();
    const pending = w.mutex.acquireAsync({ signal: kept.signal, timeoutMs: 30_000 });
    await owner.kill();
    expect(await pending).toMatchObject({ status: 'abandoned' });
    kept.abort(); // after the fact: no effect on ownership
    expect(w.mutex.isHeldByCurrentThread()).toBe(true);
    w.mutex.markConsistent();
    w.mutex.release();
  }, 30_000);

  it('async acquire in another process while the owner is killed, and its own abort', async () => {
    const w = await mutexWorld(res);
    const owner = await threadParticipant(res, w.data(0), w.region);
    const waiter = await processParticipant(res, w.data(1));
    w.lot.request(0);
    void owner.request({ cmd: 'cs' }).catch(() => {});
    w.lot.waitUntilParked(0, 20_000);
    expect(await waiter.request({ cmd: 'acquireAsync', abortAfterMs: 30 })).toMatchObject({ error: 'aborted by test' });
    const waited = waiter.request({ cmd: 'acquireAsync', timeoutMs: 30_000 });
    await owner.kill(); // worker.terminate() of the owner thread
    expect(await waited).toMatchObject({ status: 'abandoned' });
  }, 30_000);

  it('a waiter in a worker terminated while it waits: terminate() returns promptly, the mutex is unaffected', async () => {
    const w = await mutexWorld(res);
    const waiter = await threadParticipant(res, w.data(1), w.region);
    expect(w.mutex.acquire().status).toBe('acquired');
    const waited = waiter.request({ cmd: 'cs', timeoutMs: 60_000 });
    waited.catch(() => {});
    waitFor(() => w.mutex.inspect().waiters === 1, 10_000, 'the worker to block in acquire');
    const started = performance.now();
    await waiter.kill();
    const terminateMs = performance.now() - started;
    expect(terminateMs).toBeLessThan(2_000); // safety net: wait slices are ~1 ms
    await expect(waited).rejects.toThrow(/ended before answering/);
    expect(w.mutex.inspect()).toMatchObject({ state: 'owned', waiters: 0, timesAbandoned: 0 });
    w.mutex.release();
    expect(w.mutex.acquire(1_000)).toMatchObject({ status: 'acquired', abandoned: false });
    w.mutex.release();
  }, 30_000);

  it('checks placement and arguments', () => {
    const sab = new SharedArrayBuffer(256);
    expect(() => RobustMutex.at(sab, 0)).toThrow(expect.objectContaining({ code: 'ERR_MUTEX_LAYOUT' }));
    expect(() => RobustMutex.initialize(sab, 0, { policy: 'bsd' as never })).toThrow(/policy/);
    const m = RobustMutex.initialize(sab, 0);
    expect(() => m.acquire(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(m.policy).toBe('posix');
  });
});
