// Deaths a participant inflicts on itself, on request, at its park point
// (between debit and credit, ledger mutex held): the two ways to leave a
// critical section that no one outside can cause.
//   exit   process.exit() inside the critical section (a worker thread's
//          process.exit() ends that thread): no finally runs, the mutex is
//          abandoned and the next owner repairs.
//   throw  an uncaught exception: the critical section rolls its transfer
//          back and releases on the way out (ledger-critical-section.ts),
//          then the participant dies of it.
// One Int32 per participant slot; the participant takes its request with an
// exchange, so a request is carried out once.
import { RobustShmError } from '../errors.js';

export type Fate = 'exit' | 'throw';
const CODES: Record<Fate, number> = { exit: 1, throw: 2 };
const MAGIC = 0x46415445; // 'FATE'

/** What a participant throws when asked to die by an uncaught exception. */
export class RequestedThrowError extends RobustShmError {
  constructor(slot: number) {
    super('ERR_LAB_REQUESTED_THROW', `participant slot ${slot} threw inside its critical section, as requested`);
  }
}

function decode(code: number): Fate | null {
  return code === CODES.exit ? 'exit' : code === CODES.throw ? 'throw' : null;
}

export class FateBoard {
  private readonly i32: Int32Array;

  private constructor(
    buffer: SharedArrayBuffer,
    byteOffset: number,
    readonly slots: number,
  ) {
    this.i32 = new Int32Array(buffer, byteOffset, slots + 1);
    if (Atomics.load(this.i32, 0) !== MAGIC) throw new RobustShmError('ERR_LAB_FATES_LAYOUT', `no fate board at byte offset ${byteOffset}`);
  }

  static open(region: { buffer: SharedArrayBuffer; findOrCreate(name: string, bytes: number, init?: (o: number) => void): { offset: number } }, name: string, slots: number): FateBoard {
    const { offset } = region.findOrCreate(`fates:${name}`, (slots + 1) * 4, (o) => {
      Atomics.store(new Int32Array(region.buffer, o, 1), 0, MAGIC);
    });
    return new FateBoard(region.buffer, offset, slots);
  }

  request(slot: number, fate: Fate): void {
    Atomics.store(this.i32, this.word(slot), CODES[fate]);
  }

  /**
   * Withdraw a request: returns it if it was still waiting, or null when the
   * participant had already taken it (it is being carried out: the death is
   * still to come).
   */
  cancel(slot: number): Fate | null {
    return decode(Atomics.exchange(this.i32, this.word(slot), 0));
  }

  /** The request waiting in a slot, left in place. */
  pending(slot: number): Fate | null {
    return decode(Atomics.load(this.i32, this.word(slot)));
  }

  /** The participant's side: the pending request (taken), or null. */
  take(slot: number): Fate | null {
    return decode(Atomics.exchange(this.i32, this.word(slot), 0));
  }

  /** Carry out a pending request, if any (at the participant's park point). */
  meetIfRequested(slot: number): void {
    const fate = this.take(slot);
    if (fate === 'exit') process.exit(70);
    if (fate === 'throw') throw new RequestedThrowError(slot);
  }

  private word(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots) throw new RangeError(`participant slot must be 0..${this.slots - 1}`);
    return slot + 1;
  }
}
