// The region header: writing a fresh one, and checking one read from a file
// or found in a buffer before anything trusts it.
import { randomInt } from 'node:crypto';
import { InvalidArgumentError, RegionFormatError, type RobustShmError } from '../errors.js';
import { RobustMutex } from '../locks/robust-mutex.js';
import { MAX_MAPPING_SIZE } from './map-file.js';
import { DIRECTORY_MUTEX_OFFSET, H, HEADER_BYTES, INIT_READY, MIN_REGION_SIZE, REGION_MAGIC, REGION_VERSION } from './region-layout.js';

/** Write a complete, ready header (the init state goes last). */
export function writeHeader(buffer: SharedArrayBuffer, size: number): void {
  const i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  new Uint8Array(buffer, 0, HEADER_BYTES).fill(0);
  Atomics.store(i32, H.magic, REGION_MAGIC);
  Atomics.store(i32, H.version, REGION_VERSION);
  Atomics.store(i32, H.totalSize, size);
  Atomics.store(i32, H.headerBytes, HEADER_BYTES);
  Atomics.store(i32, H.nextFree, HEADER_BYTES);
  Atomics.store(i32, H.creationId, randomInt(1, 0x7fff_ffff));
  RobustMutex.initialize(buffer, DIRECTORY_MUTEX_OFFSET, { policy: 'windows' });
  Atomics.store(i32, H.initState, INIT_READY);
}

/**
 * What is wrong with a header (`words`: its first bytes as Int32s; `actualSize`:
 * the file's or buffer's length), or undefined when it is a ready region that
 * fits. `expectedSize`: the size the caller asked for, if any.
 */
export function checkHeader(words: Int32Array, actualSize: number, path: string | undefined, expectedSize?: number): RobustShmError | undefined {
  const where = path ?? 'the buffer';
  if (actualSize < MIN_REGION_SIZE || words.length < HEADER_BYTES / 4) {
    if (words.length > 0 && words[H.magic] !== REGION_MAGIC) return new RegionFormatError('ERR_REGION_BAD_MAGIC', `${where} is not a robust-shm region (bad magic)`);
    return new RegionFormatError('ERR_REGION_TOO_SMALL', `${where} is ${actualSize} bytes, smaller than a region header (${HEADER_BYTES})`);
  }
  const magic = words[H.magic] ?? 0;
  if (magic !== REGION_MAGIC) {
    return new RegionFormatError('ERR_REGION_BAD_MAGIC', `${where} is not a robust-shm region (magic 0x${(magic >>> 0).toString(16)}, expected 0x${REGION_MAGIC.toString(16)})`);
  }
  const version = words[H.version] ?? 0;
  if (version !== REGION_VERSION) {
    return new RegionFormatError('ERR_REGION_VERSION', `${where} has region format version ${version}; this library reads version ${REGION_VERSION}`);
  }
  const state = words[H.initState] ?? 0;
  if (state !== INIT_READY) {
    // Regions are built under a temporary name and linked into place complete,
    // so an unfinished header at a region path was not written by this library.
    return new RegionFormatError(
      'ERR_REGION_NOT_READY',
      `${where} has a region header whose init state is ${state}, not ready; robust-shm only ever links complete regions into place, so something else wrote it (or an older robust-shm's creator died there)`,
    );
  }
  const total = (words[H.totalSize] ?? 0) >>> 0;
  if (total < MIN_REGION_SIZE) return new RegionFormatError('ERR_REGION_CORRUPT', `${where}: header says ${total} bytes, smaller than a region`);
  if (total > MAX_MAPPING_SIZE) return new RegionFormatError('ERR_REGION_CORRUPT', `${where}: header says ${total} bytes, larger than any region`);
  if (actualSize < total) {
    return new RegionFormatError('ERR_REGION_TRUNCATED', `${where} is ${actualSize} bytes but its header says ${total}: the file was truncated`);
  }
  if (expectedSize !== undefined && expectedSize !== total) {
    return new RegionFormatError('ERR_REGION_SIZE_MISMATCH', `${where} is a region of ${total} bytes, not ${expectedSize}`);
  }
  if (words[H.headerBytes] !== HEADER_BYTES) return new RegionFormatError('ERR_REGION_CORRUPT', `${where}: header size word is ${words[H.headerBytes]}, not ${HEADER_BYTES}`);
  return undefined;
}

/** A region size the caller asked for: an integer from MIN_REGION_SIZE to MAX_MAPPING_SIZE. */
export function checkRegionSize(size: number): void {
  if (typeof size !== 'number' || !Number.isInteger(size)) throw new InvalidArgumentError(`region size must be an integer, got ${String(size)}`);
  if (size < MIN_REGION_SIZE) {
    throw new RegionFormatError('ERR_REGION_TOO_SMALL', `region size ${size} is smaller than the minimum ${MIN_REGION_SIZE} (header ${HEADER_BYTES} + payload)`);
  }
  if (size > MAX_MAPPING_SIZE) {
    throw new RegionFormatError('ERR_REGION_TOO_LARGE', `region size ${size} is larger than the maximum ${MAX_MAPPING_SIZE} (offsets are 32-bit words)`);
  }
}
