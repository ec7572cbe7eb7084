// Errors of the shared heap, named and numbered after the Win32 codes that
// HeapAlloc/HeapFree report through GetLastError, so a reader of the seeds can
// map them one-to-one.
import { RobustShmError } from '../errors.js';

/** Base class of every heap failure: `code` is the Win32 name, `errno` its number. */
export class HeapError extends RobustShmError {
  /** The Win32 error number (GetLastError) of `code`. */
  readonly errno: number;
  constructor(code: string, errno: number, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.errno = errno;
  }
}

/**
 * The heap lock was orphaned: its owner died inside a heap operation, so the
 * heap may be half-updated. Every operation fails with this, without touching
 * any block, until someone calls recover(). Win32 ERROR_POSSIBLE_DEADLOCK (1131).
 */
export class PossibleDeadlockError extends HeapError {
  // Poisoned by a death inside the lock or by an operation that threw halfway (a corrupt block chain met,
  // as NO_SERIALIZE misuse leaves it): the flag does not say which, so neither does the default message.
  constructor(message = 'the heap is poisoned until recover(): an operation inside its lock was cut short (its thread died there, or it threw on a corrupt block chain)') {
    super('ERROR_POSSIBLE_DEADLOCK', 1131, message);
  }
}

/** A bad offset (double free, interior, misaligned, out of range, never allocated) or a bad size. Win32 ERROR_INVALID_PARAMETER (87). */
export class InvalidHeapParameterError extends HeapError {
  constructor(message: string) {
    super('ERROR_INVALID_PARAMETER', 87, message);
  }
}

/** No free block can hold the request (also: REALLOC_IN_PLACE_ONLY that cannot grow in place). Win32 ERROR_NOT_ENOUGH_MEMORY (8). */
export class HeapNotEnoughMemoryError extends HeapError {
  constructor(message: string) {
    super('ERROR_NOT_ENOUGH_MEMORY', 8, message);
  }
}

/**
 * The block chain itself is broken (an overrun, an unchecked double free, an
 * unserialised race): recover() cannot repair that. NTSTATUS STATUS_HEAP_CORRUPTION.
 */
export class HeapCorruptionError extends HeapError {
  constructor(message: string) {
    super('STATUS_HEAP_CORRUPTION', 0xc0000374, message);
  }
}

/** The bytes at an offset are not a heap this library wrote (magic, version, sizes). */
export class HeapFormatError extends HeapError {
  constructor(message: string) {
    super('ERROR_INVALID_DATA', 13, message);
  }
}
