// The heap's thread cache is one per thread and heap, shared by the thread's
// handles on that heap: a new handle per task (the piscina pattern) finds what
// earlier tasks cached instead of stranding it, handles on two mappings of one
// heap file share it, a heap written anew at the same place is never served
// from the old heap's cache, and one thread never caches more than a sixteenth
// of the block area. (A dead thread's cached blocks coming back, and
// ERROR_POSSIBLE_DEADLOCK through the cache, are in heap-death.test.ts.)
import { describe, expect, it } from 'vitest';
import { openRegion } from '../src/shm/region.js';
import { DEFAULT_THREAD_CACHE, SharedHeap } from '../src/heap/shared-heap.js';
import { useResources } from './helpers/resources.js';

const resources = useResources();

function cachedBytes(heap: SharedHeap): number {
  return heap.walk().filter((e) => e.state === 'cached').reduce((sum, e) => sum + e.capacity + 16, 0);
}

describe('SharedHeap thread cache, one per thread and heap', () => {
  it('is on by default', () => {
    expect(DEFAULT_THREAD_CACHE).toBeGreaterThan(0);
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

  it('a heap written anew where one stood is never served from the old heap\'s cache', { timeout: 10_000 }, () => {
    const sab = new SharedArrayBuffer(64 * 1024);
    const old = SharedHeap.initialize(sab, 0, 64 * 1024, { threadCache: 16 });
    old.free(old.alloc(100));
    expect(old.walk().filter((e) => e.state === 'cached')).toHaveLength(1);
    const fresh = SharedHeap.initialize(sab, 0, 64 * 1024, { threadCache: 16 });
    const acquisitions = fresh.mutex.acquisitions;
    const o = fresh.alloc(100);
    // Through the lock: the old heap's cached block is not this heap's.
    expect(fresh.mutex.acquisitions).toBe(acquisitions + 1);
    expect(fresh.stats().busyBlocks).toBe(1);
    expect(fresh.free(o)).toBe(true);
    expect(fresh.validate().problems).toEqual([]);
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
