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
//
// Why a throw rolls the transfer back before the release: the release hands
// the ledger on as if it were whole, so the next owner gets 'acquired', not
// 'abandoned', and would never repair it (every later transfer would fail
// with ERR_LEDGER_DIRTY). An owner that throws mid-transfer undoes its own
// transfer from the journal, exactly as a repairer would, then releases and
// lets the error go on. (An owner that dies instead releases nothing: the
// next owner gets 'abandoned' and repairs.)
import type { RobustMutex } from '../locks/robust-mutex.js';
import type { AcquireResult, Owned } from '../locks/types.js';
import { PHASE_IDLE, type Ledger, type RecordStore, type RepairReport } from './ledger.js';

export interface LedgerSectionOptions {
  /** How long to wait for the mutex (ms); Infinity when not given. */
  timeoutMs?: number;
  /** Where the ledger's transaction records live, for repair() to finish a half-done ring update. */
  records?: RecordStore;
  /** Called right after the mutex is owned, before any repair (the caller now holds the ledger). */
  onOwned?: (result: Owned) => void;
  /** Called after an abandoned acquire's repair, before the mutex is marked consistent. */
  onRepaired?: (report: RepairReport) => void;
  /** Called last inside the critical section, also when the work threw, right before the release. */
  beforeRelease?: () => void;
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
  return insideOwned(result, mutex, ledger, work, options);
}

/**
 * The same with an asynchronous wait for the mutex (acquireAsync): for a
 * caller whose event loop must keep running meanwhile, e.g. the one that
 * kills the owner it is waiting for. The work itself runs synchronously.
 */
export async function inLedgerCriticalSectionAsync<T>(
  mutex: RobustMutex,
  ledger: Ledger,
  work: (repair: RepairReport | null) => T,
  options: LedgerSectionOptions = {},
): Promise<LedgerSection<T>> {
  const result = await mutex.acquireAsync(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
  if (!result.owned) return { owned: false, status: result.status };
  return insideOwned(result, mutex, ledger, work, options);
}

function insideOwned<T>(result: Owned, mutex: RobustMutex, ledger: Ledger, work: (repair: RepairReport | null) => T, options: LedgerSectionOptions): LedgerSection<T> {
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
    try {
      return { owned: true, status: result.status, repair, value: work(repair) };
    } catch (error) {
      if (ledger.phase !== PHASE_IDLE) ledger.repair(options.records);
      throw error;
    }
  } finally {
    try {
      options.beforeRelease?.();
    } finally {
      mutex.release();
    }
  }
}
