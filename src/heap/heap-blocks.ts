// The allocator proper: block chain, segregated free lists, bitmap and
// counters of one heap. No locking, no argument checks and no policy here:
// SharedHeap calls these under the heap lock after checking its arguments.
//
// Shape (chosen for O(1) on the common path):
//   - 32 exact-size class lists for blocks of 32..528 bytes (payloads 16..512).
//     A small free is a push, a small allocation a pop; small frees are NOT
//     coalesced right away (like dlmalloc's fastbins): the bench pattern
//     (random 16..512 byte replacement) never has to split or merge.
//   - one general list (first fit) of larger free blocks, coalesced with their
//     free neighbours on free; allocations are carved from the END of a free
//     block, so the block keeps its place in the list and a carve is one store.
//   - when nothing fits, consolidate(): merge every run of adjacent free
//     blocks and rebuild the lists, then try once more.
//
// The crash-safety rule every method follows: new headers are written inside
// free space first (inert: nobody walks into them yet), then ONE Atomics.store
// of an existing block's size word switches the chain from the old shape to
// the new, after recordChange() put (block, before, after) in the journal.
//
// Hostile contents (checked mode, the default): every participant can write
// anywhere in the heap, so a list head, a link, a neighbour's size or a prev
// size read from it is checked before it is followed or written through: it
// must name a block start in the block area, and a free block must have a
// plain size that fits. A value that does not is reported as
// HeapCorruptionError (the operation's open intent then poisons the heap)
// instead of being built on. The checks are a few compares on the hot path.
// Unchecked mode keeps the release-build behaviour the misuse demos show (a
// double free hands one block out twice); typed-array bounds still keep it
// inside the heap, and every loop still has a bound.
import { HeapCorruptionError } from './heap-errors.js';
import * as journal from './heap-journal.js';
import * as layout from './heap-layout.js';
import type { JournalSlot } from './heap-journal.js';
import type { HeapGeometry } from './heap-layout.js';

// Module-local copies of the imported constants and helpers. In the package
// (compiled ESM, and ESM under tsx too) they change nothing; the repo's tests
// run these modules through vitest's module runner, whose exports are getters,
// so every use of an imported binding there is a call the alloc/free path
// should not pay. Local consts cost nothing either way.
const { B, BUSY, CLASS_COUNT, GRANULE, H, MIN_BLOCK, SIZE_MASK, SMALL_MAX_BLOCK, badFlags, classOf, guardFor } = layout;
const { recordChange } = journal;

export class HeapBlocks {
  readonly h: Int32Array;
  readonly first: number;
  readonly end: number;
  /** Word index of the bitmap's first word. */
  private readonly bitmap: number;
  private readonly bitmapWords: number;
  /** Check every pointer and size read from shared memory before following it (see the file comment). */
  private readonly checked: boolean;
  /** More blocks than this cannot exist: the bound of every list walk. */
  private readonly maxBlocks: number;
  /** Test hook: runs right after each committing store (src/test-hooks.ts: onInsideHeapLock). */
  onCommit: (() => void) | undefined;

  constructor(h: Int32Array, geometry: HeapGeometry, checked = true) {
    this.h = h;
    this.first = geometry.first;
    this.end = geometry.end;
    this.bitmap = geometry.bitmapOffset >> 2;
    this.bitmapWords = geometry.bitmapWords;
    this.checked = checked;
    this.maxBlocks = Math.floor((geometry.end - geometry.first) / MIN_BLOCK) + 1;
  }

  // ---- checking what shared memory says ------------------------------------

  /** A block start could be here: inside the block area, 16-byte aligned. */
  private inArea(block: number): boolean {
    return block >= this.first && block < this.end && (block & 15) === 0;
  }

  /** `block` (read from a list) is a free block of exactly `size` bytes. */
  private expectFree(block: number, size: number, where: string): void {
    if (!this.inArea(block) || this.h[block >> 2] !== size) {
      throw new HeapCorruptionError(`${where}: ${block} is not a free ${size}-byte block (size word 0x${((this.h[block >> 2] ?? 0) >>> 0).toString(16)})`);
    }
  }

  /** The size word of a free block (read from a list or a neighbour) is a plain size that fits. */
  private freeSizeFits(block: number, word: number): boolean {
    return (word & 15) === 0 && word >= MIN_BLOCK && word <= this.end - block;
  }

  /** The size of busy block b (already known to be a busy block start): it must fit the block area. */
  busySize(b: number): number {
    const word = this.h[b >> 2]!;
    const size = word & SIZE_MASK;
    if (this.checked && (badFlags(word) || size < MIN_BLOCK || size > this.end - b)) {
      throw new HeapCorruptionError(`block at heap offset ${b}: size word 0x${(word >>> 0).toString(16)} is not a block size`);
    }
    return size;
  }

  // ---- reading -----------------------------------------------------------

  inBlockArea(block: number): boolean {
    return Number.isInteger(block) && block >= this.first && block < this.end && block % GRANULE === 0;
  }

  isBlockStart(block: number): boolean {
    const g = block >> 4;
    return (this.h[this.bitmap + (g >> 5)]! & (1 << (g & 31))) !== 0;
  }

  sizeFlags(block: number): number {
    return this.h[block >> 2]!;
  }

  /** The payload size a busy block was asked for; checked mode: it must fit the block's payload. */
  requested(block: number): number {
    const requested = this.h[(block >> 2) + B.requested]!;
    if (this.checked && (requested < 1 || requested > this.busySize(block) - 16)) {
      throw new HeapCorruptionError(`block at heap offset ${block}: requested size ${requested} does not fit its payload (overwritten)`);
    }
    return requested;
  }

  // ---- allocating --------------------------------------------------------

  /**
   * Take a block of `size` bytes (a blockSizeFor() value) for `requested`
   * payload bytes; 0 when nothing fits (the caller may consolidate and retry).
   */
  allocate(size: number, requested: number, slot: JournalSlot): number {
    const h = this.h;
    if (size <= SMALL_MAX_BLOCK) {
      const k = classOf(size);
      const b = h[H.classHeads + k]!;
      if (b !== 0) {
        if (this.checked) this.expectFree(b, size, `class ${k} list head`);
        this.unlinkFree(b, size);
        return this.takeWhole(b, size, requested, slot);
      }
      const carved = this.carveFromGeneral(size, requested, slot);
      if (carved !== 0) return carved;
      // A bigger class block, split: the smallest non-empty class above k.
      const higher = k + 1 < CLASS_COUNT ? h[H.classMask]! & (-1 << (k + 1)) : 0;
      if (higher === 0) return 0;
      const k2 = 31 - Math.clz32(higher & -higher);
      const f = h[H.classHeads + k2]!;
      const fSize = (k2 + 2) << 4;
      if (this.checked) this.expectFree(f, fSize, `class ${k2} list head`);
      this.unlinkFree(f, fSize);
      return this.carve(f, fSize, size, requested, slot, false);
    }
    return this.carveFromGeneral(size, requested, slot);
  }

  private carveFromGeneral(size: number, requested: number, slot: JournalSlot): number {
    const h = this.h;
    // A list longer than the most blocks the area can hold has a cycle (an
    // unchecked double free, an overrun): fail inside the lock rather than
    // spin in it for ever. (Not the free-block counter: it lives in shared
    // memory and may be overwritten too.)
    let budget = this.maxBlocks;
    for (let b = h[H.generalHead]!; b !== 0; b = h[(b >> 2) + B.next]!) {
      const f = h[b >> 2]!;
      if (this.checked && (!this.inArea(b) || !this.freeSizeFits(b, f) || f <= SMALL_MAX_BLOCK)) {
        throw new HeapCorruptionError(`the general free list holds ${b}, which is not a large free block (size word 0x${((f ?? 0) >>> 0).toString(16)})`);
      }
      if (f >= size) return this.carve(b, f, size, requested, slot, true);
      if (--budget < 0) throw new HeapCorruptionError('the general free list does not end (a cycle)');
    }
    return 0;
  }

  /** Split the free block `f` (fSize bytes) into [f: remainder, free][X: size, busy]; X is returned. */
  private carve(f: number, fSize: number, size: number, requested: number, slot: JournalSlot, inGeneral: boolean): number {
    const h = this.h;
    const rest = fSize - size;
    if (rest < MIN_BLOCK) {
      if (inGeneral) this.unlinkFree(f, fSize);
      return this.takeWhole(f, fSize, requested, slot);
    }
    const x = f + rest;
    const xw = x >> 2;
    // The new header lies inside f's free payload: inert until the store below.
    h[xw + B.requested] = requested;
    h[xw + B.prevSize] = rest;
    h[xw + B.guard] = guardFor(x);
    h[xw + B.sizeFlags] = size | BUSY;
    recordChange(h, slot, f, fSize, rest);
    Atomics.store(h, f >> 2, rest);
    this.onCommit?.();
    this.setBit(x);
    const after = f + fSize;
    if (after < this.end) h[(after >> 2) + B.prevSize] = size;
    if (inGeneral) {
      if (rest <= SMALL_MAX_BLOCK) {
        this.unlinkFree(f, fSize);
        this.pushFree(f, rest);
      }
    } else {
      this.pushFree(f, rest);
    }
    h[H.usedBytes] = h[H.usedBytes]! + size;
    h[H.freeBytes] = h[H.freeBytes]! - size;
    h[H.busyBlocks] = h[H.busyBlocks]! + 1;
    return x;
  }

  private takeWhole(b: number, size: number, requested: number, slot: JournalSlot): number {
    const h = this.h;
    const w = b >> 2;
    recordChange(h, slot, b, size, size | BUSY);
    Atomics.store(h, w, size | BUSY);
    this.onCommit?.();
    h[w + B.requested] = requested;
    h[H.usedBytes] = h[H.usedBytes]! + size;
    h[H.freeBytes] = h[H.freeBytes]! - size;
    h[H.busyBlocks] = h[H.busyBlocks]! + 1;
    h[H.freeBlocks] = h[H.freeBlocks]! - 1;
    return b;
  }

  // ---- freeing -----------------------------------------------------------

  /** Mark `b` free (one store), then file it: small blocks into their class, large ones coalesced. */
  release(b: number, slot: JournalSlot): void {
    const h = this.h;
    const w = b >> 2;
    const before = h[w]!;
    const size = this.checked ? this.busySize(b) : before & SIZE_MASK;
    recordChange(h, slot, b, before, size);
    Atomics.store(h, w, size);
    this.onCommit?.();
    h[w + B.requested] = 0;
    h[H.usedBytes] = h[H.usedBytes]! - size;
    h[H.freeBytes] = h[H.freeBytes]! + size;
    h[H.busyBlocks] = h[H.busyBlocks]! - 1;
    h[H.freeBlocks] = h[H.freeBlocks]! + 1;
    if (size <= SMALL_MAX_BLOCK) this.pushFree(b, size);
    else this.coalesceAndFile(b, size);
  }

  /** Merge the free block b with free neighbours (each merge is one store), then push it. */
  private coalesceAndFile(b: number, size: number): void {
    const h = this.h;
    const next = b + size;
    if (next < this.end) {
      const nv = h[next >> 2]!;
      if ((nv & BUSY) === 0) {
        if (this.checked && !this.freeSizeFits(next, nv)) throw new HeapCorruptionError(`the block after ${b} (at ${next}) has size word 0x${(nv >>> 0).toString(16)}`);
        this.unlinkFree(next, nv);
        size += nv;
        Atomics.store(h, b >> 2, size);
        this.clearBit(next);
        h[H.freeBlocks] = h[H.freeBlocks]! - 1;
      }
    }
    const prevSize = h[(b >> 2) + B.prevSize]!;
    if (prevSize !== 0) {
      const p = b - prevSize;
      const pv = h[p >> 2]!;
      if (this.checked && (!this.inArea(p) || (pv & SIZE_MASK) !== prevSize)) {
        throw new HeapCorruptionError(`block at ${b}: prev size ${prevSize} does not lead to the block before it`);
      }
      if ((pv & BUSY) === 0) {
        this.unlinkFree(p, pv);
        size += pv;
        Atomics.store(h, p >> 2, size);
        this.clearBit(b);
        h[H.freeBlocks] = h[H.freeBlocks]! - 1;
        b = p;
      }
    }
    const after = b + size;
    if (after < this.end) h[(after >> 2) + B.prevSize] = size;
    this.pushFree(b, size);
  }

  // ---- resizing in place -------------------------------------------------

  /**
   * Make busy block b hold `size` bytes without moving it: shrink (splitting
   * off the tail) or grow into a free successor. False when it cannot.
   */
  resizeInPlace(b: number, size: number, requested: number): boolean {
    const h = this.h;
    const w = b >> 2;
    const before = h[w]!;
    const current = this.checked ? this.busySize(b) : before & SIZE_MASK;
    if (size <= current) {
      const rest = current - size;
      if (rest < MIN_BLOCK) {
        recordChange(h, 'a', b, before, before);
        h[w + B.requested] = requested;
        return true;
      }
      const r = b + size;
      this.writeFreeHeader(r, rest, size);
      recordChange(h, 'a', b, before, size | BUSY);
      Atomics.store(h, w, size | BUSY);
      this.onCommit?.();
      h[w + B.requested] = requested;
      this.setBit(r);
      const after = b + current;
      if (after < this.end) h[(after >> 2) + B.prevSize] = rest;
      h[H.usedBytes] = h[H.usedBytes]! - rest;
      h[H.freeBytes] = h[H.freeBytes]! + rest;
      h[H.freeBlocks] = h[H.freeBlocks]! + 1;
      if (rest <= SMALL_MAX_BLOCK) this.pushFree(r, rest);
      else this.coalesceAndFile(r, rest);
      return true;
    }
    const next = b + current;
    if (next >= this.end) return false;
    const nv = h[next >> 2]!;
    if ((nv & BUSY) !== 0) return false;
    if (this.checked && !this.freeSizeFits(next, nv)) throw new HeapCorruptionError(`the block after ${b} (at ${next}) has size word 0x${(nv >>> 0).toString(16)}`);
    if (current + nv < size) return false;
    const total = current + nv;
    const rest = total - size;
    const split = rest >= MIN_BLOCK;
    const newSize = split ? size : total;
    this.unlinkFree(next, nv);
    // r = b + size lies past next's header (size > current): inert inside next until the store.
    if (split) this.writeFreeHeader(b + size, rest, size);
    recordChange(h, 'a', b, before, newSize | BUSY);
    Atomics.store(h, w, newSize | BUSY);
    this.onCommit?.();
    h[w + B.requested] = requested;
    this.clearBit(next);
    const after = b + total;
    if (after < this.end) h[(after >> 2) + B.prevSize] = split ? rest : newSize;
    const grown = newSize - current;
    h[H.usedBytes] = h[H.usedBytes]! + grown;
    h[H.freeBytes] = h[H.freeBytes]! - grown;
    if (split) {
      this.setBit(b + size);
      this.pushFree(b + size, rest);
    } else {
      h[H.freeBlocks] = h[H.freeBlocks]! - 1;
    }
    return true;
  }

  private writeFreeHeader(block: number, size: number, prevSize: number): void {
    const h = this.h;
    const w = block >> 2;
    h[w + B.requested] = 0;
    h[w + B.prevSize] = prevSize;
    h[w + B.guard] = guardFor(block);
    h[w + B.sizeFlags] = size;
  }

  // ---- free lists ----------------------------------------------------------

  private pushFree(b: number, size: number): void {
    const h = this.h;
    const w = b >> 2;
    let headAt: number;
    if (size <= SMALL_MAX_BLOCK) {
      const k = classOf(size);
      headAt = H.classHeads + k;
      h[H.classMask] = h[H.classMask]! | (1 << k);
    } else {
      headAt = H.generalHead;
    }
    const head = h[headAt]!;
    if (this.checked && head !== 0 && !this.inArea(head)) throw new HeapCorruptionError(`a free list head is ${head}, outside the block area`);
    h[w + B.next] = head;
    h[w + B.prev] = 0;
    if (head !== 0) h[(head >> 2) + B.prev] = b;
    h[headAt] = b;
  }

  private unlinkFree(b: number, size: number): void {
    const h = this.h;
    const w = b >> 2;
    const next = h[w + B.next]!;
    const prev = h[w + B.prev]!;
    if (this.checked && ((next !== 0 && !this.inArea(next)) || (prev !== 0 && !this.inArea(prev)))) {
      throw new HeapCorruptionError(`free block ${b}: its list links (next ${next}, prev ${prev}) leave the block area`);
    }
    if (next !== 0) h[(next >> 2) + B.prev] = prev;
    if (prev !== 0) {
      h[(prev >> 2) + B.next] = next;
    } else if (size <= SMALL_MAX_BLOCK) {
      const k = classOf(size);
      h[H.classHeads + k] = next;
      if (next === 0) h[H.classMask] = h[H.classMask]! & ~(1 << k);
    } else {
      h[H.generalHead] = next;
    }
  }

  // ---- bitmap --------------------------------------------------------------

  private setBit(block: number): void {
    const g = block >> 4;
    const i = this.bitmap + (g >> 5);
    this.h[i] = this.h[i]! | (1 << (g & 31));
  }

  private clearBit(block: number): void {
    const g = block >> 4;
    const i = this.bitmap + (g >> 5);
    this.h[i] = this.h[i]! & ~(1 << (g & 31));
  }

  // ---- rebuilding ----------------------------------------------------------

  /**
   * Rebuild every derived structure (prev sizes, bitmap, lists, class mask,
   * counters) from the chain of size words; with `merge`, first join every run
   * of adjacent free blocks (each join one store, so a death in the middle
   * leaves a walkable chain). Throws HeapCorruptionError when the chain does
   * not walk cleanly from the first block to the end.
   */
  rebuild(merge: boolean): void {
    const h = this.h;
    const end = this.end;
    h.fill(0, this.bitmap, this.bitmap + this.bitmapWords);
    h.fill(0, H.classHeads, H.classHeads + CLASS_COUNT);
    h[H.classMask] = 0;
    h[H.generalHead] = 0;
    let used = 0;
    let free = 0;
    let busyBlocks = 0;
    let freeBlocks = 0;
    let last = 0;
    let lastSize = 0;
    let lastFree = false;
    for (let b = this.first; b < end; ) {
      const v = Atomics.load(h, b >> 2);
      const size = v & SIZE_MASK;
      if (badFlags(v) || size < MIN_BLOCK || size > end - b) {
        throw new HeapCorruptionError(`block chain broken at heap offset ${b}: size word 0x${(v >>> 0).toString(16)}`);
      }
      const busy = (v & BUSY) !== 0;
      if (merge && !busy && lastFree) {
        lastSize += size;
        Atomics.store(h, last >> 2, lastSize);
        free += size;
        b += size;
        continue;
      }
      h[(b >> 2) + B.prevSize] = last === 0 ? 0 : lastSize;
      this.setBit(b);
      if (busy) {
        used += size;
        busyBlocks++;
      } else {
        free += size;
        freeBlocks++;
        h[(b >> 2) + B.requested] = 0;
      }
      last = b;
      lastSize = size;
      lastFree = !busy;
      b += size;
    }
    // Second pass: file the (final-sized) free blocks. Pushing in reverse
    // address order leaves each list sorted by address, lowest first.
    const frees: number[] = [];
    for (let b = this.first; b < end; ) {
      const v = h[b >> 2]!;
      // Walked clean above; a size that changed since (another writer) must not stop this loop advancing.
      if ((v & SIZE_MASK) < MIN_BLOCK) throw new HeapCorruptionError(`block chain changed under rebuild at heap offset ${b}`);
      if ((v & BUSY) === 0) frees.push(b);
      b += v & SIZE_MASK;
    }
    for (let i = frees.length - 1; i >= 0; i--) this.pushFree(frees[i]!, h[frees[i]! >> 2]!);
    h[H.usedBytes] = used;
    h[H.freeBytes] = free;
    h[H.busyBlocks] = busyBlocks;
    h[H.freeBlocks] = freeBlocks;
  }

  /** Write a fresh heap: one free block spanning the whole block area. */
  format(): void {
    const h = this.h;
    const size = this.end - this.first;
    this.writeFreeHeader(this.first, size, 0);
    this.rebuild(false);
  }
}
