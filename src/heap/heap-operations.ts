// The heap operations: HeapAlloc / HeapFree / HeapReAlloc / HeapSize, the
// heap lock around them, and their journal intents. SharedHeap (shared-heap.ts)
// is this class plus attaching, looking (validate, walk, stats) and recover().
//
// These methods are the hot path. They are methods of the one class every
// handle is an instance of (SharedHeap extends HeapOperations), so a call costs
// what it did before the split: no delegation, no closure, no getter.
//
// Failure reporting (GENERATE_EXCEPTIONS): alloc, realloc, free and sizeOf
// report a failure the Win32 way by default: they return a failure value
// (alloc/realloc 0, free false, sizeOf -1) and set `lastError` (read it like
// GetLastError; a success does not clear it). With the GENERATE_EXCEPTIONS
// flag on the call, or `generateExceptions: true` on the handle, they throw
// the typed HeapError instead.
import { RobustMutex, type MutexOptions } from '../locks/robust-mutex.js';
import { HeapBlocks } from './heap-blocks.js';
import { HeapError, HeapNotEnoughMemoryError, InvalidHeapParameterError, PossibleDeadlockError } from './heap-errors.js';
import * as journal from './heap-journal.js';
import * as layout from './heap-layout.js';
import type { HeapGeometry } from './heap-layout.js';
import * as recovery from './heap-recovery.js';
import * as threadCache from './heap-thread-cache.js';
import { testHooksOf, type HeapHookPoint } from '../test-hooks.js';

// Module-local copies of imported constants and helpers: under vitest's module
// runner each use of an imported binding is a getter call (see heap-blocks.ts).
const { beginIntent, endIntent, J, JournalOp, PHASE_COPIED, recordChange, setPhase } = journal;
const { BLOCK_HEADER, BUSY, CACHED, CLASS_COUNT, H, MIN_BLOCK, SIZE_MASK, SMALL_MAX_BLOCK, blockSizeFor, classOf } = layout;
const { poisonAbandonedHeap, poisonHeap } = recovery;
const { ThreadCache, existingThreadCache, forgetThreadCache, reclaimDeadCaches, threadCacheOf } = threadCache;
type ThreadCache = threadCache.ThreadCache;

/**
 * SharedHeapOptions.threadCache when not given: 16 blocks per size class. On
 * by default because it keeps the heap's guarantees (a dead thread's cached
 * blocks come back, an abandoned lock is still reported through a cached call)
 * and the cache is per thread and heap, not per handle, so a worker that
 * opens a handle per task reuses its earlier tasks' blocks (docs/heap.md,
 * "Thread cache").
 */
export const DEFAULT_THREAD_CACHE = 16;

/** Per-call flags, with the Win32 values. */
export const HeapFlags = {
  /** No flag. */
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

/** Options of one SharedHeap handle (per thread; nothing here is stored in shared memory). */
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
   * Blocks per size class (payloads up to 512 bytes) that freeing through
   * this handle keeps in the thread's cache of this heap (one per thread and
   * heap, shared by the thread's handles on it), handed out again without the
   * heap lock (like glibc's tcache or the Windows Low Fragmentation Heap).
   * When a class holds this many, half of them are freed under one lock hold;
   * and a thread never caches more than a sixteenth of the heap's block area.
   * Default DEFAULT_THREAD_CACHE (16), except on a heap written by a version
   * before heap identities (0 there, as it was, and a cache asked for there is
   * the handle's own); 0 means this handle neither keeps nor serves blocks,
   * though on a heap with identity its flushCache() and an allocation that
   * runs out still give back the thread's cached blocks. What it
   * keeps: a cached call does not take the lock but serves only while the
   * lock word is free (0); a held word, or one whose owner died, sends the
   * call through the lock, so ERROR_POSSIBLE_DEADLOCK is reported as with the
   * cache off. The price: cached blocks stay busy for every other thread until
   * flushCache(), a full class, an allocation of that thread that would run
   * out, or, once their thread is dead, recover() or any allocation that
   * would otherwise run out of memory (both give dead threads' blocks back).
   * A heap whose every operation must take the lock (to stop a thread inside
   * it, as the lab does) sets 0.
   */
  threadCache?: number;
  /** Options of the heap's RobustMutex handle (liveness interval, spin). */
  mutex?: MutexOptions;
}

/**
 * alloc/free/realloc/sizeOf of a SharedHeap, under its lock and journal
 * intents (SharedHeap extends this; not exported by the package on its own).
 */
export class HeapOperations {
  /** The shared memory the heap lives in. */
  readonly buffer: SharedArrayBuffer;
  /** Where the heap starts in the buffer. */
  readonly byteOffset: number;
  /** Total bytes of the heap (header, lock, bitmap and blocks). */
  readonly size: number;
  /** The heap's lock (a RobustMutex inside the heap header). */
  readonly mutex: RobustMutex;
  /** The last failure of this handle (GetLastError style; not cleared by a success). */
  lastError: HeapError | null = null;

  protected readonly h: Int32Array;
  protected readonly u8: Uint8Array;
  protected readonly blocks: HeapBlocks;
  protected readonly geometry: HeapGeometry;
  private readonly checked: boolean;
  private readonly throws: boolean;
  private readonly serialize: boolean;
  private readonly hook: ((point: HeapHookPoint) => void) | undefined;
  private commitPoint: HeapHookPoint = 'alloc:committed';
  protected readonly maxRequest: number;
  /**
   * This thread's cache of this heap, shared by its handles (a heap without
   * identity words: this handle's own). Null when this handle does not cache
   * (threadCache 0); its flushCache() and running out still give back the
   * thread's shared cache (existingSharedCache()).
   */
  protected readonly cache: ThreadCache | null;
  /** Blocks per class this handle lets the cache hold (SharedHeapOptions.threadCache; 0: it does not use it). */
  private readonly cacheLimit: number;
  /** The heap had no identity words when this handle attached (written before heap identities). */
  private readonly anonymous: boolean;
  /** The heap's identity words when this handle attached: a heap written anew since is not the one cached for. */
  private readonly identityHigh: number;
  private readonly identityLow: number;
  /** Bytes the cache may hold: a sixteenth of the block area, so one thread cannot starve the others. */
  private readonly cacheBytes: number;
  /** An intent of this handle is begun and not yet ended (see leave()). */
  private intentOpen = false;

  protected constructor(buffer: SharedArrayBuffer, byteOffset: number, geometry: HeapGeometry, options: SharedHeapOptions) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.size = geometry.size;
    this.geometry = geometry;
    this.h = new Int32Array(buffer, byteOffset, geometry.size >> 2);
    this.u8 = new Uint8Array(buffer, byteOffset, geometry.size);
    this.blocks = new HeapBlocks(this.h, geometry, options.checked ?? true);
    this.mutex = RobustMutex.at(buffer, byteOffset + geometry.mutexOffset, options.mutex ?? {});
    this.checked = options.checked ?? true;
    this.throws = options.generateExceptions ?? false;
    this.serialize = !(options.noSerialize ?? false);
    // Test-only (src/test-hooks.ts): called inside the heap lock at the named point
    // ("intent": the journal is written, nothing changed yet; "committed": the one
    // structural store is done, the derived lists are not yet updated).
    this.hook = testHooksOf(options).onInsideHeapLock;
    if (this.hook) {
      const hook = this.hook;
      this.blocks.onCommit = () => hook(this.commitPoint);
    }
    this.maxRequest = geometry.end - geometry.first - BLOCK_HEADER;
    this.identityHigh = this.h[H.identity]!;
    this.identityLow = this.h[H.identity + 1]!;
    // A heap written before identities: its handles cannot share a cache, and
    // a cache per handle strands a dropped handle's blocks, so it stays off
    // unless asked for, as it was then.
    const anonymous = this.identityHigh === 0 && this.identityLow === 0;
    const limit = options.threadCache ?? (anonymous ? 0 : DEFAULT_THREAD_CACHE);
    if (!Number.isInteger(limit) || limit < 0 || limit > 1 << 16) {
      throw new InvalidHeapParameterError(`threadCache must be an integer from 0 to 65536, got ${String(limit)}`);
    }
    // A handle that does not cache makes no cache: its flushes find the thread's, if there is one.
    this.cache = limit === 0 ? null : anonymous ? new ThreadCache() : threadCacheOf(this.identityHigh, this.identityLow);
    this.anonymous = anonymous;
    this.cacheLimit = limit;
    this.cacheBytes = (geometry.end - geometry.first) >> 4;
    this.lockWord = geometry.mutexOffset >> 2;
  }
  /** The heap lock's futex word, as an index into `h`. */
  private readonly lockWord: number;

  // ---- HeapAlloc / HeapFree / HeapReAlloc / HeapSize --------------------------

  /** Allocate `size` bytes; the payload's byte offset in the buffer, or 0 on failure (see lastError). */
  alloc(size: number, flags = 0): number {
    const cache = this.cache;
    if (cache !== null && size > 0 && size <= 512 && Number.isInteger(size) && this.cacheMayServe()) {
      const blockSize = blockSizeFor(size);
      const k = classOf(blockSize);
      if (cache.lists[k]!.length > 0) {
        const b = cache.take(this.h, this.u8, k, blockSize, size, (flags & HeapFlags.ZERO_MEMORY) !== 0);
        if (b !== 0) return this.byteOffset + b + BLOCK_HEADER;
      }
    }
    try {
      this.checkRequest(size);
      const blockSize = blockSizeFor(size);
      const locked = this.enter(flags);
      try {
        this.begin(JournalOp.ALLOC, size);
        this.commitPoint = 'alloc:committed';
        this.hook?.('alloc:intent');
        let b = this.blocks.allocate(blockSize, size, 'a');
        if (b === 0) {
          // Out of luck: give back this thread's cached blocks and dead
          // threads', join free neighbours, try once more (the flush ends
          // intents of its own: this one is begun again, open for the rest).
          if (this.flushOwnCacheLocked()) {
            this.begin(JournalOp.ALLOC, size);
            this.commitPoint = 'alloc:committed';
          }
          this.reclaimAndRebuild();
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

  /**
   * May a call be served from the thread cache, without the lock? Only when
   * the heap is not poisoned and the lock word is 0: free, no owner, so none
   * that died. A word that names an owner (alive, or dead and not yet seen)
   * or carries FUTEX_OWNER_DIED sends the call through the lock, which waits
   * or meets the abandonment and reports ERROR_POSSIBLE_DEADLOCK exactly as
   * with the cache off; a cached call stands where an uncontended locked call
   * would have found the word free. Plain loads: x86 orders them, and a stale
   * 0 is one that was true an instant earlier (a cached call touches only
   * this thread's own blocks).
   */
  private cacheMayServe(): boolean {
    const h = this.h;
    return h[this.lockWord] === 0 && h[H.poisoned] === 0 && this.sameIdentity();
  }

  /** The heap still carries the identity this handle attached to (not written anew since). */
  private sameIdentity(): boolean {
    const h = this.h;
    return h[H.identity] === this.identityHigh && h[H.identity + 1] === this.identityLow;
  }

  /** Free a block; false on failure (see lastError). */
  free(offset: number, flags = 0): boolean {
    const cache = this.cache;
    // A lock whose owner died: the locked path below takes it and reports ERROR_POSSIBLE_DEADLOCK.
    if (cache !== null && this.cacheMayServe()) {
      try {
        if (this.freeIntoCache(cache, offset, flags)) return true;
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
   * Keep a freed small block in the thread's cache; false when it is not one
   * to keep, for the locked path to free (or to report).
   */
  private freeIntoCache(cache: ThreadCache, offset: number, flags: number): boolean {
    let b: number;
    try {
      // Unlocked checks are sound here: only this block's owner may change its
      // size word or its bitmap bit while it is busy (others only read them).
      // Only a rebuild (another thread's recover() or out-of-memory retry)
      // rewrites the bitmap, and may make a good offset look bad for an
      // instant: the locked path checks again.
      b = this.blockOf(offset);
    } catch (error) {
      if (error instanceof HeapError) return false;
      throw error;
    }
    const word = this.blocks.sizeFlags(b);
    const blockSize = word & SIZE_MASK;
    // Only a plainly busy block of a small size that fits the heap is cached;
    // any other size word (overwritten: a stray flag, a size no block has)
    // goes through the lock, which reports the corruption and poisons the
    // heap as it does with the cache off.
    if (
      (word & 15) !== BUSY ||
      blockSize < MIN_BLOCK ||
      blockSize > SMALL_MAX_BLOCK ||
      blockSize > this.geometry.end - b ||
      cache.bytes + blockSize > this.cacheBytes
    ) {
      return false;
    }
    const k = classOf(blockSize);
    const list = cache.lists[k]!;
    if (list.length >= this.cacheLimit) this.flushCached(cache, k, list.length - (this.cacheLimit >> 1), flags);
    cache.keep(this.h, list, b, word, blockSize);
    return true;
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
        let grown = this.blocks.resizeInPlace(b, blockSize, size);
        if (!grown && this.freeCachedNeighbourLocked(b)) {
          // With the cache off that neighbour would have been free: grow into it.
          this.begin(JournalOp.REALLOC_IN_PLACE, size);
          h[J.oldRequested] = oldRequested;
          this.commitPoint = 'realloc:committed';
          grown = this.blocks.resizeInPlace(b, blockSize, size);
        }
        if (grown) {
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
          // As in alloc(): the thread's and dead threads' cached blocks first.
          if (this.flushOwnCacheLocked()) {
            this.begin(JournalOp.REALLOC_MOVE, size);
            this.commitPoint = 'realloc:allocated';
          }
          this.reclaimAndRebuild();
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

  /**
   * Return every block of this thread's cache of this heap (shared by the
   * thread's handles on it) to the heap, under one lock hold. False on failure
   * (see lastError).
   */
  flushCache(flags = 0): boolean {
    const cache = this.cache ?? this.existingSharedCache();
    if (cache === null || cache.count === 0) return true;
    try {
      const locked = this.enter(flags);
      try {
        this.flushOwnCacheLocked();
      } finally {
        this.leave(locked);
      }
      return true;
    } catch (error) {
      return this.failed(error, flags, false);
    }
  }

  // ---- internals ------------------------------------------------------------------

  /** Free the oldest `count` blocks of cache class `k` under one lock hold. */
  private flushCached(cache: ThreadCache, k: number, count: number, flags: number): void {
    const locked = this.enter(flags);
    try {
      this.freeCachedLocked(cache, k, count);
    } finally {
      this.leave(locked);
    }
  }

  /**
   * The lock is held: free every block of the thread's cache of this heap.
   * False when there was nothing to free, or the heap was written anew since
   * this handle attached (its cached blocks went with the old heap).
   */
  private flushOwnCacheLocked(): boolean {
    const cache = this.cache ?? this.existingSharedCache();
    if (cache === null || cache.count === 0) return false;
    if (!this.sameIdentity()) {
      // The heap this cache was for is gone from here: its blocks went with it.
      if (!this.anonymous) forgetThreadCache(this.identityHigh, this.identityLow);
      cache.clear();
      return false;
    }
    for (let k = 0; k < CLASS_COUNT; k++) this.freeCachedLocked(cache, k, cache.lists[k]!.length);
    return true;
  }

  /** The thread's shared cache of this heap, if one of its handles made it. */
  protected existingSharedCache(): ThreadCache | null {
    return this.anonymous ? null : (existingThreadCache(this.identityHigh, this.identityLow) ?? null);
  }

  private freeCachedLocked(cache: ThreadCache, k: number, count: number): void {
    const list = cache.lists[k]!;
    const blockSize = (k + 2) << 4;
    for (let i = 0; i < count && list.length > 0; i++) {
      // Off the list and out of the counts before its free begins: once the
      // intent is written the free rolls forward whatever happens, and an
      // exception leaves the blocks not yet begun listed and counted.
      const b = list.shift()!;
      cache.forget(blockSize);
      // A byte copy of the heap shares its identity: free only what this thread cached here.
      if (cache.isMine(this.h, b, blockSize)) this.freeLocked(b, false);
    }
  }

  /**
   * The lock is held: if the block after `b` is one this thread cached, free
   * it (a grow in place then finds it free, as with the cache off). True when
   * it was freed (its free ended the caller's intent).
   */
  private freeCachedNeighbourLocked(b: number): boolean {
    const cache = this.cache ?? this.existingSharedCache();
    if (cache === null || cache.count === 0 || !this.sameIdentity()) return false;
    const next = b + (this.blocks.sizeFlags(b) & SIZE_MASK);
    if (next <= b || next >= this.geometry.end) return false;
    const nextSize = this.h[next >> 2]! & SIZE_MASK;
    if (nextSize < MIN_BLOCK || nextSize > SMALL_MAX_BLOCK || !cache.isMine(this.h, next, nextSize)) return false;
    const list = cache.lists[classOf(nextSize)]!;
    const i = list.indexOf(next);
    if (i < 0) return false;
    list.splice(i, 1);
    cache.forget(nextSize);
    this.freeLocked(next, false);
    return true;
  }

  /** Out of memory, the lock held and an intent open: dead threads' cached blocks come back (recover() does the same), free neighbours join. */
  private reclaimAndRebuild(): void {
    reclaimDeadCaches(this.h, this.geometry);
    this.blocks.rebuild(true);
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
  protected leave(locked: boolean): void {
    if (this.intentOpen) {
      this.intentOpen = false;
      poisonHeap(this.h);
    }
    if (locked) this.mutex.release();
  }

  /** Take the heap lock (unless NO_SERIALIZE); true when it was taken. Throws PossibleDeadlockError. */
  protected enter(flags: number): boolean {
    const h = this.h;
    if (Atomics.load(h, H.poisoned) !== 0) throw new PossibleDeadlockError();
    if (!this.serialize || (flags & HeapFlags.NO_SERIALIZE) !== 0) return false;
    const lock = this.mutex.acquire();
    if (!lock.owned) throw new PossibleDeadlockError(`the heap lock is ${lock.status}`);
    if (lock.abandoned) poisonAbandonedHeap(h, this.mutex, lock.previousOwner);
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

  /** Report a HeapError the Win32 way (lastError + failure value) or throw it (GENERATE_EXCEPTIONS); rethrow anything else. */
  protected failed<T>(error: unknown, flags: number, failureValue: T): T {
    if (!(error instanceof HeapError)) throw error;
    this.lastError = error;
    if (this.throws || (flags & HeapFlags.GENERATE_EXCEPTIONS) !== 0) throw error;
    return failureValue;
  }
}
