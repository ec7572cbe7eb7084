// Argument checks shared by every lock that lives in a SharedArrayBuffer (mutex, rwlock, semaphore):
// a lock placed partly outside its buffer, or misaligned for the 64-bit robust-list pointers beside
// its words, would be corrupted or unusable, so it is refused before anything is written.
import { InvalidArgumentError } from '../errors.js';

/** `what` names the lock in the message ("mutex", "rwlock", "semaphore"). */
export function checkPlacement(buffer: SharedArrayBuffer, byteOffset: number, bytes: number, what: string): void {
  if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidArgumentError(`a robust ${what} needs a SharedArrayBuffer`);
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0 || byteOffset + bytes > buffer.byteLength) {
    throw new InvalidArgumentError(`${what} byteOffset must be a multiple of 8 with ${bytes} bytes inside the buffer, got ${byteOffset}`);
  }
}

export function checkTimeout(timeoutMs: number): void {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new InvalidArgumentError(`timeoutMs must be a number >= 0 (or Infinity), got ${String(timeoutMs)}`);
  }
}

/**
 * The magic and layout version a lock's initialize() wrote, read before anything else is trusted:
 * another object, or one written by another layout, at that offset is refused with the lock's own
 * layout error (`LayoutError`), whose messages name `what`.
 */
export function checkLayoutHeader(
  i32: Int32Array,
  at: { magic: number; version: number },
  expected: { magic: number; version: number },
  what: string,
  byteOffset: number,
  LayoutError: new (message: string) => Error,
): void {
  const magic = Atomics.load(i32, at.magic);
  if (magic !== expected.magic) throw new LayoutError(`no robust ${what} at byte offset ${byteOffset} (magic ${magic.toString(16)})`);
  const version = Atomics.load(i32, at.version);
  if (version !== expected.version) throw new LayoutError(`${what} layout version ${version}, this library reads ${expected.version}`);
}
