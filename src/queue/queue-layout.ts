// Byte layout of a RobustQueue in shared memory (little-endian, 8-byte aligned).
//
//    0  header (128 bytes, Int32 indices Q.x below; f64 fields at Q_F64.x)
//  128  the queue mutex (a RobustMutex, MUTEX_BYTES): every change of the
//       ring, the free stack and a slot's state happens under it
//  256  ready ring: capacity Int32 slot numbers, FIFO from Q.ringHead
//   ..  free stack: capacity Int32 slot numbers (Q.freeCount of them)
//   ..  slots, SLOT_HEADER_BYTES + maxJobBytes (rounded up to 8) each:
//        0 claim word: a robust-futex node (robust-list.ts) whose word holds
//          the TID of the consumer that took the job; the kernel sets
//          FUTEX_OWNER_DIED in it when that thread dies
//        4 state (SlotState)     8 node tag      12 claimer pid
//       16 claimer TID (kept: the kernel clears it from the word at death)
//       20 claimer start time    24 __prev       32 __next
//       40 deliveries            44 payload length
//       48 job id (f64)          56 order key (f64: the ring is sorted by it)
//       64 previous owner TID    68 previous owner pid (the consumer that died with it)
//       72 taken at (f64, CLOCK_MONOTONIC ms; read only with a lease)   80 payload
//
// The ring and the free stack are derived data: after a death inside the
// queue mutex they are rebuilt from the slots' states (READY slots sorted by
// order key), so no half-done step of a dead thread survives. The counts
// enqueued and acked are not derived: the count journal (Q.journalOp) lets
// the rebuild finish a count whose step committed before its thread died.
import { MUTEX_BYTES } from '../locks/mutex-layout.js';

export const QUEUE_MAGIC = 0x45555152; // 'RQUE'
export const QUEUE_LAYOUT_VERSION = 1;
export const QUEUE_HEADER_BYTES = 128;
export const QUEUE_MUTEX_OFFSET = QUEUE_HEADER_BYTES;
export const QUEUE_RING_OFFSET = QUEUE_MUTEX_OFFSET + MUTEX_BYTES;
export const SLOT_HEADER_BYTES = 80;
/** Largest capacity (slots). */
export const MAX_CAPACITY = 65536;
/** Largest job payload (bytes). */
export const MAX_JOB_BYTES = 64 * 1024 * 1024;
/** Largest maxDeliveries. */
export const MAX_DELIVERIES = 1_000_000;
/** Longest lease (ms): a day. */
export const MAX_LEASE_MS = 86_400_000;

/** Int32 indices of the header, relative to the queue's first Int32. */
export const Q = {
  magic: 0,
  version: 1,
  capacity: 2,
  maxJobBytes: 3,
  maxDeliveries: 4,
  waitKind: 5,
  /** Bumped whenever a job becomes ready; consumers sleep on it. */
  readySeq: 6,
  consumerSleepers: 7,
  /** Bumped whenever a slot becomes free; producers sleep on it. */
  freeSeq: 8,
  producerSleepers: 9,
  ringHead: 10,
  ringCount: 11,
  freeCount: 12,
  deadCount: 13,
  enqueued: 14,
  acked: 15,
  redelivered: 16,
  deadLettered: 17,
  writesReclaimed: 18,
  released: 19,
  /** Times a thread found the queue mutex abandoned and rebuilt the queue. */
  repairs: 26,
  /** The lease in ms (0: none, the default: a live consumer keeps its job for ever). */
  leaseMs: 27,
  /** Jobs given to another consumer because their consumer's lease ran out. */
  leasesExpired: 28,
  /**
   * The count journal (see JournalOp): an enqueue or an ack writes it before
   * its commit and clears it after its count, all under the mutex, so the
   * repair after a death between the commit and the count finishes the count.
   */
  journalOp: 29,
  /** The slot of the journalled step. */
  journalSlot: 30,
  /** The count (enqueued or acked) as it was before the journalled step. */
  journalBefore: 31,
} as const;

/**
 * What the count journal holds. enqueued and acked are running counts no
 * slot state can rebuild, and `enqueued = acked + ready + taken (an expired
 * job's original not counted) + dead letters + dead letters removed` must
 * hold after any death inside the mutex.
 */
export const JournalOp = {
  NONE: 0,
  /** put(): the slot goes FREE -> READY, then enqueued++. */
  ENQUEUE: 1,
  /** ackJob(): the slot goes TAKEN -> FREE, then acked++. */
  ACK: 2,
} as const;

/** Float64 indices of the header, relative to the queue's first Float64. */
export const Q_F64 = {
  nextId: 10,
  backKey: 11,
  frontKey: 12,
} as const;

/** What a slot holds. */
export const SlotState = {
  FREE: 0,
  READY: 1,
  TAKEN: 2,
  DEAD: 3,
  /**
   * Its live consumer's lease ran out: a copy of the job is READY in another
   * slot; this one stays claimed until that consumer acks, releases or dies.
   */
  EXPIRED: 4,
} as const;

/** Int32 indices inside a slot. */
export const S = {
  claim: 0,
  state: 1,
  tag: 2,
  pid: 3,
  tid: 4,
  startTime: 5,
  deliveries: 10,
  length: 11,
  prevTid: 16,
  prevPid: 17,
} as const;
/** Float64 indices inside a slot. */
export const S_F64 = { id: 6, key: 7, takenAt: 9 } as const;

export function slotBytes(maxJobBytes: number): number {
  return SLOT_HEADER_BYTES + Math.ceil(maxJobBytes / 8) * 8;
}

export function freeStackOffset(capacity: number): number {
  return QUEUE_RING_OFFSET + capacity * 4;
}

export function slotsOffset(capacity: number): number {
  return Math.ceil((freeStackOffset(capacity) + capacity * 4) / 8) * 8;
}

export function queueBytes(capacity: number, maxJobBytes: number): number {
  return slotsOffset(capacity) + capacity * slotBytes(maxJobBytes);
}
