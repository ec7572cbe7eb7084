// The shared heap's API surface: creating, attaching and finding a heap by
// name, typed views, the flags, walk and stats, GetLastError-style reporting.
import { describe, expect, it } from 'vitest';
import { Region } from '../src/shm/region.js';
import { HeapFlags, SharedHeap } from '../src/heap/shared-heap.js';
import { withTestHooks } from '../src/test-hooks.js';
import { HeapFormatError, InvalidHeapParameterError, PossibleDeadlockError } from '../src/heap/heap-errors.js';

describe('SharedHeap API', () => {
  it('flags carry the Win32 values', () => {
    expect(HeapFlags).toMatchObject({ NO_SERIALIZE: 0x1, GENERATE_EXCEPTIONS: 0x4, ZERO_MEMORY: 0x8, REALLOC_IN_PLACE_ONLY: 0x10 });
    expect(new PossibleDeadlockError()).toMatchObject({ code: 'ERROR_POSSIBLE_DEADLOCK', errno: 1131, name: 'PossibleDeadlockError' });
  });

  it('open() creates a heap by name in a region once, and finds the same heap (with its blocks) after', { timeout: 5_000 }, () => {
    const region = Region.create(1 << 20);
    const first = SharedHeap.open(region, 'cache', 256 * 1024);
    const block = first.alloc(100, HeapFlags.GENERATE_EXCEPTIONS);
    first.view(block).fill(7);
    const again = SharedHeap.open(region, 'cache', 256 * 1024);
    expect(again.byteOffset).toBe(first.byteOffset);
    expect(again.sizeOf(block)).toBe(100);
    expect(again.view(block).every((b) => b === 7)).toBe(true);
    expect(SharedHeap.open(region, 'other', 64 * 1024).byteOffset).not.toBe(first.byteOffset);
  });

  it('rejects bad placement and attaches only to a real heap', () => {
    const sab = new SharedArrayBuffer(64 * 1024);
    expect(() => SharedHeap.initialize(sab, 8, 32 * 1024)).toThrow(InvalidHeapParameterError);
    expect(() => SharedHeap.initialize(sab, 0, 128 * 1024)).toThrow(InvalidHeapParameterError);
    expect(() => SharedHeap.initialize(sab, 0, 416)).toThrow(/no room for blocks/);
    expect(() => SharedHeap.at(sab, 0)).toThrow(HeapFormatError);
    expect(() => SharedHeap.initialize(new ArrayBuffer(4096) as unknown as SharedArrayBuffer, 0, 4096)).toThrow(InvalidHeapParameterError);
    expect(() => SharedHeap.at(sab, 0, { threadCache: -1 })).toThrow();
  });

  it('typed views and a DataView cover exactly the requested bytes of a block', { timeout: 5_000 }, () => {
    const heap = SharedHeap.initialize(new SharedArrayBuffer(64 * 1024), 0, 64 * 1024, { generateExceptions: true });
    const o = heap.alloc(30);
    expect(o % 16).toBe(0);
    expect(heap.view(o).length).toBe(30);
    const words = heap.view(o, Int32Array);
    expect(words.length).toBe(7);
    words[0] = 0x01020304;
    expect(heap.dataView(o).getInt32(0, true)).toBe(0x01020304);
    expect(heap.view(o)[0]).toBe(4);
    expect(heap.view(heap.alloc(64), Float64Array).length).toBe(8);
  });

  it('ZERO_MEMORY zeroes a reused block; realloc keeps contents, shrinks in place, grows into a free neighbour in place', { timeout: 5_000 }, () => {
    const heap = SharedHeap.initialize(new SharedArrayBuffer(64 * 1024), 0, 64 * 1024, { generateExceptions: true });
    const dirty = heap.alloc(200);
    heap.view(dirty).fill(0xff);
    heap.free(dirty);
    const clean = heap.alloc(200, HeapFlags.ZERO_MEMORY);
    expect(clean).toBe(dirty); // the same class block, reused
    expect(heap.view(clean).every((b) => b === 0)).toBe(true);

    const big = heap.alloc(2000);
    heap.view(big).fill(9);
    expect(heap.realloc(big, 1000)).toBe(big);
    expect(heap.sizeOf(big)).toBe(1000);
    // The tail split off by the shrink lies just after `big`: growing back uses it in place.
    expect(heap.realloc(big, 1900, HeapFlags.REALLOC_IN_PLACE_ONLY | HeapFlags.ZERO_MEMORY)).toBe(big);
    const bytes = heap.view(big);
    expect(bytes.subarray(0, 1000).every((b) => b === 9)).toBe(true);
    expect(bytes.subarray(1000).every((b) => b === 0)).toBe(true);
    // Growing past every neighbour moves the block, contents kept.
    const moved = heap.realloc(big, 20_000);
    expect(moved).not.toBe(big);
    expect(heap.view(moved).subarray(0, 1000).every((b) => b === 9)).toBe(true);
    expect(heap.validate().valid).toBe(true);
  });

  it('walk() tiles the block area exactly; stats agree', { timeout: 5_000 }, () => {
    // Cache off: the freed block must be free in the walk, not kept busy for this thread.
    const heap = SharedHeap.initialize(new SharedArrayBuffer(64 * 1024), 0, 64 * 1024, { threadCache: 0 });
    const kept = [heap.alloc(10), heap.alloc(700), heap.alloc(48)];
    heap.free(heap.alloc(300));
    const entries = heap.walk();
    const stats = heap.stats();
    expect(entries.reduce((n, e) => n + e.capacity + 16, 0)).toBe(stats.capacity);
    expect(entries.filter((e) => e.state === 'busy').map((e) => e.offset).sort()).toEqual([...kept].sort());
    expect(entries.find((e) => e.offset === kept[1])).toMatchObject({ size: 700, capacity: 704, state: 'busy' });
    expect(stats.used + stats.free).toBe(stats.capacity);
    expect(stats).toMatchObject({ busyBlocks: 3, poisoned: false, timesPoisoned: 0 });
    for (let i = 1; i < entries.length; i++) expect(entries[i]!.offset).toBe(entries[i - 1]!.offset + entries[i - 1]!.capacity + 16);
  });

  it('lastError works like GetLastError: set by a failure, not cleared by a success', () => {
    const heap = SharedHeap.initialize(new SharedArrayBuffer(64 * 1024), 0, 64 * 1024);
    expect(heap.lastErrorCode).toBe(0);
    expect(heap.alloc(0)).toBe(0);
    expect(heap.lastErrorCode).toBe(87);
    expect(heap.alloc(10)).toBeGreaterThan(0);
    expect(heap.lastError?.code).toBe('ERROR_INVALID_PARAMETER');
  });

  it('an exception that cuts an operation short inside the lock poisons the heap like a death; recover() undoes it', { timeout: 5_000 }, () => {
    const sab = new SharedArrayBuffer(64 * 1024);
    SharedHeap.initialize(sab, 0, 64 * 1024);
    let armed = true;
    const heap = SharedHeap.at(
      sab,
      0,
      withTestHooks(
        {},
        {
          onInsideHeapLock: (point) => {
            if (armed && point === 'alloc:committed') throw new Error('hook failure');
          },
        },
      ),
    );
    expect(() => heap.alloc(40)).toThrow('hook failure'); // non-heap errors always propagate
    armed = false;
    expect(heap.alloc(40)).toBe(0);
    expect(heap.lastError?.code).toBe('ERROR_POSSIBLE_DEADLOCK');
    expect(heap.stats()).toMatchObject({ poisoned: true, timesPoisoned: 1 });
    expect(heap.recover()).toMatchObject({ interruptedOp: 'alloc', rolled: 'back', wasPoisoned: true, lockWasAbandoned: false });
    expect(heap.validate().problems).toEqual([]);
    expect(heap.stats().busyBlocks).toBe(0);
    expect(heap.alloc(40)).toBeGreaterThan(0);
  });
});
