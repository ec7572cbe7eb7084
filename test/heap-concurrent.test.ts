// Worker threads and a child process use one heap in a mapped file at the
// same time, through the heap lock (and, in the second case, through thread
// caches as well): no block is ever handed to two participants (every
// participant checks every byte of its blocks before freeing them), no
// operation fails, and the heap validates afterwards with exactly the blocks
// the participants still hold.
import { describe, expect, it } from 'vitest';
import type { EventEmitter } from 'node:events';
import { openRegion } from '../src/shm/region.js';
import { SharedHeap } from '../src/heap/shared-heap.js';
import { useResources } from './helpers/resources.js';
import type { MixerData, MixerReport } from './fixtures/heap-mixer.js';

const mixerUrl = new URL('./fixtures/heap-mixer.ts', import.meta.url);

function next<T>(source: EventEmitter, match: (m: unknown) => boolean): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!match(m)) return;
      source.off('message', onMessage);
      resolve(m as T);
    };
    source.on('message', onMessage);
    source.once('exit', (code) => reject(new Error(`participant exited (${String(code)}) before reporting`)));
    source.once('error', reject);
  });
}

describe('SharedHeap shared by worker threads and a child process at once', () => {
  const resources = useResources();

  it.each([0, 8])('thread cache %i: no block handed out twice, nothing fails, heap valid', { timeout: 60_000 }, async (threadCache) => {
    const path = resources.path('heap-concurrent');
    const region = await openRegion(path, { size: 2 * 1024 * 1024, create: true });
    try {
      const heap = SharedHeap.open(region, 'heap', 1024 * 1024);
      const { offset: goOffset } = region.findOrCreate('go', 64);
      const go = new Int32Array(region.buffer, goOffset, 1);
      const base = { heapOffset: heap.byteOffset, goOffset, iterations: 20_000, threadCache };
      const participants: EventEmitter[] = [
        resources.worker(mixerUrl, { ...base, buffer: region.buffer, id: 0 } satisfies MixerData),
        resources.worker(mixerUrl, { ...base, buffer: region.buffer, id: 1 } satisfies MixerData),
        resources.fork(mixerUrl, [JSON.stringify({ ...base, path, id: 2 } satisfies MixerData)]),
      ];
      await Promise.all(participants.map((p) => next(p, (m) => m === 'ready')));
      const reports = participants.map((p) => next<MixerReport>(p, (m) => typeof m === 'object' && m !== null && 'mismatches' in m));
      // The child process sleeps on `go` with Atomics.wait slices: a plain store is seen within 5 ms.
      Atomics.store(go, 0, 1);
      Atomics.notify(go, 0);
      const results = await Promise.all(reports);
      expect(results.map((r) => r.mismatches)).toEqual([0, 0, 0]);
      expect(results.map((r) => r.failures)).toEqual([0, 0, 0]);
      expect(heap.validate().problems).toEqual([]);
      expect(heap.stats().busyBlocks).toBe(results.reduce((n, r) => n + r.live, 0));
      expect(heap.mutex.acquisitions).toBeGreaterThan(threadCache === 0 ? 3 * 20_000 : 0);
    } finally {
      region.close();
    }
  });
});
