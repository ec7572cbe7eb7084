// Byte layout of a RobustSemaphore in shared memory (little-endian, 8-byte aligned).
//
// One unit = one 40-byte robust node (glibc's robust-list format, see
// rwlock-layout.ts): the unit word holds its holder's TID and is linked on the
// holder thread's kernel robust list, so the kernel marks FUTEX_OWNER_DIED in
// it when the holder dies, and the unit can be taken back.
//
//   0  magic 'RSEM'   4 layout version   8 units (N)   12 wait mechanism
//  16  free sequence (bumped by every release; the futex word waiters sleep on)
//  20  sleepers (waiters asleep on the free sequence; releasers wake only when > 0)
//  24  units reclaimed from dead holders (all time)   28 acquisitions
//  32  reserved (async waiters slept on a change sequence here; they now sleep on
//      the free sequence and the held unit words, like the kernel wakes them)
//  64  16 waiting-thread TIDs (for inspect())
// 128  units, 40 bytes each: 0 unit word (holder TID)  4 holder pid  8 node tag
//      12 holder start time  16 holder TID (kept: the kernel clears it from the word at death)   24 __prev   32 __next

export const SEM_MAGIC = 0x4d455352; // 'RSEM'
export const SEM_LAYOUT_VERSION = 1;
export const SEM_UNITS_OFFSET = 128;
export const SEM_WAITER_SLOTS = 16;
export const MAX_UNITS = 4096;

export const SEM = {
  magic: 0,
  version: 1,
  units: 2,
  waitKind: 3,
  freeSeq: 4,
  sleepers: 5,
  reclaimed: 6,
  acquisitions: 7,
  waiters: 16,
  first: 32,
} as const;

export const UNIT_INTS = 10;
export const U = { word: 0, pid: 1, startTime: 3, tid: 4 } as const;

export function semaphoreBytes(units: number): number {
  return SEM_UNITS_OFFSET + units * UNIT_INTS * 4;
}
