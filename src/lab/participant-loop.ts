// What every lab participant (pool task, worker thread, child process) does:
// acquire the ledger mutex -> multi-step transfer (journal first) -> record it
// in the shared heap -> release, for ever; on "abandoned", repair the ledger
// from its journal, check the invariant, mark the mutex consistent, and log it.
import { currentThreadIdentity } from '../locks/owner.js';
import { inLedgerCriticalSection } from '../workers/ledger-critical-section.js';
import { HEAP_PARK_POINTS, openLabObjects } from './lab-objects.js';
import type { NamedObjectHost } from '../locks/types.js';
import { HeapRecords } from './records.js';

export type ParticipantKind = 'pool' | 'worker' | 'process';

export interface ParticipantConfig {
  slot: number;
  generation: number;
  seed: number;
  /** Pause between transfers, outside the lock (ms). */
  gapMs: number;
  /** Time spent between the debit and the credit (ms): the window in which a kill breaks the invariant. */
  stepMs: number;
}

export type ParticipantEnd = 'exit-requested' | 'not-recoverable';

/** xorshift32: a small deterministic stream per participant. */
function randomStream(seed: number): () => number {
  let x = seed | 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

export async function runParticipant(region: NamedObjectHost, config: ParticipantConfig): Promise<ParticipantEnd> {
  const { slot, generation } = config;
  // The heap calls this inside its own lock: a participant asked to park
  // "in the heap" stops there, holding both the ledger and the heap lock.
  const objects = openLabObjects(region, (point) => {
    if (HEAP_PARK_POINTS.has(point)) objects.heapLot.parkIfRequested(slot);
  });
  const { mutex, ledger, board, log, lot, heap } = objects;
  const me = currentThreadIdentity();
  board.hello(slot, me.tid, me.pid);
  const random = randomStream(config.seed);
  // A private word to sleep on: Atomics.wait is interrupted at once by
  // worker.terminate(), unlike a native wait.
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const who = { slot, generation, tid: me.tid, pid: me.pid };
  const records = new HeapRecords(heap, (notice) => {
    log.append({
      ...who,
      kind: notice.report ? 'heapRecovered' : 'heapFailed',
      prevTid: 0,
      prevPid: 0,
      rolled: notice.report?.rolled ?? 'none',
      sum: 0,
      invariantHeld: true,
      txId: 0,
    });
  });
  const midTransfer = () => {
    if (config.stepMs > 0) Atomics.wait(nap, 0, 0, config.stepMs);
    lot.parkIfRequested(slot);
  };

  for (;;) {
    if (board.exitRequested(slot)) {
      board.setState(slot, 'exited');
      return 'exit-requested';
    }
    board.setState(slot, 'waiting');
    // Bounded, so an exit request is seen even under heavy contention. A
    // repaired ledger that does not check out is not marked consistent:
    // releasing then makes the mutex not-recoverable (posix policy), and
    // every participant stops: wrong money must not flow on.
    const section = inLedgerCriticalSection(
      mutex,
      ledger,
      () => {
        const from = random() % ledger.accounts;
        let to = random() % (ledger.accounts - 1);
        if (to >= from) to++;
        const amount = Math.min(1 + (random() % 100), ledger.balance(from));
        if (amount > 0) ledger.transfer({ from, to, amount, participant: slot }, { records, midTransfer });
        board.countOp(slot);
      },
      {
        timeoutMs: 250,
        records,
        onOwned: (result) => {
          board.setState(slot, 'critical');
          if (result.abandoned) {
            log.append({
              ...who,
              kind: 'abandoned',
              prevTid: result.previousOwner?.tid ?? 0,
              prevPid: result.previousOwner?.pid ?? 0,
              rolled: 'none',
              sum: 0,
              invariantHeld: false,
              txId: 0,
            });
          }
        },
        onRepaired: (report) => {
          log.append({ ...who, kind: 'repaired', prevTid: 0, prevPid: 0, rolled: report.rolled, sum: report.invariant.sum, invariantHeld: report.invariant.holds, txId: report.txId });
        },
      },
    );
    if (!section.owned) {
      if (section.status === 'not-recoverable') {
        board.setState(slot, 'exited');
        return 'not-recoverable';
      }
      continue; // timeout: a live (maybe stopped or parked) owner holds it
    }
    board.setState(slot, 'outside');
    // Yield to the event loop (lets IPC and piscina's port breathe).
    await new Promise((resolve) => setTimeout(resolve, config.gapMs));
  }
}
