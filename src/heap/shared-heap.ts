// SharedHeap: a Win32-style heap (HeapAlloc / HeapFree / HeapReAlloc /
// HeapSize / HeapValidate / HeapWalk) inside a SharedArrayBuffer, used at once
// by worker threads and processes, whose lock is a RobustMutex.
//
// Blocks are named by the byte offset of their payload in the buffer: the same
// number in every process that maps the region, unlike an address.
//
// The class is assembled from one module per concern:
//   heap-operations.ts   alloc / free / realloc / sizeOf, the heap lock and the
//                        journal intents (the hot path; SharedHeap extends it)
//   heap-thread-cache.ts the per-thread cache of small freed blocks
//   heap-recovery.ts     poisoning on an abandoned lock, and recover()
//   heap-blocks.ts       the allocator's block chain and free lists
//   heap-journal.ts      the intent journal that recover() rolls back or forward
// This file adds creating and attaching, views, validate / walk, stats.
//
// Failure reporting (GENERATE_EXCEPTIONS): the operations that mirror Win32
// calls (alloc, realloc, free, sizeOf, validate, walk) report a failure the
// Win32 way by default: they return a failure value (alloc/realloc 0, free
// false, sizeOf -1, validate an invalid result, walk []) and set `lastError`
// (read it like GetLastError; a success does not clear it). With the
// GENERATE_EXCEPTIONS flag on the call, or `generateExceptions: true` on the
// handle, they throw the typed HeapError instead. view(), recover() and the
// constructors always throw.
//
// The orphaned lock (seed 000): an owner that dies inside a heap operation
// leaves the heap POISONED (shared memory), and every operation from any
// thread or process fails with ERROR_POSSIBLE_DEADLOCK until recover() (see
// heap-recovery.ts).
import { RobustMutex, type NamedObjectHost } from '../locks/robust-mutex.js';
import { HeapBlocks } from './heap-blocks.js';
import { HeapCorruptionError, HeapFormatError, InvalidHeapParameterError } from './heap-errors.js';
import * as layout from './heap-layout.js';
import type { HeapGeometry } from './heap-layout.js';
import { HeapFlags, HeapOperations, type SharedHeapOptions } from './heap-operations.js';
import { recoverHeap, type RecoveryReport } from './heap-recovery.js';
import { validateBlock, validateHeap, type HeapValidation } from './heap-validate.js';

export { HeapFlags, type SharedHeapOptions } from './heap-operations.js';
export { DEFAULT_THREAD_CACHE } from './heap-operations.js';
export type { RecoveryReport } from './heap-recovery.js';

const { BLOCK_HEADER, BUSY, CACHED, H, HEADER_BYTES, HEAP_LAYOUT_VERSION, HEAP_MAGIC, MAX_HEAP_SIZE, MIN_BLOCK, SIZE_MASK, badFlags, geometryFor } = layout;

/** One block, as walk() reports it. */
export interface HeapEntry {
  /** Payload byte offset in the buffer (what alloc returns). */
  offset: number;
  /** Busy: the size asked for; free: the payload capacity. */
  size: number;
  /** Payload bytes the block can hold. */
  capacity: number;
  /** 'cached': freed into a thread's cache (see SharedHeapOptions.threadCache). */
  state: 'busy' | 'free' | 'cached';
}

/** What stats() reports (a racy snapshot). */
export interface HeapStats {
  /** Bytes of the block area (headers included). */
  capacity: number;
  /** Bytes in busy blocks (headers included). */
  used: number;
  /** Bytes in free blocks (headers included). */
  free: number;
  /** Blocks in use (cached ones included). */
  busyBlocks: number;
  /** Free blocks. */
  freeBlocks: number;
  /** The heap lock was abandoned and recover() has not run since. */
  poisoned: boolean;
  /** How many times the heap was poisoned, since initialisation. */
  timesPoisoned: number;
  /** How many times recover() ran. */
  recoveries: number;
}

/** A typed-array class (Int32Array, Float64Array, ...), for view(). */
export type TypedArrayConstructor<T> = {
  /** A view of `length` elements at `byteOffset`. */
  new (buffer: SharedArrayBuffer, byteOffset: number, length: number): T;
  /** Bytes per element. */
  readonly BYTES_PER_ELEMENT: number;
};

/**
 * A Win32-style heap in shared memory, used at once by threads and processes:
 * alloc/free/realloc by offset (addresses differ between processes), Win32
 * flags and error codes. When its lock comes back abandoned the heap poisons
 * itself and fails every operation with ERROR_POSSIBLE_DEADLOCK until
 * recover(), which replays its intent journal and rebuilds the free lists.
 */
export class SharedHeap extends HeapOperations {
  private constructor(buffer: SharedArrayBuffer, byteOffset: number, geometry: HeapGeometry, options: SharedHeapOptions) {
    super(buffer, byteOffset, geometry, options);
  }

  // ---- creating and attaching ------------------------------------------------

  /** Write a fresh heap of `size` bytes at `byteOffset` (a multiple of 16) and attach to it. */
  static initialize(buffer: SharedArrayBuffer, byteOffset: number, size: number, options: SharedHeapOptions = {}): SharedHeap {
    if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidHeapParameterError('a shared heap needs a SharedArrayBuffer');
    checkPlacement(buffer, byteOffset, size);
    const geometry = geometryFor(Math.floor(size / 16) * 16, RobustMutex.BYTES);
    if (geometry.end - geometry.first < 2 * MIN_BLOCK) {
      throw new InvalidHeapParameterError(`a heap of ${size} bytes has no room for blocks after its ${geometry.first}-byte header`);
    }
    const h = new Int32Array(buffer, byteOffset, geometry.size >> 2);
    h.fill(0, 0, HEADER_BYTES >> 2);
    h[H.size] = geometry.size;
    h[H.first] = geometry.first;
    h[H.end] = geometry.end;
    h[H.bitmapOffset] = geometry.bitmapOffset;
    h[H.bitmapWords] = geometry.bitmapWords;
    h[H.mutexOffset] = geometry.mutexOffset;
    // A new identity even where a heap stood before: a thread's cache of the
    // old heap (keyed by identity) must never hand out blocks of this one.
    // (Drawn into a private array: Node 26 refuses a view of shared memory.)
    // The low bit set: never (0, 0), which means "no identity".
    const identity = crypto.getRandomValues(new Int32Array(2));
    identity[0]! |= 1;
    h.set(identity, H.identity);
    RobustMutex.initialize(buffer, byteOffset + geometry.mutexOffset, { policy: 'posix' });
    new HeapBlocks(h, geometry).format();
    Atomics.store(h, H.version, HEAP_LAYOUT_VERSION);
    // The magic goes last: at() in another thread or process treats it as "ready".
    Atomics.store(h, H.magic, HEAP_MAGIC);
    return SharedHeap.at(buffer, byteOffset, options);
  }

  /** Attach to a heap that initialize() wrote, from any thread or process. */
  static at(buffer: SharedArrayBuffer, byteOffset: number, options: SharedHeapOptions = {}): SharedHeap {
    if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidHeapParameterError('a shared heap needs a SharedArrayBuffer');
    checkPlacement(buffer, byteOffset, HEADER_BYTES);
    const head = new Int32Array(buffer, byteOffset, HEADER_BYTES >> 2);
    const magic = Atomics.load(head, H.magic);
    if (magic !== HEAP_MAGIC) throw new HeapFormatError(`no shared heap at byte offset ${byteOffset} (magic 0x${(magic >>> 0).toString(16)})`);
    const version = Atomics.load(head, H.version);
    if (version !== HEAP_LAYOUT_VERSION) throw new HeapFormatError(`heap layout version ${version}, this library reads ${HEAP_LAYOUT_VERSION}`);
    const size = head[H.size]!;
    checkPlacement(buffer, byteOffset, size);
    const geometry = geometryFor(size, RobustMutex.BYTES);
    if (head[H.first] !== geometry.first || head[H.bitmapOffset] !== geometry.bitmapOffset || head[H.mutexOffset] !== geometry.mutexOffset) {
      throw new HeapFormatError(`heap header at byte offset ${byteOffset} disagrees with its size ${size}`);
    }
    return new SharedHeap(buffer, byteOffset, geometry, options);
  }

  /** Find the heap called `name` in a region, creating it (`size` bytes) on first use. */
  static open(region: NamedObjectHost, name: string, size: number, options: SharedHeapOptions = {}): SharedHeap {
    const { offset } = region.findOrCreate(`heap:${name}`, size, (byteOffset) => {
      SharedHeap.initialize(region.buffer, byteOffset, size);
    });
    return SharedHeap.at(region.buffer, offset, options);
  }

  // ---- views ------------------------------------------------------------------

  /** A typed view over a block's payload (bytes by default). Throws on a bad offset. */
  view(offset: number): Uint8Array;
  view<T>(offset: number, kind: TypedArrayConstructor<T>): T;
  view<T>(offset: number, kind?: TypedArrayConstructor<T>): T | Uint8Array {
    const size = this.sizeOf(offset, HeapFlags.GENERATE_EXCEPTIONS);
    if (!kind) return new Uint8Array(this.buffer, offset, size);
    return new kind(this.buffer, offset, Math.floor(size / kind.BYTES_PER_ELEMENT));
  }

  /** A DataView over a block's payload. Throws on a bad offset. */
  dataView(offset: number): DataView {
    return new DataView(this.buffer, offset, this.sizeOf(offset, HeapFlags.GENERATE_EXCEPTIONS));
  }

  // ---- HeapValidate / HeapWalk -----------------------------------------------

  /**
   * Check the whole heap, or one block. Never repairs. A poisoned heap fails
   * with ERROR_POSSIBLE_DEADLOCK like every other operation (the result then
   * names that, or it is thrown with GENERATE_EXCEPTIONS).
   */
  validate(offset?: number, flags = 0): HeapValidation {
    try {
      const locked = this.enter(flags);
      try {
        if (offset === undefined) return validateHeap(this.h, this.geometry);
        const b = offset - this.byteOffset - BLOCK_HEADER;
        if (!Number.isInteger(offset) || b < this.geometry.first || b >= this.geometry.end || b % 16 !== 0) {
          return invalid(`${String(offset)} is not a block offset of this heap`);
        }
        return validateBlock(this.h, this.geometry, b);
      } finally {
        this.leave(locked);
      }
    } catch (error) {
      const failure = this.failed(error, flags, null);
      return invalid((failure ?? this.lastError)?.message ?? 'validate failed');
    }
  }

  /** Every block in address order. [] on failure (see lastError). */
  walk(flags = 0): HeapEntry[] {
    try {
      const locked = this.enter(flags);
      try {
        const entries: HeapEntry[] = [];
        const { first, end } = this.geometry;
        for (let b = first; b < end; ) {
          const v = this.h[b >> 2]!;
          const size = v & SIZE_MASK;
          if (badFlags(v) || size < MIN_BLOCK || size > end - b) throw new HeapCorruptionError(`block chain broken at heap offset ${b}`);
          const busy = (v & BUSY) !== 0;
          const capacity = size - BLOCK_HEADER;
          entries.push({
            offset: this.byteOffset + b + BLOCK_HEADER,
            size: busy && (v & CACHED) === 0 ? this.blocks.requested(b) : capacity,
            capacity,
            state: !busy ? 'free' : (v & CACHED) !== 0 ? 'cached' : 'busy',
          });
          b += size;
        }
        return entries;
      } finally {
        this.leave(locked);
      }
    } catch (error) {
      return this.failed(error, flags, []);
    }
  }

  // ---- repair -------------------------------------------------------------------

  /**
   * Repair after an owner died inside a heap operation: take the lock (an
   * abandoned lock is expected here), roll the journal's interrupted operation
   * back or forward, rebuild lists/bitmap/counters from the block chain
   * (merging adjacent free blocks), validate, and clear POISONED. Throws
   * HeapCorruptionError (and leaves the heap poisoned) when the chain itself is
   * broken: that is corruption, not an interrupted operation.
   */
  recover(): RecoveryReport {
    return recoverHeap(this.h, this.geometry, this.blocks, this.mutex);
  }

  // ---- looking --------------------------------------------------------------------

  /** Counters, read without the lock (a snapshot that may be mid-update under load). */
  stats(): HeapStats {
    const h = this.h;
    return {
      capacity: this.geometry.end - this.geometry.first,
      used: Atomics.load(h, H.usedBytes),
      free: Atomics.load(h, H.freeBytes),
      busyBlocks: Atomics.load(h, H.busyBlocks),
      freeBlocks: Atomics.load(h, H.freeBlocks),
      poisoned: Atomics.load(h, H.poisoned) !== 0,
      timesPoisoned: Atomics.load(h, H.timesPoisoned),
      recoveries: Atomics.load(h, H.recoveries),
    };
  }

  /** The heap lock was abandoned and recover() has not run since (every operation fails until then). */
  get poisoned(): boolean {
    return Atomics.load(this.h, H.poisoned) !== 0;
  }

  /** The Win32 number of lastError, 0 when there was none (GetLastError()). */
  get lastErrorCode(): number {
    return this.lastError?.errno ?? 0;
  }

  /** The largest request alloc() could ever satisfy in this heap. */
  get maxAllocation(): number {
    return this.maxRequest;
  }

  // ---- the thread cache -----------------------------------------------------------

  /** Blocks this thread's cache of this heap holds, for all of the thread's handles on it (busy for everyone else). */
  get cachedBlocks(): number {
    return (this.cache ?? this.existingSharedCache())?.count ?? 0;
  }
}

function invalid(problem: string): HeapValidation {
  return { valid: false, problems: [problem], blocks: 0, busyBlocks: 0, freeBlocks: 0 };
}

function checkPlacement(buffer: SharedArrayBuffer, byteOffset: number, size: number): void {
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 16 !== 0) {
    throw new InvalidHeapParameterError(`heap byteOffset must be a non-negative multiple of 16, got ${String(byteOffset)}`);
  }
  if (!Number.isInteger(size) || size <= 0 || size > MAX_HEAP_SIZE || byteOffset + size > buffer.byteLength) {
    throw new InvalidHeapParameterError(
      `heap size must be an integer from 1 to ${MAX_HEAP_SIZE} that fits the ${buffer.byteLength}-byte buffer at ${byteOffset}, got ${String(size)}`,
    );
  }
}
