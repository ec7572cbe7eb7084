// A byte pattern that differs per position and per seed, so a lost page, a
// stale page or a page from another run shows up as mismatches.

export function patternByte(seed: number, index: number): number {
  return (seed * 131 + index * 31 + (index >>> 8) * 7 + 1) & 0xff;
}

/** Write the pattern for `seed` over bytes [offset, offset+length) of `view`. */
export function fillPattern(view: Uint8Array, offset: number, length: number, seed: number): void {
  for (let i = offset; i < offset + length; i++) view[i] = patternByte(seed, i);
}

/** How many bytes of [offset, offset+length) of `view` differ from the pattern for `seed`. */
export function countMismatches(view: Uint8Array, offset: number, length: number, seed: number): number {
  let bad = 0;
  for (let i = offset; i < offset + length; i++) if (view[i] !== patternByte(seed, i)) bad++;
  return bad;
}
