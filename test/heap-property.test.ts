// Property: any sequence of alloc / free / realloc (and rejected misuse)
// leaves a heap that validates, whose live blocks never overlap and keep
// their contents, checked against a plain model after every single step.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { HeapFlags, SharedHeap } from '../src/heap/shared-heap.js';

type Cmd =
  | { kind: 'alloc'; size: number; zero: boolean }
  | { kind: 'free'; pick: number }
  | { kind: 'realloc'; pick: number; size: number; inPlaceOnly: boolean; zero: boolean }
  | { kind: 'doubleFree'; pick: number }
  | { kind: 'interior'; pick: number; delta: number };

interface Live {
  offset: number;
  size: number;
  tag: number;
}

const sizeArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 512 }) },
  { weight: 1, arbitrary: fc.integer({ min: 513, max: 6000 }) },
);
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('alloc' as const), size: sizeArb, zero: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('realloc' as const), pick: fc.nat(), size: sizeArb, inPlaceOnly: fc.boolean(), zero: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('doubleFree' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('interior' as const), pick: fc.nat(), delta: fc.integer({ min: 1, max: 600 }) }) },
);

function run(cmds: Cmd[], threadCache = 0): void {
  const sab = new SharedArrayBuffer(32 * 1024);
  SharedHeap.initialize(sab, 128, 24 * 1024);
  const heap = SharedHeap.at(sab, 128, { threadCache });
  const bytes = new Uint8Array(sab);
  const live: Live[] = [];
  const freed: number[] = [];
  let nextTag = 1;
  const fill = (block: Live, from = 0) => bytes.fill(block.tag, block.offset + from, block.offset + block.size);
  const newTag = () => (nextTag = (nextTag % 250) + 1);

  for (const cmd of cmds) {
    switch (cmd.kind) {
      case 'alloc': {
        const offset = heap.alloc(cmd.size, cmd.zero ? HeapFlags.ZERO_MEMORY : 0);
        if (offset === 0) {
          expect(heap.lastError?.code).toBe('ERROR_NOT_ENOUGH_MEMORY');
          break;
        }
        if (cmd.zero) expect(bytes.subarray(offset, offset + cmd.size).every((b) => b === 0)).toBe(true);
        const block = { offset, size: cmd.size, tag: newTag() };
        fill(block);
        live.push(block);
        break;
      }
      case 'free': {
        if (live.length === 0) break;
        const [block] = live.splice(cmd.pick % live.length, 1);
        expect(heap.free(block!.offset)).toBe(true);
        freed.push(block!.offset);
        break;
      }
      case 'realloc': {
        if (live.length === 0) break;
        const block = live[cmd.pick % live.length]!;
        const flags = (cmd.inPlaceOnly ? HeapFlags.REALLOC_IN_PLACE_ONLY : 0) | (cmd.zero ? HeapFlags.ZERO_MEMORY : 0);
        const offset = heap.realloc(block.offset, cmd.size, flags);
        if (offset === 0) {
          expect(heap.lastError?.code).toBe('ERROR_NOT_ENOUGH_MEMORY');
          break; // the old block must be untouched: checked below with the others
        }
        if (cmd.inPlaceOnly) expect(offset).toBe(block.offset);
        const kept = Math.min(block.size, cmd.size);
        expect(bytes.subarray(offset, offset + kept).every((b) => b === block.tag)).toBe(true);
        if (cmd.zero && cmd.size > kept) expect(bytes.subarray(offset + kept, offset + cmd.size).every((b) => b === 0)).toBe(true);
        if (offset !== block.offset) freed.push(block.offset);
        block.offset = offset;
        block.size = cmd.size;
        fill(block, kept);
        break;
      }
      case 'doubleFree': {
        const candidates = freed.filter((o) => !live.some((b) => b.offset === o));
        if (candidates.length === 0) break;
        expect(heap.free(candidates[cmd.pick % candidates.length]!)).toBe(false);
        expect(heap.lastError?.code).toBe('ERROR_INVALID_PARAMETER');
        break;
      }
      case 'interior': {
        if (live.length === 0) break;
        const block = live[cmd.pick % live.length]!;
        const inside = block.offset + (cmd.delta % Math.max(1, block.size));
        if (inside === block.offset) break;
        expect(heap.free(inside)).toBe(false);
        expect(heap.lastError?.code).toBe('ERROR_INVALID_PARAMETER');
        break;
      }
    }
    // After every step: the heap validates, agrees with the model, and every live block is intact.
    const validation = heap.validate();
    expect(validation.problems).toEqual([]);
    const busy = heap.walk().filter((e) => e.state === 'busy');
    expect(busy.map((e) => e.offset).sort((a, b) => a - b)).toEqual(live.map((b) => b.offset).sort((a, b) => a - b));
    for (const block of live) {
      expect(heap.sizeOf(block.offset)).toBe(block.size);
      const content = bytes.subarray(block.offset, block.offset + block.size);
      if (!content.every((b) => b === block.tag)) throw new Error(`block ${block.offset} (${block.size} bytes) lost its contents`);
    }
    const stats = heap.stats();
    expect(stats.used + stats.free).toBe(stats.capacity);
    // Blocks in the thread cache are still busy for the heap (nobody else may take them).
    expect(stats.busyBlocks).toBe(live.length + heap.cachedBlocks);
    expect(heap.walk().filter((e) => e.state === 'cached').length).toBe(heap.cachedBlocks);
  }
  // Flushing the cache returns every cached block to the heap.
  expect(heap.flushCache()).toBe(true);
  expect(heap.cachedBlocks).toBe(0);
  expect(heap.stats().busyBlocks).toBe(live.length);
  expect(heap.validate().problems).toEqual([]);
}

describe('SharedHeap against a model', () => {
  it('keeps every invariant through random alloc/free/realloc sequences', { timeout: 60_000 }, () => {
    fc.assert(fc.property(fc.array(cmdArb, { maxLength: 80 }), (cmds) => run(cmds)), { numRuns: 300 });
  });

  it('keeps every invariant with a thread cache of 3 blocks per class (frees cached, half flushed when full)', { timeout: 60_000 }, () => {
    fc.assert(fc.property(fc.array(cmdArb, { maxLength: 80 }), (cmds) => run(cmds, 3)), { numRuns: 300 });
  });

  it('fills the heap until ERROR_NOT_ENOUGH_MEMORY, then consolidates fragments into a large block', { timeout: 10_000 }, () => {
    const sab = new SharedArrayBuffer(64 * 1024);
    const heap = SharedHeap.initialize(sab, 0, 64 * 1024);
    const small: number[] = [];
    for (;;) {
      const o = heap.alloc(48);
      if (o === 0) break;
      small.push(o);
    }
    expect(heap.lastError?.code).toBe('ERROR_NOT_ENOUGH_MEMORY');
    for (const o of small) expect(heap.free(o)).toBe(true);
    // Every small free went to a class list unmerged; only consolidation can make this fit.
    const big = heap.alloc(heap.stats().capacity - 16, HeapFlags.GENERATE_EXCEPTIONS);
    expect(big).toBeGreaterThan(0);
    expect(heap.validate().valid).toBe(true);
    expect(heap.stats().freeBlocks).toBe(0);
  });
});
