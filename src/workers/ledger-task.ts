// The piscina task module of the ledger: each task is one transfer inside the
// ledger mutex's critical section. workerData.data (LedgerShared) is the same
// for every task; the mutex, lot and ledger are attached once per thread.
import { workerData } from 'node:worker_threads';
import { RobustMutex } from '../locks/robust-mutex.js';
import { currentThreadIdentity } from '../locks/owner.js';
import { Ledger, type TransferOutcome } from './ledger.js';
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

export interface TransferTaskResult extends TransferOutcome {
  /** OS thread id of the pool worker that ran the task. */
  tid: number;
}

const shared = workerData.data as LedgerShared;
const mutex = RobustMutex.at(shared.buffer, shared.mutexOffset);
const ledger = Ledger.at(shared.buffer, shared.ledgerOffset, mutex);
const lot = ParkingLot.at(shared.buffer, shared.lotOffset);

export default function transferTask(task: TransferTask): TransferTaskResult {
  const options: Parameters<Ledger['transfer']>[3] = {};
  if (task.parkSlot !== undefined) options.park = { lot, slot: task.parkSlot };
  if (task.timeoutMs !== undefined) options.timeoutMs = task.timeoutMs;
  return { ...ledger.transfer(task.from, task.to, task.amount, options), tid: currentThreadIdentity().tid };
}
