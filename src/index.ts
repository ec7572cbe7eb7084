// robust-shm: the one public entry.

export { RobustShmError, RegionFormatError, InvalidArgumentError } from './errors.js';

// Memory-mapped files and regions
export { mapFile, MAX_MAPPING_SIZE, type MapFileOptions, type MappedFile, type MapMode } from './shm/map-file.js';
export { openRegion, Region, RegionFullError, type OpenRegionOptions, type NamedObject } from './shm/region.js';
export { HEADER_BYTES as REGION_HEADER_BYTES, MIN_REGION_SIZE } from './shm/region-layout.js';
export {
  inspectPage,
  pagemapEntry,
  pageFlags,
  smapsFor,
  isResident,
  fileBytes,
  clearSoftDirty,
  softDirtySupported,
  type PageReport,
  type PagemapEntry,
  type PageFlags,
  type SmapsTotals,
} from './inspect/page-inspector.js';
export { native, type NativeBinding, type FutexWaitResult, type Advice } from './native/index.js';

// The robust mutex
export { RobustMutex, type MutexOptions, type InitializeOptions, type NamedObjectHost } from './locks/robust-mutex.js';
export { NotOwnerError, NotRecoverableError, LockTimeoutError, MutexLayoutError } from './locks/errors.js';
export { ownerIsAlive, ownerLiveness, currentThreadIdentity, readThreadStat, type Liveness, type ThreadStat } from './locks/owner.js';
export type { AcquireResult, Owned, NotOwned, OwnerIdentity, RecoveryPolicy, MutexSnapshot, MutexState } from './locks/types.js';

// Workers and processes
export { startTsWorker, forkTs, workerBootUrl, bootWorkerData } from './workers/spawn.js';

// The shared heap (Win32 HeapAlloc/HeapFree/HeapReAlloc/HeapSize/HeapValidate/HeapWalk)
export {
  SharedHeap,
  HeapFlags,
  type SharedHeapOptions,
  type HeapHookPoint,
  type HeapEntry,
  type HeapStats,
  type RecoveryReport as HeapRecoveryReport,
  type TypedArrayConstructor,
} from './heap/shared-heap.js';
export {
  HeapError,
  PossibleDeadlockError,
  InvalidHeapParameterError,
  HeapNotEnoughMemoryError,
  HeapCorruptionError,
  HeapFormatError,
} from './heap/heap-errors.js';
export type { HeapValidation } from './heap/heap-validate.js';

// Workers and processes: parking lot, child-process fleet, piscina pool, shared ledger
export { ParkingLot, ParkTimeoutError, ParkingLotLayoutError, type Parked, type ParkState, type ParkingLotHost } from './workers/park.js';
export { Fleet, forkReady, FleetStartError, type FleetMember, type FleetOptions, type ExitStatus } from './workers/fleet.js';
export { CriticalSectionPool, isAbortError, type CriticalSectionPoolOptions } from './workers/pool.js';
export {
  Ledger,
  LedgerLayoutError,
  MAX_ACCOUNTS as LEDGER_MAX_ACCOUNTS,
  RECORD_RING as LEDGER_RECORD_RING,
  PHASE_IDLE as LEDGER_PHASE_IDLE,
  PHASE_DEBITING as LEDGER_PHASE_DEBITING,
  PHASE_CREDITED as LEDGER_PHASE_CREDITED,
  type Transfer,
  type TransferHooks,
  type RecordStore,
  type InvariantCheck,
  type RepairReport,
  type Rolled,
  type LedgerHost,
} from './workers/ledger.js';
export { inLedgerCriticalSection, type LedgerSection, type LedgerSectionOptions } from './workers/ledger-critical-section.js';
export type { TransferOutcome } from './workers/ledger-task.js';
