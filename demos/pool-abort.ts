// A piscina task parked in the critical section of a shared ledger is aborted
// through its AbortSignal (piscina terminates the worker thread); the next
// task is told "abandoned", rolls the half-done transfer back and marks the
// mutex consistent.
import { existsSync } from 'node:fs';
import { startDemo, intOption } from './lib/cli.js';
import { Region } from '../src/shm/region.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { ParkingLot } from '../src/workers/park.js';
import { Ledger, PHASE_IDLE } from '../src/workers/ledger.js';
import { CriticalSectionPool, isAbortError } from '../src/workers/pool.js';
import { tsWorkerBoot } from '../tools/ts-spawn.js';
import type { LedgerShared, TransferTask, TransferTaskResult } from '../src/workers/ledger-task.js';

const demo = startDemo({
  name: 'pool-abort',
  summary:
    'A piscina pool moves money between accounts of a ledger in shared memory, one transfer per task, under a robust mutex. ' +
    'One task is parked between debit and credit and aborted through its AbortSignal: piscina terminates its worker thread ' +
    'inside the critical section. The next task gets "abandoned", repairs the ledger from its journal (rolls the half-done transfer back) and marks the mutex consistent.',
  options: {
    accounts: { type: 'string' },
    transfers: { type: 'string' },
  },
  descriptions: { accounts: 'number of accounts', transfers: 'transfers before and after the abort' },
});
const accounts = intOption('accounts', demo.values.accounts, 4, 2, 1000);
const transfers = intOption('transfers', demo.values.transfers, 20, 0, 100_000);

const region = Region.create(64 * 1024);
const mutex = RobustMutex.open(region, 'ledger');
const lot = ParkingLot.open(region, 'park', 1);
const { offset: ledgerOffset } = region.findOrCreate('ledger', Ledger.bytes(accounts), (offset) => {
  Ledger.initialize(region.buffer, offset, accounts, 1000);
});
const ledger = Ledger.at(region.buffer, ledgerOffset);
const shared: LedgerShared = { buffer: region.buffer, mutexOffset: mutex.byteOffset, ledgerOffset, lotOffset: lot.byteOffset };
const transfersDone = () => ledger.stats().txCount;
/** Balances sum to the total and no transfer is half done. */
const invariantHolds = () => ledger.checkInvariant().holds && ledger.phase === PHASE_IDLE;
const pool = new CriticalSectionPool<TransferTask, TransferTaskResult, LedgerShared>({
  taskModule: new URL('../src/workers/ledger-task.ts', import.meta.url),
  bootModule: tsWorkerBoot,
  shared,
  maxThreads: 2,
});

let ok = false;
let abandonedObserved = false;
let invariantRestored = false;
let abortedThreadGone = false;
let invariantBrokenAfterAbort = false;
try {
  const random = (n: number) => Math.floor(Math.random() * n);
  const some = async (count: number) => {
    await Promise.all(
      Array.from({ length: count }, () => {
        const from = random(accounts);
        return pool.run({ from, to: (from + 1 + random(accounts - 1)) % accounts, amount: 1 + random(50) });
      }),
    );
  };
  await some(transfers);
  demo.event('transfers', { done: transfersDone(), balances: ledger.balances(), invariant: invariantHolds() }, `${transfersDone()} transfers, balances ${ledger.balances().join(' ')}`);

  // From the richest account: it holds at least the average (1000), and the
  // ledger refuses overdrafts. No task runs now, so this read is stable.
  const balances = ledger.balances();
  const richest = balances.indexOf(Math.max(...balances));
  lot.request(0);
  const controller = new AbortController();
  const doomed = pool.run({ from: richest, to: (richest + 1) % accounts, amount: 500, parkSlot: 0 }, { signal: controller.signal });
  const parked = await lot.waitUntilParkedAsync(0, { timeoutMs: 30_000 });
  invariantBrokenAfterAbort = !invariantHolds();
  demo.event('parked', { tid: parked.tid, balances: ledger.balances() }, `task parked in worker thread ${parked.tid} between debit and credit: balances ${ledger.balances().join(' ')}`);
  controller.abort();
  const rejection = await doomed.then(() => null, (error: unknown) => error);
  // piscina rejects the task as soon as it starts terminating the thread; the
  // OS thread disappears a moment later (bounded wait on the kernel's view).
  const deadline = performance.now() + 10_000;
  while (existsSync(`/proc/self/task/${parked.tid}`) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  abortedThreadGone = !existsSync(`/proc/self/task/${parked.tid}`);
  demo.event('aborted', { abortError: isAbortError(rejection), threadGone: abortedThreadGone, mutex: mutex.inspect().state }, `aborted: ${String((rejection as Error)?.name)}, thread ${parked.tid} gone: ${abortedThreadGone}, mutex ${mutex.inspect().state}`);

  const next = await pool.run({ from: 2 % accounts, to: 3 % accounts, amount: 1 });
  abandonedObserved = next.status === 'abandoned' && next.repaired;
  demo.event('recovered', { status: next.status, repaired: next.repaired, rolled: next.rolled, balances: ledger.balances() }, `next task: ${next.status}, repaired: ${next.repaired} (rolled ${next.rolled}), balances ${ledger.balances().join(' ')}`);
  await some(transfers);
  invariantRestored = invariantHolds() && mutex.inspect().state === 'free';
  ok = abandonedObserved && invariantRestored && abortedThreadGone && invariantBrokenAfterAbort && isAbortError(rejection);
} finally {
  await pool.destroy();
}
demo.finish(ok, { abandonedObserved, invariantRestored, abortedThreadGone, transfers: transfersDone(), repairs: ledger.stats().repairs, timesAbandoned: mutex.inspect().timesAbandoned });
