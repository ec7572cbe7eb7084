// Byte layout of a RobustRwLock in shared memory (little-endian, 8-byte aligned).
//
// Every word that says "this thread holds (part of) the lock" is a Linux
// robust-futex word (TID | FUTEX_WAITERS | FUTEX_OWNER_DIED) at the start of a
// 40-byte node in glibc's robust-list format (x86-64 pthread_mutex_t.__list:
// `__prev` at word + 24, `__next` at word + 32, futex_offset -32). While held,
// the node is linked on the holder thread's robust list, so when the thread
// dies, however it dies, the kernel sets FUTEX_OWNER_DIED in the word and
// wakes one futex waiter on it. The node's tag ('RSHM', robust-list.ts) sits
// at + 8; bytes 4..7 and 12..23 carry the holder's side fields.
//
//   0  header (64 bytes)
//        0 magic 'RRWL'   4 layout version   8 policy (0 posix, 1 windows)
//       12 wait mechanism (0 kernel futex, 1 Atomics.wait: threads only)
//       16 consistency (0 consistent, 1 inconsistent, 2 not recoverable)
//       20 reader slot count   24 read generation (bumped by every write release)
//       28 times abandoned     32 reader shares reclaimed (all time)
//       36 write acquisitions  40 read acquisitions (first level only)
//       44 reserved (layout 1 had async waiters sleep on a change sequence here;
//          they now sleep on the lock's own words, like sync waiters)
//       48 slot wanted (a reader found every slot taken: an idle slot's owner gives its slot back)
//   64  writer node (48 bytes)
//        0 writer word   4 write depth   8 node tag   12 reads nested in the write hold
//       16 active (1 once the writer has drained the readers)
//       20 owner pid     24 __prev   32 __next
//       40 owner start time   44 owner tid (the kernel clears the TID from the word at death)
//  112  16 waiting-writer TIDs (for inspect())
//  192  reader slots, one per 64 bytes (a cache line), each a 40-byte node:
//        0 slot word (reader TID)   4 read depth   8 node tag   12 slot state
//       16 reader pid   20 reader start time   24 __prev   32 __next

import { ROBUST_NODE_BYTES } from './robust-list.js';

export const RW_MAGIC = 0x4c575252; // 'RRWL'
export const RW_LAYOUT_VERSION = 1;

export const NODE_BYTES = ROBUST_NODE_BYTES;
/** Reader slots are a cache line apart: readers in different processes claim and free their own slots without false sharing. */
export const SLOT_STRIDE = 64;

export const WRITER_NODE_OFFSET = 64;
export const WRITER_WAITER_SLOTS = 16;
export const READER_SLOTS_OFFSET = 192;
export const DEFAULT_READER_SLOTS = 64;
export const MAX_READER_SLOTS = 4096;

export function rwLockBytes(readerSlots: number): number {
  return READER_SLOTS_OFFSET + readerSlots * SLOT_STRIDE;
}

/** Int32 indices relative to the lock's first Int32. */
export const H = {
  magic: 0,
  version: 1,
  policy: 2,
  waitKind: 3,
  consistency: 4,
  slotCount: 5,
  readGen: 6,
  timesAbandoned: 7,
  sharesReclaimed: 8,
  writeAcquisitions: 9,
  readAcquisitions: 10,
  slotWanted: 12,
  // writer node
  writer: 16,
  writeDepth: 17,
  readsInWrite: 19,
  active: 20,
  writerPid: 21,
  writerStart: 26,
  writerTid: 27,
  writerWaiters: 28,
  slots: 48,
} as const;

/** Int32s per reader slot, and the field indices inside one. */
export const SLOT_INTS = SLOT_STRIDE / 4;
export const S = { word: 0, depth: 1, state: 3, pid: 4, startTime: 5 } as const;

/**
 * Slot states. A reader holds its slot while it waits, too, so a waiting
 * reader is visible to writers (phase fairness) and its death is the kernel's
 * to report like a holder's.
 * - HOLDING (0): inside, or on its way in (about to look at the writer word).
 *   A free slot's state is always HOLDING, so claiming a slot (one
 *   compare-and-swap of its word) is all a new reader does to say "I am in".
 * - IDLE (2): the thread keeps its slot (word and robust-list link) between
 *   reads; writers ignore it. Its next read is one exchange of the state and
 *   one load of the writer word. It gives the slot back when it has not read
 *   for a while (a timer in its event loop), when another reader wants a slot,
 *   on close(), or by dying (the kernel marks the word; not a share).
 * - odd: waiting since read generation g, encoded (g << 1) | 1. Admitted once
 *   the generation moves on: a write release let it in ahead of the next writer.
 */
export const SLOT_HOLDING = 0;
export const SLOT_IDLE = 2;

export function waitingState(generation: number): number {
  return (generation << 1) | 1;
}

export function isWaitingState(state: number): boolean {
  return (state & 1) === 1;
}
