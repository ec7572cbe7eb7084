// A bank ledger in shared memory: accounts whose total never changes, a
// write-ahead journal, and a ring of transaction records (kept wherever the
// caller's RecordStore puts them: the lock lab uses the shared heap). The
// ledger knows no mutex: every method except the read-only ones must be
// called inside the caller's critical section (see ledger-critical-section.ts
// for the acquire -> repair -> work -> release sequence its users share).
//
// Why a journal: a participant may die (SIGKILL, terminate(), abort) between
// any two stores of a transfer. The next owner gets "abandoned" and must put
// the ledger back into a state where the invariant holds. The journal is
// written *before* the first balance changes (with the before-images), and
// its phase word says how far the transfer got:
//   IDLE     nothing in flight.
//   DEBITING the debit may or may not have happened, the credit has not
//            finished: roll BACK (restore both before-images; idempotent).
//   CREDITED both balances are final, only the record bookkeeping may be
//            half-done: roll FORWARD (finish the ring update, count the tx).
// Repair is itself idempotent, so a repairer killed halfway is repaired by
// the next owner exactly the same way.
//
// Jobs: a transfer may carry the id of the queue job it carries out (the
// lock lab's participants take their transfers from a RobustQueue). The id
// goes into the journal and, once the credit is done, into a window of
// applied job ids (slot id % JOB_WINDOW), so "this job's money moved" is
// committed with the money itself: a roll forward writes it too, a roll back
// never had it. A consumer killed after the commit but before its ack() gets
// its job redelivered; the next taker asks jobApplied() under the same mutex
// and acks without moving the money again. The window needs no clearing: a
// slot holds the last id applied there, and two jobs JOB_WINDOW apart are
// never in a queue of at most JOB_WINDOW jobs at once.
//
// Layout (Int32 words at a 64-byte aligned offset in the region):
//   0 magic, 1 accounts, 2 total, 3 txCount, 4 repairs, 5 rolledBack,
//   6 rolledForward, 7 nextTxId, 8 jobsApplied, 9 jobsAppliedTwice
//   16.. journal (J below), 32.. record ring (RING offsets), 64.. balances,
//   then JOB_WINDOW applied job ids
import { InvalidArgumentError, RobustShmError } from '../errors.js';
import type { NamedObjectHost } from '../locks/types.js';

const MAGIC = 0x4c444752; // 'LDGR'
const W = { magic: 0, accounts: 1, total: 2, txCount: 3, repairs: 4, rolledBack: 5, rolledForward: 6, nextTxId: 7, jobsApplied: 8, jobsAppliedTwice: 9 } as const;
const JOURNAL = 16;
const J = { phase: 0, txId: 1, from: 2, to: 3, amount: 4, fromBefore: 5, toBefore: 6, recordNew: 7, recordOld: 8, ringSlot: 9, participant: 10, jobId: 11 } as const;
const RING_BASE = 32;
/** How many transaction records the ledger keeps (older ones are freed back to the heap). */
export const RECORD_RING = 32;
const BALANCES = 64;
export const MAX_ACCOUNTS = 1024;
/** How many applied job ids the ledger remembers (queues that feed it must hold at most this many jobs). */
export const JOB_WINDOW = 1024;

export const PHASE_IDLE = 0;
export const PHASE_DEBITING = 1;
export const PHASE_CREDITED = 2;

export type Rolled = 'none' | 'back' | 'forward';

export interface Transfer {
  from: number;
  to: number;
  amount: number;
  /** Who does it, for the record: a lab participant's slot, a pool task's thread id. */
  participant: number;
  /** The queue job this transfer carries out (a positive integer below 2^31), recorded with the commit; see jobApplied(). */
  jobId?: number;
}

/** Where transaction records live (the shared heap); see records.ts. */
export interface RecordStore {
  /** Store a record; its offset, or 0 when it could not be stored. */
  write(txId: number, transfer: Transfer): number;
  /** Give a record back; false when it was not a live record (already freed). */
  discard(offset: number): boolean;
}

export interface TransferHooks {
  /** Called between the debit and the credit: the invariant is broken right here (the park point). */
  midTransfer?: () => void;
  records?: RecordStore;
}

export interface InvariantCheck {
  holds: boolean;
  sum: number;
  total: number;
  /** An account below zero (money created out of nothing elsewhere). */
  negative: boolean;
}

export interface RepairReport {
  rolled: Rolled;
  txId: number;
  invariant: InvariantCheck;
}

export class LedgerLayoutError extends RobustShmError {
  constructor(message: string) {
    super('ERR_LEDGER_LAYOUT', message);
  }
}


export class Ledger {
  static bytes(accounts: number): number {
    return (BALANCES + accounts + JOB_WINDOW) * 4;
  }

  readonly accounts: number;
  readonly total: number;
  private readonly i32: Int32Array;
  private readonly jobs: number;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    const head = new Int32Array(buffer, byteOffset, BALANCES);
    if (Atomics.load(head, W.magic) !== MAGIC) throw new LedgerLayoutError(`no ledger at byte offset ${byteOffset}`);
    this.accounts = head[W.accounts]!;
    this.total = head[W.total]!;
    this.jobs = BALANCES + this.accounts;
    this.i32 = new Int32Array(buffer, byteOffset, this.jobs + JOB_WINDOW);
  }

  /** Write a fresh ledger: `accounts` accounts of `opening` each. */
  static initialize(buffer: SharedArrayBuffer, byteOffset: number, accounts: number, opening: number): Ledger {
    if (!Number.isInteger(accounts) || accounts < 2 || accounts > MAX_ACCOUNTS) throw new InvalidArgumentError(`accounts must be an integer from 2 to ${MAX_ACCOUNTS}`);
    if (!Number.isInteger(opening) || opening < 1 || opening * accounts > 0x3fff_ffff) throw new InvalidArgumentError('opening balance must be a positive integer and the total fit in 30 bits');
    const i32 = new Int32Array(buffer, byteOffset, BALANCES + accounts + JOB_WINDOW);
    i32.fill(0);
    i32.fill(opening, BALANCES, BALANCES + accounts);
    i32[W.accounts] = accounts;
    i32[W.total] = accounts * opening;
    i32[W.nextTxId] = 1;
    Atomics.store(i32, W.magic, MAGIC); // last: "ready"
    return new Ledger(buffer, byteOffset);
  }

  static at(buffer: SharedArrayBuffer, byteOffset: number): Ledger {
    return new Ledger(buffer, byteOffset);
  }

  /** The ledger called `name` in a region, created on first use. */
  static open(region: NamedObjectHost, name: string, accounts = 8, opening = 10_000): Ledger {
    const { offset } = region.findOrCreate(`ledger:${name}`, Ledger.bytes(accounts), (byteOffset) => {
      Ledger.initialize(region.buffer, byteOffset, accounts, opening);
    });
    return Ledger.at(region.buffer, offset);
  }

  // ---- under the mutex ---------------------------------------------------

  /**
   * Move `amount` from one account to another in several steps, journal first.
   * Returns the transaction id. Throws (without changing anything) when the
   * transfer is not possible.
   */
  transfer(t: Transfer, hooks: TransferHooks = {}): number {
    const i = this.i32;
    if (i[JOURNAL + J.phase] !== PHASE_IDLE) throw new RobustShmError('ERR_LEDGER_DIRTY', 'a transfer is in flight: repair() first');
    this.checkAccount(t.from);
    this.checkAccount(t.to);
    if (t.from === t.to || !Number.isInteger(t.amount) || t.amount <= 0) throw new InvalidArgumentError('a transfer needs two accounts and a positive amount');
    const jobId = t.jobId ?? 0;
    if (!Number.isInteger(jobId) || jobId < 0 || jobId > 0x7fff_ffff) throw new InvalidArgumentError(`a job id is a positive integer below 2^31, got ${String(t.jobId)}`);
    if (i[BALANCES + t.from]! < t.amount) throw new RobustShmError('ERR_INSUFFICIENT_FUNDS', `account ${t.from} holds less than ${t.amount}`);
    const txId = i[W.nextTxId]!;
    i[W.nextTxId] = txId + 1;
    const ringSlot = txId % RECORD_RING;
    // 1. The journal, complete, before any balance moves. The phase goes last.
    i[JOURNAL + J.txId] = txId;
    i[JOURNAL + J.from] = t.from;
    i[JOURNAL + J.to] = t.to;
    i[JOURNAL + J.amount] = t.amount;
    i[JOURNAL + J.fromBefore] = i[BALANCES + t.from]!;
    i[JOURNAL + J.toBefore] = i[BALANCES + t.to]!;
    i[JOURNAL + J.recordNew] = 0;
    i[JOURNAL + J.recordOld] = 0;
    i[JOURNAL + J.ringSlot] = ringSlot;
    i[JOURNAL + J.participant] = t.participant;
    i[JOURNAL + J.jobId] = jobId;
    Atomics.store(i, JOURNAL + J.phase, PHASE_DEBITING);
    // 2. Debit. From here until the credit the total is short by `amount`.
    i[BALANCES + t.from] = i[BALANCES + t.from]! - t.amount;
    hooks.midTransfer?.();
    // 3. Credit; the balances are final.
    i[BALANCES + t.to] = i[BALANCES + t.to]! + t.amount;
    Atomics.store(i, JOURNAL + J.phase, PHASE_CREDITED);
    if (jobId > 0) this.noteJob(jobId);
    // 4. Record it in the shared heap; free the record it replaces.
    if (hooks.records) this.record(txId, t, ringSlot, hooks.records);
    i[W.txCount] = i[W.txCount]! + 1;
    Atomics.store(i, JOURNAL + J.phase, PHASE_IDLE);
    return txId;
  }

  /**
   * After an abandoned acquire: undo or finish the transfer the dead owner
   * left, then check the invariant. Safe to call when nothing is in flight.
   */
  repair(records?: RecordStore): RepairReport {
    const i = this.i32;
    const phase = Atomics.load(i, JOURNAL + J.phase);
    const txId = i[JOURNAL + J.txId]!;
    let rolled: Rolled = 'none';
    if (phase === PHASE_DEBITING) {
      // Before-images make this idempotent: it does not matter whether the
      // debit happened, or whether a previous repairer got halfway.
      i[BALANCES + i[JOURNAL + J.from]!] = i[JOURNAL + J.fromBefore]!;
      i[BALANCES + i[JOURNAL + J.to]!] = i[JOURNAL + J.toBefore]!;
      i[W.rolledBack] = i[W.rolledBack]! + 1;
      rolled = 'back';
    } else if (phase === PHASE_CREDITED) {
      const slot = i[JOURNAL + J.ringSlot]!;
      const fresh = i[JOURNAL + J.recordNew]!;
      const old = i[JOURNAL + J.recordOld]!;
      if (fresh !== 0 && i[RING_BASE + slot] !== fresh) {
        // Finish the ring update. The old record may already be free (the
        // owner died right after freeing it): the heap says so and nothing breaks.
        if (old !== 0 && records) records.discard(old);
        i[RING_BASE + slot] = fresh;
      }
      // fresh === 0: the owner died inside or just after the heap allocation;
      // the heap's own recovery rolls that block back or forward (a forward
      // roll leaves one record unreferenced: counted as used heap, never lost money).
      const jobId = i[JOURNAL + J.jobId]!;
      // The dead owner may have noted its job already: noting it again is no second application.
      if (jobId > 0 && i[this.jobs + (jobId % JOB_WINDOW)] !== jobId) this.noteJob(jobId);
      i[W.txCount] = i[W.txCount]! + 1;
      i[W.rolledForward] = i[W.rolledForward]! + 1;
      rolled = 'forward';
    }
    if (rolled !== 'none') i[W.repairs] = i[W.repairs]! + 1;
    Atomics.store(i, JOURNAL + J.phase, PHASE_IDLE);
    return { rolled, txId, invariant: this.checkInvariant() };
  }

  private record(txId: number, t: Transfer, ringSlot: number, records: RecordStore): void {
    const i = this.i32;
    const fresh = records.write(txId, t);
    if (fresh === 0) return;
    i[JOURNAL + J.recordNew] = fresh;
    const old = i[RING_BASE + ringSlot]!;
    i[JOURNAL + J.recordOld] = old;
    if (old !== 0) records.discard(old);
    i[RING_BASE + ringSlot] = fresh;
  }

  /** Record job `jobId` as applied; applying one already recorded is counted (stats().jobsAppliedTwice must stay 0). */
  private noteJob(jobId: number): void {
    const i = this.i32;
    const at = this.jobs + (jobId % JOB_WINDOW);
    if (i[at] === jobId) i[W.jobsAppliedTwice] = i[W.jobsAppliedTwice]! + 1;
    i[at] = jobId;
    i[W.jobsApplied] = i[W.jobsApplied]! + 1;
  }

  /**
   * Whether the transfer of job `jobId` is committed (call it under the
   * mutex, after any repair). Exact for the last JOB_WINDOW job ids.
   */
  jobApplied(jobId: number): boolean {
    return jobId > 0 && Atomics.load(this.i32, this.jobs + (jobId % JOB_WINDOW)) === jobId;
  }

  private checkAccount(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n >= this.accounts) throw new InvalidArgumentError(`account must be 0..${this.accounts - 1}, got ${String(n)}`);
  }

  // ---- read-only (any time; a reader without the mutex may see a transfer mid-way) ----

  checkInvariant(): InvariantCheck {
    let sum = 0;
    let negative = false;
    for (let a = 0; a < this.accounts; a++) {
      const v = Atomics.load(this.i32, BALANCES + a);
      sum += v;
      if (v < 0) negative = true;
    }
    return { holds: sum === this.total && !negative, sum, total: this.total, negative };
  }

  balance(account: number): number {
    this.checkAccount(account);
    return Atomics.load(this.i32, BALANCES + account);
  }

  /** Every account's balance, in account order. */
  balances(): number[] {
    return Array.from({ length: this.accounts }, (_, a) => Atomics.load(this.i32, BALANCES + a));
  }

  get phase(): number {
    return Atomics.load(this.i32, JOURNAL + J.phase);
  }

  /** Records currently referenced by the ring. */
  liveRecords(): number[] {
    const out: number[] = [];
    for (let s = 0; s < RECORD_RING; s++) {
      const v = Atomics.load(this.i32, RING_BASE + s);
      if (v !== 0) out.push(v);
    }
    return out;
  }

  stats(): { txCount: number; repairs: number; rolledBack: number; rolledForward: number; phase: number; jobsApplied: number; jobsAppliedTwice: number } {
    const i = this.i32;
    return {
      jobsApplied: Atomics.load(i, W.jobsApplied),
      jobsAppliedTwice: Atomics.load(i, W.jobsAppliedTwice),
      txCount: Atomics.load(i, W.txCount),
      repairs: Atomics.load(i, W.repairs),
      rolledBack: Atomics.load(i, W.rolledBack),
      rolledForward: Atomics.load(i, W.rolledForward),
      phase: Atomics.load(i, JOURNAL + J.phase),
    };
  }
}
