// The heap benchmark's workload, defined once so every contender replays the
// exact same allocation pattern. bench/baseline/heap-baseline.cpp implements the
// same generator in C++; runHeapBaseline() compares the checksum the C++ side
// prints with heapPatternChecksum() here, so a divergence fails the run loudly
// instead of silently comparing different workloads.
//
// The pattern, per participant:
//   1. fill: LIVE_BLOCKS allocations, sizes nextSize() in order, block i -> slot i;
//   2. then pairs, forever: slot = nextSlot(), size = nextSize(); free the block in
//      `slot`, allocate `size` bytes into it (free first, then allocate).
// A bench times some consecutive run of pairs (after an untimed warm-up taken
// from the same stream); the stream itself never changes.
//
// PRNG: xorshift32 (Marsaglia 2003, shifts 13/17/5). Chosen because it is exact
// in JavaScript's 32-bit integer operators with no BigInt and no Math.imul.

export const LIVE_BLOCKS = 1024;
export const MIN_SIZE = 16;
export const MAX_SIZE = 512;
export const DEFAULT_SEED = 0x2545f491;

/** One xorshift32 step; state must be a non-zero uint32. */
export function xorshift32(state: number): number {
  let x = state;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/**
 * The seed of participant `k` (0 = the single-threaded run / first process,
 * 1 = the second process...): each process of a multi-process run has its own
 * live set and its own stream. Golden-ratio increment, never zero.
 */
export function participantSeed(baseSeed: number, participant: number): number {
  const s = (baseSeed + Math.imul(participant, 0x9e3779b9)) >>> 0;
  return s === 0 ? 1 : s;
}

export interface HeapOp {
  /** Index into the live set (0 .. LIVE_BLOCKS-1). */
  slot: number;
  /** Bytes to allocate (MIN_SIZE .. MAX_SIZE inclusive). */
  size: number;
}

/** The generator: call fillSize() LIVE_BLOCKS times, then nextPair() as often as needed. */
export class HeapPattern {
  private state: number;

  constructor(seed: number = DEFAULT_SEED) {
    if (!Number.isInteger(seed) || seed <= 0 || seed > 0xffffffff) {
      throw new RangeError(`heap pattern seed must be a non-zero uint32, got ${seed}`);
    }
    this.state = seed >>> 0;
  }

  private next(): number {
    this.state = xorshift32(this.state);
    return this.state;
  }

  /** A size for the next block: MIN_SIZE..MAX_SIZE inclusive. */
  nextSize(): number {
    return MIN_SIZE + (this.next() % (MAX_SIZE - MIN_SIZE + 1));
  }

  /** The slot to replace next. */
  nextSlot(): number {
    return this.next() % LIVE_BLOCKS;
  }

  /** The sizes of the initial LIVE_BLOCKS allocations. */
  fillSizes(): number[] {
    const sizes = new Array<number>(LIVE_BLOCKS);
    for (let i = 0; i < LIVE_BLOCKS; i++) sizes[i] = this.nextSize();
    return sizes;
  }

  /** The next free+allocate pair. Slot is drawn before size (the C++ side does the same). */
  nextPair(): HeapOp {
    const slot = this.nextSlot();
    const size = this.nextSize();
    return { slot, size };
  }
}

/** A participant's whole stream in typed arrays, so a timed loop pays no PRNG cost (the C++ side precomputes too). */
export interface PrecomputedPattern {
  /** Sizes of the LIVE_BLOCKS initial allocations; block i goes to slot i. */
  fill: Uint16Array;
  /** Pair i frees slots[i] and allocates sizes[i] bytes into it. */
  slots: Uint16Array;
  sizes: Uint16Array;
}

export function precomputePattern(seed: number, pairs: number): PrecomputedPattern {
  if (!Number.isInteger(pairs) || pairs < 0) throw new RangeError(`pairs must be a non-negative integer, got ${pairs}`);
  const pattern = new HeapPattern(seed);
  const fill = Uint16Array.from(pattern.fillSizes());
  const slots = new Uint16Array(pairs);
  const sizes = new Uint16Array(pairs);
  for (let i = 0; i < pairs; i++) {
    slots[i] = pattern.nextSlot();
    sizes[i] = pattern.nextSize();
  }
  return { fill, slots, sizes };
}

/** FNV-1a-style fold over 32-bit values; the C++ baseline computes the same. */
export function foldChecksum(hash: number, value: number): number {
  return Math.imul((hash ^ value) >>> 0, 16777619) >>> 0;
}

export const CHECKSUM_START = 2166136261;

/**
 * Checksum of a participant's stream: the fill sizes, then `pairs` pairs
 * (slot then size), all folded in order. Equal checksums = identical workloads.
 */
export function heapPatternChecksum(seed: number, pairs: number): number {
  const pattern = new HeapPattern(seed);
  let h = CHECKSUM_START;
  for (const size of pattern.fillSizes()) h = foldChecksum(h, size);
  for (let i = 0; i < pairs; i++) {
    const { slot, size } = pattern.nextPair();
    h = foldChecksum(h, slot);
    h = foldChecksum(h, size);
  }
  return h;
}
