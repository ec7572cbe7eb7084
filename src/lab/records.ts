// Transaction records of the lab, allocated from the shared heap.
//
// The heap has its own RobustMutex. A participant killed inside heap.alloc()
// or heap.free() orphans *that* lock (while it also holds the ledger lock):
// the next heap call anywhere fails with ERROR_POSSIBLE_DEADLOCK (seed 000)
// instead of hanging, and the caller runs heap.recover(), which replays the
// heap's journal, and then retries once.
import { HeapFlags, SharedHeap, type RecoveryReport } from '../heap/shared-heap.js';
import type { RecordStore, Transfer } from '../workers/ledger.js';

/** Bytes of one record: txId, from, to, amount, participant (Int32 each). */
export const RECORD_BYTES = 20;

export interface HeapRecoveryNotice {
  report: RecoveryReport | null;
  /** recover() itself failed (heap corruption): records are switched off. */
  error?: string;
}

export class HeapRecords implements RecordStore {
  /** Set when recover() failed: the lab keeps running without records. */
  disabled = false;

  constructor(
    readonly heap: SharedHeap,
    private readonly onRecovered: (notice: HeapRecoveryNotice) => void,
  ) {}

  write(txId: number, t: Transfer): number {
    const offset = this.withRecovery(() => this.heap.alloc(RECORD_BYTES, HeapFlags.GENERATE_EXCEPTIONS), 0);
    if (offset === 0) return 0;
    const rec = new Int32Array(this.heap.buffer, offset, RECORD_BYTES / 4);
    rec[0] = txId;
    rec[1] = t.from;
    rec[2] = t.to;
    rec[3] = t.amount;
    rec[4] = t.participant;
    return offset;
  }

  discard(offset: number): boolean {
    return this.withRecovery(() => this.heap.free(offset, HeapFlags.GENERATE_EXCEPTIONS), false);
  }

  private withRecovery<T>(op: () => T, failed: T): T {
    if (this.disabled) return failed;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return op();
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'ERROR_POSSIBLE_DEADLOCK' && attempt === 0) {
          try {
            this.onRecovered({ report: this.heap.recover() });
          } catch (recoverError) {
            this.disabled = true;
            this.onRecovered({ report: null, error: (recoverError as Error).message });
            return failed;
          }
          continue;
        }
        // ERROR_INVALID_PARAMETER on discard: the record was already freed
        // (its owner died right after freeing it). ERROR_NOT_ENOUGH_MEMORY:
        // no record this time. Neither touches the ledger's money.
        if (code === 'ERROR_INVALID_PARAMETER' || code === 'ERROR_NOT_ENOUGH_MEMORY') return failed;
        throw error;
      }
    }
    return failed;
  }
}
