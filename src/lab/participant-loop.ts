// What every lab participant (pool task, worker thread, child process) does.
// A transferer: take a transfer job from the lab's queue -> take the audit
// lock's write side, then the ledger mutex -> multi-step transfer (journal
// first, the job id committed with it) -> record it in the shared heap ->
// release both -> ack the job, for ever. A job redelivered because its last
// consumer died is logged, and its money moved only if the ledger has not
// committed that job already (the consumer may have died between commit and
// ack); on "abandoned", repair the ledger from its journal,
// check the invariant, mark the mutex (and the rwlock) consistent, and log it.
// An auditor: take the read side, check the ledger invariant (no transfer can
// be in flight under a read share), release, for ever. A dead reader's share
// is reclaimed by the next writer, which logs it.
// Inside the ledger mutex, a transferer reports itself to the ownership guard
// (two owners at once are counted), and at its park point it meets a
// requested fate (fates.ts).
import { currentThreadIdentity } from '../locks/owner.js';
import { inLedgerCriticalSection, type LedgerSection, type LedgerSectionOptions } from '../workers/ledger-critical-section.js';
import type { RepairReport } from '../workers/ledger.js';
import { HEAP_PARK_POINTS, openLabObjects } from './lab-objects.js';
import type { NamedObjectHost } from '../locks/types.js';
import { HeapRecords } from './records.js';
import { sharedClockMs } from './lab-log.js';
import { decodeTransferJob } from './transfer-job.js';
import type { Job } from '../queue/job.js';

export type ParticipantKind = 'pool' | 'worker' | 'process';
/** What a participant does in its loop: transfers under the write lock, or audits under the read lock. */
export type ParticipantRole = 'transfer' | 'auditor';

export interface ParticipantConfig {
  slot: number;
  generation: number;
  seed: number;
  /** Pause between transfers, outside the lock (ms). */
  gapMs: number;
  /** Time spent between the debit and the credit (ms): the window in which a kill breaks the invariant. */
  stepMs: number;
  /** Default 'transfer'. */
  role?: ParticipantRole;
}

export type ParticipantEnd = 'exit-requested' | 'not-recoverable';

/** xorshift32: a small deterministic stream (the controller's job producer draws its transfers from one). */
export function randomStream(seed: number): () => number {
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
  const { mutex, rw, ledger, board, log, lot, heap, guard, fates, jobs } = objects;
  const me = currentThreadIdentity();
  board.hello(slot, me.tid, me.pid);
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
  // What a participant that takes the mutex writes to the log (the log has one writer: the mutex owner).
  const sectionLog: Pick<LedgerSectionOptions, 'onOwned' | 'onRepaired'> = {
    onOwned: (result) => {
      if (!result.abandoned) return;
      log.append({ ...who, kind: 'abandoned', prevTid: result.previousOwner?.tid ?? 0, prevPid: result.previousOwner?.pid ?? 0, rolled: 'none', sum: 0, invariantHeld: false, txId: 0 });
    },
    onRepaired: (report) => {
      log.append({ ...who, kind: 'repaired', prevTid: 0, prevPid: 0, rolled: report.rolled, sum: report.invariant.sum, invariantHeld: report.invariant.holds, txId: report.txId });
    },
  };
  /**
   * Run `work` (a ledger section) under a hold of the rwlock, then `release`
   * it. A writer that died inside the rwlock left the ledger to be repaired:
   * the mutex section does that (or finds nothing in flight), and the work
   * calls `settle` first thing, with the repair, so the rwlock is marked
   * consistent as soon as the ledger is, even when the work then throws (the
   * soak's 'throw' fate): marking it only after the work returned released an
   * abandoned rwlock unmarked on a throw, and under the posix policy that made
   * it not recoverable for every participant. A repair that did not check out
   * leaves the rwlock inconsistent too (posix: not recoverable, like the mutex).
   * Nor is an abandoned hold given up because the mutex timed out: that
   * happens while the mutex's dead owner is not yet known dead (its word may
   * name a thread that died before recording itself, found dead only by a
   * liveness check), and releasing the rwlock unrepaired then had the same
   * effect. Holding the rwlock exclusively, we are the only one who can take
   * the mutex once its owner is known dead, so we wait for that.
   */
  const underLock = <T>(abandoned: boolean, work: (settle: (repair: RepairReport | null) => void) => LedgerSection<T>, release: () => void): LedgerSection<T> => {
    let settled = !abandoned;
    const settle = (repair: RepairReport | null): void => {
      if (settled) return;
      settled = true;
      if (repair === null || repair.invariant.holds) rw.markConsistent();
    };
    try {
      for (;;) {
        const section = work(settle);
        if (settled || section.owned || section.status === 'not-recoverable') return section;
      }
    } finally {
      release();
    }
  };
  if (config.role === 'auditor') {
    // An auditor: a read share, the invariant, out; `park N` stops it holding its share.
    for (;;) {
      if (board.exitRequested(slot)) {
        board.setState(slot, 'exited');
        rw.close();
        return 'exit-requested';
      }
      board.setState(slot, 'waiting');
      const read = rw.acquireRead(250);
      if (!read.owned) {
        if (read.status === 'not-recoverable') {
          board.setState(slot, 'exited');
          return 'not-recoverable';
        }
        continue;
      }
      board.setState(slot, 'critical');
      if (read.abandoned) {
        // A transferer died inside: we hold the lock exclusively and the
        // ledger may be half-updated. Its repair is the mutex's protocol:
        // take the mutex (same lock order as transferers) and let it repair.
        underLock(true, (settle) => inLedgerCriticalSection(mutex, ledger, settle, { timeoutMs: 250, records, ...sectionLog }), () => rw.releaseRead());
      } else {
        try {
          // No transfer can be in flight while we hold a read share: the invariant must hold.
          if (!ledger.checkInvariant().holds) board.countAuditFailure(slot);
          lot.parkIfRequested(slot);
          board.countOp(slot);
        } finally {
          rw.releaseRead();
        }
      }
      board.setState(slot, 'outside');
      await new Promise((resolve) => setTimeout(resolve, config.gapMs));
    }
  }
  const midTransfer = () => {
    if (config.stepMs > 0) Atomics.wait(nap, 0, 0, config.stepMs);
    lot.parkIfRequested(slot);
    fates.meetIfRequested(slot);
  };

  /** The job this transferer holds (taken, not yet acked), and when it took it (shared clock). */
  let held: { job: Job; takenAt: number; logged: boolean } | null = null;
  // A job still held when the loop ends alive (an exit request, a not-recoverable lock, a requested throw) goes back to the queue.
  const giveBack = (): void => {
    if (held && !held.job.done) held.job.release();
    held = null;
  };
  try {
    for (;;) {
      if (board.exitRequested(slot)) {
        giveBack();
        board.setState(slot, 'exited');
        return 'exit-requested';
      }
      board.setState(slot, 'waiting');
      if (held === null) {
        // Bounded, so an exit request is seen while the queue is empty.
        const job = jobs.take({ timeoutMs: 250 });
        if (job === null) continue;
        held = { job, takenAt: sharedClockMs(), logged: false };
      }
      const current = held;
      // The write lock first (every path that takes both takes this one first).
      const write = rw.acquireWrite(250);
      if (!write.owned) {
        if (write.status === 'not-recoverable') {
          board.setState(slot, 'exited');
          return 'not-recoverable';
        }
        continue; // keeps its job
      }
      const section = underLock(write.abandoned, (settle) => transferSection(current, write.sharesReclaimed, settle), () => rw.releaseWrite());
      if (!section.owned) {
        if (section.status === 'not-recoverable') {
          board.setState(slot, 'exited');
          return 'not-recoverable';
        }
        continue; // timeout: a live (maybe stopped or parked) owner holds it
      }
      // The money moved (or had moved) under the mutex: only now is the job done.
      current.job.ack();
      held = null;
      board.setState(slot, 'outside');
      // Yield to the event loop (lets IPC and piscina's port breathe).
      await new Promise((resolve) => setTimeout(resolve, config.gapMs));
    }
  } finally {
    giveBack();
  }

  function transferSection(held: { job: Job; takenAt: number; logged: boolean }, sharesReclaimed: number, settle: (repair: RepairReport | null) => void) {
    // Bounded, so an exit request is seen even under heavy contention. A
    // repaired ledger that does not check out is not marked consistent:
    // releasing then makes the mutex not-recoverable (posix policy), and
    // every participant stops: wrong money must not flow on.
    return inLedgerCriticalSection(
      mutex,
      ledger,
      (repair) => {
        settle(repair);
        const { job } = held;
        // After the repair: a transfer the dead consumer committed is in the ledger now, one it did not is rolled back.
        const alreadyApplied = ledger.jobApplied(job.id);
        if (job.previousOwner && !held.logged) {
          held.logged = true;
          log.append({ ...who, kind: 'jobRedelivered', prevTid: job.previousOwner.tid, prevPid: job.previousOwner.pid, rolled: 'none', sum: job.deliveries, invariantHeld: true, txId: job.id, alreadyApplied, at: held.takenAt });
        }
        if (!alreadyApplied) {
          const { from, to, amount: asked } = decodeTransferJob(job.text());
          const amount = Math.min(asked, ledger.balance(from));
          if (amount > 0) ledger.transfer({ from, to, amount, participant: slot, jobId: job.id }, { records, midTransfer });
        }
        board.countOp(slot);
      },
      {
        timeoutMs: 250,
        records,
        onOwned: (result) => {
          guard.enter(me, result.abandoned);
          board.setState(slot, 'critical');
          // The write acquire reclaimed dead readers' shares; logged now that we hold the mutex (the log's one writer).
          if (sharesReclaimed > 0) {
            log.append({ ...who, kind: 'sharesReclaimed', prevTid: 0, prevPid: 0, rolled: 'none', sum: sharesReclaimed, invariantHeld: true, txId: 0 });
          }
          sectionLog.onOwned!(result);
        },
        onRepaired: sectionLog.onRepaired!,
        beforeRelease: () => guard.leave(me),
      },
    );
  }
}
