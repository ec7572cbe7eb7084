// Errors of the robust mutex, named after the Win32 / POSIX codes they mirror.
import { RobustShmError } from '../errors.js';

/** Release (or markConsistent) by a thread that does not own the mutex. Win32 ERROR_NOT_OWNER (288). */
export class NotOwnerError extends RobustShmError {
  /** The Win32 error number, ERROR_NOT_OWNER. */
  readonly errno = 288;
  constructor(message = 'the calling thread does not own the mutex') {
    super('ERROR_NOT_OWNER', message);
  }
}

/** The mutex was released inconsistent under the posix policy; it can never be acquired again. POSIX ENOTRECOVERABLE. */
export class NotRecoverableError extends RobustShmError {
  constructor(message = 'the mutex is not recoverable: it was released without markConsistent() after its owner died') {
    super('ENOTRECOVERABLE', message);
  }
}

/** acquireOrThrow() did not get the mutex in time. */
export class LockTimeoutError extends RobustShmError {
  constructor(timeoutMs: number) {
    super('ETIMEDOUT', `the mutex was not acquired within ${timeoutMs} ms`);
  }
}

/** The bytes at an offset are not an initialised robust mutex. */
export class MutexLayoutError extends RobustShmError {
  constructor(message: string) {
    super('ERR_MUTEX_LAYOUT', message);
  }
}

/** markConsistent() when the mutex holds no abandoned, not-yet-repaired state. POSIX pthread_mutex_consistent's EINVAL. */
export class NotInconsistentError extends RobustShmError {
  constructor(message = 'markConsistent() needs a pending abandonment: the mutex was not acquired abandoned, or was already marked consistent') {
    super('EINVAL', message);
  }
}

/** RobustMutex.open() asked for one recovery policy (or wait mechanism) and found a mutex of another. */
export class MutexPolicyMismatchError extends RobustShmError {
  constructor(message: string) {
    super('ERR_MUTEX_POLICY_MISMATCH', message);
  }
}

/** The bytes at an offset are not an initialised robust reader-writer lock. */
export class RwLockLayoutError extends RobustShmError {
  constructor(message: string) {
    super('ERR_RWLOCK_LAYOUT', message);
  }
}

/** The bytes at an offset are not an initialised robust semaphore. */
export class SemaphoreLayoutError extends RobustShmError {
  constructor(message: string) {
    super('ERR_SEMAPHORE_LAYOUT', message);
  }
}

/**
 * acquireWrite() by a thread that holds a read share: it would wait for itself
 * for ever (two upgrading readers would wait for each other). POSIX EDEADLK.
 */
export class LockUpgradeError extends RobustShmError {
  constructor(message = 'the calling thread holds a read share: release it before acquiring the write lock (no upgrades)') {
    super('EDEADLK', message);
  }
}
