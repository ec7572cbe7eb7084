// HeapValidate: check every invariant of the heap (or of one block) and name
// what is wrong, instead of a bare true/false. Read-only: it never repairs.
import { J, JOURNAL_OP_NAMES } from './heap-journal.js';
import { B, BLOCK_HEADER, BUSY, CACHED, CLASS_COUNT, GRANULE, H, MIN_BLOCK, SIZE_MASK, SMALL_MAX_BLOCK, badFlags, classOf, guardFor, type HeapGeometry } from './heap-layout.js';

/** What validate() found. */
export interface HeapValidation {
  /** No problem found. */
  valid: boolean;
  /** What is wrong, most fundamental first (at most MAX_PROBLEMS). Empty when valid. */
  problems: string[];
  /** Blocks walked. */
  blocks: number;
  /** Of which in use. */
  busyBlocks: number;
  /** Of which free. */
  freeBlocks: number;
  /** Busy blocks sitting freed in some thread's cache (counted in busyBlocks too). */
  cachedBlocks?: number;
}

const MAX_PROBLEMS = 20;

/** Validate the whole heap. `h` is the heap's Int32 view; offsets in messages are heap-relative. */
export function validateHeap(h: Int32Array, geometry: HeapGeometry, options: { allowPendingIntent?: boolean } = {}): HeapValidation {
  const problems: string[] = [];
  const problem = (text: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(text);
  };
  const { first, end } = geometry;
  const bitmap = geometry.bitmapOffset >> 2;
  const bitSet = (b: number): boolean => {
    const g = b >> 4;
    return (h[bitmap + (g >> 5)]! & (1 << (g & 31))) !== 0;
  };
  const op = h[J.op]!;
  if (op !== 0 && !options.allowPendingIntent) problem(`an interrupted ${JOURNAL_OP_NAMES[op] ?? `op ${op}`} is still in the journal`);

  // 1. The chain: the authoritative structure.
  const free = new Map<number, number>();
  let blocks = 0;
  let busyBlocks = 0;
  let cachedBlocks = 0;
  let used = 0;
  let freeBytes = 0;
  let previousSize = 0;
  let chainOk = true;
  for (let b = first; b < end; ) {
    const w = b >> 2;
    const v = h[w]!;
    const size = v & SIZE_MASK;
    if (badFlags(v) || size < MIN_BLOCK || size > end - b) {
      problem(`block at ${b}: size word 0x${(v >>> 0).toString(16)} is not a block size (chain broken)`);
      chainOk = false;
      break;
    }
    blocks++;
    if (h[w + B.guard] !== guardFor(b)) problem(`block at ${b}: guard word overwritten (overrun of the block before?)`);
    if (h[w + B.prevSize] !== previousSize) problem(`block at ${b}: prev size ${h[w + B.prevSize]} but the block before is ${previousSize} bytes`);
    if (!bitSet(b)) problem(`block at ${b}: missing from the block-start bitmap`);
    if ((v & BUSY) !== 0) {
      busyBlocks++;
      used += size;
      if ((v & CACHED) !== 0) cachedBlocks++;
      const requested = h[w + B.requested]!;
      if (requested < 1 || requested > size - BLOCK_HEADER) problem(`busy block at ${b}: requested size ${requested} does not fit its ${size - BLOCK_HEADER}-byte payload`);
    } else {
      free.set(b, size);
      freeBytes += size;
    }
    previousSize = size;
    b += size;
  }
  if (chainOk) {
    let bits = 0;
    for (let i = 0; i < geometry.bitmapWords; i++) bits += popcount(h[bitmap + i]!);
    if (bits !== blocks) problem(`block-start bitmap has ${bits} bits for ${blocks} blocks (a stale or forged block start)`);
  }

  // 2. The free lists: every free block in exactly one list, the right one, once.
  const seen = new Set<number>();
  const checkList = (head: number, name: string, fits: (size: number) => boolean): void => {
    let prev = 0;
    let steps = 0;
    for (let b = head; b !== 0; b = h[(b >> 2) + B.next]!) {
      if (++steps > free.size + 1) {
        problem(`${name} free list does not end (a cycle: a block freed twice?)`);
        return;
      }
      if (b < first || b >= end || b % GRANULE !== 0) {
        problem(`${name} free list points outside the block area (${b})`);
        return;
      }
      const size = free.get(b);
      if (size === undefined) {
        problem(`${name} free list holds ${b}, which is not a free block${(h[b >> 2]! & BUSY) !== 0 ? ' (it is busy: handed out while listed)' : ''}`);
        return;
      }
      if (!fits(size)) problem(`${name} free list holds ${b} of the wrong size ${size}`);
      if (h[(b >> 2) + B.prev] !== prev) problem(`${name} free list: back link of ${b} is ${h[(b >> 2) + B.prev]}, expected ${prev}`);
      if (seen.has(b)) {
        problem(`free block ${b} is listed twice`);
        return;
      }
      seen.add(b);
      prev = b;
    }
  };
  const mask = h[H.classMask]!;
  for (let k = 0; k < CLASS_COUNT; k++) {
    const head = h[H.classHeads + k]!;
    if ((head !== 0) !== ((mask & (1 << k)) !== 0)) problem(`class ${k}: non-empty mask bit disagrees with its list head`);
    checkList(head, `class ${k} (${(k + 2) * 16}-byte)`, (size) => size <= SMALL_MAX_BLOCK && classOf(size) === k);
  }
  checkList(h[H.generalHead]!, 'general', (size) => size > SMALL_MAX_BLOCK);
  if (chainOk) {
    for (const b of free.keys()) {
      if (!seen.has(b)) {
        problem(`free block at ${b} is in no free list (lost)`);
        break;
      }
    }
  }

  // 3. The counters.
  if (chainOk) {
    if (h[H.usedBytes] !== used) problem(`used bytes counter ${h[H.usedBytes]} but busy blocks hold ${used}`);
    if (h[H.freeBytes] !== freeBytes) problem(`free bytes counter ${h[H.freeBytes]} but free blocks hold ${freeBytes}`);
    if (h[H.busyBlocks] !== busyBlocks) problem(`busy block counter ${h[H.busyBlocks]} but the chain has ${busyBlocks}`);
    if (h[H.freeBlocks] !== free.size) problem(`free block counter ${h[H.freeBlocks]} but the chain has ${free.size}`);
  }
  return { valid: problems.length === 0, problems, blocks, busyBlocks, freeBlocks: free.size, cachedBlocks };
}

/** Validate one busy block (heap-relative block offset, already range- and alignment-checked). */
export function validateBlock(h: Int32Array, geometry: HeapGeometry, b: number): HeapValidation {
  const problems: string[] = [];
  const bitmap = geometry.bitmapOffset >> 2;
  const g = b >> 4;
  const w = b >> 2;
  const v = h[w]!;
  const size = v & SIZE_MASK;
  if ((h[bitmap + (g >> 5)]! & (1 << (g & 31))) === 0) problems.push(`${b} is not the start of a block (interior or never allocated)`);
  else if ((v & BUSY) === 0) problems.push(`block at ${b} is free, not allocated`);
  else if ((v & CACHED) !== 0 && !badFlags(v)) problems.push(`block at ${b} was freed (it sits in a thread cache), not allocated`);
  else if (badFlags(v) || size < MIN_BLOCK || size > geometry.end - b) problems.push(`block at ${b}: size word 0x${(v >>> 0).toString(16)} is not a block size`);
  else {
    if (h[w + B.guard] !== guardFor(b)) problems.push(`block at ${b}: guard word overwritten`);
    const requested = h[w + B.requested]!;
    if (requested < 1 || requested > size - BLOCK_HEADER) problems.push(`block at ${b}: requested size ${requested} does not fit`);
    const next = b + size;
    if (next < geometry.end) {
      const nw = next >> 2;
      if (h[nw + B.guard] !== guardFor(next)) problems.push(`block after ${b}: guard word overwritten (overrun of this block)`);
      if (h[nw + B.prevSize] !== size) problems.push(`block after ${b}: prev size ${h[nw + B.prevSize]} disagrees with ${size}`);
    }
  }
  return { valid: problems.length === 0, problems, blocks: 1, busyBlocks: problems.length === 0 ? 1 : 0, freeBlocks: 0 };
}

function popcount(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
