// Byte layout of a SharedHeap. Every field is one Int32 word so it can be read
// and written with Atomics from any thread or process that maps the buffer.
//
// All offsets below are heap-relative byte offsets (0 = the heap's first byte,
// which is at `byteOffset` inside the SharedArrayBuffer). Publicly a block is
// named by the absolute byte offset of its payload in the buffer, which is the
// same in every process that maps the same region (addresses are not).
//
// Heap header (HEADER_BYTES = 256, Int32 words):
//    0 magic 'HEAP'     1 layout version   2 heap size (bytes, multiple of 16)
//    3 first block      4 end of blocks    5 bitmap byte offset   6 bitmap words
//    7 mutex byte offset (RobustMutex.BYTES at HEADER_BYTES)
//    8 POISONED (1 after an abandoned lock, until recover())
//    9 times poisoned  10 recoveries
//   12 used bytes (busy blocks incl. headers)  13 free bytes  14 busy blocks  15 free blocks
//   16 non-empty class mask (bit k: class list k has a block)  17 general free list head
//   18, 19 identity: two random words written by initialize(), so a thread's
//          handles on one heap share one thread cache (0, 0: a heap written
//          before identities, whose handles each keep their own)
//   20..51 heads of the 32 size-class free lists
//   52..63 the intent journal (see heap-journal.ts)
// Then the RobustMutex (128 bytes), then the block-start bitmap (one bit per
// 16-byte granule: "a block header starts here"; lets a checked free tell a
// real block from an interior or forged offset in O(1)), then the blocks.
//
// Block (16-byte header, payload 16-byte aligned):
//   +0 size | BUSY   size of the whole block incl. header, multiple of 16, >= 32
//   +4 requested     bytes the caller asked for (busy), 0 when free
//   +8 prev size     size of the block just before (0 for the first block)
//  +12 guard         GUARD ^ block offset: an overrun of the previous block, or
//                    a header copied elsewhere, does not validate
//  free blocks only: +16 next, +20 prev in their free list (0 = none)
//  cached blocks (BUSY|CACHED): +16 owner tid, +20 owner thread start time
//
// What is authoritative and what is derived: the chain of size words (walking
// from the first block by sizes must land exactly on the end) IS the heap. The
// free lists, the class mask, the bitmap, the prev sizes and the counters are
// derived from it, so recover() rebuilds them from a walk. Every structural
// change is a single Atomics.store of one size word (see heap-blocks.ts), so a
// death between any two stores leaves a walkable chain; the journal records
// which word and what it held, so recover() can roll that one store back or
// forward.

export const HEAP_MAGIC = 0x50414548; // 'HEAP'
export const HEAP_LAYOUT_VERSION = 1;

export const HEADER_BYTES = 256;

/** Header word indices (Int32, relative to the heap's first word). */
export const H = {
  magic: 0,
  version: 1,
  size: 2,
  first: 3,
  end: 4,
  bitmapOffset: 5,
  bitmapWords: 6,
  mutexOffset: 7,
  poisoned: 8,
  timesPoisoned: 9,
  recoveries: 10,
  usedBytes: 12,
  freeBytes: 13,
  busyBlocks: 14,
  freeBlocks: 15,
  classMask: 16,
  generalHead: 17,
  identity: 18,
  classHeads: 20,
  journal: 52,
} as const;

/** Block word offsets (added to the block's word index). */
export const B = {
  sizeFlags: 0,
  requested: 1,
  prevSize: 2,
  guard: 3,
  next: 4,
  prev: 5,
} as const;

export const BUSY = 1;
/**
 * BUSY | CACHED: freed by its owner into that thread's private cache (see
 * SharedHeapOptions.threadCache). Still busy for the chain, the lists and the
 * counters; the owner's tid and start time are in payload words 0 and 1, so
 * recover() can reclaim the caches of dead threads.
 */
export const CACHED = 2;
/** A size word whose flag bits are none of: free, busy, busy+cached. */
export function badFlags(word: number): boolean {
  return (word & 12) !== 0 || (word & 3) === CACHED;
}
export const SIZE_MASK = ~15;
export const BLOCK_HEADER = 16;
export const MIN_BLOCK = 32;
export const GRANULE = 16;
export const GUARD = 0x4b4c4221 | 0;

/** Segregated exact-size classes: block sizes 32..528 (payloads 16..512) in 16-byte steps. */
export const CLASS_COUNT = 32;
export const SMALL_MAX_BLOCK = (CLASS_COUNT + 1) * 16; // 528

/** Largest heap: sizes are kept in Int32 words with the low 4 bits used as flags. */
export const MAX_HEAP_SIZE = 0x7fff_fff0;

/** The block size that holds `requested` payload bytes. */
export function blockSizeFor(requested: number): number {
  const payload = requested <= 16 ? 16 : (requested + 15) & ~15;
  return payload + BLOCK_HEADER;
}

/** Class index of a small block size (32..528). */
export function classOf(blockSize: number): number {
  return (blockSize >> 4) - 2;
}

export function guardFor(block: number): number {
  return GUARD ^ block;
}

export interface HeapGeometry {
  size: number;
  mutexOffset: number;
  bitmapOffset: number;
  bitmapWords: number;
  first: number;
  end: number;
}

/** Where everything goes in a heap of `size` bytes (size already a multiple of 16). */
export function geometryFor(size: number, mutexBytes: number): HeapGeometry {
  const mutexOffset = HEADER_BYTES;
  const bitmapOffset = align(mutexOffset + mutexBytes, 16);
  const bitmapWords = Math.ceil(size / GRANULE / 32);
  const first = align(bitmapOffset + bitmapWords * 4, 16);
  return { size, mutexOffset, bitmapOffset, bitmapWords, first, end: size };
}

export function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
