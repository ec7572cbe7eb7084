// The mutex's format and its honest errors: a version-1 mutex (64-bit lock
// word, before the glibc-shared robust list) gets a clear MutexLayoutError;
// markConsistent() without a pending abandonment is EINVAL; open() with the
// other policy is a mismatch, not a silent other mutex; inspect() counts every
// waiter, and says when it cannot count them exactly.
import { describe, expect, it } from 'vitest';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { I, MAGIC, MUTEX_BYTES } from '../src/locks/mutex-layout.js';
import { ROBUST_NODE_NEXT, ROBUST_NODE_PREV, ROBUST_NODE_TAG, ROBUST_NODE_TAG_OFFSET } from '../src/locks/robust-list.js';
import { openRegion, Region } from '../src/shm/region.js';
import { useResources } from './helpers/resources.js';
import { mutexWorld, threadParticipant } from './fixtures/mutex-setup.js';

/** What version 1's RobustMutex.initialize wrote (magic at 8, version 1 at 12, policy 16, mechanism 20). */
function writeVersion1Mutex(buffer: SharedArrayBuffer, byteOffset: number): void {
  const i32 = new Int32Array(buffer, byteOffset, MUTEX_BYTES / 4);
  i32.fill(0);
  Atomics.store(i32, 4, 0);
  Atomics.store(i32, 5, 0);
  Atomics.store(i32, 3, 1);
  Atomics.store(i32, 2, MAGIC);
}

describe('robust mutex layout and errors', () => {
  const res = useResources();

  it('layout version 2: the first 40 bytes are a glibc robust-list node', () => {
    expect([I.lock * 4, I.tag * 4, ROBUST_NODE_TAG_OFFSET, ROBUST_NODE_PREV, ROBUST_NODE_NEXT]).toEqual([0, 8, 8, 24, 32]);
    const sab = new SharedArrayBuffer(256);
    RobustMutex.initialize(sab, 128);
    const i32 = new Int32Array(sab, 128, 32);
    expect([i32[I.tag], i32[I.magic], i32[I.version]]).toEqual([ROBUST_NODE_TAG, MAGIC, 2]);
  });

  it('a version-1 mutex gets a MutexLayoutError that names both versions, in a buffer and in a region file', async () => {
    const sab = new SharedArrayBuffer(256);
    writeVersion1Mutex(sab, 0);
    let thrown: unknown;
    try {
      RobustMutex.at(sab, 0);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ name: 'MutexLayoutError', code: 'ERR_MUTEX_LAYOUT' });
    expect(String((thrown as Error).message)).toMatch(/layout version 1 .*reads version 2/);

    const path = res.path('old-layout');
    const region = await openRegion(path, { size: 64 * 1024, create: true });
    const { offset } = region.findOrCreate('mutex:old', MUTEX_BYTES, (at) => writeVersion1Mutex(region.buffer, at));
    expect(() => RobustMutex.open(region, 'old')).toThrow(expect.objectContaining({ code: 'ERR_MUTEX_LAYOUT', message: expect.stringMatching(/version 1/) }));
    expect(() => RobustMutex.at(region.buffer, offset)).toThrow(expect.objectContaining({ name: 'MutexLayoutError' }));
    region.close();
  });

  it('markConsistent() without a pending abandonment throws EINVAL (NotInconsistentError); after one it works once', async () => {
    const w = await mutexWorld(res);
    w.mutex.acquire();
    expect(() => w.mutex.markConsistent()).toThrow(expect.objectContaining({ name: 'NotInconsistentError', code: 'EINVAL' }));
    w.mutex.release();
    const owner = await threadParticipant(res, w.data(0), w.region);
    w.lot.request(0);
    void owner.request({ cmd: 'cs' }).catch(() => {});
    w.lot.waitUntilParked(0, 20_000);
    await owner.kill();
    expect(w.mutex.acquire(10_000).status).toBe('abandoned');
    w.mutex.markConsistent();
    expect(() => w.mutex.markConsistent()).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    w.mutex.release();
    expect(w.mutex.acquire()).toMatchObject({ status: 'acquired' });
    w.mutex.release();
  }, 60_000);

  it('open() with another policy (or wait mechanism) than the existing mutex throws MutexPolicyMismatchError', () => {
    const region = Region.create(64 * 1024);
    const posix = RobustMutex.open(region, 'm', { policy: 'posix' });
    expect(() => RobustMutex.open(region, 'm', { policy: 'windows' })).toThrow(
      expect.objectContaining({ name: 'MutexPolicyMismatchError', code: 'ERR_MUTEX_POLICY_MISMATCH', message: expect.stringMatching(/'posix'.*'windows'/) }),
    );
    expect(() => RobustMutex.open(region, 'm', { waitMechanism: 'atomics' })).toThrow(expect.objectContaining({ code: 'ERR_MUTEX_POLICY_MISMATCH' }));
    // Without a policy, or with the same one, open() finds the same mutex.
    expect(RobustMutex.open(region, 'm').byteOffset).toBe(posix.byteOffset);
    expect(RobustMutex.open(region, 'm', { policy: 'posix' }).policy).toBe('posix');
  });

  it('inspect().waiters counts waiters beyond the twelve slots and says the count is then not exact', async () => {
    const w = await mutexWorld(res);
    const other = await threadParticipant(res, w.data(1), w.region);
    w.mutex.acquire();
    // Fourteen async acquires in another thread: each is a blocked waiter, with a slot or without one.
    const waits = Array.from({ length: 14 }, () => other.request({ cmd: 'acquireAsync', timeoutMs: 30_000 }));
    const deadline = performance.now() + 20_000;
    while (w.mutex.inspect().waiters < 14 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(w.mutex.inspect()).toMatchObject({ waiters: 14, waitersExact: false });
    w.mutex.release();
    for (const reply of await Promise.all(waits)) expect(reply.status).toBe('acquired');
    expect(w.mutex.inspect()).toMatchObject({ state: 'free', waiters: 0, waitersExact: true });
  }, 60_000);

  it('hostile contents: a lock word scribbled to name a live unrelated thread (pid 1), with no owner record, does not hang acquire()', () => {
    const sab = new SharedArrayBuffer(256);
    const mutex = RobustMutex.initialize(sab, 0, { livenessIntervalMs: 50 });
    // What a buggy or malicious participant can write; init never took this mutex.
    Atomics.store(new Int32Array(sab, 0, 1), 0, 1);
    expect(mutex.tryAcquire().status).toBe('busy'); // a live thread in the word may be an owner a few instructions in
    const started = performance.now();
    const result = mutex.acquire(20_000);
    expect(result.status).toBe('abandoned');
    expect(performance.now() - started).toBeGreaterThan(1_000); // it was given the grace of an owner not yet recorded
    mutex.markConsistent();
    mutex.release();
    expect(mutex.inspect().state).toBe('free');
  }, 30_000);
});
