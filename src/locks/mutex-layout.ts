// Byte layout of a RobustMutex in shared memory (little-endian, 8-byte aligned).
//
//   0  lock word, 64 bits: low 32 = owner TID (bits 0-29) | WAITERS (bit 31)
//                           high 32 = owner thread start time (low 32 bits)
//      The whole identity is installed by ONE compare-and-swap, so an owner that
//      dies right after taking the lock has already said who it is (hard case 1).
//      Waiters futex-wait on the low 32 bits.
//   8  magic 'RMTX'          12 layout version
//  16  policy (0 posix, 1 windows)
//  20  wait mechanism (0 kernel futex: works across processes; 1 Atomics.wait: threads only, no addon)
//  24  consistency (0 consistent, 1 inconsistent: abandoned and not yet marked consistent, 2 not recoverable)
//  28  recursion depth        32 owner pid (informational, written after the lock word)
//  36  times abandoned        40 release sequence (Atomics.waitAsync word for async waiters)
//  44  acquisitions           48..111 sixteen waiter slots (TIDs of blocked waiters, for inspect())
// 112  robust-list entry: `next` pointer of the owner's kernel robust list (see robust-list.ts)
// 120  owner TID (informational: the kernel clears the TID from the lock word when the owner dies)
// 124  reserved

export const MUTEX_BYTES = 128;
export const MAGIC = 0x58544d52; // 'RMTX'
export const LAYOUT_VERSION = 1;

export const TID_MASK = 0x3fff_ffff;
export const WAITERS = 0x8000_0000 | 0;
/** Set by the kernel (FUTEX_OWNER_DIED) when the owner exits with the word on its robust list. */
export const OWNER_DIED = 0x4000_0000;
export const ROBUST_ENTRY_OFFSET = 112;
/** A TID no kernel hands out (pid_max <= 2^22): marks a not-recoverable mutex. */
export const NOT_RECOVERABLE_TID = TID_MASK;

/** Int32 indices, relative to the mutex's first Int32. */
export const I = {
  lockLow: 0,
  lockHigh: 1,
  magic: 2,
  version: 3,
  policy: 4,
  waitKind: 5,
  consistency: 6,
  depth: 7,
  ownerPid: 8,
  timesAbandoned: 9,
  releaseSeq: 10,
  acquisitions: 11,
  waiterSlots: 12,
  ownerTid: 30,
} as const;
export const WAITER_SLOTS = 16;

export const CONSISTENT = 0;
export const INCONSISTENT = 1;
export const NOT_RECOVERABLE = 2;

export const WAIT_FUTEX = 0;
export const WAIT_ATOMICS = 1;

export function encodeOwner(tid: number, startTime: number, waiters = false): bigint {
  const low = (tid & TID_MASK) | (waiters ? WAITERS : 0);
  // BigInt64Array holds signed values: compareExchange must be given the same signed form.
  return BigInt.asIntN(64, (BigInt(startTime >>> 0) << 32n) | BigInt(low >>> 0));
}

export function lowOf(word: bigint): number {
  return Number(word & 0xffff_ffffn) | 0;
}

export function highOf(word: bigint): number {
  return Number((word >> 32n) & 0xffff_ffffn);
}
