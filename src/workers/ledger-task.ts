// The piscina task module of the ledger: each task is one transfer inside the
// ledger mutex's critical section. workerData.data (LedgerShared) is the same
// for every task; the mutex, lot and ledger are attached on the thread's
// first task (not at import, so importing this module's types is harmless).
import { workerData } from 'node:worker_threads';
import { RobustMutex } from '../locks/robust-mutex.js';
import { currentThreadIdentity } from '../locks/owner.js';
import { Ledger, type Rolled } from './ledger.js';
import { inLedgerCriticalSection } from './ledger-critical-section.js';
import { ParkingLot } from './park.js';

export interface LedgerShared {
  buffer: SharedArrayBuffer;
  mutexOffset: number;
  ledgerOffset: number;
  lotOffset: number;
}

export interface TransferTask {
  from: number;
  to: number;
  amount: number;
  /** Park in this slot between debit and credit if a park was requested there. */
  parkSlot?: number;
  timeoutMs?: number;
}

export interface TransferOutcome {
  status: 'acquired' | 'abandoned' | 'timeout' | 'busy' | 'not-recoverable';
  /** The previous owner died mid-transfer and this call repaired the ledger from its journal. */
  repaired: boolean;
  /** How the repair went: 'back' (the dead owner's transfer undone), 'forward' (finished), 'none'. */
  rolled: Rolled;
  /** The transfer was made (false when the mutex was not owned or `from` held less than `amount`). */
  done: boolean;
}

export interface TransferTaskResult extends TransferOutcome {
  /** OS thread id of the pool worker that ran the task. */
  tid: number;
}

let attached: { mutex: RobustMutex; ledger: Ledger; lot: ParkingLot } | undefined;

function attach(): { mutex: RobustMutex; ledger: Ledger; lot: ParkingLot } {
  if (!attached) {
    const shared = workerData.data as LedgerShared;
    attached = {
      mutex: RobustMutex.at(shared.buffer, shared.mutexOffset),
      ledger: Ledger.at(shared.buffer, shared.ledgerOffset),
      lot: ParkingLot.at(shared.buffer, shared.lotOffset),
    };
  }
  return attached;
}

export default function transferTask(task: TransferTask): TransferTaskResult {
  const { mutex, ledger, lot } = attach();
  const tid = currentThreadIdentity().tid;
  const section = inLedgerCriticalSection(
    mutex,
    ledger,
    () => {
      // The ledger refuses an overdraft; a pool task reports it as "not done" instead of failing.
      if (ledger.balance(task.from) < task.amount) return false;
      const midTransfer = task.parkSlot === undefined ? undefined : () => void lot.parkIfRequested(task.parkSlot!);
      ledger.transfer({ from: task.from, to: task.to, amount: task.amount, participant: tid }, midTransfer ? { midTransfer } : {});
      return true;
    },
    task.timeoutMs === undefined ? {} : { timeoutMs: task.timeoutMs },
  );
  if (!section.owned) return { status: section.status, repaired: false, rolled: 'none', done: false, tid };
  const rolled = section.repair?.rolled ?? 'none';
  return { status: section.status, repaired: rolled !== 'none', rolled, done: section.value, tid };
}
