// The heap's thread cache is one per thread and heap, shared by the thread's
// handles on that heap: a new handle per task (the piscina pattern) finds what
// earlier tasks cached instead of stranding it, handles on two mappings of one
// heap file share it, a heap written anew at the same place or a byte copy of
// one is never served from the other's cache, a handle with the cache off still
// flushes the thread's, a heap from before identities keeps it off, a flush cut
// short keeps its counts, a realloc that runs out gives cached blocks back, and
// one thread never caches more than a sixteenth of the block area. (A dead
// thread's cached blocks coming back, and
// ERROR_POSSIBLE_DEADLOCK through the cache, are in heap-death.test.ts.)
import { describe, expect, it } from 'vitest';
import { openRegion } from '../src/shm/region.js';
import { DEFAULT_THREAD_CACHE, HeapFlags, SharedHeap } from '../src/heap/shared-heap.js';
import { useResources } from './helpers/resources.js';

const resources = useResources();

/** Class index of a block size (heap-layout.ts classOf). */
function classOfBlock(blockSize: number): number {
  return (blockSize >> 4) - 2;
}

function cachedBytes(heap: SharedHeap): number {
  return heap.walk().filter((e) => e.state === 'cached').reduce((sum, e) => sum + e.capacity + 16, 0);
}

describe('SharedHeap thread cache, one per thread and heap', () => {
  it('is on by default: a handle with no options frees and allocates a small block without the lock', () => {
    expect(DEFAULT_THREAD_CACHE).toBeGreaterThan(0);
    const heap = SharedHeap.initialize(new SharedArrayBuffer(64 * 1024), 0, 64 * 1024);
    const o = heap.alloc(100);
    const acquisitions = heap.mutex.acquisitions;
    expect(heap.free(o)).toBe(true);
    expect(heap.alloc(100)).toBe(o);
    expect(heap.mutex.acquisitions).toBe(acquisitions);
  });

  it('a new handle per task reuses what earlier tasks cached: 1,000 tasks on a 32 KiB heap never run it dry', { timeout: 30_000 }, () => {
    const sab = new SharedArrayBuffer(32 * 1024);
    SharedHeap.initialize(sab, 0, 32 * 1024);
    for (let task = 0; task < 1000; task++) {
      // Each task attaches anew and drops its handle, as a piscina task does.
      const heap = SharedHeap.at(sab, 0, { threadCache: 16 });
      const blocks: number[] = [];
      for (let i = 0; i < 8; i++) {
        const o = heap.alloc(64);
        if (o === 0) throw new Error(`task ${task}: alloc failed (${heap.lastError?.code}: ${heap.lastError?.message})`);
        blocks.push(o);
      }
      for (const o of blocks) expect(heap.free(o)).toBe(true);
    }
    const last = SharedHeap.at(sab, 0, { threadCache: 16 });
    // Eight blocks of one class cached in all, not eight per dropped handle.
    expect(last.walk().filter((e) => e.state === 'cached')).toHaveLength(8);
    expect(last.flushCache()).toBe(true);
    expect(last.stats().busyBlocks).toBe(0);
    expect(last.validate().problems).toEqual([]);
  });

  it('handles on two mappings of one heap file share the cache: a block freed through one is handed out by the other, lock untouched', { timeout: 10_000 }, async () => {
    const path = resources.path('heap-cache-mappings');
    const first = await openRegion(path, { size: 256 * 1024, create: true });
    const second = await openRegion(path);
    try {
      expect(second.buffer).not.toBe(first.buffer);
      const a = SharedHeap.open(first, 'heap', 64 * 1024, { threadCache: 16 });
      const b = SharedHeap.open(second, 'heap', 64 * 1024, { threadCache: 16 });
      const o = a.alloc(100);
      expect(a.free(o)).toBe(true);
      const acquisitions = b.mutex.acquisitions;
      const again = b.alloc(100);
      expect(again - b.byteOffset).toBe(o - a.byteOffset);
      expect(b.mutex.acquisitions).toBe(acquisitions);
      expect(b.sizeOf(again)).toBe(100);
      expect(b.walk().filter((e) => e.state === 'cached')).toEqual([]);
    } finally {
      second.close();
      first.close();
    }
  });

  it('a heap written anew where one stood is never served from the old heap\'s cache, by a new handle or an old one', { timeout: 10_000 }, () => {
    const sab = new SharedArrayBuffer(64 * 1024);
    const old = SharedHeap.initialize(sab, 0, 64 * 1024, { threadCache: 16 });
    const cachedOffset = old.alloc(100);
    old.free(cachedOffset);
    expect(old.walk().filter((e) => e.state === 'cached')).toHaveLength(1);
    const fresh = SharedHeap.initialize(sab, 0, 64 * 1024, { threadCache: 16 });
    let acquisitions = fresh.mutex.acquisitions;
    const o = fresh.alloc(100);
    // Through the lock: the old heap's cached block is not this heap's.
    expect(fresh.mutex.acquisitions).toBe(acquisitions + 1);
    // The handle from before the new heap: through the lock too, and what it gets is the new heap's.
    acquisitions = fresh.mutex.acquisitions;
    const fromOld = old.alloc(100);
    expect(fresh.mutex.acquisitions).toBe(acquisitions + 1);
    expect(fresh.walk().filter((e) => e.state === 'busy').map((e) => e.offset).sort()).toEqual([o, fromOld].sort());
    // Its flush frees nothing of the old heap into this one.
    expect(old.flushCache()).toBe(true);
    expect(fresh.stats().busyBlocks).toBe(2);
    const others: number[] = [];
    for (let x = fresh.alloc(100); x !== 0; x = fresh.alloc(100)) others.push(x);
    expect(others).not.toContain(o);
    expect(others).not.toContain(fromOld);
    expect(fresh.validate().problems).toEqual([]);
  });

  it('a byte copy of a heap shares its identity, yet never hands out what the original cached', { timeout: 10_000 }, () => {
    const original = SharedHeap.initialize(new SharedArrayBuffer(64 * 1024), 0, 64 * 1024);
    const theirs = original.alloc(100);
    const copyBuffer = new SharedArrayBuffer(64 * 1024);
    new Uint8Array(copyBuffer).set(new Uint8Array(original.buffer));
    const copy = SharedHeap.at(copyBuffer, 0);
    // In the copy, `theirs` is a live block of the copy's user; in the original it is freed and cached.
    expect(original.free(theirs)).toBe(true);
    expect(original.walk().find((e) => e.offset === theirs)?.state).toBe('cached');
    const handedOut: number[] = [];
    for (let x = copy.alloc(100); x !== 0; x = copy.alloc(100)) handedOut.push(x);
    expect(handedOut).not.toContain(theirs);
    expect(copy.sizeOf(theirs)).toBe(100);
    // Its flush frees nothing of the original's into the copy either.
    const busy = copy.stats().busyBlocks;
    original.free(original.alloc(100));
    expect(copy.flushCache()).toBe(true);
    expect(copy.stats().busyBlocks).toBe(busy);
    expect(copy.validate().problems).toEqual([]);
  });

  it('a handle with threadCache 0 keeps nothing, but flushCache() and running out give back its thread\'s cached blocks', { timeout: 10_000 }, () => {
    const sab = new SharedArrayBuffer(32 * 1024);
    const cached = SharedHeap.initialize(sab, 0, 32 * 1024, { threadCache: 16 });
    const plain = SharedHeap.at(sab, 0, { threadCache: 0 });
    const blocks = Array.from({ length: 12 }, () => cached.alloc(64));
    const acquisitions = plain.mutex.acquisitions;
    expect(plain.free(plain.alloc(64))).toBe(true);
    expect(plain.mutex.acquisitions).toBe(acquisitions + 2);
    for (const o of blocks) cached.free(o);
    expect(plain.cachedBlocks).toBe(12);
    expect(plain.flushCache()).toBe(true);
    expect(plain.walk().filter((e) => e.state === 'cached')).toEqual([]);
    for (const o of Array.from({ length: 12 }, () => cached.alloc(64))) cached.free(o);
    // The heap filled through the plain handle uses up the thread's cached blocks too.
    const filled: number[] = [];
    for (let o = plain.alloc(64); o !== 0; o = plain.alloc(64)) filled.push(o);
    expect(plain.walk().filter((e) => e.state === 'cached')).toEqual([]);
    expect(filled.length).toBe(plain.stats().busyBlocks);
  });

  it('a heap written before heaps had identities keeps the cache off by default, and a handle per task still never runs it dry', { timeout: 30_000 }, () => {
    const sab = new SharedArrayBuffer(32 * 1024);
    const h = new Int32Array(sab);
    SharedHeap.initialize(sab, 0, 32 * 1024);
    h[18] = 0; // the identity words, as an earlier version left them
    h[19] = 0;
    for (let task = 0; task < 1000; task++) {
      const heap = SharedHeap.at(sab, 0);
      const blocks = Array.from({ length: 8 }, () => heap.alloc(64));
      if (blocks.includes(0)) throw new Error(`task ${task}: alloc failed (${heap.lastError?.code})`);
      for (const o of blocks) expect(heap.free(o)).toBe(true);
    }
    expect(SharedHeap.at(sab, 0).stats().busyBlocks).toBe(0);
    // Asked for, the cache works there as it did: one per handle.
    const asked = SharedHeap.at(sab, 0, { threadCache: 16 });
    asked.free(asked.alloc(64));
    expect(asked.cachedBlocks).toBe(1);
    expect(SharedHeap.at(sab, 0, { threadCache: 16 }).cachedBlocks).toBe(0);
    expect(asked.flushCache()).toBe(true);
    expect(asked.stats().busyBlocks).toBe(0);
  });

  it('a flush cut short by corruption keeps the cache\'s counts true: recover(), then the rest is flushed', { timeout: 10_000 }, () => {
    const sab = new SharedArrayBuffer(64 * 1024);
    const heap = SharedHeap.initialize(sab, 0, 64 * 1024);
    const blocks = Array.from({ length: 6 }, () => heap.alloc(100));
    for (const o of blocks) heap.free(o);
    expect(heap.cachedBlocks).toBe(6);
    // Someone scribbles the head of the class those blocks go back to: the first free meets it.
    new Int32Array(sab)[20 + classOfBlock(128)] = 64;
    expect(heap.flushCache()).toBe(false);
    expect(heap.lastError?.code).toBe('STATUS_HEAP_CORRUPTION');
    expect(heap.recover().validation.valid).toBe(true);
    // The block whose free had begun was rolled forward; every other one is still counted and cached.
    const cachedInHeap = heap.walk().filter((e) => e.state === 'cached').length;
    expect(heap.cachedBlocks).toBe(cachedInHeap);
    expect(cachedInHeap).toBe(5);
    expect(heap.flushCache()).toBe(true);
    expect(heap.cachedBlocks).toBe(0);
    expect(heap.stats().busyBlocks).toBe(0);
  });

  it('a realloc in place grows into a neighbour its thread cached, as it would into a free one with the cache off', { timeout: 10_000 }, () => {
    for (const threadCache of [0, 16]) {
      const heap = SharedHeap.initialize(new SharedArrayBuffer(64 * 1024), 0, 64 * 1024, { threadCache });
      // Blocks are carved from the top down: the one allocated first is the neighbour after `a`.
      const neighbour = heap.alloc(64);
      const a = heap.alloc(64);
      expect(neighbour - a).toBe(80);
      heap.free(neighbour);
      expect(heap.cachedBlocks).toBe(threadCache === 0 ? 0 : 1);
      expect(heap.realloc(a, 100, HeapFlags.REALLOC_IN_PLACE_ONLY), `threadCache ${threadCache}: ${heap.lastError?.message}`).toBe(a);
      expect(heap.sizeOf(a)).toBe(100);
      expect(heap.cachedBlocks).toBe(0);
      expect(heap.validate().problems).toEqual([]);
    }
  });

  it('a handle from before the heap was written anew drops its thread\'s cache of the old heap at its next flush', { timeout: 10_000 }, () => {
    const sab = new SharedArrayBuffer(64 * 1024);
    const old = SharedHeap.initialize(sab, 0, 64 * 1024);
    old.free(old.alloc(100));
    expect(old.cachedBlocks).toBe(1);
    const fresh = SharedHeap.initialize(sab, 0, 64 * 1024);
    expect(old.flushCache()).toBe(true);
    expect(old.cachedBlocks).toBe(0);
    expect(fresh.stats().busyBlocks).toBe(0);
    expect(fresh.validate().problems).toEqual([]);
  });

  it('a realloc that must move and finds no room first gives back its thread\'s cached blocks', { timeout: 10_000 }, () => {
    const heap = SharedHeap.initialize(new SharedArrayBuffer(32 * 1024), 0, 32 * 1024);
    const mine: number[] = [];
    for (let o = heap.alloc(64); o !== 0; o = heap.alloc(64)) mine.push(o);
    mine.sort((a, b) => a - b);
    for (const o of mine.splice(10, 8)) heap.free(o); // eight neighbours, all cached
    expect(heap.cachedBlocks).toBe(8);
    const moved = heap.realloc(mine[0]!, 300);
    expect(moved, heap.lastError?.message).not.toBe(0);
    expect(heap.sizeOf(moved)).toBe(300);
    expect(heap.validate().problems).toEqual([]);
  });

  it('one thread caches at most a sixteenth of the block area, whatever the per-class limit', { timeout: 10_000 }, () => {
    const sab = new SharedArrayBuffer(64 * 1024);
    const heap = SharedHeap.initialize(sab, 0, 64 * 1024, { threadCache: 65_536 });
    const area = heap.stats().capacity;
    const blocks: number[] = [];
    for (let o = heap.alloc(500); o !== 0; o = heap.alloc(500)) blocks.push(o);
    expect(blocks.length).toBeGreaterThan(64);
    for (const o of blocks) expect(heap.free(o)).toBe(true);
    const cached = cachedBytes(heap);
    expect(cached).toBeGreaterThan(0);
    expect(cached).toBeLessThanOrEqual(area / 16);
    expect(heap.stats().busyBlocks).toBe(heap.walk().filter((e) => e.state === 'cached').length);
    expect(heap.flushCache()).toBe(true);
    expect(heap.stats().busyBlocks).toBe(0);
  });
});
