// The thread cache (SharedHeapOptions.threadCache): per size class, the small
// blocks a thread freed and keeps for itself, handed out again without the
// heap lock (like glibc's tcache or the Windows Low Fragmentation Heap).
//
// One cache per thread and heap, shared by all of that thread's handles on the
// heap: a piscina worker that opens a new handle per task must find the blocks
// its earlier tasks cached, or every dropped handle strands them (they stay
// busy while the thread lives). Module state is per thread (every worker has
// its own module instances), so a Map keyed by the heap's identity words
// (written by initialize()) is exactly "this thread's cache of this heap",
// whichever mapping or byte offset a handle sees the heap through: cached
// blocks are heap-relative.
//
// A cached block stays BUSY in the chain, so no other thread can take it; its
// size word also carries CACHED, and the words a free block would use for its
// list links hold the owning thread's identity (tid in B.next, start time in
// B.prev). That identity is what lets recover() give back the blocks of a
// thread that died with a full cache (reclaimDeadCaches): the cache itself
// lives in that thread's JavaScript heap and died with it.
//
// Freeing cached blocks back to the heap needs the heap lock and the journal:
// HeapOperations does that (flushCache, a full class in free(), an allocation
// that would run out), oldest blocks first.
import { currentThreadIdentity, ownerLiveness } from '../locks/owner.js';
import * as layout from './heap-layout.js';
import type { HeapGeometry } from './heap-layout.js';

// Module-local copies: under vitest's module runner each use of an imported
// binding is a getter call (see heap-blocks.ts).
const { B, BLOCK_HEADER, BUSY, CACHED, CLASS_COUNT, MIN_BLOCK, SIZE_MASK, badFlags } = layout;
const threadIdentity = currentThreadIdentity;

export class ThreadCache {
  /** Per size class, the heap-relative blocks this thread freed and keeps, oldest first. */
  readonly lists: number[][] = Array.from({ length: CLASS_COUNT }, () => []);
  /** Blocks held over all classes (busy for everyone else). */
  count = 0;
  /** Bytes held over all classes, block headers included (counted by class, never read from the heap). */
  bytes = 0;

  /**
   * Take the newest block of class `k` (`blockSize` bytes) for `size` payload
   * bytes and mark it plainly busy; the heap-relative block, or 0 when that
   * entry was not this thread's cached block in this heap (then it is
   * dropped). Only a byte copy of the heap, which shares its identity, can
   * make an entry foreign: handing it out would give away a block the copy
   * holds for someone else.
   */
  take(h: Int32Array, u8: Uint8Array, k: number, blockSize: number, size: number, zero: boolean): number {
    const b = this.lists[k]!.pop()!;
    this.forget(blockSize);
    if (!this.isMine(h, b, blockSize)) return 0;
    const w = b >> 2;
    h[w + B.requested] = size;
    Atomics.store(h, w, blockSize | BUSY);
    if (zero) u8.fill(0, b + BLOCK_HEADER, b + BLOCK_HEADER + size);
    return b;
  }

  /**
   * Keep the busy block `b` (size word `word`, `blockSize` bytes) in `list`
   * instead of freeing it; the caller made room. The owner's identity goes
   * into the block first, the CACHED flag last, so whoever sees the flag also
   * sees whose it is.
   */
  keep(h: Int32Array, list: number[], b: number, word: number, blockSize: number): void {
    const me = threadIdentity();
    const w = b >> 2;
    h[w + B.next] = me.tid;
    h[w + B.prev] = me.startTime;
    Atomics.store(h, w, word | CACHED);
    list.push(b);
    this.count++;
    this.bytes += blockSize;
  }

  /** Is `b` a block of `blockSize` bytes that this thread cached (BUSY|CACHED, its identity inside)? */
  isMine(h: Int32Array, b: number, blockSize: number): boolean {
    const w = b >> 2;
    const me = threadIdentity();
    return h[w] === (blockSize | BUSY | CACHED) && h[w + B.next] === me.tid && h[w + B.prev] === (me.startTime | 0);
  }

  /** One block of `blockSize` bytes left the lists. */
  forget(blockSize: number): void {
    this.count--;
    this.bytes -= blockSize;
  }

  /** Drop every entry (the heap they were for is gone). */
  clear(): void {
    for (const list of this.lists) list.length = 0;
    this.count = 0;
    this.bytes = 0;
  }
}

/**
 * This thread's caches, by heap identity (see the top of this file). An entry
 * (about 1.7 KB) stays for the thread's life once one of its caching handles
 * attaches to that heap, unless a flush finds the heap written anew.
 */
const threadCaches = new Map<string, ThreadCache>();

/** This thread's cache of the heap with identity (`high`, `low`), if one of its handles made it. */
export function existingThreadCache(high: number, low: number): ThreadCache | undefined {
  return threadCaches.get(`${high}:${low}`);
}

/** Forget this thread's cache of a heap that is gone (written anew where it was). */
export function forgetThreadCache(high: number, low: number): void {
  threadCaches.delete(`${high}:${low}`);
}

/**
 * This thread's cache of the heap with identity words (`high`, `low`), shared
 * with the thread's other handles on it. (A heap written before identities,
 * (0, 0), has none: its handles make their own ThreadCache.)
 */
export function threadCacheOf(high: number, low: number): ThreadCache {
  const key = `${high}:${low}`;
  let cache = threadCaches.get(key);
  if (cache === undefined) {
    cache = new ThreadCache();
    threadCaches.set(key, cache);
  }
  return cache;
}

/** recover(): cached blocks whose thread is dead go back to the heap (their size word loses BUSY|CACHED). */
export function reclaimDeadCaches(h: Int32Array, geometry: HeapGeometry): number {
  const { first, end } = geometry;
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
