// A witness of mutual exclusion, independent of the mutex it watches: one
// shared 64-bit word says which thread (tid + start time) is inside the
// ledger's critical section. Every owner swaps itself in on entry and out
// before its release; two owners at once are counted in shared memory (the
// soak reports them as doubleOwners, which must stay 0):
// - leave(): the word must still name us. A second owner that entered while
//   we were inside replaced it; this is the check that catches a live
//   double owner, whatever the mutex told the second one.
// - enter() after a plain 'acquired': the word must be empty. A stale thread
//   there means its owner died inside and the mutex did not say 'abandoned'.
// - enter() after 'abandoned': any value is legitimate. The dead owner (or a
//   chain of owners that each died before entering or leaving) left itself
//   behind, and "dead" is the mutex's judgement: a worker whose environment
//   has ended may still have an OS thread for a while, so /proc cannot judge.
//
// Layout: Int32 0 magic, 1 violations, 2 last tid found, 3 who found it;
// Int64 at byte 16: the thread inside (tid | startTime << 32), 0 when none.
import { RobustShmError } from '../errors.js';

const MAGIC = 0x47524421; // 'GRD!'
const W = { magic: 0, violations: 1, foundTid: 2, finderTid: 3 } as const;
const BYTES = 32;
const INSIDE_BYTE = 16;

export interface GuardThread {
  tid: number;
  /** Low 32 bits of the thread's start time (/proc/<tid>/stat field 22), as owner.ts reads it. */
  startTime: number;
}

function encode(t: GuardThread): bigint {
  return BigInt(t.tid >>> 0) | (BigInt(t.startTime >>> 0) << 32n);
}

export class OwnershipGuard {
  static readonly BYTES = BYTES;
  private readonly i32: Int32Array;
  private readonly inside: BigInt64Array;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.i32 = new Int32Array(buffer, byteOffset, 4);
    this.inside = new BigInt64Array(buffer, byteOffset + INSIDE_BYTE, 1);
    if (Atomics.load(this.i32, W.magic) !== MAGIC) throw new RobustShmError('ERR_LAB_GUARD_LAYOUT', `no ownership guard at byte offset ${byteOffset}`);
  }

  static open(region: { buffer: SharedArrayBuffer; findOrCreate(name: string, bytes: number, init?: (o: number) => void): { offset: number } }, name: string): OwnershipGuard {
    const { offset } = region.findOrCreate(`guard:${name}`, BYTES, (o) => {
      Atomics.store(new Int32Array(region.buffer, o, 1), W.magic, MAGIC);
    });
    return new OwnershipGuard(region.buffer, offset);
  }

  /** Right after the mutex is owned (and before any repair); `abandoned`: what the acquire said. */
  enter(me: GuardThread, abandoned: boolean): void {
    const found = Atomics.exchange(this.inside, 0, encode(me));
    if (found !== 0n && !abandoned) this.violation(found, me);
  }

  /** Right before the release. Nobody may have replaced us meanwhile. */
  leave(me: GuardThread): void {
    const mine = encode(me);
    const found = Atomics.compareExchange(this.inside, 0, mine, 0n);
    if (found !== mine) this.violation(found, me);
  }

  /** Times two owners were seen inside at once (0 on a correct mutex). */
  get violations(): number {
    return Atomics.load(this.i32, W.violations);
  }

  /** The last violation: the tid found inside and the thread that found it. */
  get lastViolation(): { found: number; finder: number } | null {
    if (this.violations === 0) return null;
    return { found: Atomics.load(this.i32, W.foundTid), finder: Atomics.load(this.i32, W.finderTid) };
  }

  private violation(found: bigint, finder: GuardThread): void {
    Atomics.store(this.i32, W.foundTid, Number(found & 0xffff_ffffn));
    Atomics.store(this.i32, W.finderTid, finder.tid);
    Atomics.add(this.i32, W.violations, 1);
  }
}
