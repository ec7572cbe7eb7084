// RobustSemaphore: N units shared by threads and processes (a cross-process
// job limiter) whose units come back by themselves when their holder dies.
//
// POSIX and Windows semaphores only count: a holder that dies keeps its unit
// for ever. Here every unit is a robust-futex word holding its holder's TID,
// linked on the holder thread's kernel robust list, so the kernel marks the
// unit OWNER_DIED at the holder's death (and a /proc look finds it when the
// native addon is absent). The next acquirer takes it back and is told.
//
// A unit belongs to the thread that acquired it: only that thread releases it
// (a counting semaphore's "post from anywhere" cannot be made robust).
//
// Waiting: a release bumps the free sequence and wakes its sleepers; a
// holder's death is the kernel's wake of that holder's unit word (and only if
// FUTEX_WAITERS is set in it). Sync waiters sleep on the free sequence and
// find dead holders at their liveness slice. Async waiters on a futex
// semaphore set FUTEX_WAITERS in the held unit words and sleep on the free
// sequence AND those words (waitAsyncAny), so a release in any process and a
// holder's death both wake them with no slice timer; past MAX_WATCHED_UNITS
// units that would be too many kernel waits per waiter, and they keep the slice.
import { InvalidArgumentError } from '../errors.js';
import { native } from '../native/index.js';
import { NotOwnerError, SemaphoreLayoutError } from './errors.js';
import { OWNER_DIED, TID_MASK, WAITERS, WAIT_ATOMICS, WAIT_FUTEX } from './mutex-layout.js';
import { currentThreadIdentity, ownerLiveness } from './owner.js';
import type { NamedObjectHost } from './robust-mutex.js';
import { initRobustNode, robustNode, threadRobustList, type RobustNode, type ThreadRobustList } from './robust-list.js';
import { MAX_UNITS, SEM, SEM_LAYOUT_VERSION, SEM_MAGIC, SEM_UNITS_OFFSET, SEM_WAITER_SLOTS, U, UNIT_INTS, semaphoreBytes } from './semaphore-layout.js';
import type { NotOwned, OwnerIdentity } from './types.js';
import { asyncWaitMechanism, waitAsyncAny, waitSlice, wake, type AsyncWaitMechanism, type WaitWord, type WordValue } from './waiting.js';
import { checkLayoutHeader, checkPlacement, checkTimeout } from './lock-arguments.js';

/** Per-handle options of a RobustSemaphore: how this thread waits (not stored in shared memory). */
export interface SemaphoreOptions {
  /** How often (ms) a sleeping waiter looks for units of dead holders (default 5). */
  livenessIntervalMs?: number;
  /**
   * How often (ms) an async waiter on a futex semaphore of at most
   * MAX_WATCHED_UNITS units looks for dead holders in /proc when nothing woke
   * it: the kernel wakes it at a holder's death, so this is only a safety net.
   * Default max(livenessIntervalMs, 1000).
   */
  asyncLivenessIntervalMs?: number;
}

/** Largest semaphore whose async waiters watch every unit word (one kernel wait per unit, futex_waitv serves 127 words per thread). */
export const MAX_WATCHED_UNITS = 32;
const ASYNC_LIVENESS_DEFAULT_MS = 1000;

interface SemSleep {
  /** The free sequence read before the look: sleep while it still holds this. */
  seq: number;
  /** Until the next /proc look of a sync sleeper. */
  sliceMs: number;
  remainingMs: number;
  /** Held unit words flagged FUTEX_WAITERS, with the values to sleep on (async waiters only). */
  watched: readonly WordValue[];
}

/** Options fixed when a RobustSemaphore is first written into shared memory. */
export interface SemaphoreInitializeOptions {
  /** How many units (1..4096). */
  units: number;
  /** How waiters sleep: 'futex' (default with the addon: cross-process, woken by the kernel at a holder's death) or 'atomics' (one process only). */
  waitMechanism?: 'futex' | 'atomics';
}

/** A unit held by the calling thread. A dead holder's unit is reclaimed, not 'abandoned': a unit protects no data. */
export interface UnitAcquired {
  /** The calling thread now holds a unit. */
  readonly owned: true;
  /** Always 'acquired' (see `unitsReclaimed` for dead holders). */
  readonly status: 'acquired';
  /** Always false: a unit guards no data that could be left inconsistent. */
  readonly abandoned: false;
  /** Which unit (0..N-1). */
  readonly unit: number;
  /** Units of dead holders this acquire took back (the one it got may be one of them). */
  readonly unitsReclaimed: number;
  /** Those dead holders. */
  readonly deadHolders: readonly OwnerIdentity[];
}

/** What a semaphore acquire returns: a unit, or not owned (timeout, busy). */
export type SemaphoreResult = UnitAcquired | NotOwned;

/** A point-in-time view of a RobustSemaphore (RobustSemaphore.inspect()). */
export interface SemaphoreSnapshot {
  /** Units in all. */
  units: number;
  /** Units nobody holds. */
  free: number;
  /** Held units and their holders. */
  holders: {
    /** Which unit. */
    unit: number;
    /** The holder's kernel TID. */
    tid: number;
    /** The holder's process. */
    pid: number;
    /** false: the holder died and the unit waits to be reclaimed by the next acquirer. */
    alive: boolean;
  }[];
  /** Threads waiting for a unit. */
  waiting: number;
  /** Dead holders' units reclaimed so far. */
  unitsReclaimed: number;
  /** Units acquired so far. */
  acquisitions: number;
}

const NOT_OWNED_TIMEOUT: NotOwned = Object.freeze({ owned: false, status: 'timeout', abandoned: false });
const NOT_OWNED_BUSY: NotOwned = Object.freeze({ owned: false, status: 'busy', abandoned: false });
const NONE: readonly OwnerIdentity[] = Object.freeze([]);
const NO_WORDS: readonly WordValue[] = Object.freeze([]);

/**
 * N units shared by threads and processes whose units come back by themselves
 * when their holder dies (the kernel marks a dead holder's unit word through
 * its robust list). A unit belongs to the thread that acquired it.
 */
export class RobustSemaphore {
  /** Bytes a semaphore of `units` units occupies. */
  static bytes(units: number): number {
    return semaphoreBytes(units);
  }

  /** The shared memory the semaphore lives in. */
  readonly buffer: SharedArrayBuffer;
  /** Where it starts in `buffer`. */
  readonly byteOffset: number;
  /** Units in all, fixed at initialisation. */
  readonly units: number;
  private readonly i32: Int32Array;
  private readonly base: number;
  private readonly kind: number;
  private readonly livenessIntervalMs: number;
  private readonly asyncLivenessIntervalMs: number;
  private readonly list: ThreadRobustList | null;
  private readonly nodes: RobustNode[] = [];
  /** Units this thread holds, most recent last (handles are per thread). */
  private readonly held: number[] = [];

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, options: SemaphoreOptions) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.i32 = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.base = byteOffset / 4;
    this.units = Atomics.load(this.i32, this.base + SEM.units);
    this.kind = Atomics.load(this.i32, this.base + SEM.waitKind);
    this.livenessIntervalMs = options.livenessIntervalMs ?? 5;
    if (!(this.livenessIntervalMs > 0)) throw new InvalidArgumentError('livenessIntervalMs must be > 0');
    this.asyncLivenessIntervalMs = options.asyncLivenessIntervalMs ?? Math.max(this.livenessIntervalMs, ASYNC_LIVENESS_DEFAULT_MS);
    if (!(this.asyncLivenessIntervalMs > 0)) throw new InvalidArgumentError('asyncLivenessIntervalMs must be > 0');
    // Without the native addon there is no robust list (nodes are null): waiters then read /proc between sleeps.
    const views = { i32: this.i32, f64: new Float64Array(buffer, 0, buffer.byteLength >> 3) };
    for (let i = 0; i < this.units; i++) {
      const node = robustNode(buffer, byteOffset + SEM_UNITS_OFFSET + i * UNIT_INTS * 4, views);
      if (node) this.nodes.push(node);
    }
    this.list = this.nodes.length > 0 ? threadRobustList() : null;
  }

  /** Write a fresh semaphore with every unit free at byteOffset (8-byte aligned, RobustSemaphore.bytes(units) long). */
  static initialize(buffer: SharedArrayBuffer, byteOffset: number, options: SemaphoreInitializeOptions & SemaphoreOptions): RobustSemaphore {
    const units = options.units;
    if (!Number.isInteger(units) || units < 1 || units > MAX_UNITS) throw new InvalidArgumentError(`units must be an integer from 1 to ${MAX_UNITS}, got ${String(units)}`);
    checkPlacement(buffer, byteOffset, semaphoreBytes(units), 'semaphore');
    let mechanism = options.waitMechanism;
    if (mechanism === undefined) {
      try {
        native();
        mechanism = 'futex';
      } catch {
        mechanism = 'atomics';
      }
    }
    const i32 = new Int32Array(buffer, byteOffset, semaphoreBytes(units) / 4);
    i32.fill(0);
    for (let i = 0; i < units; i++) initRobustNode(buffer, byteOffset + SEM_UNITS_OFFSET + i * UNIT_INTS * 4);
    Atomics.store(i32, SEM.units, units);
    Atomics.store(i32, SEM.waitKind, mechanism === 'futex' ? WAIT_FUTEX : WAIT_ATOMICS);
    Atomics.store(i32, SEM.version, SEM_LAYOUT_VERSION);
    Atomics.store(i32, SEM.magic, SEM_MAGIC);
    return RobustSemaphore.at(buffer, byteOffset, options);
  }

  /** Attach to a semaphore that initialize() wrote (in any thread or process). */
  static at(buffer: SharedArrayBuffer, byteOffset: number, options: SemaphoreOptions = {}): RobustSemaphore {
    checkPlacement(buffer, byteOffset, SEM_UNITS_OFFSET, 'semaphore');
    const i32 = new Int32Array(buffer, byteOffset, SEM_UNITS_OFFSET / 4);
    checkLayoutHeader(i32, SEM, { magic: SEM_MAGIC, version: SEM_LAYOUT_VERSION }, 'semaphore', byteOffset, SemaphoreLayoutError);
    checkPlacement(buffer, byteOffset, semaphoreBytes(Atomics.load(i32, SEM.units)), 'semaphore');
    return new RobustSemaphore(buffer, byteOffset, options);
  }

  /** Find the semaphore called `name` in a region, creating it with `units` units on first use. */
  static open(region: NamedObjectHost, name: string, options: SemaphoreInitializeOptions & SemaphoreOptions): RobustSemaphore {
    const { offset } = region.findOrCreate(`semaphore:${name}`, semaphoreBytes(options.units), (byteOffset) => {
      RobustSemaphore.initialize(region.buffer, byteOffset, options);
    });
    const sem = RobustSemaphore.at(region.buffer, offset, options);
    if (sem.units !== options.units) throw new SemaphoreLayoutError(`semaphore '${name}' has ${sem.units} units, not ${options.units}`);
    return sem;
  }

  /** Block until a unit is held ('acquired') or the timeout passes ('timeout'). */
  acquire(timeoutMs = Infinity): SemaphoreResult {
    if (timeoutMs !== Infinity) checkTimeout(timeoutMs);
    const steps = this.acquiring(currentThreadIdentity(), timeoutMs, false, false);
    let next = steps.next(false);
    while (!next.done) {
      const { seq, sliceMs } = next.value;
      next = steps.next(waitSlice(this.freeSeqWord(), seq, sliceMs) === 'timed-out');
    }
    return next.value;
  }

  /** One attempt: 'busy' when every unit is held by a live holder. */
  tryAcquire(): SemaphoreResult {
    const next = this.acquiring(currentThreadIdentity(), 0, true, false).next(false);
    return next.done ? next.value : NOT_OWNED_BUSY;
  }

  /** acquire() without blocking the event loop; rejects with the signal's reason when it aborts. */
  async acquireAsync(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<SemaphoreResult> {
    const timeoutMs = options.timeoutMs ?? Infinity;
    checkTimeout(timeoutMs);
    const { signal } = options;
    signal?.throwIfAborted();
    // See the file comment: watching every unit word is what lets the kernel's death wake reach us.
    const watchUnits = this.kind === WAIT_FUTEX && this.units <= MAX_WATCHED_UNITS;
    const steps = this.acquiring(currentThreadIdentity(), timeoutMs, false, watchUnits);
    const freeSeq = this.freeSeqWord();
    try {
      let next = steps.next(false);
      while (!next.done) {
        const { seq, sliceMs, remainingMs, watched } = next.value;
        const sleepMs = watchUnits ? Math.min(this.asyncLivenessIntervalMs, remainingMs) : sliceMs;
        const outcome = await waitAsyncAny([{ word: freeSeq, expected: seq }, ...watched], sleepMs, signal);
        next = steps.next(outcome === 'timed-out');
      }
      return next.value;
    } finally {
      // Runs the generator's finally (sleepers count, waiter slot) when we leave early (abort).
      steps.return(NOT_OWNED_TIMEOUT);
    }
  }

  /** What serves acquireAsync() in this process (see AsyncWaitMechanism). */
  get asyncWaitMechanism(): AsyncWaitMechanism {
    return asyncWaitMechanism(this.kind);
  }

  private freeSeqWord(): WaitWord {
    return this.wordAt(this.base + SEM.freeSeq);
  }

  private wordAt(index: number): WaitWord {
    return { sab: this.buffer, i32: this.i32, index, kind: this.kind };
  }

  /**
   * Set FUTEX_WAITERS in every held unit word, so the kernel wakes us when its
   * holder dies, and return the words with the values to sleep on. null when
   * a unit turned out free or dead meanwhile: look again instead of sleeping.
   */
  private flagHeldUnits(): WordValue[] | null {
    const i32 = this.i32;
    const watched: WordValue[] = [];
    for (let unit = 0; unit < this.units; unit++) {
      const at = this.unitAt(unit);
      const v = Atomics.load(i32, at);
      if ((v & TID_MASK) === 0) return null;
      const flagged = v | WAITERS;
      if (v !== flagged && Atomics.compareExchange(i32, at, v, flagged) !== v) return null;
      watched.push({ word: this.wordAt(at), expected: flagged });
    }
    return watched;
  }

  private *acquiring(me: OwnerIdentity, timeoutMs: number, tryOnly: boolean, watchUnits: boolean): Generator<SemSleep, SemaphoreResult, boolean> {
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    const i32 = this.i32;
    const b = this.base;
    let deadHolders: OwnerIdentity[] | null = null;
    let registered = -1;
    let sleeping = false;
    try {
      for (;;) {
        const seq = Atomics.load(i32, b + SEM.freeSeq);
        const start = me.tid % this.units;
        for (let k = 0; k < this.units; k++) {
          const unit = (start + k) % this.units;
          const at = this.unitAt(unit);
          const v = Atomics.load(i32, at);
          if (v !== 0 && (v & TID_MASK) === 0) {
            const dead = this.reclaim(unit, v, me);
            if (dead) (deadHolders ??= []).push(dead);
          }
          if (this.claim(unit, me)) {
            Atomics.add(i32, b + SEM.acquisitions, 1);
            return { owned: true, status: 'acquired', abandoned: false, unit, unitsReclaimed: deadHolders?.length ?? 0, deadHolders: deadHolders ?? NONE };
          }
        }
        if (tryOnly) return NOT_OWNED_BUSY;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return NOT_OWNED_TIMEOUT;
        if (registered < 0) registered = this.register(me.tid);
        if (!sleeping) {
          // Before the next look: a release after it sees us and wakes the free sequence.
          Atomics.add(i32, b + SEM.sleepers, 1);
          sleeping = true;
          continue;
        }
        let watched: readonly WordValue[] = NO_WORDS;
        if (watchUnits) {
          const flagged = this.flagHeldUnits();
          if (flagged === null) continue;
          watched = flagged;
        }
        if (yield { seq, sliceMs: Math.min(this.livenessIntervalMs, remaining), remainingMs: remaining, watched }) this.markDeadHolders();
      }
    } finally {
      if (sleeping) Atomics.sub(i32, b + SEM.sleepers, 1);
      if (registered >= 0) Atomics.compareExchange(i32, b + SEM.waiters + registered, me.tid, 0);
    }
  }

  /** Release the unit the calling thread acquired last. Throws NotOwnerError when it holds none. */
  release(): void {
    const me = currentThreadIdentity();
    const i32 = this.i32;
    for (;;) {
      const unit = this.held.pop();
      if (unit === undefined) throw new NotOwnerError('the calling thread holds no unit of this semaphore');
      const at = this.unitAt(unit);
      // Not ours any more only if we were declared dead, which a live thread never is.
      if ((Atomics.load(i32, at) & TID_MASK) !== me.tid) continue;
      i32[at + U.pid] = 0;
      i32[at + U.startTime] = 0;
      const node = this.nodes[unit]!;
      this.list?.pending(node);
      this.list?.unlink(node);
      Atomics.exchange(i32, at, 0);
      this.list?.clearPending();
      this.announceFree();
      return;
    }
  }

  /** How many units the calling thread holds through this handle. */
  get heldByCurrentThread(): number {
    return this.held.length;
  }

  private announceFree(): void {
    const i32 = this.i32;
    const b = this.base;
    Atomics.add(i32, b + SEM.freeSeq, 1);
    if (Atomics.load(i32, b + SEM.sleepers) > 0) {
      wake(this.freeSeqWord(), 1);
    }
  }

  private unitAt(unit: number): number {
    return this.base + SEM.first + unit * UNIT_INTS;
  }

  private claim(unit: number, me: OwnerIdentity): boolean {
    const i32 = this.i32;
    const at = this.unitAt(unit);
    if (i32[at] !== 0) return false;
    const node = this.nodes[unit]!;
    this.list?.pending(node);
    // Async waiters may still sleep on this word since its last holder (a
    // release's exchange cleared their FUTEX_WAITERS and woke only the free
    // sequence): with sleepers about, keep the flag so that our death wakes one.
    const word = Atomics.load(i32, this.base + SEM.sleepers) > 0 ? me.tid | WAITERS : me.tid;
    if (Atomics.compareExchange(i32, at, 0, word) !== 0) {
      this.list?.clearPending();
      return false;
    }
    this.list?.link(node);
    this.list?.clearPending();
    i32[at + U.pid] = me.pid;
    i32[at + U.startTime] = me.startTime | 0;
    // Last: the start time counts for the tid in the word only once this names it (markDeadHolders).
    Atomics.store(i32, at + U.tid, me.tid);
    this.held.push(unit);
    return true;
  }

  /** Take back the unit of a dead holder (the word says OWNER_DIED); returns who held it, or null when someone was faster. */
  private reclaim(unit: number, v: number, me: OwnerIdentity): OwnerIdentity | null {
    const i32 = this.i32;
    const at = this.unitAt(unit);
    const dead = { tid: i32[at + U.tid] ?? 0, pid: i32[at + U.pid] ?? 0, startTime: (i32[at + U.startTime] ?? 0) >>> 0 };
    // Hold it for a moment (our TID) while its fields are reset, then free it.
    if (Atomics.compareExchange(i32, at, v, me.tid) !== v) return null;
    i32[at + U.pid] = 0;
    i32[at + U.startTime] = 0;
    i32[at + U.tid] = 0;
    Atomics.store(i32, at, 0);
    Atomics.add(i32, this.base + SEM.reclaimed, 1);
    return dead;
  }

  /** The /proc fallback: mark units of holders that are gone as the kernel would. */
  private markDeadHolders(): void {
    const i32 = this.i32;
    for (let unit = 0; unit < this.units; unit++) {
      const at = this.unitAt(unit);
      const v = Atomics.load(i32, at);
      const tid = v & TID_MASK;
      if (tid === 0) continue;
      // A unit held for a moment by its reclaimer still carries the dead
      // holder's start time: judged by it, the live reclaimer was "reused",
      // so dead, and the unit could be freed twice. The start time counts
      // only when the recorded tid is the word's.
      const startTime = Atomics.load(i32, at + U.tid) === tid ? Atomics.load(i32, at + U.startTime) >>> 0 : 0;
      const liveness = ownerLiveness({ tid, startTime });
      if (liveness === 'alive' || (liveness === 'reused' && startTime === 0)) continue;
      Atomics.compareExchange(i32, at, v, (v & WAITERS) | OWNER_DIED);
    }
  }

  private register(tid: number): number {
    const first = this.base + SEM.waiters;
    for (let i = 0; i < SEM_WAITER_SLOTS; i++) {
      if (Atomics.load(this.i32, first + i) === 0 && Atomics.compareExchange(this.i32, first + i, 0, tid) === 0) return i;
    }
    return -1;
  }

  /** Holders (tid, pid, alive), free units, waiters. A dead holder is listed (alive: false) until the next acquire takes its unit back. */
  inspect(): SemaphoreSnapshot {
    const i32 = this.i32;
    const b = this.base;
    const holders: SemaphoreSnapshot['holders'] = [];
    let free = 0;
    for (let unit = 0; unit < this.units; unit++) {
      const at = this.unitAt(unit);
      const v = Atomics.load(i32, at);
      if (v === 0) {
        free++;
        continue;
      }
      const tid = v & TID_MASK;
      const startTime = (i32[at + U.startTime] ?? 0) >>> 0;
      const liveness = tid === 0 ? 'gone' : ownerLiveness({ tid, startTime });
      holders.push({ unit, tid, pid: i32[at + U.pid] ?? 0, alive: liveness === 'alive' || (liveness === 'reused' && startTime === 0) });
    }
    let waiting = 0;
    for (let i = 0; i < SEM_WAITER_SLOTS; i++) if (Atomics.load(i32, b + SEM.waiters + i) !== 0) waiting++;
    return { units: this.units, free, holders, waiting, unitsReclaimed: Atomics.load(i32, b + SEM.reclaimed), acquisitions: Atomics.load(i32, b + SEM.acquisitions) };
  }
}
