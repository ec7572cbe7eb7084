// An owner killed for real inside a heap operation: a child process SIGKILLed
// while parked inside a free, a worker thread terminate()d while parked inside
// an alloc or a realloc. The next operation fails with ERROR_POSSIBLE_DEADLOCK
// at once (no hang) and so does every later one, from any handle, until
// recover(); after it the heap validates, every block the model says is live
// is intact, and the interrupted operation was rolled forward (free) or back
// (alloc, realloc before its copy).
import { describe, expect, it } from 'vitest';
import type { EventEmitter } from 'node:events';
import { openRegion, type Region } from '../src/shm/region.js';
import { SharedHeap } from '../src/heap/shared-heap.js';
import type { HeapHookPoint } from '../src/test-hooks.js';
import { ParkingLot } from '../src/workers/park.js';
import { exited, useResources } from './helpers/resources.js';
import type { HeapCommand, HeapParticipantData, HeapReply } from './fixtures/heap-participant.js';

const participantUrl = new URL('./fixtures/heap-participant.ts', import.meta.url);
const HEAP_BYTES = 256 * 1024;

interface Live {
  offset: number;
  size: number;
  tag: number;
}

/** A heap with ~40 live blocks of assorted sizes, each filled with its own tag byte. */
function populate(heap: SharedHeap, seed: number): Live[] {
  const live: Live[] = [];
  let x = seed;
  const rand = () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 8) / (1 << 24);
  const bytes = new Uint8Array(heap.buffer);
  for (let i = 0; i < 60; i++) {
    const size = rand() < 0.8 ? 1 + Math.floor(rand() * 512) : 513 + Math.floor(rand() * 4000);
    const offset = heap.alloc(size, 4 /* GENERATE_EXCEPTIONS */);
    const block = { offset, size, tag: (i % 250) + 1 };
    bytes.fill(block.tag, offset, offset + size);
    live.push(block);
  }
  // Free every third block so the lists and the coalescing paths have work.
  for (let i = live.length - 1; i >= 0; i -= 3) {
    heap.free(live[i]!.offset, 4);
    live.splice(i, 1);
  }
  return live;
}

function expectIntact(heap: SharedHeap, live: Live[]): void {
  const bytes = new Uint8Array(heap.buffer);
  for (const block of live) {
    expect(heap.sizeOf(block.offset)).toBe(block.size);
    const content = bytes.subarray(block.offset, block.offset + block.size);
    if (!content.every((b) => b === block.tag)) throw new Error(`live block ${block.offset} lost its contents`);
  }
  const busy = heap.walk().filter((e) => e.state === 'busy').map((e) => e.offset);
  expect(busy.sort((a, b) => a - b)).toEqual(live.map((b) => b.offset).sort((a, b) => a - b));
}

/** Every operation fails fast with ERROR_POSSIBLE_DEADLOCK and touches nothing. */
function expectPoisoned(heap: SharedHeap, live: Live[]): void {
  const started = performance.now();
  // The first operation meets the abandoned lock: it records POISONED in the
  // header but does not touch a block.
  const blocks = new Uint8Array(heap.buffer, heap.byteOffset + 1024, heap.size - 1024);
  const blocksBefore = blocks.slice();
  expect(heap.alloc(32)).toBe(0);
  expect(heap.lastError?.code).toBe('ERROR_POSSIBLE_DEADLOCK');
  expect(heap.lastError?.errno).toBe(1131);
  expect(heap.lastError?.message).toMatch(/died inside a heap operation/);
  expect(Buffer.from(blocks).equals(Buffer.from(blocksBefore))).toBe(true);
  // Every later one fails before even taking the lock: not one byte of the heap changes.
  const before = new Uint8Array(heap.buffer, heap.byteOffset, heap.size).slice();
  expect(heap.free(live[0]!.offset)).toBe(false);
  expect(heap.lastError?.code).toBe('ERROR_POSSIBLE_DEADLOCK');
  expect(heap.realloc(live[0]!.offset, 10)).toBe(0);
  expect(heap.sizeOf(live[0]!.offset)).toBe(-1);
  expect(heap.validate().valid).toBe(false);
  expect(() => heap.alloc(32, 4)).toThrow(expect.objectContaining({ code: 'ERROR_POSSIBLE_DEADLOCK' }));
  // Another handle (as another thread or process would have) sees the same.
  const other = SharedHeap.at(heap.buffer, heap.byteOffset);
  expect(other.alloc(16)).toBe(0);
  expect(other.lastError?.code).toBe('ERROR_POSSIBLE_DEADLOCK');
  expect(heap.stats().poisoned).toBe(true);
  const after = new Uint8Array(heap.buffer, heap.byteOffset, heap.size);
  let changed = 0;
  for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) changed++;
  expect(changed).toBe(0);
  expect(performance.now() - started).toBeLessThan(5_000); // a safety net, not a speed claim
}

function request(target: EventEmitter & { send?: unknown; postMessage?: unknown }, command: HeapCommand): void {
  if (typeof (target as { postMessage?: unknown }).postMessage === 'function') (target as unknown as { postMessage(m: unknown): void }).postMessage(command);
  else (target as unknown as { send(m: unknown): void }).send(command);
}

function nextFrom<T>(source: EventEmitter, match: (m: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown) => {
      if (!match(m as T)) return;
      cleanup();
      resolve(m as T);
    };
    const onExit = () => {
      cleanup();
      reject(new Error('participant exited before answering'));
    };
    const cleanup = () => {
      source.off('message', onMessage);
      source.off('exit', onExit);
    };
    source.on('message', onMessage);
    source.once('exit', onExit);
  });
}

describe('SharedHeap: owner killed inside the heap lock', () => {
  const resources = useResources();

  async function fileHeap(): Promise<{ region: Region; path: string; heap: SharedHeap; lot: ParkingLot }> {
    const path = resources.path('heap-region');
    const region = await openRegion(path, { size: 1024 * 1024, create: true });
    const heap = SharedHeap.open(region, 'heap', HEAP_BYTES);
    const lot = ParkingLot.open(region, 'lot', 2);
    return { region, path, heap, lot };
  }

  it.each<HeapHookPoint>(['free:intent', 'free:committed'])(
    'child process SIGKILLed parked inside a free (%s): ERROR_POSSIBLE_DEADLOCK, then recover rolls the free forward',
    { timeout: 30_000 },
    async (parkAt) => {
      const { region, path, heap, lot } = await fileHeap();
      try {
        const live = populate(heap, 7);
        const victim = live.splice(5, 1)[0]!;
        const data: HeapParticipantData = { path, heapOffset: heap.byteOffset, lotOffset: lot.byteOffset, slot: 0, parkAt };
        const child = resources.fork(participantUrl, [JSON.stringify(data)]);
        await nextFrom(child, (m) => m === 'ready');
        lot.request(0);
        request(child, { id: 1, cmd: 'free', offset: victim.offset });
        const parked = await lot.waitUntilParkedAsync(0, { timeoutMs: 15_000 });
        expect(parked.pid).toBe(child.pid);
        expect(heap.mutex.inspect().owner?.pid).toBe(child.pid);
        child.kill('SIGKILL');
        expect((await exited(child)).signal).toBe('SIGKILL');

        expectPoisoned(heap, live);
        const report = heap.recover();
        expect(report).toMatchObject({ wasPoisoned: true, interruptedOp: 'free', rolled: 'forward' });
        expect(heap.validate().problems).toEqual([]);
        expect(heap.stats()).toMatchObject({ poisoned: false, timesPoisoned: 1, recoveries: 1 });
        expectIntact(heap, live); // and the victim is free: it is not among the busy blocks
        // Usable again: allocate and free without error.
        const again = heap.alloc(victim.size, 4);
        expect(heap.free(again, 4)).toBe(true);
        expect(heap.validate().valid).toBe(true);
      } finally {
        region.close();
      }
    },
  );

  it.each<[HeapHookPoint, 'alloc' | 'realloc']>([
    ['alloc:intent', 'alloc'],
    ['alloc:committed', 'alloc'],
    ['realloc:allocated', 'realloc'],
    ['realloc:copied', 'realloc'],
    ['realloc:committed', 'realloc'],
  ])('worker thread terminated parked at %s: ERROR_POSSIBLE_DEADLOCK, then recover', { timeout: 30_000 }, async (parkAt, op) => {
    const sab = new SharedArrayBuffer(HEAP_BYTES + 4096);
    const lot = ParkingLot.initialize(sab, 0, 1);
    const heap = SharedHeap.initialize(sab, 1024, HEAP_BYTES);
    const live = populate(heap, 11);
    const data: HeapParticipantData = { buffer: sab, heapOffset: heap.byteOffset, lotOffset: 0, slot: 0, parkAt };
    const worker = resources.worker(participantUrl, data);
    await nextFrom(worker, (m) => m === 'ready');
    lot.request(0);
    // realloc: grow a small block far beyond its neighbours so it must move.
    const moved = live[3]!;
    if (op === 'alloc') request(worker, { id: 1, cmd: 'alloc', size: 200 });
    else request(worker, { id: 1, cmd: 'realloc', offset: moved.offset, size: 9000 });
    const parked = await lot.waitUntilParkedAsync(0, { timeoutMs: 15_000 });
    expect(parked.pid).toBe(process.pid);
    expect(heap.mutex.inspect().owner?.tid).toBe(parked.tid);
    await worker.terminate();

    expectPoisoned(heap, live);
    const report = heap.recover();
    expect(report.validation.valid).toBe(true);
    expect(report.interruptedOp).toBe(op === 'alloc' ? 'alloc' : 'realloc-move');
    if (parkAt === 'realloc:committed' || parkAt === 'realloc:copied') {
      // The copy was complete: the move rolls forward, the block lives at its new offset.
      expect(report.rolled).toBe('forward');
      const busy = heap.walk().filter((e) => e.state === 'busy');
      const newBlock = busy.find((e) => !live.some((b) => b.offset === e.offset))!;
      expect(newBlock.size).toBe(9000);
      const bytes = new Uint8Array(sab, newBlock.offset, moved.size);
      expect(bytes.every((b) => b === moved.tag)).toBe(true);
      live.splice(live.indexOf(moved), 1, { offset: newBlock.offset, size: 9000, tag: -1 });
      new Uint8Array(sab).fill(255, newBlock.offset + moved.size, newBlock.offset + 9000);
      new Uint8Array(sab).fill(255, newBlock.offset, newBlock.offset + moved.size);
      live[live.findIndex((b) => b.tag === -1)]!.tag = 255;
    } else {
      // The caller never got a result: the allocation is undone, the old block untouched.
      expect(report.rolled).toBe(parkAt === 'alloc:intent' ? 'none' : 'back');
    }
    expect(heap.validate().problems).toEqual([]);
    expectIntact(heap, live);
  });

  it('the thread cache serves without the lock, yet a cached call after the lock owner\'s death reports ERROR_POSSIBLE_DEADLOCK', { timeout: 30_000 }, async () => {
    const sab = new SharedArrayBuffer(HEAP_BYTES + 4096);
    const lot = ParkingLot.initialize(sab, 0, 1);
    const heap = SharedHeap.initialize(sab, 1024, HEAP_BYTES, { threadCache: 16 });
    const keep = heap.alloc(40);
    const spare = heap.alloc(40);
    heap.free(heap.alloc(40));
    // A cached pair of calls does not touch the lock.
    const before = heap.mutex.acquisitions;
    heap.free(heap.alloc(40));
    expect(heap.mutex.acquisitions).toBe(before);
    expect(heap.walk().filter((e) => e.state === 'cached')).toHaveLength(1);
    const worker = resources.worker(participantUrl, { buffer: sab, heapOffset: heap.byteOffset, lotOffset: 0, slot: 0, parkAt: 'alloc:intent' } satisfies HeapParticipantData);
    await nextFrom(worker, (m) => m === 'ready');
    lot.request(0);
    request(worker, { id: 1, cmd: 'alloc', size: 200 });
    await lot.waitUntilParkedAsync(0, { timeoutMs: 15_000 });
    await worker.terminate();
    // The cached 40-byte block is still there, but the word names a dead owner: through the lock, and the report.
    expect(heap.alloc(40)).toBe(0);
    expect(heap.lastError?.code).toBe('ERROR_POSSIBLE_DEADLOCK');
    expect(heap.free(spare)).toBe(false);
    expect(heap.lastError?.code).toBe('ERROR_POSSIBLE_DEADLOCK');
    expect(heap.recover().validation.valid).toBe(true);
    expect(heap.sizeOf(keep)).toBe(40);
  });

  it('blocks a dead thread freed into its thread cache are reclaimed by recover(), a live thread\'s are not', { timeout: 30_000 }, async () => {
    const sab = new SharedArrayBuffer(HEAP_BYTES + 4096);
    ParkingLot.initialize(sab, 0, 1);
    // This thread's handle without a cache: only the worker's cached blocks are 'cached'.
    const heap = SharedHeap.initialize(sab, 1024, HEAP_BYTES, { threadCache: 0 });
    const live = populate(heap, 5);
    const data: HeapParticipantData = { buffer: sab, heapOffset: heap.byteOffset, lotOffset: 0, slot: 0, parkAt: 'free:intent', threadCache: 16 };
    const worker = resources.worker(participantUrl, data);
    await nextFrom(worker, (m) => m === 'ready');
    const handedOver = live.filter((b) => b.size <= 512).slice(0, 10);
    expect(handedOver.length).toBe(10);
    for (const [i, block] of handedOver.entries()) {
      request(worker, { id: 100 + i, cmd: 'free', offset: block.offset });
      expect(await nextFrom<HeapReply>(worker, (m) => m.id === 100 + i)).toMatchObject({ result: true });
      live.splice(live.indexOf(block), 1);
    }
    const cached = () => heap.walk().filter((e) => e.state === 'cached').map((e) => e.offset).sort((a, b) => a - b);
    expect(cached()).toEqual(handedOver.map((b) => b.offset).sort((a, b) => a - b));
    // Its owner is alive: its cache is its own.
    expect(heap.recover().reclaimedFromDeadCaches).toBe(0);
    expect(cached().length).toBe(10);
    await worker.terminate();
    const report = heap.recover();
    expect(report.reclaimedFromDeadCaches).toBe(10);
    expect(report.wasPoisoned).toBe(false); // nobody died holding the lock
    expect(cached()).toEqual([]);
    expect(heap.validate().problems).toEqual([]);
    expectIntact(heap, live);
  });

  it('an allocation that would run out of memory first takes back a dead thread\'s cached blocks, without recover()', { timeout: 30_000 }, async () => {
    const sab = new SharedArrayBuffer(HEAP_BYTES + 4096);
    ParkingLot.initialize(sab, 0, 1);
    const heap = SharedHeap.initialize(sab, 1024, HEAP_BYTES, { threadCache: 0 });
    const blocks: number[] = [];
    for (let o = heap.alloc(100); o !== 0; o = heap.alloc(100)) blocks.push(o);
    expect(heap.lastError?.code).toBe('ERROR_NOT_ENOUGH_MEMORY');
    const data: HeapParticipantData = { buffer: sab, heapOffset: heap.byteOffset, lotOffset: 0, slot: 0, parkAt: 'free:intent', threadCache: 16 };
    const worker = resources.worker(participantUrl, data);
    await nextFrom(worker, (m) => m === 'ready');
    const handedOver = blocks.splice(0, 8);
    for (const [i, offset] of handedOver.entries()) {
      request(worker, { id: 200 + i, cmd: 'free', offset });
      expect(await nextFrom<HeapReply>(worker, (m) => m.id === 200 + i)).toMatchObject({ result: true });
    }
    const cached = () => heap.walk().filter((e) => e.state === 'cached').map((e) => e.offset);
    expect(cached().sort((a, b) => a - b)).toEqual([...handedOver].sort((a, b) => a - b));
    // Its thread is alive: its cache is its own, and the heap is still full.
    expect(heap.alloc(100)).toBe(0);
    expect(heap.lastError?.code).toBe('ERROR_NOT_ENOUGH_MEMORY');
    await worker.terminate();
    const o = heap.alloc(100);
    expect(handedOver).toContain(o);
    expect(cached()).toEqual([]);
    expect(heap.stats()).toMatchObject({ poisoned: false, busyBlocks: blocks.length + 1 });
    expect(heap.validate().problems).toEqual([]);
  });
});
