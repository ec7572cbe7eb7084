// The piscina pool: tasks run critical sections on a shared ledger; a task
// aborted through its AbortSignal while parked mid-transfer really ends its
// worker thread, and the next task is told "abandoned" and repairs.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Region } from '../src/shm/region.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { ParkingLot } from '../src/workers/park.js';
import { Ledger, PHASE_IDLE } from '../src/workers/ledger.js';
import { CriticalSectionPool, isAbortError } from '../src/workers/pool.js';
import type { LedgerShared, TransferTask, TransferTaskResult } from '../src/workers/ledger-task.js';
import { tsWorkerBoot } from '../tools/ts-spawn.js';

describe('CriticalSectionPool', () => {
  let pool: CriticalSectionPool<TransferTask, TransferTaskResult, LedgerShared> | undefined;
  afterEach(async () => {
    await pool?.destroy();
    pool = undefined;
  });

  function setup() {
    const region = Region.create(64 * 1024);
    const mutex = RobustMutex.open(region, 'ledger');
    const lot = ParkingLot.open(region, 'park', 1);
    const { offset } = region.findOrCreate('ledger', Ledger.bytes(3), (o) => void Ledger.initialize(region.buffer, o, 3, 100));
    const ledger = Ledger.at(region.buffer, offset);
    pool = new CriticalSectionPool({
      taskModule: new URL('../src/workers/ledger-task.ts', import.meta.url),
      bootModule: tsWorkerBoot,
      shared: { buffer: region.buffer, mutexOffset: mutex.byteOffset, ledgerOffset: offset, lotOffset: lot.byteOffset },
    });
    return { mutex, lot, ledger, pool };
  }

  it('runs transfers in worker threads under the mutex', async () => {
    const { ledger, pool } = setup();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => pool.run({ from: i % 3, to: (i + 1) % 3, amount: 7 })));
    expect(results.every((r) => r.status === 'acquired' && r.done)).toBe(true);
    expect(ledger.stats().txCount).toBe(40);
    expect(ledger.checkInvariant().holds).toBe(true);
    expect(ledger.phase).toBe(PHASE_IDLE);
  }, 60_000);

  it('an aborted task parked mid-transfer ends its thread; the next task gets "abandoned" and repairs', async () => {
    const { mutex, lot, ledger, pool } = setup();
    lot.request(0);
    const controller = new AbortController();
    const doomed = pool.run({ from: 0, to: 1, amount: 60, parkSlot: 0 }, { signal: controller.signal });
    const parked = await lot.waitUntilParkedAsync(0, { timeoutMs: 30_000 });
    expect(ledger.balances()).toEqual([40, 100, 100]); // debited, not yet credited
    controller.abort();
    const error = await doomed.then(() => null, (e: unknown) => e);
    expect(isAbortError(error)).toBe(true);
    const next = await pool.run({ from: 1, to: 2, amount: 5 });
    expect(next).toMatchObject({ status: 'abandoned', repaired: true, rolled: 'back', done: true });
    expect(next.tid).not.toBe(parked.tid);
    // The aborted task's OS thread really ended (it may still be tearing down when the kernel marks the lock).
    const deadline = performance.now() + 10_000;
    while (existsSync(`/proc/self/task/${parked.tid}`) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(existsSync(`/proc/self/task/${parked.tid}`)).toBe(false);
    expect(ledger.balances()).toEqual([100, 95, 105]);
    expect(ledger.checkInvariant().holds).toBe(true);
    expect(ledger.phase).toBe(PHASE_IDLE);
    expect(mutex.inspect()).toMatchObject({ state: 'free', timesAbandoned: 1 });
  }, 60_000);
});
