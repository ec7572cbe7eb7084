// Poisoning and recovery: what the heap does about an operation cut short
// inside its lock.
//
// The orphaned lock (seed 000): when the heap's RobustMutex comes back
// "abandoned", its owner died inside a heap operation and the blocks may be
// half-updated. The heap then sets POISONED in its header, marks the *mutex*
// consistent and releases it (the mutex itself is fine; it is the heap that is
// suspect, and leaving the mutex inconsistent would make it not-recoverable
// under the posix policy, so recover() could never get in), and fails the
// operation with ERROR_POSSIBLE_DEADLOCK without touching a block. POISONED
// lives in shared memory, so every later operation from any thread or process
// fails the same way, before even taking the lock, until recoverHeap() rolls
// the journal's interrupted operation back or forward (heap-journal.ts),
// rebuilds the derived structures and validates.
import type { RobustMutex } from '../locks/robust-mutex.js';
import type { OwnerIdentity } from '../locks/types.js';
import type { HeapBlocks } from './heap-blocks.js';
import { HeapCorruptionError, PossibleDeadlockError } from './heap-errors.js';
import { replayJournal, type JournalOpName } from './heap-journal.js';
import { H, type HeapGeometry } from './heap-layout.js';
import { reclaimDeadCaches } from './heap-thread-cache.js';
import { validateHeap, type HeapValidation } from './heap-validate.js';

/** What recover() did (exported as HeapRecoveryReport). */
export interface RecoveryReport {
  /** The heap was poisoned when recover() started. */
  wasPoisoned: boolean;
  /** recover()'s own acquire found the lock abandoned (nobody had noticed the death yet). */
  lockWasAbandoned: boolean;
  /** The operation in flight when its owner died. */
  interruptedOp: JournalOpName;
  /** The interrupted operation undone ('back'), finished ('forward'), or none was in flight. */
  rolled: 'back' | 'forward' | 'none';
  /** Blocks freed into the caches of threads that are dead now, returned to the heap. */
  reclaimedFromDeadCaches: number;
  /** validate() of the whole heap after the repair. */
  validation: HeapValidation;
}

/** Set POISONED (and count it): every later operation fails until recover(). */
export function poisonHeap(h: Int32Array): void {
  Atomics.store(h, H.poisoned, 1);
  Atomics.add(h, H.timesPoisoned, 1);
}

/**
 * The heap lock was just acquired abandoned: poison the heap, hand the mutex
 * back consistent, and fail the operation that found it.
 */
export function poisonAbandonedHeap(h: Int32Array, mutex: RobustMutex, previousOwner: OwnerIdentity | undefined): never {
  // Poison first, release second: whoever takes the lock next sees the flag.
  poisonHeap(h);
  mutex.markConsistent();
  mutex.release();
  const who = previousOwner ? ` (thread ${previousOwner.tid}${previousOwner.pid ? ` of process ${previousOwner.pid}` : ''})` : '';
  throw new PossibleDeadlockError(`the heap lock's owner${who} died inside a heap operation: the heap is poisoned until recover()`);
}

/**
 * Repair after an owner died inside a heap operation: take the lock (an
 * abandoned lock is expected here), roll the journal's interrupted operation
 * back or forward, give back the cached blocks of dead threads, rebuild
 * lists/bitmap/counters from the block chain (merging adjacent free blocks),
 * validate, and clear POISONED. Throws HeapCorruptionError (and leaves the
 * heap poisoned) when the chain itself is broken: that is corruption, not an
 * interrupted operation.
 */
export function recoverHeap(h: Int32Array, geometry: HeapGeometry, blocks: HeapBlocks, mutex: RobustMutex): RecoveryReport {
  const lock = mutex.acquire();
  if (!lock.owned) throw new PossibleDeadlockError(`recover() could not take the heap lock: ${lock.status}`);
  try {
    const wasPoisoned = Atomics.load(h, H.poisoned) !== 0;
    const replay = replayJournal(h, (b) => blocks.inBlockArea(b));
    let reclaimed = 0;
    try {
      reclaimed = reclaimDeadCaches(h, geometry);
      blocks.rebuild(true);
    } catch (error) {
      Atomics.store(h, H.poisoned, 1);
      throw error;
    }
    const validation = validateHeap(h, geometry);
    if (!validation.valid) {
      Atomics.store(h, H.poisoned, 1);
      throw new HeapCorruptionError(`recover() cannot repair this heap: ${validation.problems.join('; ')}`);
    }
    Atomics.add(h, H.recoveries, 1);
    Atomics.store(h, H.poisoned, 0);
    return { wasPoisoned, lockWasAbandoned: lock.abandoned, interruptedOp: replay.op, rolled: replay.rolled, reclaimedFromDeadCaches: reclaimed, validation };
  } finally {
    // The heap's own POISONED flag carries any inconsistency; the mutex must
    // stay usable (posix policy: releasing it inconsistent would end it).
    if (lock.abandoned) mutex.markConsistent();
    mutex.release();
  }
}
