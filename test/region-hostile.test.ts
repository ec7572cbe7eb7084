// Hostile contents, one scribble at a time: the call fails with a coded error,
// validate() names what is wrong, and nothing is written through the bad value.
// (test/region-fuzz.test.ts does the same at random, thousands of times.)
import { describe, expect, it } from 'vitest';
import { Region } from '../src/shm/region.js';
import { DIRECTORY_OFFSET, H } from '../src/shm/region-layout.js';
import { HeapFlags, SharedHeap } from '../src/heap/shared-heap.js';
import { H as HeapH } from '../src/heap/heap-layout.js';

function fresh() {
  const region = Region.create(64 * 1024);
  const heap = SharedHeap.open(region, 'heap', 16 * 1024);
  region.findOrCreate('data', 256);
  return { region, heap, i32: new Int32Array(region.buffer) };
}

describe('a scribbled region directory', () => {
  it('a directory count no directory can have: ERR_REGION_CORRUPT from every lookup, named by validate()', () => {
    const { region, i32 } = fresh();
    i32[H.directoryCount] = 0x7fff_0000;
    expect(() => region.find('data')).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT' }));
    expect(() => region.list()).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT' }));
    expect(region.validate().problems).toContainEqual(expect.stringContaining('directory count is 2147418112'));
  });

  it('a bump pointer moved back into the header: findOrCreate refuses instead of zeroing the header', () => {
    const { region, i32 } = fresh();
    const before = new Uint8Array(region.buffer, 0, 4096).slice();
    i32[H.nextFree] = 64;
    expect(() => region.findOrCreate('new', 128)).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT' }));
    const after = new Uint8Array(region.buffer, 0, 4096);
    // Only the scribbled word and the directory mutex's own words (taken and released) differ.
    const mutexWords = (i: number) => i >= 64 && i < 192;
    expect(after.every((b, i) => (i >= H.nextFree * 4 && i < H.nextFree * 4 + 4) || mutexWords(i) || b === before[i])).toBe(true);
    expect(region.validate().problems).toContainEqual(expect.stringContaining("next-free offset is 64"));
  });

  it('a bump pointer moved back inside an object: refused, and named', () => {
    const { region, i32 } = fresh();
    i32[H.nextFree] = region.find('data')! + 64;
    expect(() => region.findOrCreate('new', 128)).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT', message: expect.stringContaining("inside 'data'") }));
  });

  it('a lowered directory count: findOrCreate refuses to overwrite the published objects it no longer counts', () => {
    const { region, i32 } = fresh();
    region.findOrCreate('last', 512);
    const data = region.find('data')!;
    const count = i32[H.directoryCount]!;
    i32[H.directoryCount] = count - 2; // 'data' and 'last' fall out of the count
    expect(() => region.findOrCreate('new', 64)).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT', message: expect.stringContaining('beyond the directory count') }));
    i32[H.directoryCount] = count - 1; // only 'last' falls out; the bump pointer moved back into it
    i32[H.nextFree] = region.list().at(-1)!.offset + region.list().at(-1)!.size + 64;
    expect(() => region.findOrCreate('new', 64)).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT', message: expect.stringContaining('slot') }));
    expect(region.find('data')).toBe(data);
  });

  it('an entry that points into the header, or past the end', () => {
    const { region, i32 } = fresh();
    const dataEntry = region.list().findIndex((o) => o.name === 'data');
    i32[(DIRECTORY_OFFSET + dataEntry * 64 + 48) / 4] = 128; // its offset word
    expect(() => region.find('data')).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT', message: expect.stringContaining("'data'") }));
    i32[(DIRECTORY_OFFSET + dataEntry * 64 + 48) / 4] = 60 * 1024;
    i32[(DIRECTORY_OFFSET + dataEntry * 64 + 52) / 4] = 8 * 1024; // its size word: past the end
    expect(region.validate()).toMatchObject({ valid: false, problems: expect.arrayContaining([expect.stringContaining("directory entry 1 ('data')")]) });
  });
});

describe('a scribbled heap', () => {
  it('a class list head pointing into the heap header: STATUS_HEAP_CORRUPTION, the heap poisoned, nothing written through it; recover() rebuilds', () => {
    // No thread cache: the freed block must reach its class list, and the alloc must read that list.
    const created = fresh().heap;
    const heap = SharedHeap.at(created.buffer, created.byteOffset, { threadCache: 0 });
    const a = heap.alloc(40, HeapFlags.GENERATE_EXCEPTIONS);
    heap.free(a, HeapFlags.GENERATE_EXCEPTIONS); // a 64-byte block in its class list
    const h = new Int32Array(heap.buffer, heap.byteOffset, 64);
    const cls = h.slice(HeapH.classHeads, HeapH.classHeads + 32).findIndex((v) => v !== 0);
    h[HeapH.classHeads + cls] = 32; // heap offset 32: the header's own words
    const header = h.slice();
    expect(() => heap.alloc(40, HeapFlags.GENERATE_EXCEPTIONS)).toThrow(expect.objectContaining({ code: 'STATUS_HEAP_CORRUPTION' }));
    // Only the poison flag and its counter changed: no list link was written into the header.
    const changed = [...h].map((v, i) => (v !== header[i] ? i : -1)).filter((i) => i >= 0);
    expect(changed.every((i) => i === HeapH.poisoned || i === HeapH.timesPoisoned || i >= 52)).toBe(true);
    expect(heap.poisoned).toBe(true);
    expect(heap.validate().problems.join(' ')).toMatch(/poisoned|recover/);
    const report = heap.recover();
    expect(report.validation.valid).toBe(true);
    expect(heap.alloc(40)).toBeGreaterThan(0);
  });

  it.each([
    ['larger than the heap', 0x7fff_fff1],
    ['below the smallest block', 0x11],
    ['a small size with a stray flag bit', 0x45],
  ])('a busy block whose size word was overwritten (%s): free() fails with STATUS_HEAP_CORRUPTION, with the thread cache on or off', (_what, word) => {
    for (const threadCache of [0, 16]) {
      const created = fresh().heap;
      const heap = SharedHeap.at(created.buffer, created.byteOffset, { threadCache });
      const a = heap.alloc(100, HeapFlags.GENERATE_EXCEPTIONS);
      const i32 = new Int32Array(heap.buffer);
      i32[(a - 16) / 4] = word;
      // The cache never files a block whose size word is not a small busy block's: the lock path reports it.
      expect(() => heap.free(a, HeapFlags.GENERATE_EXCEPTIONS)).toThrow(expect.objectContaining({ code: 'STATUS_HEAP_CORRUPTION' }));
      expect(heap.validate().valid).toBe(false);
      expect(() => heap.recover()).toThrow(expect.objectContaining({ code: 'STATUS_HEAP_CORRUPTION' }));
    }
  });
});
