// Every shared object of the lab, found by name in one region, the same way
// in the controller, in worker threads and in child processes.
import { RobustMutex } from '../locks/robust-mutex.js';
import { ParkingLot } from '../workers/park.js';
import { SharedHeap } from '../shm/heap/shared-heap.js';
import { ParticipantBoard, MAX_PARTICIPANTS } from './board.js';
import { LabLog } from './lab-log.js';
import { Ledger } from './ledger.js';

export const LAB_REGION_BYTES = 1 << 20;
export const LAB_HEAP_BYTES = 64 * 1024;
export const LAB_ACCOUNTS = 8;
export const LAB_OPENING_BALANCE = 10_000;

export interface LabObjects {
  buffer: SharedArrayBuffer;
  /** The ledger's lock: posix policy, so a repairer that forgets markConsistent() would end it for good. */
  mutex: RobustMutex;
  ledger: Ledger;
  board: ParticipantBoard;
  log: LabLog;
  lot: ParkingLot;
  heap: SharedHeap;
}

export interface LabHost {
  readonly buffer: SharedArrayBuffer;
  findOrCreate(name: string, bytes: number, init?: (byteOffset: number) => void): { offset: number; created: boolean };
}

export function openLabObjects(region: LabHost): LabObjects {
  return {
    buffer: region.buffer,
    mutex: RobustMutex.open(region, 'lab-ledger', { policy: 'posix' }),
    ledger: Ledger.open(region, 'lab', LAB_ACCOUNTS, LAB_OPENING_BALANCE),
    board: ParticipantBoard.open(region, 'lab'),
    log: LabLog.open(region, 'lab'),
    lot: ParkingLot.open(region, 'lab', MAX_PARTICIPANTS),
    heap: SharedHeap.open(region, 'lab-records', LAB_HEAP_BYTES),
  };
}
