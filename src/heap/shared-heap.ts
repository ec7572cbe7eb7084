// SharedHeap: a Win32-style heap (HeapAlloc / HeapFree / HeapReAlloc /
// HeapSize / HeapValidate / HeapWalk) inside a SharedArrayBuffer, used at once
// by worker threads and processes, whose lock is a RobustMutex.
//
// Blocks are named by the byte offset of their payload in the buffer: the same
// number in every process that maps the region, unlike an address.
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
// The orphaned lock (seed 000): when the heap's RobustMutex comes back
// "abandoned", its owner died inside a heap operation and the blocks may be
// half-updated. The heap then sets POISONED in its header, marks the *mutex*
// consistent and releases it (the mutex itself is fine; it is the heap that is
// suspect, and leaving the mutex inconsistent would make it not-recoverable
// under the posix policy, so recover() could never get in), and fails the
// operation with ERROR_POSSIBLE_DEADLOCK without touching a block. POISONED
// lives in shared memory, so every later operation from any thread or process
// fails the same way, before even taking the lock, until recover() replays the
// journal (heap-journal.ts), rebuilds the derived structures and validates.
import { RobustMutex, type MutexOptions, type NamedObjectHost } from '../locks/robust-mutex.js';
import { currentThreadIdentity, ownerLiveness } from '../locks/owner.js';
import { HeapBlocks } from './heap-blocks.js';
import {
  HeapCorruptionError,
  HeapError,
  HeapFormatError,
  HeapNotEnoughMemoryError,
  InvalidHeapParameterError,
  PossibleDeadlockError,
} from './heap-errors.js';
import * as journal from './heap-journal.js';
import * as layout from './heap-layout.js';
import type { JournalOpName } from './heap-journal.js';
import type { HeapGeometry } from './heap-layout.js';
import { validateBlock, validateHeap, type HeapValidation } from './heap-validate.js';

// Module-local copies of imported constants and helpers: under tsx (CommonJS
// output) each use of an imported binding is a getter call, which the
// alloc/free path cannot afford (see heap-blocks.ts).
const { beginIntent, endIntent, J, JournalOp, PHASE_COPIED, recordChange, replayJournal, setPhase } = journal;
const { B, BLOCK_HEADER, BUSY, CACHED, CLASS_COUNT, H, HEADER_BYTES, HEAP_LAYOUT_VERSION, HEAP_MAGIC, MAX_HEAP_SIZE, MIN_BLOCK, SIZE_MASK, SMALL_MAX_BLOCK, badFlags, blockSizeFor, classOf, geometryFor } = layout;

/** Per-call flags, with the Win32 values. */
export const HeapFlags = {
  NONE: 0,
  /** Skip the heap lock (HEAP_NO_SERIALIZE). Only safe when one thread at a time uses the heap. */
  NO_SERIALIZE: 0x1,
  /** Throw the HeapError instead of returning a failure value (HEAP_GENERATE_EXCEPTIONS). */
  GENERATE_EXCEPTIONS: 0x4,
  /** alloc: zero the block; realloc: zero the bytes past the old size (HEAP_ZERO_MEMORY). */
  ZERO_MEMORY: 0x8,
  /** realloc: fail with ERROR_NOT_ENOUGH_MEMORY rather than move the block (HEAP_REALLOC_IN_PLACE_ONLY). */
  REALLOC_IN_PLACE_ONLY: 0x10,
} as const;

/** Where the test hook `onInsideLock` is called, always with the heap lock held. */
export type HeapHookPoint =
  | 'alloc:intent'
  | 'alloc:committed'
  | 'free:intent'
  | 'free:committed'
  | 'realloc:intent'
  | 'realloc:allocated'
  | 'realloc:copied'
  | 'realloc:committed';

export interface SharedHeapOptions {
  /**
   * Default true: every offset is checked (range, alignment, block start via
   * the bitmap, allocated) and misuse fails with ERROR_INVALID_PARAMETER,
   * leaving the heap intact. false: no checks, as a release-build heap: a
   * double free corrupts the free list (memory outside the heap is still
   * never touched: typed-array bounds stop that).
   */
  checked?: boolean;
  /** Throw on every failure, as if each call passed GENERATE_EXCEPTIONS. */
  generateExceptions?: boolean;
  /** Never take the lock on this handle, as if each call passed NO_SERIALIZE. */
  noSerialize?: boolean;
  /**
   * Blocks per size class (payloads up to 512 bytes) that this handle keeps
   * for its own thread when they are freed, and hands out again without the
   * heap lock (like glibc's tcache or the Windows Low Fragmentation Heap).
   * When a class's cache is full, half of it is freed under one lock hold.
   * Default 0: off. The price, and why it is off by default: a call served
   * from the cache never meets the heap lock, so it cannot notice a dead lock
   * owner (no ERROR_POSSIBLE_DEADLOCK from it: the seed-000 story needs the
   * cache off), and cached blocks stay busy for every other thread until
   * flushCache() (or recover(), once their thread is dead).
   */
  threadCache?: number;
  /** Options of the heap's RobustMutex handle (liveness interval, spin). */
  mutex?: MutexOptions;
  /**
   * Test-only: called inside the heap lock at the named point ("intent": the
   * journal is written, nothing changed yet; "committed": the one structural
   * store is done, the derived lists are not yet updated). A fixture parks
   * here so a test can kill the thread or process inside the critical section.
   */
  onInsideLock?: (point: HeapHookPoint) => void;
}

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

export interface HeapStats {
  /** Bytes of the block area (headers included). */
  capacity: number;
  /** Bytes in busy blocks (headers included). */
  used: number;
  /** Bytes in free blocks (headers included). */
  free: number;
  busyBlocks: number;
  freeBlocks: number;
  /** The heap lock was abandoned and recover() has not run since. */
  poisoned: boolean;
  timesPoisoned: number;
  recoveries: number;
}

export interface RecoveryReport {
  /** The heap was poisoned when recover() started. */
  wasPoisoned: boolean;
  /** recover()'s own acquire found the lock abandoned (nobody had noticed the death yet). */
  lockWasAbandoned: boolean;
  /** The operation in flight when its owner died. */
  interruptedOp: JournalOpName;
  rolled: 'back' | 'forward' | 'none';
  /** Blocks freed into the caches of threads that are dead now, returned to the heap. */
  reclaimedFromDeadCaches: number;
  validation: HeapValidation;
}

export type TypedArrayConstructor<T> = {
  new (buffer: SharedArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

type Blocks = HeapBlocks;

export class SharedHeap {
  readonly buffer: SharedArrayBuffer;
  /** Where the heap starts in the buffer. */
  readonly byteOffset: number;
  /** Total bytes of the heap (header, lock, bitmap and blocks). */
  readonly size: number;
  readonly mutex: RobustMutex;
  /** The last failure of this handle (GetLastError style; not cleared by a success). */
  lastError: HeapError | null = null;

  private readonly h: Int32Array;
  private readonly u8: Uint8Array;
  private readonly blocks: Blocks;
  private readonly geometry: HeapGeometry;
  private readonly checked: boolean;
  private readonly throws: boolean;
  private readonly serialize: boolean;
  private readonly hook: ((point: HeapHookPoint) => void) | undefined;
  private commitPoint: HeapHookPoint = 'alloc:committed';
  private readonly maxRequest: number;
  /** Per size class, the heap-relative blocks this handle's thread freed and keeps (null: no cache). */
  private readonly cache: number[][] | null;
  private readonly cacheLimit: number;
  private cacheCount = 0;
  /** An intent of this handle is begun and not yet ended (see leave()). */
  private intentOpen = false;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, geometry: HeapGeometry, options: SharedHeapOptions) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.size = geometry.size;
    this.geometry = geometry;
    this.h = new Int32Array(buffer, byteOffset, geometry.size >> 2);
    this.u8 = new Uint8Array(buffer, byteOffset, geometry.size);
    this.blocks = new HeapBlocks(this.h, geometry);
    this.mutex = RobustMutex.at(buffer, byteOffset + geometry.mutexOffset, options.mutex ?? {});
    this.checked = options.checked ?? true;
    this.throws = options.generateExceptions ?? false;
    this.serialize = !(options.noSerialize ?? false);
    this.hook = options.onInsideLock;
    if (this.hook) {
      const hook = this.hook;
      this.blocks.onCommit = () => hook(this.commitPoint);
    }
    this.maxRequest = geometry.end - geometry.first - BLOCK_HEADER;
    const limit = options.threadCache ?? 0;
    if (!Number.isInteger(limit) || limit < 0 || limit > 1 << 16) {
      throw new InvalidHeapParameterError(`threadCache must be an integer from 0 to 65536, got ${String(limit)}`);
    }
    this.cacheLimit = limit;
    this.cache = limit > 0 ? Array.from({ length: CLASS_COUNT }, () => []) : null;
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

  // ---- HeapAlloc / HeapFree / HeapReAlloc / HeapSize --------------------------

  /** Allocate `size` bytes; the payload's byte offset in the buffer, or 0 on failure (see lastError). */
  alloc(size: number, flags = 0): number {
    const cache = this.cache;
    if (cache !== null && size > 0 && size <= 512 && Number.isInteger(size) && Atomics.load(this.h, H.poisoned) === 0) {
      const list = cache[classOf(blockSizeFor(size))]!;
      if (list.length > 0) return this.allocFromCache(list, size, flags);
    }
    try {
      this.checkRequest(size);
      const blockSize = blockSizeFor(size);
      const locked = this.enter(flags);
      try {
        const h = this.h;
        this.begin(JournalOp.ALLOC, size);
        this.commitPoint = 'alloc:committed';
        this.hook?.('alloc:intent');
        let b = this.blocks.allocate(blockSize, size, 'a');
        if (b === 0) {
          // Out of luck: give back this thread's cached blocks, join free neighbours, try once more.
          if (this.cache !== null && this.cacheCount > 0) {
            for (const list of this.cache) this.freeCachedLocked(list, list.length);
            this.begin(JournalOp.ALLOC, size);
          }
          this.blocks.rebuild(true);
          b = this.blocks.allocate(blockSize, size, 'a');
        }
        if (b === 0) {
          this.end();
          throw new HeapNotEnoughMemoryError(`no free block holds ${size} bytes (${this.h[H.freeBytes]} bytes free in ${this.h[H.freeBlocks]} blocks)`);
        }
        if ((flags & HeapFlags.ZERO_MEMORY) !== 0) this.u8.fill(0, b + BLOCK_HEADER, b + BLOCK_HEADER + size);
        this.end();
        return this.byteOffset + b + BLOCK_HEADER;
      } finally {
        this.leave(locked);
      }
    } catch (error) {
      return this.failed(error, flags, 0);
    }
  }

  /** Free a block; false on failure (see lastError). */
  free(offset: number, flags = 0): boolean {
    if (this.cache !== null) {
      try {
        if (Atomics.load(this.h, H.poisoned) !== 0) throw new PossibleDeadlockError();
        // Unlocked checks are sound here: only this block's owner may change its
        // size word or its bitmap bit while it is busy (others only read them).
        const b = this.blockOf(offset);
        const word = this.blocks.sizeFlags(b);
        if ((word & SIZE_MASK) <= SMALL_MAX_BLOCK) {
          const list = this.cache[classOf(word & SIZE_MASK)]!;
          if (list.length >= this.cacheLimit) this.flushCached(list, list.length - (this.cacheLimit >> 1), flags);
          const me = currentThreadIdentity();
          const w = b >> 2;
          this.h[w + B.next] = me.tid;
          this.h[w + B.prev] = me.startTime;
          Atomics.store(this.h, w, word | CACHED);
          list.push(b);
          this.cacheCount++;
          return true;
        }
      } catch (error) {
        return this.failed(error, flags, false);
      }
    }
    try {
      const locked = this.enter(flags);
      try {
        this.freeLocked(this.blockOf(offset), true);
        return true;
      } finally {
        this.leave(locked);
      }
    } catch (error) {
      return this.failed(error, flags, false);
    }
  }

  /**
   * Resize a block, in place when possible, else by moving it (the contents up
   * to the smaller size are kept). The new offset, or 0 on failure (the old
   * block is then untouched).
   */
  realloc(offset: number, size: number, flags = 0): number {
    try {
      this.checkRequest(size);
      const blockSize = blockSizeFor(size);
      const locked = this.enter(flags);
      try {
        const h = this.h;
        const b = this.blockOf(offset);
        const oldRequested = this.blocks.requested(b);
        const zero = (flags & HeapFlags.ZERO_MEMORY) !== 0;
        this.begin(JournalOp.REALLOC_IN_PLACE, size);
        h[J.oldRequested] = oldRequested;
        this.commitPoint = 'realloc:committed';
        this.hook?.('realloc:intent');
        if (this.blocks.resizeInPlace(b, blockSize, size)) {
          if (zero && size > oldRequested) this.u8.fill(0, b + BLOCK_HEADER + oldRequested, b + BLOCK_HEADER + size);
          this.end();
          return offset;
        }
        if ((flags & HeapFlags.REALLOC_IN_PLACE_ONLY) !== 0) {
          this.end();
          throw new HeapNotEnoughMemoryError(`the block at ${offset} cannot grow to ${size} bytes in place`);
        }
        this.begin(JournalOp.REALLOC_MOVE, size);
        this.commitPoint = 'realloc:allocated';
        let y = this.blocks.allocate(blockSize, size, 'a');
        if (y === 0) {
          this.blocks.rebuild(true);
          y = this.blocks.allocate(blockSize, size, 'a');
        }
        if (y === 0) {
          this.end();
          throw new HeapNotEnoughMemoryError(`no free block holds ${size} bytes for the move`);
        }
        const kept = Math.min(oldRequested, size);
        this.u8.copyWithin(y + BLOCK_HEADER, b + BLOCK_HEADER, b + BLOCK_HEADER + kept);
        if (zero && size > kept) this.u8.fill(0, y + BLOCK_HEADER + kept, y + BLOCK_HEADER + size);
        // From COPIED on the move rolls forward, so the old block must be named
        // in slot b before the phase says so: a death right after setPhase()
        // still ends with the old block freed, not leaked.
        const oldWord = this.blocks.sizeFlags(b);
        recordChange(h, 'b', b, oldWord, oldWord & SIZE_MASK);
        setPhase(h, PHASE_COPIED);
        this.hook?.('realloc:copied');
        this.commitPoint = 'realloc:committed';
        this.blocks.release(b, 'b');
        this.end();
        return this.byteOffset + y + BLOCK_HEADER;
      } finally {
        this.leave(locked);
      }
    } catch (error) {
      return this.failed(error, flags, 0);
    }
  }

  /** The size a block was allocated (or reallocated) with; -1 on failure (see lastError). */
  sizeOf(offset: number, flags = 0): number {
    try {
      const locked = this.enter(flags);
      try {
        return this.blocks.requested(this.blockOf(offset));
      } finally {
        this.leave(locked);
      }
    } catch (error) {
      return this.failed(error, flags, -1);
    }
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
    const lock = this.mutex.acquire();
    if (!lock.owned) throw new PossibleDeadlockError(`recover() could not take the heap lock: ${lock.status}`);
    try {
      const h = this.h;
      const wasPoisoned = Atomics.load(h, H.poisoned) !== 0;
      const replay = replayJournal(h, (b) => this.blocks.inBlockArea(b));
      let reclaimed = 0;
      try {
        reclaimed = this.reclaimDeadCaches();
        this.blocks.rebuild(true);
      } catch (error) {
        Atomics.store(h, H.poisoned, 1);
        throw error;
      }
      const validation = validateHeap(h, this.geometry);
      if (!validation.valid) {
        Atomics.store(h, H.poisoned, 1);
        throw new HeapCorruptionError(`recover() cannot repair this heap: ${validation.problems.join('; ')}`);
      }
      Atomics.add(h, H.recoveries, 1);
      Atomics.store(h, H.poisoned, 0);
      return { wasPoisoned, lockWasAbandoned: lock.abandoned, interruptedOp: replay.op, rolled: replay.rolled, reclaimedFromDeadCaches: reclaimed, validation };
    } finally {
      // The heap's own POISONED flag carries any inconsistency; the mutex must
      // stay usable (posix policy: releasing it inconsistent would end it).
      if (lock.abandoned) this.mutex.markConsistent();
      this.mutex.release();
    }
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

  /** Blocks this handle holds in its thread cache (busy for everyone else). */
  get cachedBlocks(): number {
    return this.cacheCount;
  }

  /** Return every block of this handle's thread cache to the heap (one lock hold). False on failure (see lastError). */
  flushCache(flags = 0): boolean {
    if (this.cache === null || this.cacheCount === 0) return true;
    try {
      const locked = this.enter(flags);
      try {
        for (const list of this.cache) this.freeCachedLocked(list, list.length);
      } finally {
        this.leave(locked);
      }
      return true;
    } catch (error) {
      return this.failed(error, flags, false);
    }
  }

  private allocFromCache(list: number[], size: number, flags: number): number {
    const b = list.pop()!;
    this.cacheCount--;
    const w = b >> 2;
    this.h[w + B.requested] = size;
    Atomics.store(this.h, w, this.h[w]! & ~CACHED);
    if ((flags & HeapFlags.ZERO_MEMORY) !== 0) this.u8.fill(0, b + BLOCK_HEADER, b + BLOCK_HEADER + size);
    return this.byteOffset + b + BLOCK_HEADER;
  }

  /** Free the oldest `count` blocks of one cache list under one lock hold. */
  private flushCached(list: number[], count: number, flags: number): void {
    const locked = this.enter(flags);
    try {
      this.freeCachedLocked(list, count);
    } finally {
      this.leave(locked);
    }
  }

  private freeCachedLocked(list: number[], count: number): void {
    const oldest = list.splice(0, count);
    for (const b of oldest) {
      this.freeLocked(b, false);
      this.cacheCount--;
    }
  }

  /**
   * Free block `b`; the caller holds the lock. A free rolls forward, so its
   * intent names the block from the start: a death before the release still
   * ends with the block freed. `freeIntentHook`: stop at 'free:intent' (the
   * public free(); a cache flush does not).
   */
  private freeLocked(b: number, freeIntentHook: boolean): void {
    this.begin(JournalOp.FREE, 0);
    const word = this.blocks.sizeFlags(b);
    recordChange(this.h, 'a', b, word, word & SIZE_MASK);
    this.commitPoint = 'free:committed';
    if (freeIntentHook) this.hook?.('free:intent');
    this.blocks.release(b, 'a');
    this.end();
  }

  /** recover(): cached blocks whose thread is dead go back to the heap (their size word loses BUSY|CACHED). */
  private reclaimDeadCaches(): number {
    const h = this.h;
    const { first, end } = this.geometry;
    const verdicts = new Map<string, boolean>();
    let reclaimed = 0;
    for (let b = first; b < end; ) {
      const w = b >> 2;
      const v = Atomics.load(h, w);
      const size = v & SIZE_MASK;
      if (badFlags(v) || size < MIN_BLOCK || size > end - b) break; // rebuild() reports the broken chain
      if ((v & (BUSY | CACHED)) === (BUSY | CACHED)) {
        const tid = h[w + B.next]!;
        const startTime = h[w + B.prev]!;
        const key = `${tid}:${startTime}`;
        let alive = verdicts.get(key);
        if (alive === undefined) {
          alive = tid > 0 && ownerLiveness({ tid, startTime }) === 'alive';
          verdicts.set(key, alive);
        }
        if (!alive) {
          Atomics.store(h, w, size);
          reclaimed++;
        }
      }
      b += size;
    }
    return reclaimed;
  }

  // ---- internals ------------------------------------------------------------------

  private begin(op: (typeof JournalOp)[keyof typeof JournalOp], arg: number): void {
    beginIntent(this.h, op, arg);
    this.intentOpen = true;
  }

  private end(): void {
    endIntent(this.h);
    this.intentOpen = false;
  }

  /**
   * Leave the critical section. An operation that is leaving with its intent
   * still open was cut short by an exception (a corrupt chain met during a
   * consolidation, a throwing test hook): its half-done change must not be
   * built on, so the heap is poisoned exactly as if its thread had died there.
   */
  private leave(locked: boolean): void {
    if (this.intentOpen) {
      this.intentOpen = false;
      Atomics.store(this.h, H.poisoned, 1);
      Atomics.add(this.h, H.timesPoisoned, 1);
    }
    if (locked) this.mutex.release();
  }

  /** Take the heap lock (unless NO_SERIALIZE); true when it was taken. Throws PossibleDeadlockError. */
  private enter(flags: number): boolean {
    const h = this.h;
    if (Atomics.load(h, H.poisoned) !== 0) throw new PossibleDeadlockError();
    if (!this.serialize || (flags & HeapFlags.NO_SERIALIZE) !== 0) return false;
    const lock = this.mutex.acquire();
    if (!lock.owned) throw new PossibleDeadlockError(`the heap lock is ${lock.status}`);
    if (lock.abandoned) {
      // Poison first, release second: whoever takes the lock next sees the flag.
      Atomics.store(h, H.poisoned, 1);
      Atomics.add(h, H.timesPoisoned, 1);
      this.mutex.markConsistent();
      this.mutex.release();
      const who = lock.previousOwner ? ` (thread ${lock.previousOwner.tid}${lock.previousOwner.pid ? ` of process ${lock.previousOwner.pid}` : ''})` : '';
      throw new PossibleDeadlockError(`the heap lock's owner${who} died inside a heap operation: the heap is poisoned until recover()`);
    }
    if (Atomics.load(h, H.poisoned) !== 0) {
      this.mutex.release();
      throw new PossibleDeadlockError();
    }
    return true;
  }

  private checkRequest(size: number): void {
    if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0) {
      throw new InvalidHeapParameterError(`size must be a positive integer, got ${String(size)}`);
    }
    if (size > this.maxRequest) {
      throw new HeapNotEnoughMemoryError(`${size} bytes is more than this heap can ever hold (${this.maxRequest})`);
    }
  }

  /** The heap-relative block of a payload offset; in checked mode, only a busy block's. */
  private blockOf(offset: number): number {
    if (typeof offset !== 'number' || !Number.isInteger(offset)) {
      throw new InvalidHeapParameterError(`offset must be an integer, got ${String(offset)}`);
    }
    const b = offset - this.byteOffset - BLOCK_HEADER;
    if (!this.checked) return b;
    const { first, end } = this.geometry;
    if (b < first || b >= end) {
      throw new InvalidHeapParameterError(
        `offset ${offset} is outside the heap's blocks [${this.byteOffset + first + BLOCK_HEADER}, ${this.byteOffset + end})`,
      );
    }
    if (b % 16 !== 0) throw new InvalidHeapParameterError(`offset ${offset} is misaligned: block payloads are 16-byte aligned`);
    if (!this.blocks.isBlockStart(b)) {
      throw new InvalidHeapParameterError(`offset ${offset} is not the start of a block (an interior offset, never allocated, or freed already)`);
    }
    if ((this.blocks.sizeFlags(b) & (BUSY | CACHED)) !== BUSY) {
      throw new InvalidHeapParameterError(`offset ${offset} is not allocated (freed already: a double free?)`);
    }
    return b;
  }

  private failed<T>(error: unknown, flags: number, failureValue: T): T {
    if (!(error instanceof HeapError)) throw error;
    this.lastError = error;
    if (this.throws || (flags & HeapFlags.GENERATE_EXCEPTIONS) !== 0) throw error;
    return failureValue;
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
