// The ten hard cases of DESIGN.md, each done for real: owners are killed with
// SIGKILL, worker.terminate() or process.exit() inside the critical section
// (parked there through the ParkingLot), never forged into the lock word.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { currentThreadIdentity, readThreadStat } from '../src/locks/owner.js';
import { native } from '../src/native/index.js';
import { I } from '../src/locks/mutex-layout.js';
import { exited, nextMessage, useResources } from './helpers/resources.js';
import { mutexWorld, processParticipant, threadParticipant, waitFor } from './fixtures/mutex-setup.js';

describe('robust mutex hard cases', () => {
  const res = useResources();

  it('1: the owner dies between taking the lock word and writing any other owner field', async () => {
    const w = await mutexWorld(res);
    w.mutex.acquire();
    w.mutex.release(); // leaves ownerPid 0, depth 0: the hook runs before they are written
    const owner = await processParticipant(res, w.data(0, { parkInLockWordHook: true }));
    w.lot.request(0);
    void owner.request({ cmd: 'cs' }).catch(() => {});
    const parked = await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    expect(parked.pid).toBe(owner.pid);
    // Only the lock word says who owns it: the other fields are still those of a free mutex.
    const snapshot = w.mutex.inspect();
    expect(snapshot.owner?.tid).toBe(owner.tid);
    expect(snapshot.depth).toBe(0);
    const fields = new Int32Array(w.region.buffer, w.mutex.byteOffset, 32);
    expect(fields[I.ownerPid]).toBe(0); // not yet written
    expect(fields[I.ownerTid]).toBe(0); // no record vouches for the start time slot
    // The start time slot still holds this thread's (the previous owner's):
    // it must not make the live owner look like a reused TID.
    expect(fields[I.startTime]).toBe(currentThreadIdentity().startTime | 0);
    expect(w.mutex.tryAcquire().status).toBe('busy');
    expect(w.mutex.inspect()).toMatchObject({ state: 'owned', ownerAlive: true });
    await owner.kill();
    const result = w.mutex.acquire(10_000);
    expect(result.status).toBe('abandoned');
    // The dead owner's identity may be lost here (it died before recording it
    // anywhere but the lock word, which the kernel's robust-list walk clears).
    if (result.owned && result.previousOwner?.tid) expect(result.previousOwner.tid).toBe(owner.tid);
    w.mutex.markConsistent();
    w.mutex.release();
    expect(w.mutex.inspect().state).toBe('free');
  }, 60_000);

  it('2: a live thread with the recorded TID but another start time is not the owner (TID reuse)', async () => {
    const w = await mutexWorld(res);
    const me = currentThreadIdentity();
    const waiter = await threadParticipant(res, w.data(1), w.region);
    // This thread takes it: with the true start time a waiter sees a live owner.
    expect(w.mutex.acquire().status).toBe('acquired');
    expect((await waiter.request({ cmd: 'try' })).status).toBe('busy');
    // The only allowed forgery: rewrite the start time (high 32 bits) so the word
    // names (this TID, an older thread's start time) — what a dead owner whose
    // TID was handed to this thread would look like.
    const lockHigh = new Int32Array(w.region.buffer, w.mutex.byteOffset, 2);
    Atomics.store(lockHigh, 1, (me.startTime - 1) | 0);
    const reply = await waiter.request({ cmd: 'try' });
    expect(reply.status).toBe('abandoned');
    expect(reply.previousTid).toBe(me.tid);
    expect(w.mutex.isHeldByCurrentThread()).toBe(false);
    expect(() => w.mutex.release()).toThrow(expect.objectContaining({ code: 'ERROR_NOT_OWNER' }));
  }, 60_000);

  it('3: a SIGKILLed owner that is not yet reaped (a zombie) is dead', async () => {
    const w = await mutexWorld(res);
    const owner = await processParticipant(res, w.data(0));
    w.lot.request(0);
    void owner.request({ cmd: 'cs' }).catch(() => {});
    await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    owner.child!.kill('SIGKILL');
    // No await from here on: Node reaps children only from its event loop, so
    // the killed child stays a zombie until this synchronous block ends.
    waitFor(() => readThreadStat(owner.pid)?.state === 'Z', 10_000, 'the child to become a zombie');
    expect(existsSync(`/proc/${owner.pid}`)).toBe(true);
    expect(w.mutex.inspect().state).toBe('owner-dead');
    const result = w.mutex.tryAcquire();
    expect(result.status).toBe('abandoned');
    expect(readThreadStat(owner.pid)?.state).toBe('Z');
    expect(owner.child!.exitCode === null && owner.child!.signalCode === null).toBe(true);
    w.mutex.markConsistent();
    w.mutex.release();
    expect((await exited(owner.child!)).signal).toBe('SIGKILL');
  }, 60_000);

  it('4: a SIGSTOPped owner is alive: busy, timed waits time out; after SIGCONT it releases normally', async () => {
    const w = await mutexWorld(res);
    const owner = await processParticipant(res, w.data(0));
    w.lot.request(0);
    const done = owner.request({ cmd: 'cs' });
    await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    owner.child!.kill('SIGSTOP');
    waitFor(() => readThreadStat(owner.pid)?.state === 'T', 10_000, 'the child to stop');
    expect(w.mutex.tryAcquire().status).toBe('busy');
    expect(w.mutex.acquire(300).status).toBe('timeout');
    expect((await w.mutex.acquireAsync({ timeoutMs: 100 })).status).toBe('timeout');
    expect(w.mutex.inspect()).toMatchObject({ state: 'owned', ownerAlive: true });
    owner.child!.kill('SIGCONT');
    w.lot.release(0);
    expect((await done).status).toBe('acquired');
    const result = w.mutex.acquire(10_000);
    expect(result.status).toBe('acquired');
    w.mutex.release();
    expect(w.mutex.inspect().timesAbandoned).toBe(0);
  }, 60_000);

  it('5: a waiter blocked while the owner dies wakes and recovers', async () => {
    const w = await mutexWorld(res);
    const owner = await processParticipant(res, w.data(0));
    const waiter = await processParticipant(res, w.data(1));
    w.lot.request(0);
    void owner.request({ cmd: 'cs' }).catch(() => {});
    await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    const waited = waiter.request({ cmd: 'cs', timeoutMs: 30_000 });
    await waitForAsync(() => w.mutex.inspect().waiters === 1, 'the waiter to block');
    await owner.kill();
    const reply = await waited;
    expect(reply.status).toBe('abandoned');
    expect(reply.previousTid).toBe(owner.tid);
    expect(w.words[3]).toBe(0); // no invariant violation
    expect(w.words[0]).toBe(w.words[1]);
    expect(w.mutex.inspect().state).toBe('free');
  }, 60_000);

  it('6: two waiters notice the death at once: exactly one gets "abandoned", never two owners', async () => {
    const w = await mutexWorld(res);
    const owner = await processParticipant(res, w.data(0));
    const a = await processParticipant(res, w.data(1));
    const b = await threadParticipant(res, w.data(2), w.region);
    w.lot.request(0);
    void owner.request({ cmd: 'cs' }).catch(() => {});
    await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    const replies = Promise.all([a.request({ cmd: 'cs', timeoutMs: 30_000 }), b.request({ cmd: 'cs', timeoutMs: 30_000 })]);
    await waitForAsync(() => w.mutex.inspect().waiters === 2, 'both waiters to block');
    await owner.kill();
    const statuses = (await replies).map((r) => r.status).sort();
    expect(statuses).toEqual(['abandoned', 'acquired']);
    expect(w.words[3]).toBe(0); // the owner-tid CAS never found someone else inside
    expect(w.words[4]).toBe(1); // one repair
    expect(w.mutex.inspect().timesAbandoned).toBe(1);
  }, 60_000);

  it('6, the race: a taker that reads the owner record after a racing taker marked it still names the dead owner', async () => {
    const w = await mutexWorld(res);
    const owner = await processParticipant(res, w.data(0));
    // a stops right after it read and marked the dead owner's record, before its compare-and-swap on the word.
    const a = await processParticipant(res, w.data(1, { parkInDeadRecordHook: true }));
    const b = await threadParticipant(res, w.data(2), w.region);
    w.lot.request(0);
    void owner.request({ cmd: 'cs' }).catch(() => {});
    await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    w.lot.request(1);
    const aReply = a.request({ cmd: 'cs', timeoutMs: 30_000 });
    await waitForAsync(() => w.mutex.inspect().waiters === 1, 'a to block');
    await owner.kill();
    await w.lot.waitUntilParkedAsync(1, { timeoutMs: 20_000 });
    // b comes in while a sits between its mark and its compare-and-swap: b wins the word.
    const bReply = await b.request({ cmd: 'cs', timeoutMs: 30_000 });
    expect(bReply.status).toBe('abandoned');
    expect(bReply.previousTid).toBe(owner.tid);
    w.lot.release(1);
    expect((await aReply).status).toBe('acquired');
    expect(w.words[3]).toBe(0); // never two owners, and the repair found the owner it was told of
    expect(w.words[4]).toBe(1);
    expect(w.mutex.inspect()).toMatchObject({ state: 'free', timesAbandoned: 1 });
  }, 60_000);

  it('7: a recursive owner dies at depth 3: the next owner starts at depth 1', async () => {
    const w = await mutexWorld(res);
    const owner = await processParticipant(res, w.data(0));
    w.lot.request(0);
    void owner.request({ cmd: 'cs', depth: 3 }).catch(() => {});
    await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
    expect(w.mutex.inspect().depth).toBe(3);
    await owner.kill();
    const result = w.mutex.acquire(10_000);
    expect(result).toMatchObject({ status: 'abandoned', depth: 1 });
    expect(w.mutex.acquire()).toMatchObject({ status: 'acquired', depth: 2 });
    w.mutex.markConsistent();
    w.mutex.release();
    w.mutex.release();
    expect(w.mutex.inspect().state).toBe('free');
    expect(() => w.mutex.release()).toThrow(expect.objectContaining({ code: 'ERROR_NOT_OWNER' }));
  }, 60_000);

  describe('8: consistency after abandonment', () => {
    async function abandonedTo(policy: 'posix' | 'windows') {
      const w = await mutexWorld(res, { policy });
      const owner = await threadParticipant(res, w.data(0), w.region);
      w.lot.request(0);
      void owner.request({ cmd: 'cs' }).catch(() => {});
      w.lot.waitUntilParked(0, 20_000);
      await owner.kill(); // worker.terminate() inside the critical section
      const result = w.mutex.acquire(10_000);
      expect(result.status).toBe('abandoned');
      expect(w.mutex.inspect().state).toBe('owned-inconsistent');
      return w;
    }

    it('posix: released without markConsistent -> not recoverable for ever, for every kind of acquire', async () => {
      const w = await abandonedTo('posix');
      w.mutex.release();
      expect(w.mutex.inspect().state).toBe('not-recoverable');
      expect(w.mutex.acquire().status).toBe('not-recoverable');
      expect(w.mutex.tryAcquire().status).toBe('not-recoverable');
      expect((await w.mutex.acquireAsync()).status).toBe('not-recoverable');
      expect(() => w.mutex.acquireOrThrow()).toThrow(expect.objectContaining({ code: 'ENOTRECOVERABLE' }));
      const other = await processParticipant(res, w.data(1));
      expect((await other.request({ cmd: 'cs', timeoutMs: 10_000 })).status).toBe('not-recoverable');
    }, 60_000);

    it('posix: markConsistent -> the next acquire is a plain success', async () => {
      const w = await abandonedTo('posix');
      w.mutex.markConsistent();
      w.mutex.release();
      expect(w.mutex.acquire()).toMatchObject({ status: 'acquired', abandoned: false });
      w.mutex.release();
    }, 60_000);

    it('windows: released without markConsistent -> ownership passes on, abandonment reported once', async () => {
      const w = await abandonedTo('windows');
      w.mutex.release();
      expect(w.mutex.acquire()).toMatchObject({ status: 'acquired', abandoned: false });
      w.mutex.release();
      expect(w.mutex.inspect()).toMatchObject({ state: 'free', timesAbandoned: 1 });
    }, 60_000);

    it('markConsistent by a thread that does not own the mutex fails with ERROR_NOT_OWNER', async () => {
      const w = await mutexWorld(res);
      expect(() => w.mutex.markConsistent()).toThrow(expect.objectContaining({ code: 'ERROR_NOT_OWNER' }));
    });
  });

  it('9: process.exit() with workers inside the critical section and waiting: the workers die, the lock is abandoned', async () => {
    const w = await mutexWorld(res);
    const child = res.fork(new URL('./fixtures/mutex-exit-with-workers.ts', import.meta.url), [JSON.stringify(w.data(0))]);
    const ready = await nextMessage<{ ownerTid: number; waiterTid: number }>(child, (m) => 'ownerTid' in m);
    expect(w.mutex.inspect().owner?.tid).toBe(ready.ownerTid);
    child.send({ exit: 3 });
    expect(await exited(child)).toEqual({ code: 3, signal: null });
    expect(existsSync(`/proc/${child.pid}/task/${ready.ownerTid}`)).toBe(false);
    const result = w.mutex.acquire(10_000);
    expect(result.owned).toBe(true);
    // The owner worker's death is marked as soon as its environment is torn
    // down (the addon's cleanup hook, like the kernel at thread exit), so the
    // waiter worker of the same process may still take the mutex abandoned,
    // repair and release it before it is terminated too, or die halfway
    // and leave it abandoned itself. Never wedged, never unrepaired.
    if (result.status === 'abandoned') {
      if (result.previousOwner) expect([ready.ownerTid, ready.waiterTid]).toContain(result.previousOwner.tid);
      w.mutex.markConsistent();
    } else {
      expect(w.words[4]).toBe(1); // the waiter's repair
    }
    expect(w.words[3]).toBe(0); // never two owners
    w.mutex.release();
    expect(w.mutex.inspect().state).toBe('free');
  }, 60_000);

  it('10: every native function rejects bad offsets and lengths with RangeError/TypeError, never a crash', () => {
    const n = native();
    const sab = new SharedArrayBuffer(4096);
    const plain = new ArrayBuffer(64);
    const bad: Array<[string, () => unknown]> = [
      ['futexWait past end', () => n.futexWait(sab, 4096, 0, 1)],
      ['futexWait straddling end', () => n.futexWait(sab, 4094, 0, 1)],
      ['futexWait negative', () => n.futexWait(sab, -4, 0, 1)],
      ['futexWait unaligned', () => n.futexWait(sab, 2, 0, 1)],
      ['futexWait huge', () => n.futexWait(sab, 2 ** 53, 0, 1)],
      ['futexWait NaN offset', () => n.futexWait(sab, Number.NaN, 0, 1)],
      ['futexWait NaN timeout', () => n.futexWait(sab, 0, 0, Number.NaN)],
      ['futexWait not a SAB', () => n.futexWait(plain as unknown as SharedArrayBuffer, 0, 0, 1)],
      ['futexWait expected not int32', () => n.futexWait(sab, 0, 2 ** 40, 1)],
      ['futexWake past end', () => n.futexWake(sab, 4096, 1)],
      ['futexWake negative', () => n.futexWake(sab, -4, 1)],
      ['futexWake string offset', () => n.futexWake(sab, '0' as unknown as number, 1)],
      ['msync past end', () => n.msync(sab, 0, 4097, false)],
      ['msync negative', () => n.msync(sab, -1, 10, false)],
      ['madvise past end', () => n.madvise(sab, 4000, 200, 'dontneed')],
      ['madvise bad advice', () => n.madvise(sab, 0, 10, 'free' as never)],
      ['mincore past end', () => n.mincore(sab, 0, 8192)],
      ['mincore negative length', () => n.mincore(sab, 0, -1)],
      ['addressOf past end', () => n.addressOf(sab, 4097)],
      ['addressOf negative', () => n.addressOf(sab, -1)],
      ['mapAnonymous zero', () => n.mapAnonymous(0, true)],
      ['mapAnonymous negative', () => n.mapAnonymous(-1, true)],
      ['mapFd bad fd', () => n.mapFd(-1, 4096, false)],
      ['mapFd zero length', () => n.mapFd(0, 0, false)],
      ['robustListHead not a number', () => n.robustListHead('x' as never)],
      ['robustListHead offset out of int32', () => n.robustListHead(2 ** 40)],
    ];
    for (const [name, call] of bad) {
      let thrown: unknown;
      try {
        call();
      } catch (error) {
        thrown = error;
      }
      expect(thrown, name).toBeInstanceOf(Error);
      // Bounds and type problems are RangeError/TypeError; fd problems may be an errno error (EBADF).
      const ok = thrown instanceof RangeError || thrown instanceof TypeError || typeof (thrown as { code?: unknown }).code === 'string';
      expect(ok, `${name}: ${String(thrown)}`).toBe(true);
    }
    // The mutex refuses a placement outside its buffer before any native call.
    expect(() => RobustMutex.initialize(sab, 4096 - 64)).toThrow(/inside the buffer/);
    expect(() => RobustMutex.at(sab, 3)).toThrow(/multiple of 8/);
    // And the process is still fine: a valid call works.
    expect(n.futexWait(sab, 0, 1, 1)).toBe('not-equal');
  });
});

async function waitForAsync(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
