// The thread cache (SharedHeapOptions.threadCache): per size class, the small
// blocks one handle's thread freed and keeps for itself, handed out again
// without the heap lock (like glibc's tcache or the Windows Low Fragmentation
// Heap).
//
// A cached block stays BUSY in the chain, so no other thread can take it; its
// size word also carries CACHED, and the words a free block would use for its
// list links hold the owning thread's identity (tid in B.next, start time in
// B.prev). That identity is what lets recover() give back the blocks of a
// thread that died with a full cache (reclaimDeadCaches): the cache itself
// lives in that thread's JavaScript heap and died with it.
//
// Freeing cached blocks back to the heap needs the heap lock and the journal:
// HeapOperations does that (flushCache, and a full class in free()), taking
// the oldest blocks with oldest().
import { currentThreadIdentity, ownerLiveness } from '../locks/owner.js';
import * as layout from './heap-layout.js';
import type { HeapGeometry } from './heap-layout.js';

// Module-local copies: under vitest's module runner each use of an imported
// binding is a getter call (see heap-blocks.ts).
const { B, BLOCK_HEADER, BUSY, CACHED, CLASS_COUNT, MIN_BLOCK, SIZE_MASK, badFlags } = layout;
const threadIdentity = currentThreadIdentity;

export class ThreadCache {
  /** Per size class, the heap-relative blocks this handle's thread freed and keeps, oldest first. */
  readonly lists: number[][];
  /** Blocks per class; a full class is half flushed before it takes one more. */
  readonly limit: number;
  /** Blocks held over all classes (busy for everyone else). */
  count = 0;
  private readonly h: Int32Array;
  private readonly u8: Uint8Array;
  private readonly byteOffset: number;

  constructor(h: Int32Array, u8: Uint8Array, byteOffset: number, limit: number) {
    this.h = h;
    this.u8 = u8;
    this.byteOffset = byteOffset;
    this.limit = limit;
    this.lists = Array.from({ length: CLASS_COUNT }, () => []);
  }

  /** Hand out the newest block of `list` for `size` payload bytes; the payload's byte offset in the buffer. */
  take(list: number[], size: number, zero: boolean): number {
    const b = list.pop()!;
    this.count--;
    const w = b >> 2;
    this.h[w + B.requested] = size;
    Atomics.store(this.h, w, this.h[w]! & ~CACHED);
    if (zero) this.u8.fill(0, b + BLOCK_HEADER, b + BLOCK_HEADER + size);
    return this.byteOffset + b + BLOCK_HEADER;
  }

  /**
   * Keep the busy block `b` (size word `word`) in `list` instead of freeing
   * it; the caller made room. The owner's identity goes into the block first,
   * the CACHED flag last, so whoever sees the flag also sees whose it is.
   */
  keep(list: number[], b: number, word: number): void {
    const me = threadIdentity();
    const w = b >> 2;
    this.h[w + B.next] = me.tid;
    this.h[w + B.prev] = me.startTime;
    Atomics.store(this.h, w, word | CACHED);
    list.push(b);
    this.count++;
  }

  /**
   * Remove and return the oldest `count` blocks of `list`. The caller frees
   * them under the heap lock and lowers `count` as each one is freed.
   */
  oldest(list: number[], count: number): number[] {
    return list.splice(0, count);
  }
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
