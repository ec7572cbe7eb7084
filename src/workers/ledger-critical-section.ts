// The one way into a shared ledger's critical section, used by the piscina
// transfer task, the lock lab's participants and the lab's final check:
// acquire the mutex -> if the previous owner died inside, repair the ledger
// from its journal and mark the mutex consistent -> run the caller's work ->
// release (also when the work throws).
//
// Why markConsistent() only when the repaired ledger checks out: under the
// 'posix' policy a release without it makes the mutex not-recoverable for
// ever, which is exactly what must happen to a ledger whose money is wrong
// (every later acquire fails instead of moving wrong money on).
import type { RobustMutex } from '../locks/robust-mutex.js';
import type { AcquireResult, Owned } from '../locks/types.js';
import type { Ledger, RecordStore, RepairReport } from './ledger.js';

export interface LedgerSectionOptions {
  /** How long to wait for the mutex (ms); Infinity when not given. */
  timeoutMs?: number;
  /** Where the ledger's transaction records live, for repair() to finish a half-done ring update. */
  records?: RecordStore;
  /** Called right after the mutex is owned, before any repair (the caller now holds the ledger). */
  onOwned?: (result: Owned) => void;
  /** Called after an abandoned acquire's repair, before the mutex is marked consistent. */
  onRepaired?: (report: RepairReport) => void;
}

export type LedgerSection<T> =
  | { owned: false; status: AcquireResult['status'] }
  | {
      owned: true;
      status: Owned['status'];
      /** The repair made after an abandoned acquire; null when the previous owner released normally. */
      repair: RepairReport | null;
      /** What the work returned. */
      value: T;
    };

/**
 * Run `work` inside the ledger mutex's critical section. `work` gets the
 * repair report (null when nothing was abandoned). When the mutex is not
 * owned (timeout, not-recoverable) `work` does not run.
 */
export function inLedgerCriticalSection<T>(
  mutex: RobustMutex,
  ledger: Ledger,
  work: (repair: RepairReport | null) => T,
  options: LedgerSectionOptions = {},
): LedgerSection<T> {
  const result = mutex.acquire(options.timeoutMs ?? Infinity);
  if (!result.owned) return { owned: false, status: result.status };
  try {
    options.onOwned?.(result);
    let repair: RepairReport | null = null;
    if (result.abandoned) {
      // WAIT_ABANDONED is a success code (seed 001): we own the mutex now,
      // and the ledger may be half-updated.
      repair = ledger.repair(options.records);
      options.onRepaired?.(repair);
      if (repair.invariant.holds) mutex.markConsistent();
    }
    return { owned: true, status: result.status, repair, value: work(repair) };
  } finally {
    mutex.release();
  }
}
