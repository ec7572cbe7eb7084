// Byte layout of a RobustMutex in shared memory (little-endian, 8-byte aligned), version 2.
//
// Bytes 0..39 are a robust-list node in glibc's format (see robust-list.ts):
// the kernel and glibc read and write them on the owner's thread.
//
//   0  lock word, 32 bits: the Linux robust-futex word, owner TID (bits 0-29)
//      | FUTEX_OWNER_DIED (bit 30) | FUTEX_WAITERS (bit 31). Waiters futex-wait on it.
//   4  owner start time (low 32 bits of /proc/<tid>/stat field 22), written by
//      the owner right after it took the word (for the /proc TID-reuse check)
//   8  robust-list node tag 'RSHM'    12 magic 'RMTX'    16 layout version (2)
//  20  policy (0 posix, 1 windows)
//  24  __prev (node)                  32 __next (node: the kernel's list element)
//  40  wait mechanism (0 kernel futex: works across processes; 1 Atomics.wait: threads only, no addon)
//  44  consistency (0 consistent, 1 inconsistent: abandoned and not yet marked consistent, 2 not recoverable)
//  48  recursion depth        52 owner pid (informational)
//  56  owner TID record: written after the start time; while it equals the
//      word's TID, the start time at 4 is that owner's
//  60  times abandoned        64 unused (was a release sequence; async waiters sleep on the lock word)
//  68  acquisitions           72 waiters without a slot (see inspect())
//  76  reserved               80..127 twelve waiter slots (TIDs of blocked waiters, for inspect())
//
// Version 1 (before the glibc-shared robust list) had a 64-bit lock word
// (TID | start time in one compare-and-swap) and its own robust list entry
// at 112; its magic sits at 8 and its version (1) at 12.

import { FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS, ROBUST_NODE_TAG } from './robust-list.js';

export const MUTEX_BYTES = 128;
export const MAGIC = 0x58544d52; // 'RMTX'
export const LAYOUT_VERSION = 2;
export const NODE_TAG = ROBUST_NODE_TAG;

export const TID_MASK = FUTEX_TID_MASK;
export const WAITERS = FUTEX_WAITERS;
export const OWNER_DIED = FUTEX_OWNER_DIED;
/** A TID no kernel hands out (pid_max <= 2^22): marks a not-recoverable mutex. */
export const NOT_RECOVERABLE_TID = TID_MASK;

/** Int32 indices, relative to the mutex's first Int32. */
export const I = {
  lock: 0,
  startTime: 1,
  tag: 2,
  magic: 3,
  version: 4,
  policy: 5,
  waitKind: 10,
  consistency: 11,
  depth: 12,
  ownerPid: 13,
  ownerTid: 14,
  timesAbandoned: 15,
  releaseSeq: 16,
  acquisitions: 17,
  waitersWithoutSlot: 18,
  waiterSlots: 20,
} as const;
export const WAITER_SLOTS = 12;

/** Where a version-1 mutex kept its magic and version (Int32 indices). */
export const V1 = { magic: 2, version: 3 } as const;

export const CONSISTENT = 0;
export const INCONSISTENT = 1;
export const NOT_RECOVERABLE = 2;

export const WAIT_FUTEX = 0;
export const WAIT_ATOMICS = 1;
