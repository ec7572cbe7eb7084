// Async acquires of the rwlock and the semaphore are woken by the kernel
// across processes (issue 11 item 2), like RobustMutex.acquireAsync: the
// handles here look at holders' liveness only every 10 s, so anything that
// returns well before that was woken by a release in another process or by
// the kernel's robust-list wake at a holder's death. Time bounds are safety
// nets far below 10 s.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RobustRwLock } from '../src/locks/robust-rwlock.js';
import { RobustSemaphore } from '../src/locks/robust-semaphore.js';
import { kernelWaitStats } from '../src/locks/kernel-waits.js';
import { WAIT_ATOMICS, WAIT_FUTEX } from '../src/locks/mutex-layout.js';
import { waitAsyncAny, type WordValue } from '../src/locks/waiting.js';
import { native } from '../src/native/index.js';
import { useResources } from './helpers/resources.js';
import { bundleParticipant, processParticipant, rwWorld, until, type Bundle, type RwParticipant, type RwWorld } from './fixtures/rwlock-setup.js';
import type { RwCommandBody } from './fixtures/rwlock-setup.js';

const LOOK_MS = 10_000;
const SAFETY_MS = 5_000;

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Native waits this thread has pending (each async sleep is one per word it sleeps on). */
const pendingWaits = () => kernelWaitStats().environment;

describe('rwlock and semaphore async acquires woken by the kernel', () => {
  const res = useResources();
  let bundle: Bundle;
  beforeAll(async () => {
    bundle = await bundleParticipant();
  }, 60_000);
  afterAll(() => bundle?.dispose());

  const slowRw = (w: RwWorld) => RobustRwLock.at(w.region.buffer, w.rw.byteOffset, { livenessIntervalMs: LOOK_MS });
  const slowSem = (w: RwWorld) => RobustSemaphore.at(w.region.buffer, w.sem.byteOffset, { livenessIntervalMs: LOOK_MS });

  /** A child process parked inside its critical section (read, write or a semaphore unit) in parking slot `slot`. */
  async function parked(w: RwWorld, slot: number, command: RwCommandBody): Promise<{ p: RwParticipant; done: Promise<unknown> }> {
    const p = await processParticipant(res, bundle, w.data(slot));
    w.lot.request(slot);
    const done = p.request(command);
    done.catch(() => {});
    await w.lot.waitUntilParkedAsync(slot, { timeoutMs: 20_000 });
    return { p, done };
  }

  it('waitAsyncAny: a wake of any one word ends the wait and withdraws the others; without the kernel a change of another word is seen between slices', async () => {
    const sab = new SharedArrayBuffer(16);
    const i32 = new Int32Array(sab);
    const futexWords: WordValue[] = [0, 1, 2].map((index) => ({ word: { sab, i32, index, kind: WAIT_FUTEX }, expected: 0 }));
    const pending = waitAsyncAny(futexWords, LOOK_MS);
    expect(pendingWaits()).toBe(3);
    Atomics.store(i32, 2, 1);
    native().futexWake(sab, 8, 1);
    expect(await within(pending, SAFETY_MS, 'waitAsyncAny after a wake of its third word')).toBe('woken');
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0, words: 0 });
    expect(await waitAsyncAny(futexWords.slice(0, 2), 20)).toBe('timed-out');
    const controller = new AbortController();
    const aborted = waitAsyncAny(futexWords.slice(0, 2), LOOK_MS, controller.signal);
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0 });

    // Atomics words (threads only): nothing notifies word 3, the wait sees it changed at a slice end.
    const atomicsWords: WordValue[] = [0, 3].map((index) => ({ word: { sab, i32, index, kind: WAIT_ATOMICS }, expected: 0 }));
    const slices = waitAsyncAny(atomicsWords, LOOK_MS);
    Atomics.store(i32, 3, 1);
    expect(await within(slices, SAFETY_MS, 'waitAsyncAny on Atomics words')).toBe('changed');
  });

  it('says which mechanism serves its async waits', async () => {
    const w = await rwWorld(res);
    expect(w.rw.asyncWaitMechanism).toBe('futex_waitv');
    expect(w.rw.inspect().asyncWaits).toBe('futex_waitv');
    expect(w.sem.asyncWaitMechanism).toBe('futex_waitv');
  });

  const releases = [
    { waiter: 'read', holder: 'write' },
    { waiter: 'write', holder: 'write' },
    { waiter: 'write', holder: 'read' },
  ] as const;
  for (const { waiter, holder } of releases) {
    it(`an async ${waiter} acquire returns after a ${holder} release in another process`, async () => {
      const w = await rwWorld(res);
      const rw = slowRw(w);
      const { done } = await parked(w, 1, { cmd: holder, park: true });
      const pending = waiter === 'read' ? rw.acquireReadAsync() : rw.acquireWriteAsync();
      await until(() => pendingWaits() === 1, 10_000, 'the async wait to be registered');
      const released = performance.now();
      w.lot.release(1);
      const result = await within(pending, SAFETY_MS, `acquire${waiter}Async after a cross-process ${holder} release`);
      expect(performance.now() - released).toBeLessThan(SAFETY_MS);
      expect(result).toMatchObject({ owned: true, status: 'acquired', abandoned: false, sharesReclaimed: 0 });
      if (waiter === 'read') rw.releaseRead();
      else rw.releaseWrite();
      expect(await done).toMatchObject({ status: 'acquired' });
      expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0 });
      rw.close();
    }, 60_000);
  }

  const deaths = [
    { waiter: 'read', holder: 'write', expected: { status: 'abandoned', abandoned: true, sharesReclaimed: 0 } },
    { waiter: 'write', holder: 'write', expected: { status: 'abandoned', abandoned: true, sharesReclaimed: 0 } },
    { waiter: 'write', holder: 'read', expected: { status: 'acquired', abandoned: false, sharesReclaimed: 1 } },
  ] as const;
  for (const { waiter, holder, expected } of deaths) {
    it(`an async ${waiter} acquire returns after the ${holder} holder process is SIGKILLed`, async () => {
      const w = await rwWorld(res);
      const rw = slowRw(w);
      const { p } = await parked(w, 1, { cmd: holder, park: true });
      const pending = waiter === 'read' ? rw.acquireReadAsync() : rw.acquireWriteAsync();
      await until(() => pendingWaits() === 1, 10_000, 'the async wait to be registered');
      const killed = performance.now();
      await p.kill();
      const result = await within(pending, SAFETY_MS, `acquire${waiter}Async after the ${holder}r was SIGKILLed`);
      expect(performance.now() - killed).toBeLessThan(SAFETY_MS);
      expect(result).toMatchObject({ owned: true, ...expected });
      if (result.abandoned) {
        expect(result).toMatchObject({ previousOwner: { tid: p.tid, pid: p.pid } });
        rw.markConsistent();
      }
      // An abandoned read holds the lock exclusively, as a read nested in a write hold.
      if (waiter === 'read') rw.releaseRead();
      else rw.releaseWrite();
      expect(rw.inspect()).toMatchObject({ state: 'free', writer: null, readers: [] });
      expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0 });
    }, 60_000);
  }

  it('aborting a pending async write, then a pending async read, rejects each promptly, takes nothing, leaves no native wait', async () => {
    const w = await rwWorld(res);
    const rw = slowRw(w);
    const { p, done } = await parked(w, 1, { cmd: 'write', park: true });
    const readAbort = new AbortController();
    const writeAbort = new AbortController();
    const read = rw.acquireReadAsync({ signal: readAbort.signal });
    const write = rw.acquireWriteAsync({ signal: writeAbort.signal });
    read.catch(() => {});
    write.catch(() => {});
    await until(() => pendingWaits() === 2, 10_000, '2 async waits to be registered');
    expect(rw.inspect()).toMatchObject({ waitingWriters: 1, waitingReaders: [{ pid: process.pid }] });
    const reason = new Error('gave up');
    let aborted = performance.now();
    writeAbort.abort(reason);
    await expect(within(write, 1_000, 'the aborted write')).rejects.toBe(reason);
    expect(performance.now() - aborted).toBeLessThan(1_000);
    expect(pendingWaits()).toBe(1);
    aborted = performance.now();
    readAbort.abort(reason);
    await expect(within(read, 1_000, 'the aborted read')).rejects.toBe(reason);
    expect(performance.now() - aborted).toBeLessThan(1_000);
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0, words: 0 });
    // Aborting took nothing and left no trace: the child still writes, nobody waits.
    expect(rw.inspect()).toMatchObject({ state: 'write', writer: { pid: p.pid }, waitingWriters: 0, waitingReaders: [], readers: [] });
    const next = rw.acquireReadAsync({ timeoutMs: 30_000 });
    await until(() => pendingWaits() === 1, 10_000, 'a new async read to be registered');
    w.lot.release(1);
    expect(await within(next, SAFETY_MS, 'the next read')).toMatchObject({ owned: true, status: 'acquired' });
    await done;
    rw.releaseRead();
    rw.close();
    expect(rw.inspect()).toMatchObject({ state: 'free', readers: [] });
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0, words: 0 });
  }, 60_000);

  it('two async reads pending at once in one thread enter as one share counted twice: both release, no slot is left held', async () => {
    const w = await rwWorld(res);
    const rw = slowRw(w);
    const { done } = await parked(w, 1, { cmd: 'write', park: true });
    const first = rw.acquireReadAsync();
    const second = rw.acquireReadAsync();
    await until(() => pendingWaits() === 2, 10_000, '2 async reads to be registered');
    w.lot.release(1);
    const results = await within(Promise.all([first, second]), SAFETY_MS, 'both reads');
    expect(results.every((r) => r.owned)).toBe(true);
    expect(results.map((r) => (r.owned ? r.depth : 0)).sort()).toEqual([1, 2]);
    expect(rw.readDepthOfCurrentThread()).toBe(2);
    expect(rw.inspect().readers).toMatchObject([{ pid: process.pid, depth: 2 }]);
    rw.releaseRead();
    rw.releaseRead();
    expect(() => rw.releaseRead()).toThrow(expect.objectContaining({ code: 'ERROR_NOT_OWNER' }));
    await done;
    // No share is left behind: a writer in another process gets in.
    const writer = await processParticipant(res, bundle, w.data(2));
    expect(await writer.request({ cmd: 'write', timeoutMs: 5_000 })).toMatchObject({ status: 'acquired' });
    rw.close();
  }, 60_000);

  it('a semaphore acquireAsync returns after a release in another process, and after a holder process is SIGKILLed', async () => {
    const w = await rwWorld(res, { units: 2 });
    const sem = slowSem(w);
    const first = await parked(w, 1, { cmd: 'unit', park: true });
    const second = await parked(w, 2, { cmd: 'unit', park: true });
    expect(sem.inspect()).toMatchObject({ free: 0 });
    let pending = sem.acquireAsync();
    // The free sequence and both held unit words.
    await until(() => pendingWaits() === 3, 10_000, 'the async wait to be registered');
    const released = performance.now();
    w.lot.release(1);
    let result = await within(pending, SAFETY_MS, 'acquireAsync after a cross-process release');
    expect(performance.now() - released).toBeLessThan(SAFETY_MS);
    expect(result).toMatchObject({ owned: true, status: 'acquired', unitsReclaimed: 0 });
    expect(await first.done).toMatchObject({ status: 'acquired' });
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0 });

    // Both units held again (this thread, the parked child): the next one waits for the child's.
    pending = sem.acquireAsync();
    await until(() => pendingWaits() === 3, 10_000, 'the second async wait to be registered');
    const killed = performance.now();
    await second.p.kill();
    result = await within(pending, SAFETY_MS, 'acquireAsync after the holder was SIGKILLed');
    expect(performance.now() - killed).toBeLessThan(SAFETY_MS);
    expect(result).toMatchObject({ owned: true, status: 'acquired', unitsReclaimed: 1, deadHolders: [{ tid: second.p.tid, pid: second.p.pid }] });
    sem.release();
    sem.release();
    expect(sem.inspect()).toMatchObject({ free: 2, holders: [], waiting: 0 });
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0, words: 0 });
  }, 60_000);

  it('a semaphore acquireAsync aborted rejects promptly, takes nothing and leaves no native wait', async () => {
    const w = await rwWorld(res, { units: 1 });
    const sem = slowSem(w);
    const { done } = await parked(w, 1, { cmd: 'unit', park: true });
    const controller = new AbortController();
    const pending = sem.acquireAsync({ signal: controller.signal });
    const other = sem.acquireAsync({ timeoutMs: 30_000 });
    await until(() => pendingWaits() === 4, 10_000, 'the async waits to be registered');
    const reason = new Error('no');
    const aborted = performance.now();
    controller.abort(reason);
    await expect(within(pending, 1_000, 'the aborted acquire')).rejects.toBe(reason);
    expect(performance.now() - aborted).toBeLessThan(1_000);
    expect(pendingWaits()).toBe(2);
    expect(sem.inspect()).toMatchObject({ free: 0, waiting: 1 });
    w.lot.release(1);
    expect(await within(other, SAFETY_MS, 'the other acquire')).toMatchObject({ owned: true, unitsReclaimed: 0 });
    await done;
    sem.release();
    expect(sem.inspect()).toMatchObject({ free: 1, holders: [], waiting: 0 });
    expect(kernelWaitStats()).toMatchObject({ environment: 0, process: 0, words: 0 });
  }, 60_000);
});
