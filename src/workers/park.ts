// A parking lot in shared memory: a test, demo or user asks participant N to
// stop the next time it is inside a critical section, waits until it has
// (no sleeps: it waits on the slot's state word), kills it exactly there, or
// lets it go on.
//
// Layout (little-endian Int32 words, 8-byte aligned):
//   header (16 bytes): magic 'PARK', layout version, slot count, reserved
//   slot   (16 bytes each): state, tid, pid, times parked
// The state word is the one every party sleeps on:
//   IDLE -> REQUESTED (request) -> PARKED (the participant, inside its critical section)
//        -> RELEASED (release) -> IDLE (the participant, on its way out)
// A participant killed while parked leaves PARKED behind; the next request()
// simply overwrites it.
//
// Waiting is the library's one primitive (src/locks/waiting.ts), the same
// the mutex sleeps in: every state change is one wake(), which reaches sleepers
// in every process (futex) and this process's Atomics sleepers; the state word
// is a futex word when the addon loads, an Atomics word otherwise.
// - A parked worker thread sleeps in waitSliceTerminable (Atomics.wait), which
//   worker.terminate() interrupts at once: tests and the bench terminate it
//   there. A release from another process reaches it at the end of its slice
//   (sliceMs, default 10 ms).
// - A parked main thread sleeps in waitSlice (futex slices), which a release
//   from any process wakes; SIGKILL ends it anyway.
// - waitUntilParkedAsync sleeps in waitAsync: woken by the kernel (futex_waitv
//   waiter threads) when a participant in any process parks.
import { isMainThread } from 'node:worker_threads';
import { InvalidArgumentError, RobustShmError } from '../errors.js';
import { native } from '../native/index.js';
import { currentThreadIdentity } from '../locks/owner.js';
import type { NamedObjectHost } from '../locks/types.js';
import { WAIT_ATOMICS, WAIT_FUTEX } from '../locks/mutex-layout.js';
import { waitAsync, waitSlice, waitSliceTerminable, wake, type WaitWord } from '../locks/waiting.js';

const MAGIC = 0x4b524150; // 'PARK'
const VERSION = 1;
const HEADER_BYTES = 16;
const SLOT_BYTES = 16;
const H_MAGIC = 0;
const H_VERSION = 1;
const H_SLOTS = 2;
const S_STATE = 0;
const S_TID = 1;
const S_PID = 2;
const S_TIMES = 3;

export const IDLE = 0;
export const REQUESTED = 1;
export const PARKED = 2;
export const RELEASED = 3;
/** A slot's state: idle -> requested (request) -> parked (by the participant) -> released (release) -> idle. */
export type ParkState = 'idle' | 'requested' | 'parked' | 'released';
const STATE_NAMES: readonly ParkState[] = ['idle', 'requested', 'parked', 'released'];

/** Who parked in a slot. */
export interface Parked {
  /** OS thread id of the parked thread. */
  tid: number;
  /** Its process id. */
  pid: number;
  /** How many times this slot has been parked in, this one included. */
  times: number;
}

/** waitUntilParked() ran out of time. */
export class ParkTimeoutError extends RobustShmError {
  constructor(slot: number, timeoutMs: number) {
    super('ETIMEDOUT', `participant ${slot} did not park within ${timeoutMs} ms`);
  }
}

/** The bytes at an offset are not a parking lot. */
export class ParkingLotLayoutError extends RobustShmError {
  constructor(message: string) {
    super('ERR_PARKING_LOT_LAYOUT', message);
  }
}


function hasNative(): boolean {
  try {
    native();
    return true;
  } catch {
    return false;
  }
}

/**
 * A parking lot in shared memory: ask participant N (a thread or process) to
 * stop the next time it passes parkIfRequested() inside its critical section,
 * wait until it has, then kill it exactly there (or release it).
 */
export class ParkingLot {
  /** Bytes needed for a lot with `slots` participants. */
  static BYTES(slots: number): number {
    checkSlotCount(slots);
    return HEADER_BYTES + slots * SLOT_BYTES;
  }

  /** The shared memory the lot lives in. */
  readonly buffer: SharedArrayBuffer;
  /** Where in `buffer`. */
  readonly byteOffset: number;
  /** Participant slots, numbered from 0. */
  readonly slots: number;
  private readonly i32: Int32Array;
  /** Each slot's state word, as the waiting primitive sees it. */
  private readonly stateWords: WaitWord[];

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, slots: number) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.slots = slots;
    this.i32 = new Int32Array(buffer, byteOffset, ParkingLot.BYTES(slots) / 4);
    const whole = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    const kind = hasNative() ? WAIT_FUTEX : WAIT_ATOMICS;
    this.stateWords = [];
    for (let n = 0; n < slots; n++) {
      this.stateWords.push({ sab: buffer, i32: whole, index: byteOffset / 4 + (HEADER_BYTES + n * SLOT_BYTES) / 4 + S_STATE, kind });
    }
  }

  /** Write an empty lot with `slots` participant slots at byteOffset. */
  static initialize(buffer: SharedArrayBuffer, byteOffset: number, slots: number): ParkingLot {
    checkPlacement(buffer, byteOffset, ParkingLot.BYTES(slots));
    const i32 = new Int32Array(buffer, byteOffset, ParkingLot.BYTES(slots) / 4);
    i32.fill(0);
    Atomics.store(i32, H_SLOTS, slots);
    Atomics.store(i32, H_VERSION, VERSION);
    Atomics.store(i32, H_MAGIC, MAGIC); // last: "ready" for at() elsewhere
    return new ParkingLot(buffer, byteOffset, slots);
  }

  /** Attach to a lot that initialize() wrote (in any thread or process). */
  static at(buffer: SharedArrayBuffer, byteOffset: number): ParkingLot {
    checkPlacement(buffer, byteOffset, HEADER_BYTES);
    const header = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
    if (Atomics.load(header, H_MAGIC) !== MAGIC) throw new ParkingLotLayoutError(`no parking lot at byte offset ${byteOffset}`);
    if (Atomics.load(header, H_VERSION) !== VERSION) throw new ParkingLotLayoutError(`parking lot layout version ${Atomics.load(header, H_VERSION)}, expected ${VERSION}`);
    const slots = Atomics.load(header, H_SLOTS);
    checkPlacement(buffer, byteOffset, ParkingLot.BYTES(slots));
    return new ParkingLot(buffer, byteOffset, slots);
  }

  /** The lot called `name` in a region, created with `slots` slots on first use. */
  static open(region: NamedObjectHost, name: string, slots: number): ParkingLot {
    const { offset } = region.findOrCreate(`park:${name}`, ParkingLot.BYTES(slots), (byteOffset) => {
      ParkingLot.initialize(region.buffer, byteOffset, slots);
    });
    return ParkingLot.at(region.buffer, offset);
  }

  // ---- the requester's side ---------------------------------------------

  /** Ask participant n to park the next time it calls parkIfRequested(n). Overwrites a dead parker's PARKED. */
  request(n: number): void {
    const s = this.slot(n);
    Atomics.store(this.i32, s + S_TID, 0);
    Atomics.store(this.i32, s + S_PID, 0);
    this.setState(s, REQUESTED);
  }

  /** Withdraw a request that was not yet taken up (no effect on a parked participant). */
  cancel(n: number): void {
    const s = this.slot(n);
    if (Atomics.compareExchange(this.i32, s + S_STATE, REQUESTED, IDLE) === REQUESTED) this.wakeAll(s);
  }

  /** Let a parked participant continue (its critical section goes on). Also withdraws a pending request. */
  release(n: number): void {
    const s = this.slot(n);
    const state = Atomics.load(this.i32, s + S_STATE);
    if (state === PARKED) {
      if (Atomics.compareExchange(this.i32, s + S_STATE, PARKED, RELEASED) === PARKED) this.wakeAll(s);
    } else if (state === REQUESTED) {
      this.cancel(n);
    }
  }

  /** The participant parked in slot n right now, or null. */
  parked(n: number): Parked | null {
    const s = this.slot(n);
    if (Atomics.load(this.i32, s + S_STATE) !== PARKED) return null;
    return this.parkedInfo(s);
  }

  /** Slot `n`'s state right now. */
  state(n: number): ParkState {
    return STATE_NAMES[Atomics.load(this.i32, this.slot(n) + S_STATE)] ?? 'idle';
  }

  /**
   * Block until participant n has parked; returns who parked. Throws
   * ParkTimeoutError after timeoutMs (a safety net: a participant that died
   * before parking never will). Sleeps on the state word, never polls blindly.
   */
  waitUntilParked(n: number, timeoutMs = 10_000): Parked {
    const s = this.slot(n);
    checkTimeout(timeoutMs);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const state = Atomics.load(this.i32, s + S_STATE);
      if (state === PARKED) return this.parkedInfo(s);
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new ParkTimeoutError(n, timeoutMs);
      // Bounded slices keep a requester that runs in a worker terminate()-able.
      waitSlice(this.wordOf(s), state, Math.min(remaining, 50));
    }
  }

  /** waitUntilParked without blocking the event loop; rejects with the signal's reason on abort. */
  async waitUntilParkedAsync(n: number, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Parked> {
    const s = this.slot(n);
    const timeoutMs = options.timeoutMs ?? 10_000;
    checkTimeout(timeoutMs);
    const { signal } = options;
    signal?.throwIfAborted();
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const state = Atomics.load(this.i32, s + S_STATE);
      if (state === PARKED) return this.parkedInfo(s);
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new ParkTimeoutError(n, timeoutMs);
      await waitAsync(this.stateWords[n]!, state, remaining, signal);
    }
  }

  // ---- the participant's side -------------------------------------------

  /**
   * Call inside the critical section. When participant n was asked to park,
   * announce PARKED (with this thread's tid and pid) and wait until released;
   * otherwise return at once. Returns whether it parked. The wait is made of
   * bounded slices, so the participant stays killable and terminate()-able.
   */
  parkIfRequested(n: number, options: { sliceMs?: number } = {}): boolean {
    const s = this.slot(n);
    if (Atomics.load(this.i32, s + S_STATE) !== REQUESTED) return false;
    const sliceMs = options.sliceMs ?? 10;
    const me = currentThreadIdentity();
    // Identity first, then the state: whoever sees PARKED sees who parked.
    Atomics.store(this.i32, s + S_TID, me.tid);
    Atomics.store(this.i32, s + S_PID, me.pid);
    Atomics.add(this.i32, s + S_TIMES, 1);
    if (Atomics.compareExchange(this.i32, s + S_STATE, REQUESTED, PARKED) !== REQUESTED) return false; // cancelled meanwhile
    this.wakeAll(s);
    // A worker thread is terminate()d (or piscina-aborted) here: it sleeps
    // where that interrupts it at once. A main thread can only die by signal
    // or exit, so it sleeps where a release from any process wakes it.
    const word = this.stateWords[n]!;
    while (Atomics.load(this.i32, s + S_STATE) === PARKED) {
      if (isMainThread) waitSlice(word, PARKED, sliceMs);
      else waitSliceTerminable(word, PARKED, sliceMs);
    }
    Atomics.compareExchange(this.i32, s + S_STATE, RELEASED, IDLE);
    return true;
  }

  /** Whether participant n has a pending request (it may want to enter its critical section now). */
  isRequested(n: number): boolean {
    return Atomics.load(this.i32, this.slot(n) + S_STATE) === REQUESTED;
  }

  // ---- internals -------------------------------------------------------

  private slot(n: number): number {
    if (!Number.isInteger(n) || n < 0 || n >= this.slots) throw new InvalidArgumentError(`participant must be an integer from 0 to ${this.slots - 1}, got ${String(n)}`);
    return (HEADER_BYTES + n * SLOT_BYTES) / 4;
  }

  private parkedInfo(s: number): Parked {
    return { tid: Atomics.load(this.i32, s + S_TID), pid: Atomics.load(this.i32, s + S_PID), times: Atomics.load(this.i32, s + S_TIMES) };
  }

  private setState(s: number, state: number): void {
    Atomics.store(this.i32, s + S_STATE, state);
    this.wakeAll(s);
  }

  private wordOf(s: number): WaitWord {
    return this.stateWords[(s - HEADER_BYTES / 4) / (SLOT_BYTES / 4)]!;
  }

  private wakeAll(s: number): void {
    wake(this.wordOf(s), 0x7fff_ffff);
  }
}

function checkSlotCount(slots: number): void {
  if (!Number.isInteger(slots) || slots < 1 || slots > 1 << 16) throw new InvalidArgumentError(`slots must be an integer from 1 to 65536, got ${String(slots)}`);
}

function checkPlacement(buffer: SharedArrayBuffer, byteOffset: number, bytes: number): void {
  if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidArgumentError('a parking lot needs a SharedArrayBuffer');
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0 || byteOffset + bytes > buffer.byteLength) {
    throw new InvalidArgumentError(`parking lot byteOffset must be a multiple of 8 with ${bytes} bytes inside the buffer, got ${byteOffset}`);
  }
}

function checkTimeout(timeoutMs: number): void {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) throw new InvalidArgumentError(`timeoutMs must be a number >= 0, got ${String(timeoutMs)}`);
}
