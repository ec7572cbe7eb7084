// A blocked waiter sleeps in the kernel: it must not burn a core while the owner holds on.
import { describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { Region } from '../src/shm/region.js';
import { useResources } from './helpers/resources.js';

/** utime + stime of one thread of this process, in clock ticks (fields 14 and 15 of its stat). */
function cpuTicks(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[14 - 3]) + Number(fields[15 - 3]);
}

describe('waiting cost', () => {
  const res = useResources();

  it('a waiter blocked for a second uses a small fraction of a core, then gets the mutex on release', async () => {
    const region = Region.create(16 * 1024);
    const mutex = RobustMutex.open(region, 'held');
    expect(mutex.acquire().owned).toBe(true);
    const worker = res.worker(new URL('./fixtures/blocked-waiter.ts', import.meta.url), { buffer: region.buffer, offset: mutex.byteOffset });
    const [{ tid }] = (await once(worker, 'message')) as [{ tid: number }];
    // Wait until it is really asleep on the lock word (it registered as a waiter).
    while (mutex.inspect().waiters === 0) await new Promise((r) => setImmediate(r));
    const before = cpuTicks(tid);
    const started = performance.now();
    // The measurement window: one second of wall time during which the owner keeps the mutex.
    await new Promise((r) => setTimeout(r, 1000));
    const ticks = cpuTicks(tid) - before;
    const elapsedTicks = ((performance.now() - started) / 1000) * 100; // USER_HZ is 100 on Linux
    // A spinning waiter would use ~elapsedTicks; a sleeping one wakes every 5 ms for a few microseconds.
    expect(ticks).toBeLessThan(elapsedTicks * 0.25);
    const done = once(worker, 'message');
    mutex.release();
    expect((await done)[0]).toEqual({ status: 'acquired' });
  }, 30_000);
});
