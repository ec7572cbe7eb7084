// RobustMutex: a recursive mutex in shared memory whose owner's death is
// detected, reported as "abandoned" (WAIT_ABANDONED / EOWNERDEAD), and
// recovered from. Works across worker threads and processes.
import { testHooksOf } from '../test-hooks.js';
import { InvalidArgumentError } from '../errors.js';
import { native } from '../native/index.js';
import { LockTimeoutError, MutexLayoutError, NotOwnerError, NotRecoverableError } from './errors.js';
import {
  CONSISTENT,
  I,
  INCONSISTENT,
  LAYOUT_VERSION,
  MAGIC,
  MUTEX_BYTES,
  NOT_RECOVERABLE,
  NOT_RECOVERABLE_TID,
  OWNER_DIED,
  TID_MASK,
  WAIT_ATOMICS,
  WAIT_FUTEX,
  WAITER_SLOTS,
  WAITERS,
  encodeOwner,
  highOf,
  lowOf,
} from './mutex-layout.js';
import { currentThreadIdentity, ownerLiveness, processOfThread, readThreadStat } from './owner.js';
import { robustEntry, threadRobustList, type RobustEntry, type ThreadRobustList } from './robust-list.js';
import type { AcquireResult, MutexSnapshot, MutexState, NamedObjectHost, NotOwned, Owned, OwnerIdentity, RecoveryPolicy } from './types.js';
import { waitSlice, wake, type WaitWord } from './waiting.js';

/** Options of one handle on a mutex (per thread, not stored in shared memory). */
export interface MutexOptions {
  /**
   * How often (ms) a blocked waiter looks at the owner's liveness when no
   * release woke it. Bounds death-detection latency; default 1 ms. A waiter
   * is asleep in the kernel between looks, so a longer interval costs latency,
   * not CPU.
   */
  livenessIntervalMs?: number;
  /** Spin iterations before sleeping on a held lock (short critical sections hand over faster). */
  spin?: number;
}

/** What initialize() / open() write into a new mutex (shared by every handle). */
export interface InitializeOptions {
  /** Default 'posix': see RecoveryPolicy. */
  policy?: RecoveryPolicy;
  /**
   * 'futex' (default when the native addon is built) wakes waiters in every
   * process; 'atomics' needs no addon but only works between threads of one process.
   */
  waitMechanism?: 'futex' | 'atomics';
}

export type { NamedObjectHost } from './types.js';

const ACQUIRED_FIRST: Owned = Object.freeze({ owned: true, status: 'acquired', abandoned: false, depth: 1 });
const NOT_OWNED_TIMEOUT: NotOwned = Object.freeze({ owned: false, status: 'timeout', abandoned: false });
const NOT_OWNED_BUSY: NotOwned = Object.freeze({ owned: false, status: 'busy', abandoned: false });
const NOT_OWNED_UNRECOVERABLE: NotOwned = Object.freeze({ owned: false, status: 'not-recoverable', abandoned: false });

function defaultWaitMechanism(): 'futex' | 'atomics' {
  try {
    native();
    return 'futex';
  } catch {
    return 'atomics';
  }
}

/**
 * A robust, recursive mutex in shared memory.
 *
 * ```ts
 * const r = mutex.acquire();
 * if (!r.owned) throw new Error(r.status);        // timeout / not-recoverable only
 * try {
 *   if (r.abandoned) { repair(); mutex.markConsistent(); }
 *   // ... critical section ...
 * } finally { mutex.release(); }
 * ```
 *
 * "Abandoned" is a success: you own the mutex. Always test `owned`.
 */
export class RobustMutex {
  /** Bytes a mutex occupies (reserve this much, 8-byte aligned). */
  static readonly BYTES = MUTEX_BYTES;

  /** The shared memory the mutex lives in. */
  readonly buffer: SharedArrayBuffer;
  /** Where in `buffer` (8-byte aligned). */
  readonly byteOffset: number;
  private readonly i32: Int32Array;
  private readonly i64: BigInt64Array;
  private readonly base: number;
  private readonly word64: number;
  private readonly lockWord: WaitWord;
  private readonly livenessIntervalMs: number;
  private readonly spin: number;
  private readonly onLockWordTaken: (() => void) | undefined;
  /** This thread's kernel robust list and this mutex's entry in it (null without the addon). */
  private readonly robustList: ThreadRobustList | null;
  private readonly entry: RobustEntry | null;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, options: MutexOptions) {
    checkPlacement(buffer, byteOffset);
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    // Views end at a whole element: a buffer's length need not be a multiple of 8.
    this.i32 = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.i64 = new BigInt64Array(buffer, 0, buffer.byteLength >> 3);
    this.base = byteOffset / 4;
    this.word64 = byteOffset / 8;
    this.livenessIntervalMs = options.livenessIntervalMs ?? 5;
    this.spin = options.spin ?? 100;
    // Test-only (src/test-hooks.ts): a test kills the owner right after the lock word was taken (hard case 1).
    this.onLockWordTaken = testHooksOf(options).onLockWordTaken;
    if (!(this.livenessIntervalMs > 0)) throw new InvalidArgumentError('livenessIntervalMs must be > 0');
    // initialize() writes the mechanism before the magic; at() checks the magic right after construction.
    this.lockWord = { sab: buffer, i32: this.i32, index: this.base + I.lockLow, kind: Atomics.load(this.i32, this.base + I.waitKind) };
    this.robustList = threadRobustList();
    this.entry = this.robustList ? robustEntry(buffer, this.i64, byteOffset) : null;
  }

  /** Write a fresh, unowned mutex at byteOffset (8-byte aligned, RobustMutex.BYTES long). */
  static initialize(buffer: SharedArrayBuffer, byteOffset: number, options: InitializeOptions & MutexOptions = {}): RobustMutex {
    checkPlacement(buffer, byteOffset);
    const policy = options.policy ?? 'posix';
    if (policy !== 'posix' && policy !== 'windows') throw new InvalidArgumentError(`policy must be 'posix' or 'windows', got ${String(policy)}`);
    const mechanism = options.waitMechanism ?? defaultWaitMechanism();
    const i32 = new Int32Array(buffer, byteOffset, MUTEX_BYTES / 4);
    i32.fill(0);
    Atomics.store(i32, I.policy, policy === 'posix' ? 0 : 1);
    Atomics.store(i32, I.waitKind, mechanism === 'futex' ? WAIT_FUTEX : WAIT_ATOMICS);
    Atomics.store(i32, I.version, LAYOUT_VERSION);
    // The magic goes last: `at()` in another thread treats it as "ready".
    Atomics.store(i32, I.magic, MAGIC);
    return RobustMutex.at(buffer, byteOffset, options);
  }

  /** Attach to a mutex that initialize() wrote (in any thread or process). */
  static at(buffer: SharedArrayBuffer, byteOffset: number, options: MutexOptions = {}): RobustMutex {
    const mutex = new RobustMutex(buffer, byteOffset, options);
    const magic = Atomics.load(mutex.i32, mutex.base + I.magic);
    if (magic !== MAGIC) throw new MutexLayoutError(`no robust mutex at byte offset ${byteOffset} (magic ${magic.toString(16)})`);
    const version = Atomics.load(mutex.i32, mutex.base + I.version);
    if (version !== LAYOUT_VERSION) throw new MutexLayoutError(`mutex layout version ${version}, this library reads ${LAYOUT_VERSION}`);
    return mutex;
  }

  /** Find the mutex called `name` in a region, creating it on first use (like a Windows named mutex). */
  static open(region: NamedObjectHost, name: string, options: InitializeOptions & MutexOptions = {}): RobustMutex {
    const { offset } = region.findOrCreate(`mutex:${name}`, MUTEX_BYTES, (byteOffset) => {
      RobustMutex.initialize(region.buffer, byteOffset, options);
    });
    return RobustMutex.at(region.buffer, offset, options);
  }

  /** The recovery policy chosen at initialisation (see RecoveryPolicy). */
  get policy(): RecoveryPolicy {
    return Atomics.load(this.i32, this.base + I.policy) === 0 ? 'posix' : 'windows';
  }

  // ---- acquiring -------------------------------------------------------

  /** Block until owned, abandoned-and-owned, timed out, or not recoverable. */
  acquire(timeoutMs = Infinity): AcquireResult {
    if (timeoutMs !== Infinity) checkTimeout(timeoutMs);
    // Fast path, uncontended: one compare-and-swap installs our whole identity.
    const me = currentThreadIdentity();
    this.announce();
    if (Atomics.compareExchange(this.i64, this.word64, 0n, ownerWord(me)) === 0n) return this.took(me, false, undefined);
    const result = this.acquireBlocking(me, timeoutMs);
    if (!result.owned) this.withdraw();
    return result;
  }

  private acquireBlocking(me: OwnerIdentity, timeoutMs: number): AcquireResult {
    // A short spin first: most critical sections end before a sleep would.
    for (let spins = 0; spins < this.spin; spins++) {
      const step = this.step(me, false, false);
      if (step.result) return step.result;
    }
    const waiting = this.waiting(me, timeoutMs);
    let next = waiting.next(false);
    while (!next.done) {
      const { waitValue, sliceMs } = next.value;
      next = waiting.next(waitSlice(this.lockWord, waitValue, sliceMs) === 'timed-out');
    }
    return next.value;
  }

  /**
   * The waiting loop of acquire() and acquireAsync(): it yields what to sleep
   * on and for how long; the caller sleeps its own way (futex, or
   * Atomics.waitAsync on the release sequence) and sends back whether the
   * sleep timed out.
   */
  private *waiting(me: OwnerIdentity, timeoutMs: number): Generator<{ waitValue: number; sliceMs: number; seq: number }, AcquireResult, boolean> {
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    let registered = -1;
    try {
      let checkOwner = false;
      for (;;) {
        // Read before looking at the lock word, so that an async waiter cannot miss a release in between.
        const seq = Atomics.load(this.i32, this.base + I.releaseSeq);
        const step = this.step(me, true, checkOwner);
        if (step.result) return step.result;
        checkOwner = false;
        if (step.retry) continue;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return NOT_OWNED_TIMEOUT;
        if (registered < 0) registered = this.registerWaiter(me.tid);
        // Only a sleep that nobody cut short means the owner held on for a
        // whole interval: that is when it is worth asking /proc about it.
        checkOwner = yield { waitValue: step.waitValue, sliceMs: Math.min(this.livenessIntervalMs, remaining), seq };
      }
    } finally {
      if (registered >= 0) Atomics.compareExchange(this.i32, this.base + I.waiterSlots + registered, me.tid, 0);
    }
  }

  /** One attempt, never blocks: 'busy' when a live owner holds it. A dead owner is taken over at once. */
  tryAcquire(): AcquireResult {
    const me = currentThreadIdentity();
    for (;;) {
      const step = this.step(me, false, true);
      if (step.result) {
        if (!step.result.owned) this.withdraw();
        return step.result;
      }
      if (!step.retry) {
        this.withdraw();
        return NOT_OWNED_BUSY;
      }
    }
  }

  /**
   * Acquire without blocking the event loop. Same outcomes as acquire();
   * rejects with the signal's reason when `signal` aborts.
   */
  async acquireAsync(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<AcquireResult> {
    try {
      const result = await this.acquireWaiting(options);
      if (!result.owned) this.withdraw();
      return result;
    } catch (error) {
      this.withdraw();
      throw error;
    }
  }

  private async acquireWaiting(options: { timeoutMs?: number; signal?: AbortSignal }): Promise<AcquireResult> {
    const timeoutMs = options.timeoutMs ?? Infinity;
    checkTimeout(timeoutMs);
    const { signal } = options;
    signal?.throwIfAborted();
    const me = currentThreadIdentity();
    // A pending Atomics.waitAsync does not keep Node alive; this handle does.
    const keepAlive = setInterval(() => {}, 1 << 30);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => {});
    const waiting = this.waiting(me, timeoutMs);
    try {
      let next = waiting.next(false);
      while (!next.done) {
        signal?.throwIfAborted();
        // Releasers in this process notify the sequence word; a release in
        // another process cannot (V8 keeps waiters per process), so the slice
        // bound also bounds cross-process hand-over latency.
        const { seq, sliceMs } = next.value;
        const wait = Atomics.waitAsync(this.i32, this.base + I.releaseSeq, seq, sliceMs);
        const outcome = wait.async ? await Promise.race([wait.value, aborted]) : wait.value;
        next = waiting.next(outcome === 'timed-out');
      }
      return next.value;
    } finally {
      // Runs the generator's own finally (frees the waiter slot) when we leave early (abort).
      waiting.return(NOT_OWNED_TIMEOUT);
      clearInterval(keepAlive);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** acquire() that throws LockTimeoutError / NotRecoverableError instead of returning them. */
  acquireOrThrow(timeoutMs = Infinity): Owned {
    const result = this.acquire(timeoutMs);
    if (result.owned) return result;
    if (result.status === 'not-recoverable') throw new NotRecoverableError();
    throw new LockTimeoutError(timeoutMs);
  }

  /**
   * One look at the lock word: take it if free, recurse if ours, take it over
   * if its owner is dead. Otherwise report the value to sleep on.
   */
  private step(me: OwnerIdentity, wantWait: boolean, checkOwner: boolean): { result?: AcquireResult; waitValue: number; retry?: boolean } {
    const word = Atomics.load(this.i64, this.word64);
    const low = lowOf(word);
    const tid = low & TID_MASK;
    if (tid === 0 && (low & OWNER_DIED) !== 0) {
      // The kernel walked the dead owner's robust list: it cleared the TID and set OWNER_DIED.
      const next = encodeOwner(me.tid, me.startTime, wantWait || (low & WAITERS) !== 0);
      this.announce();
      if (Atomics.compareExchange(this.i64, this.word64, word, next) === word) {
        return { result: this.took(me, true, this.recordedOwner(highOf(word))), waitValue: 0 };
      }
      return { waitValue: 0, retry: true };
    }
    if (tid === 0) {
      // Free. A thread past its spin phase takes it with WAITERS set: the
      // release that woke it woke only one sleeper, others may still sleep,
      // and without the bit our own release would not wake them.
      const next = encodeOwner(me.tid, me.startTime, wantWait);
      this.announce();
      if (Atomics.compareExchange(this.i64, this.word64, word, next) === word) return { result: this.took(me, false, undefined), waitValue: 0 };
      return { waitValue: 0, retry: true };
    }
    if (tid === NOT_RECOVERABLE_TID) return { result: NOT_OWNED_UNRECOVERABLE, waitValue: 0 };
    const startTime = highOf(word);
    if (tid === me.tid && startTime === me.startTime >>> 0) {
      const depth = (this.i32[this.base + I.depth] ?? 0) + 1;
      this.i32[this.base + I.depth] = depth;
      return { result: { owned: true, status: 'acquired', abandoned: false, depth }, waitValue: 0 };
    }
    if (checkOwner) {
      if (ownerLiveness({ tid, startTime }) !== 'alive') {
        // Exactly one of several waiters that notice the death at once wins
        // this compare-and-swap (hard case 6); the others see a live owner.
        const next = encodeOwner(me.tid, me.startTime, wantWait || (low & WAITERS) !== 0);
        this.announce();
        if (Atomics.compareExchange(this.i64, this.word64, word, next) === word) {
          return { result: this.took(me, true, { ...this.recordedOwner(startTime), tid }), waitValue: 0 };
        }
        return { waitValue: 0, retry: true };
      }
    }
    if (wantWait && (low & WAITERS) === 0) {
      const flagged = BigInt.asIntN(64, word | BigInt(WAITERS >>> 0));
      if (Atomics.compareExchange(this.i64, this.word64, word, flagged) !== word) return { waitValue: 0, retry: true };
      return { waitValue: lowOf(flagged) };
    }
    return { waitValue: low };
  }

  /** Before any compare-and-swap that may make us owner: a death from here on is the kernel's to report. */
  private announce(): void {
    if (this.entry) this.robustList!.pending(this.entry);
  }

  /**
   * After an acquire that did not make us owner: a stale list_op_pending could
   * outlive this mapping, and at our exit the kernel would look at whatever
   * is mapped at that address by then.
   */
  private withdraw(): void {
    if (this.entry) this.robustList!.clearPending();
  }

  /** The owner as the metadata words remember it (it may have died before writing them). */
  private recordedOwner(startTime: number): OwnerIdentity {
    return { tid: this.i32[this.base + I.ownerTid] ?? 0, pid: this.i32[this.base + I.ownerPid] ?? 0, startTime };
  }

  private took(me: OwnerIdentity, abandoned: boolean, previousOwner: OwnerIdentity | undefined): Owned {
    this.onLockWordTaken?.();
    if (this.entry) {
      this.robustList!.link(this.entry);
      this.robustList!.clearPending();
    }
    const b = this.base;
    const i32 = this.i32;
    i32[b + I.ownerTid] = me.tid;
    // Fields only the owner writes are plain stores: the compare-and-swap that
    // made us owner, and the exchange that releases, are the fences that
    // publish them (x86 locked instructions); Atomics.store would add a fence each.
    i32[b + I.ownerPid] = me.pid;
    i32[b + I.depth] = 1;
    i32[b + I.acquisitions] = (i32[b + I.acquisitions] ?? 0) + 1;
    if (abandoned) {
      Atomics.add(i32, b + I.timesAbandoned, 1);
      // Under both policies the state is suspect until the new owner says otherwise;
      // only release() differs (posix: not recoverable; windows: passes on).
      Atomics.compareExchange(i32, b + I.consistency, CONSISTENT, INCONSISTENT);
      return previousOwner
        ? { owned: true, status: 'abandoned', abandoned: true, depth: 1, previousOwner }
        : { owned: true, status: 'abandoned', abandoned: true, depth: 1 };
    }
    return ACQUIRED_FIRST;
  }

  private registerWaiter(tid: number): number {
    const first = this.base + I.waiterSlots;
    for (let i = 0; i < WAITER_SLOTS; i++) {
      const current = Atomics.load(this.i32, first + i);
      if (current === 0 && Atomics.compareExchange(this.i32, first + i, 0, tid) === 0) return i;
    }
    return -1;
  }

  // ---- releasing -------------------------------------------------------

  /** True when the calling thread owns the mutex. */
  isHeldByCurrentThread(): boolean {
    return this.heldBy(currentThreadIdentity());
  }

  /**
   * Two 32-bit reads, no BigInt: while `me` owns the word nobody else changes
   * its identity (others may only add WAITERS), so a torn read cannot produce
   * a false "mine".
   */
  private heldBy(me: OwnerIdentity): boolean {
    const b = this.base;
    return ((this.i32[b + I.lockLow] ?? 0) & TID_MASK) === me.tid && this.i32[b + I.lockHigh] === (me.startTime | 0);
  }

  /** After an abandoned acquire: declare the protected state repaired (pthread_mutex_consistent). */
  markConsistent(): void {
    if (!this.isHeldByCurrentThread()) throw new NotOwnerError('markConsistent() needs the calling thread to own the mutex');
    Atomics.compareExchange(this.i32, this.base + I.consistency, INCONSISTENT, CONSISTENT);
  }

  /** Release one level of ownership. Throws NotOwnerError (ERROR_NOT_OWNER) when the caller is not the owner. */
  release(): void {
    const me = currentThreadIdentity();
    if (!this.heldBy(me)) throw new NotOwnerError();
    const b = this.base;
    const i32 = this.i32;
    const depth = i32[b + I.depth] ?? 0;
    if (depth > 1) {
      i32[b + I.depth] = depth - 1;
      return;
    }
    i32[b + I.depth] = 0;
    i32[b + I.ownerPid] = 0;
    i32[b + I.ownerTid] = 0;
    const entry = this.entry;
    if (entry) {
      // Unlinked but not yet released: list_op_pending covers a death in between.
      this.robustList!.pending(entry);
      this.robustList!.unlink(entry);
    }
    if (i32[b + I.consistency] !== INCONSISTENT) {
      const old = Atomics.exchange(this.i64, this.word64, 0n);
      if (old !== ownerWord(me)) this.wakeWaiters(1);
    } else {
      this.releaseInconsistent();
    }
    if (entry) this.robustList!.clearPending();
  }

  private releaseInconsistent(): void {
    const b = this.base;
    if (this.policy === 'posix') {
      Atomics.store(this.i32, b + I.consistency, NOT_RECOVERABLE);
      Atomics.store(this.i64, this.word64, encodeOwner(NOT_RECOVERABLE_TID, 0));
      this.wakeWaiters(0x7fff_ffff);
      return;
    }
    Atomics.store(this.i32, b + I.consistency, CONSISTENT);
    Atomics.store(this.i64, this.word64, 0n);
    this.wakeWaiters(1);
  }

  private wakeWaiters(count: number): void {
    wake(this.lockWord, count);
    Atomics.add(this.i32, this.base + I.releaseSeq, 1);
    Atomics.notify(this.i32, this.base + I.releaseSeq, count);
  }

  // ---- looking ---------------------------------------------------------

  /** A snapshot for tools and the lock lab. Reads /proc for the owner and waiters. */
  inspect(): MutexSnapshot {
    const b = this.base;
    const word = Atomics.load(this.i64, this.word64);
    const tid = lowOf(word) & TID_MASK;
    const consistency = Atomics.load(this.i32, b + I.consistency);
    let owner: OwnerIdentity | null = null;
    let ownerAlive: boolean | null = null;
    let state: MutexState;
    if (tid === NOT_RECOVERABLE_TID || consistency === NOT_RECOVERABLE) {
      state = 'not-recoverable';
    } else if (tid === 0 && (lowOf(word) & OWNER_DIED) !== 0) {
      owner = this.recordedOwner(highOf(word));
      ownerAlive = false;
      state = 'owner-dead';
    } else if (tid === 0) {
      state = 'free';
    } else {
      const startTime = highOf(word);
      const pid = Atomics.load(this.i32, b + I.ownerPid) || processOfThread(tid);
      owner = { tid, pid, startTime };
      ownerAlive = ownerLiveness(owner) === 'alive';
      state = !ownerAlive ? 'owner-dead' : consistency === INCONSISTENT ? 'owned-inconsistent' : 'owned';
    }
    let waiters = 0;
    for (let i = 0; i < WAITER_SLOTS; i++) {
      const slot = b + I.waiterSlots + i;
      const waiter = Atomics.load(this.i32, slot);
      if (waiter === 0) continue;
      // A waiter killed while it slept never cleared its slot.
      if (readThreadStat(waiter) === null) Atomics.compareExchange(this.i32, slot, waiter, 0);
      else waiters++;
    }
    return {
      state,
      owner,
      ownerAlive,
      depth: owner ? Atomics.load(this.i32, b + I.depth) : 0,
      waiters,
      timesAbandoned: Atomics.load(this.i32, b + I.timesAbandoned),
      policy: this.policy,
    };
  }

  /** How many times the mutex has been acquired (not counting recursion). */
  get acquisitions(): number {
    return Atomics.load(this.i32, this.base + I.acquisitions);
  }
}

// The lock-word values of the calling thread, computed once per thread
// (module state is per thread): BigInt arithmetic on every acquire would
// dominate the uncontended path.
let cachedFor: OwnerIdentity | undefined;
let cachedWord = 0n;

function ownerWord(me: OwnerIdentity): bigint {
  if (cachedFor !== me) {
    cachedFor = me;
    cachedWord = encodeOwner(me.tid, me.startTime);
  }
  return cachedWord;
}


function checkPlacement(buffer: SharedArrayBuffer, byteOffset: number): void {
  if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidArgumentError('a robust mutex needs a SharedArrayBuffer');
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0 || byteOffset + MUTEX_BYTES > buffer.byteLength) {
    throw new InvalidArgumentError(`mutex byteOffset must be a multiple of 8 with ${MUTEX_BYTES} bytes inside the buffer, got ${byteOffset}`);
  }
}

function checkTimeout(timeoutMs: number): void {
  if (typeof timeoutMs !== 'number' || Number.isNaN(timeoutMs) || timeoutMs < 0) {
    throw new InvalidArgumentError(`timeoutMs must be a number >= 0 (or Infinity), got ${String(timeoutMs)}`);
  }
}
