// Errors of the RobustQueue. Corruption of a queue is a RegionCorruptError
// (ERR_REGION_CORRUPT), as for the region's own header.
import { RobustShmError } from '../errors.js';

/** A job larger than the queue's maxJobBytes. */
export class JobTooLargeError extends RobustShmError {
  constructor(bytes: number, maxJobBytes: number) {
    super('ERR_JOB_TOO_LARGE', `a job of ${bytes} bytes does not fit: the queue's maxJobBytes is ${maxJobBytes}`);
  }
}

/** enqueue() found the queue full for the whole timeout. */
export class QueueFullError extends RobustShmError {
  constructor(timeoutMs: number) {
    super('ERR_QUEUE_FULL', `the queue stayed full for ${timeoutMs} ms`);
  }
}

/** RobustQueue.open() found a queue of that name with another capacity or maxJobBytes. */
export class QueueMismatchError extends RobustShmError {
  constructor(message: string) {
    super('ERR_QUEUE_MISMATCH', message);
  }
}

/** ack() or release() of a job the calling thread no longer holds (already acked or released, or taken by another thread). */
export class JobNotHeldError extends RobustShmError {
  constructor(message: string) {
    super('ERROR_NOT_OWNER', message);
  }
}

/**
 * ack() of a job whose lease ran out (leaseMs): the job was given to another
 * consumer, which may run it too. The slot this consumer held is freed.
 */
export class LeaseExpiredError extends RobustShmError {
  constructor(id: number, leaseMs: number) {
    super('ERR_LEASE_EXPIRED', `job ${id}: its lease of ${leaseMs} ms ran out and it was given to another consumer`);
  }
}
