// Misuse of the heap, as the HeapFree reference page lists it: in the default
// checked mode every bad call fails with a clear Win32 code and leaves the
// heap intact; in unchecked mode a double free makes two allocations return
// the same block; NO_SERIALIZE from several workers at once corrupts the heap
// and validate() names the damage.
import { describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { HeapFlags, SharedHeap } from '../src/heap/shared-heap.js';
import { HeapError, HeapNotEnoughMemoryError, InvalidHeapParameterError } from '../src/heap/heap-errors.js';
import { useResources } from './helpers/resources.js';
import type { HammerData } from '../demos/lib/heap-hammer.js';

const HEAP_AT = 256;
const hammerUrl = new URL('../demos/lib/heap-hammer.ts', import.meta.url);
const HEAP_BYTES = 64 * 1024;

function freshHeap(options: Parameters<typeof SharedHeap.initialize>[3] = {}) {
  const sab = new SharedArrayBuffer(HEAP_AT + HEAP_BYTES + 256);
  const heap = SharedHeap.initialize(sab, HEAP_AT, HEAP_BYTES, options);
  const bytes = new Uint8Array(sab);
  const a = heap.alloc(100, HeapFlags.GENERATE_EXCEPTIONS);
  const b = heap.alloc(1000, HeapFlags.GENERATE_EXCEPTIONS);
  const c = heap.alloc(40, HeapFlags.GENERATE_EXCEPTIONS);
  bytes.fill(0xaa, a, a + 100);
  bytes.fill(0xbb, b, b + 1000);
  bytes.fill(0xcc, c, c + 40);
  return { sab, heap, bytes, a, b, c };
}

// Bookkeeping that a failed call may touch: the intent journal (heap bytes
// 208..256: an intent begun and ended, its sequence counted) and the heap's
// RobustMutex (256..384, which counts its acquisitions). Nothing else may change.
const MUTEX_FROM = 208;
const MUTEX_TO = 256 + 128;

/** The heap is byte-for-byte what it was (its lock's counters aside), and it validates. */
function expectUntouched(heap: SharedHeap, snapshot: Uint8Array): void {
  const now = Buffer.from(new Uint8Array(heap.buffer, heap.byteOffset, heap.size));
  const then = Buffer.from(snapshot);
  expect(now.subarray(0, MUTEX_FROM).equals(then.subarray(0, MUTEX_FROM))).toBe(true);
  expect(now.subarray(MUTEX_TO).equals(then.subarray(MUTEX_TO))).toBe(true);
  expect(heap.validate().problems).toEqual([]);
}

/** GetLastError(): read through a call, so TypeScript does not keep a `lastError = null` narrowing. */
function lastCode(heap: SharedHeap): string | undefined {
  return heap.lastError?.code;
}

function snapshot(heap: SharedHeap): Uint8Array {
  return new Uint8Array(heap.buffer, heap.byteOffset, heap.size).slice();
}

describe('SharedHeap misuse, checked mode (default)', () => {
  it('double free: ERROR_INVALID_PARAMETER, heap intact', { timeout: 5_000 }, () => {
    const { heap, a, b } = freshHeap();
    expect(heap.free(a)).toBe(true);
    let before = snapshot(heap);
    expect(heap.free(a)).toBe(false);
    expect(heap.lastError).toBeInstanceOf(InvalidHeapParameterError);
    expect(heap.lastError).toMatchObject({ code: 'ERROR_INVALID_PARAMETER', errno: 87 });
    expect(heap.lastError?.message).toMatch(/double free/);
    expectUntouched(heap, before);
    // b is large: its free coalesces it with the free block a next to it, so a
    // second free of b (or of a) no longer even names a block start.
    expect(heap.free(b)).toBe(true);
    before = snapshot(heap);
    expect(heap.free(b)).toBe(false);
    expect(heap.lastErrorCode).toBe(87);
    expect(heap.free(a)).toBe(false);
    expect(heap.lastError?.message).toMatch(/freed already/);
    expectUntouched(heap, before);
    // And the next two allocations of that size are different blocks.
    const x = heap.alloc(100);
    const y = heap.alloc(100);
    expect(x).not.toBe(y);
  });

  it.each([
    ['interior', (o: { a: number; b: number; c: number }) => o.b + 32],
    ['misaligned', (o: { a: number; b: number; c: number }) => o.a + 1],
    ['below the heap', () => 0],
    ['inside the heap header', () => HEAP_AT + 64],
    ['past the heap', () => HEAP_AT + HEAP_BYTES + 16],
    ['negative', () => -16],
    ['never allocated (16-aligned, inside free space)', (o: { a: number; b: number; c: number }) => o.c - 4096],
    ['NaN', () => Number.NaN],
    ['fractional', (o: { a: number; b: number; c: number }) => o.a + 0.5],
  ])('%s offset: ERROR_INVALID_PARAMETER from free, realloc, sizeOf; heap intact', { timeout: 5_000 }, (_label, pick) => {
    const fixture = freshHeap();
    const { heap } = fixture;
    const offset = pick(fixture);
    const before = snapshot(heap);
    expect(heap.free(offset)).toBe(false);
    expect(lastCode(heap)).toBe('ERROR_INVALID_PARAMETER');
    heap.lastError = null;
    expect(heap.realloc(offset, 10)).toBe(0);
    expect(lastCode(heap)).toBe('ERROR_INVALID_PARAMETER');
    heap.lastError = null;
    expect(heap.sizeOf(offset)).toBe(-1);
    expect(lastCode(heap)).toBe('ERROR_INVALID_PARAMETER');
    expect(() => heap.view(offset)).toThrow(InvalidHeapParameterError);
    expect(heap.validate(offset).valid).toBe(false);
    expectUntouched(heap, before);
  });

  it.each([
    [0, 'ERROR_INVALID_PARAMETER'],
    [-1, 'ERROR_INVALID_PARAMETER'],
    [Number.NaN, 'ERROR_INVALID_PARAMETER'],
    [1.5, 'ERROR_INVALID_PARAMETER'],
    [Number.POSITIVE_INFINITY, 'ERROR_INVALID_PARAMETER'],
    [HEAP_BYTES + 1, 'ERROR_NOT_ENOUGH_MEMORY'],
    [2 ** 40, 'ERROR_NOT_ENOUGH_MEMORY'],
  ])('alloc/realloc of size %s: %s, heap intact', { timeout: 5_000 }, (size, code) => {
    const { heap, a } = freshHeap();
    const before = snapshot(heap);
    expect(heap.alloc(size)).toBe(0);
    expect(lastCode(heap)).toBe(code);
    heap.lastError = null;
    expect(heap.realloc(a, size)).toBe(0);
    expect(lastCode(heap)).toBe(code);
    expectUntouched(heap, before);
  });

  it('a request that fits no free block: ERROR_NOT_ENOUGH_MEMORY (errno 8), and GENERATE_EXCEPTIONS throws it', { timeout: 5_000 }, () => {
    const { heap } = freshHeap();
    const tooBig = heap.stats().free; // larger than any one free block once headers are counted
    expect(heap.alloc(tooBig)).toBe(0);
    expect(heap.lastError).toMatchObject({ code: 'ERROR_NOT_ENOUGH_MEMORY', errno: 8 });
    expect(() => heap.alloc(tooBig, HeapFlags.GENERATE_EXCEPTIONS)).toThrow(HeapNotEnoughMemoryError);
    const throwing = SharedHeap.at(heap.buffer, heap.byteOffset, { generateExceptions: true });
    expect(() => throwing.free(12345)).toThrow(HeapError);
    expect(heap.validate().valid).toBe(true);
  });

  it('REALLOC_IN_PLACE_ONLY that cannot grow in place fails and leaves the block where and as it was', { timeout: 5_000 }, () => {
    const { heap, bytes, a, c } = freshHeap();
    // c was allocated last, so it sits below a and b: growing a would need b's space.
    expect(c).toBeLessThan(a);
    const before = snapshot(heap);
    expect(heap.realloc(a, 5000, HeapFlags.REALLOC_IN_PLACE_ONLY)).toBe(0);
    expect(lastCode(heap)).toBe('ERROR_NOT_ENOUGH_MEMORY');
    expectUntouched(heap, before);
    expect(bytes.subarray(a, a + 100).every((v) => v === 0xaa)).toBe(true);
  });

  it('validate(offset) names an overrun of a block into the next header', { timeout: 5_000 }, () => {
    const { heap, bytes, a, c } = freshHeap();
    expect(heap.validate(c).valid).toBe(true);
    // c sits just below a: write 48 bytes past c's 40 (its 48-byte payload) into a's header.
    bytes.fill(0xee, c, c + 48 + 16);
    const result = heap.validate(c);
    expect(result.valid).toBe(false);
    expect(result.problems.join()).toMatch(/overrun/);
    expect(heap.validate().problems.join()).toMatch(/guard word overwritten|chain broken/);
    void a;
  });
});

describe('SharedHeap misuse, unchecked mode', () => {
  it('a double free corrupts the free list: two later allocations return the same block', { timeout: 5_000 }, () => {
    // Cache off: the double free must reach the free list.
    const { heap } = freshHeap({ checked: false, threadCache: 0 });
    const x = heap.alloc(64);
    expect(heap.free(x)).toBe(true);
    expect(heap.free(x)).toBe(true); // nothing stops it
    const problems = heap.validate().problems.join('\n');
    expect(problems).toMatch(/cycle|listed twice|counter/);
    const first = heap.alloc(64);
    const second = heap.alloc(64);
    expect(first).toBe(x);
    expect(second).toBe(first);
  });

  it('the same double free in checked mode hands out distinct blocks', { timeout: 5_000 }, () => {
    const { heap } = freshHeap();
    const x = heap.alloc(64);
    expect(heap.free(x)).toBe(true);
    expect(heap.free(x)).toBe(false);
    expect(heap.alloc(64)).not.toBe(heap.alloc(64));
  });
});

describe('SharedHeap NO_SERIALIZE', () => {
  const resources = useResources();

  it('from several workers at once corrupts the heap, and validate() finds it', { timeout: 60_000 }, async () => {
    const sab = new SharedArrayBuffer(HEAP_AT + HEAP_BYTES);
    const control = new Int32Array(sab);
    const goIndex = 0;
    const heap = SharedHeap.initialize(sab, HEAP_AT, HEAP_BYTES);
    const workers: Worker[] = [];
    const doneCounts: number[] = [];
    let onDone: (() => void) | undefined;
    for (let i = 0; i < 3; i++) {
      const data: HammerData = { buffer: sab, heapOffset: HEAP_AT, goIndex, iterations: 20_000, seed: 0x9e3779b9 * (i + 1) };
      const worker = resources.worker(hammerUrl, data);
      worker.on('message', () => {
        doneCounts[i] = (doneCounts[i] ?? 0) + 1;
        onDone?.();
      });
      worker.on('error', () => onDone?.());
      workers.push(worker);
    }
    // Let every worker reach its first wait: a no-op round 0 is not needed, the
    // go word starts at 0 and each worker waits for it to change.
    let found = false;
    let problems: string[] = [];
    for (let round = 1; round <= 20 && !found; round++) {
      const finished = new Promise<void>((resolve) => {
        // A worker caught in a cycle of a corrupted list never finishes its
        // round: the deadline is the safety net that ends the round anyway.
        const deadline = setTimeout(resolve, 5_000);
        onDone = () => {
          if (doneCounts.filter((n) => n === round).length === workers.length) {
            clearTimeout(deadline);
            resolve();
          }
        };
      });
      Atomics.store(control, goIndex, round);
      Atomics.notify(control, goIndex);
      await finished;
      const hung = doneCounts.filter((n) => n === round).length < workers.length;
      if (hung) await Promise.all(workers.map((w) => w.terminate()));
      const result = heap.validate();
      if (!result.valid) {
        found = true;
        problems = result.problems;
      }
      if (hung) break;
    }
    Atomics.store(control, goIndex, -1);
    Atomics.notify(control, goIndex);
    expect(found).toBe(true);
    expect(problems.length).toBeGreaterThan(0);
  });

  it('control: the same workers WITH the lock leave a valid heap', { timeout: 60_000 }, async () => {
    const sab = new SharedArrayBuffer(HEAP_AT + HEAP_BYTES);
    const control = new Int32Array(sab);
    const heap = SharedHeap.initialize(sab, HEAP_AT, HEAP_BYTES);
    const replies: Promise<{ errors: number; live: number }>[] = [];
    for (let i = 0; i < 3; i++) {
      const data: HammerData = { buffer: sab, heapOffset: HEAP_AT, goIndex: 0, iterations: 20_000, seed: 0x9e3779b9 * (i + 1), serialize: true };
      const worker = resources.worker(hammerUrl, data);
      replies.push(new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      }));
    }
    Atomics.store(control, 0, 1);
    Atomics.notify(control, 0);
    const results = await Promise.all(replies);
    Atomics.store(control, 0, -1);
    Atomics.notify(control, 0);
    expect(results.map((r) => r.errors)).toEqual([0, 0, 0]);
    expect(heap.validate().problems).toEqual([]);
    expect(heap.stats().busyBlocks).toBe(results.reduce((n, r) => n + r.live, 0));
  });

  it('one thread at a time with NO_SERIALIZE is fine', { timeout: 5_000 }, () => {
    const { heap } = freshHeap({ noSerialize: true });
    const blocks = Array.from({ length: 50 }, (_, i) => heap.alloc(1 + i * 7));
    for (const b of blocks) expect(heap.free(b, HeapFlags.NO_SERIALIZE)).toBe(true);
    expect(heap.validate().valid).toBe(true);
    // The lock was never taken, not even by validate() on this handle.
    expect(heap.mutex.acquisitions).toBe(0);
  });
});
