/**
 * robust-shm: memory-mapped files shared by worker threads and child
 * processes, a robust mutex that reports its owner's death ('abandoned'), and
 * a Win32-style shared heap.
 *
 * Other entry points: `robust-shm/inspect` (the page inspector) and
 * `robust-shm/testing` (parking a participant inside a critical section,
 * child-process fleets, a piscina pool: for your own kill tests).
 *
 * @packageDocumentation
 */
// The package's main entry (`robust-shm`). Layer order (imports point down):
// native (+ errors) -> locks -> shm -> heap; nothing from workers or the lab.

// Errors
export { RobustShmError, RegionFormatError, RegionFileError, RegionNoSpaceError, InvalidArgumentError, NativeUnavailableError } from './errors.js';

// Memory-mapped files and regions
export { mapFile, MAX_MAPPING_SIZE, type MapFileOptions, type MappedFile, type MapMode } from './shm/map-file.js';
export { openRegion, Region, RegionFullError, RegionCorruptError, type OpenRegionOptions, type NamedObject, type RegionValidation } from './shm/region.js';
export { HEADER_BYTES as REGION_HEADER_BYTES, MIN_REGION_SIZE } from './shm/region-layout.js';

// The robust mutex
export { RobustMutex, type MutexOptions, type InitializeOptions } from './locks/robust-mutex.js';
export {
  NotOwnerError,
  NotRecoverableError,
  LockTimeoutError,
  MutexLayoutError,
  MutexPolicyMismatchError,
  NotInconsistentError,
  RwLockLayoutError,
  SemaphoreLayoutError,
  LockUpgradeError,
} from './locks/errors.js';
export {
  RobustRwLock,
  type RwLockOptions,
  type RwLockInitializeOptions,
  type RwAcquireResult,
  type RwOwned,
  type RwLockSnapshot,
  type RwLockHolder,
} from './locks/robust-rwlock.js';
export {
  RobustSemaphore,
  type SemaphoreOptions,
  type SemaphoreInitializeOptions,
  type SemaphoreResult,
  type UnitAcquired,
  type SemaphoreSnapshot,
} from './locks/robust-semaphore.js';
export { ownerIsAlive, ownerLiveness, currentThreadIdentity, type Liveness } from './locks/owner.js';
export { deathDetection, type DeathDetection, type DeathDetectionReport } from './locks/robust-list.js';
export type { AsyncWaitMechanism } from './locks/waiting.js';
export type {
  AcquireResult,
  Owned,
  NotOwned,
  OwnerIdentity,
  RecoveryPolicy,
  MutexSnapshot,
  MutexState,
  NamedObjectHost,
} from './locks/types.js';

// The shared heap (Win32 HeapAlloc/HeapFree/HeapReAlloc/HeapSize/HeapValidate/HeapWalk)
export {
  SharedHeap,
  HeapFlags,
  type SharedHeapOptions,
  type HeapEntry,
  type HeapStats,
  type RecoveryReport as HeapRecoveryReport,
  type TypedArrayConstructor,
  DEFAULT_THREAD_CACHE,
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

// The robust job queue (a dead consumer's job comes back at once)
export {
  RobustQueue,
  type QueueOptions,
  type TakeOptions,
  type EnqueueOptions,
  type DeadLetter,
  type TakenJob,
  type QueueSnapshot,
} from './queue/robust-queue.js';
export { Job, type DeadConsumer } from './queue/job.js';
export { JobTooLargeError, QueueFullError, QueueMismatchError, JobNotHeldError, LeaseExpiredError } from './queue/queue-errors.js';
