// Every shared object of the lab, found by name in one region, the same way
// in the controller, in worker threads and in child processes.
import { RobustMutex } from '../locks/robust-mutex.js';
import { RobustRwLock } from '../locks/robust-rwlock.js';
import type { NamedObjectHost } from '../locks/types.js';
import { ParkingLot } from '../workers/park.js';
import { SharedHeap } from '../heap/shared-heap.js';
import { withTestHooks, type HeapHookPoint } from '../test-hooks.js';
import { ParticipantBoard, MAX_PARTICIPANTS } from './board.js';
import { LabLog } from './lab-log.js';
import { Ledger } from '../workers/ledger.js';
import { OwnershipGuard } from './ownership-guard.js';
import { FateBoard } from './fates.js';
import { RobustQueue } from '../queue/robust-queue.js';

export const LAB_REGION_BYTES = 1 << 20;
export const LAB_HEAP_BYTES = 64 * 1024;
export const LAB_ACCOUNTS = 8;
export const LAB_OPENING_BALANCE = 10_000;
/** Transfer jobs the lab's queue holds at most (at most the ledger's JOB_WINDOW: see jobApplied()). */
export const LAB_QUEUE_CAPACITY = 256;

export interface LabObjects {
  buffer: SharedArrayBuffer;
  /** The ledger's lock: posix policy, so a repairer that forgets markConsistent() would end it for good. */
  mutex: RobustMutex;
  /**
   * Transfers run under its write lock (taken before the mutex: one lock
   * order), auditors check the ledger under its read lock. posix policy: a
   * writer's death stays reported until the ledger is repaired.
   */
  rw: RobustRwLock;
  ledger: Ledger;
  board: ParticipantBoard;
  log: LabLog;
  /** Parks a participant inside the critical section, between debit and credit. */
  lot: ParkingLot;
  /** Parks a participant inside a heap operation (heap lock held too), so its death poisons the heap. */
  heapLot: ParkingLot;
  heap: SharedHeap;
  /** Who is inside the ledger's critical section: counts two owners at once. */
  guard: OwnershipGuard;
  /** Deaths requested of a participant at its park point (process.exit(), an uncaught throw). */
  fates: FateBoard;
  /**
   * Transfer jobs: the controller produces them, transferers take one, move
   * its money under the locks and ack it. A transferer that dies holding one
   * gives it back at once; the next taker asks the ledger whether its money
   * already moved (Ledger.jobApplied) before moving it.
   */
  jobs: RobustQueue;
}


/**
 * The heap points where a participant asked to park "in the heap" stops:
 * right after the allocation's structural store (the block is taken, the
 * heap's lists are not yet updated) and before a free changes anything.
 */
export const HEAP_PARK_POINTS: ReadonlySet<HeapHookPoint> = new Set<HeapHookPoint>(['alloc:committed', 'free:intent']);

export function openLabObjects(region: NamedObjectHost, onInsideHeapLock?: (point: HeapHookPoint) => void): LabObjects {
  return {
    buffer: region.buffer,
    mutex: RobustMutex.open(region, 'lab-ledger', { policy: 'posix' }),
    rw: RobustRwLock.open(region, 'lab-audit', { policy: 'posix' }),
    ledger: Ledger.open(region, 'lab', LAB_ACCOUNTS, LAB_OPENING_BALANCE),
    board: ParticipantBoard.open(region, 'lab'),
    log: LabLog.open(region, 'lab'),
    lot: ParkingLot.open(region, 'lab', MAX_PARTICIPANTS),
    heapLot: ParkingLot.open(region, 'lab-heap', MAX_PARTICIPANTS),
    // No thread cache: the lab parks participants inside the heap lock, and a
    // cached alloc or free never takes it, so a park would wait for the rare
    // call that does.
    heap: SharedHeap.open(region, 'lab-records', LAB_HEAP_BYTES, onInsideHeapLock ? withTestHooks({ threadCache: 0 }, { onInsideHeapLock }) : { threadCache: 0 }),
    guard: OwnershipGuard.open(region, 'lab-ledger'),
    fates: FateBoard.open(region, 'lab', MAX_PARTICIPANTS),
    jobs: RobustQueue.open(region, 'lab-jobs', { capacity: LAB_QUEUE_CAPACITY, maxJobBytes: 32 }),
  };
}
