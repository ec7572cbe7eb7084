// RobustMutex: a recursive mutex in shared memory whose owner's death is
// detected, reported as "abandoned" (WAIT_ABANDONED / EOWNERDEAD), and
// recovered from. Works across worker threads and processes.
//
// The lock word is the Linux robust-futex word (TID | FUTEX_WAITERS |
// FUTEX_OWNER_DIED, 32 bits, see mutex-layout.ts), linked into the owner
// thread's robust list next to glibc's own robust mutexes (robust-list.ts).
// Who decides that an owner died:
// - the kernel, at the owner thread's exit (however it exits): it sets
//   OWNER_DIED in every word on the thread's list still holding its TID and
//   wakes one waiter. list_op_pending covers the instants between the
//   compare-and-swap on the word and the (un)linking, so an owner that dies
//   right after taking the word, before writing anything else (hard case 1),
//   is marked too;
// - the environment cleanup hook of the native layer, earlier, when a worker
//   is torn down (same marking, see robust-list.cc);
// - without the addon (threads only, Atomics.wait), waiters polling /proc
//   between wait slices. The owner writes its start time (+4) and then its
//   TID record (+56) right after the compare-and-swap, so a waiter may find
//   the word taken and the start time not yet the owner's (hard case 1, or a
//   live owner a few instructions behind). The record tells the two apart:
//   while it does not equal the word's TID, the start time is not trusted and
//   only a certain death counts (no such thread, zombie, exiting: see
//   threadLiveness); a live thread with that TID is taken for the owner,
//   unless the word stays unrecorded for seconds while that thread runs
//   (see ownerGone: not an acquire's doing, e.g. a scribbled word). When
//   it equals the TID, a different start time in /proc means the TID was
//   handed to a new thread (hard case 2). A waiter that finds the owner dead
//   marks the word OWNER_DIED by compare-and-swap on the exact value it
//   judged, as the kernel would, and then takes it like any OWNER_DIED word:
//   one winner (hard case 6).
import { testHooksOf } from '../test-hooks.js';
import { InvalidArgumentError } from '../errors.js';
import { native } from '../native/index.js';
import { LockTimeoutError, MutexLayoutError, MutexPolicyMismatchError, NotInconsistentError, NotOwnerError, NotRecoverableError } from './errors.js';
import {
  CONSISTENT,
  I,
  INCONSISTENT,
  LAYOUT_VERSION,
  MAGIC,
  MUTEX_BYTES,
  NODE_TAG,
  NOT_RECOVERABLE,
  NOT_RECOVERABLE_TID,
  OWNER_DIED,
  TID_MASK,
  V1,
  WAIT_ATOMICS,
  WAIT_FUTEX,
  WAITER_SLOTS,
  WAITERS,
} from './mutex-layout.js';
import { currentThreadIdentity, ownerLiveness, processOfThread, readThreadStat, threadLiveness, type Liveness } from './owner.js';
import { PENDING, robustNode, threadRobustList, type RobustNode, type ThreadRobustList } from './robust-list.js';
import type { AcquireResult, MutexSnapshot, MutexState, NamedObjectHost, NotOwned, Owned, OwnerIdentity, RecoveryPolicy } from './types.js';
import { asyncWaitMechanism, waitAsync, waitSlice, wake, type AsyncWaitMechanism, type WaitWord } from './waiting.js';
import { checkPlacement, checkTimeout } from './lock-arguments.js';

/** Options of one handle on a mutex (per thread, not stored in shared memory). */
export interface MutexOptions {
  /**
   * How often (ms) a blocked waiter looks at the owner's liveness when no
   * release woke it. Bounds death-detection latency; default 1 ms. A waiter
   * is asleep in the kernel between looks, so a longer interval costs latency,
   * not CPU.
   */
  livenessIntervalMs?: number;
  /**
   * How often (ms) an acquireAsync() waiter on a futex word (the addon's
   * default) looks at the owner's liveness when nothing woke it. The kernel
   * wakes it at a release in any process and at the owner's death (robust
   * list), so this is only a safety net for an owner the kernel does not
   * report; each look costs a /proc read and a timer per pending acquire.
   * Default max(livenessIntervalMs, 1000). Atomics-only mutexes use livenessIntervalMs.
   */
  asyncLivenessIntervalMs?: number;
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
/** Default shortest interval between an async waiter's /proc looks at the owner on a futex word (see acquireWaiting). */
const ASYNC_LIVENESS_DEFAULT_MS = 1000;

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
  /** Int32 index of the lock word in i32. */
  private readonly base: number;
  /** The mutex's own 32 Int32s (lock word at 0, fields at I.x): constant indices on the hot path. */
  private readonly m: Int32Array;
  private readonly lockWord: WaitWord;
  private readonly livenessIntervalMs: number;
  private readonly asyncLivenessIntervalMs: number;
  private readonly spin: number;
  private readonly onLockWordTaken: (() => void) | undefined;
  private readonly onDeadRecordMarked: (() => void) | undefined;
  /** This thread's kernel robust list and this mutex's node in it (null without the addon). */
  private readonly robustList: ThreadRobustList | null;
  private readonly node: RobustNode | null;
  /** The list head's slots (robustList.head) and our node's pointer, for list_op_pending on the hot path. */
  private readonly head: Float64Array | null;
  private readonly nodePointer: number;
  /**
   * The calling thread: a RobustMutex object lives in one isolate, i.e. one
   * thread, for its whole life (JS objects do not move between threads).
   */
  private readonly me: OwnerIdentity;
  /** A word seen held by a live thread that had not recorded itself, and since when (ownerGone). */
  private unrecordedWord = 0;
  private unrecordedSince = 0;
  /** Its fields as the Int32 values stored on the hot path. */
  private readonly tid: number;
  private readonly pid: number;
  private readonly startTime32: number;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, options: MutexOptions) {
    checkPlacement(buffer, byteOffset, MUTEX_BYTES, 'mutex');
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    // Views end at a whole element: a buffer's length need not be a multiple of 8.
    this.i32 = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.base = byteOffset / 4;
    this.m = new Int32Array(buffer, byteOffset, MUTEX_BYTES / 4);
    this.livenessIntervalMs = options.livenessIntervalMs ?? 5;
    this.spin = options.spin ?? 100;
    // Test-only (src/test-hooks.ts): a test kills the owner right after the lock word was taken (hard case 1).
    this.onLockWordTaken = testHooksOf(options).onLockWordTaken;
    this.onDeadRecordMarked = testHooksOf(options).onDeadRecordMarked;
    if (!(this.livenessIntervalMs > 0)) throw new InvalidArgumentError('livenessIntervalMs must be > 0');
    this.asyncLivenessIntervalMs = options.asyncLivenessIntervalMs ?? Math.max(this.livenessIntervalMs, ASYNC_LIVENESS_DEFAULT_MS);
    if (!(this.asyncLivenessIntervalMs > 0)) throw new InvalidArgumentError('asyncLivenessIntervalMs must be > 0');
    // initialize() writes the mechanism before the magic; at() checks the magic right after construction.
    this.lockWord = { sab: buffer, i32: this.i32, index: this.base + I.lock, kind: Atomics.load(this.m, I.waitKind) };
    this.robustList = this.lockWord.kind === WAIT_FUTEX ? threadRobustList() : null;
    this.node = this.robustList ? robustNode(buffer, byteOffset, { i32: this.i32, f64: new Float64Array(buffer, 0, buffer.byteLength >> 3) }) : null;
    this.head = this.node ? this.robustList!.head : null;
    this.nodePointer = this.node ? this.node.pointer : 0;
    this.me = currentThreadIdentity();
    this.tid = this.me.tid;
    this.pid = this.me.pid;
    this.startTime32 = this.me.startTime | 0;
  }

  /** Write a fresh, unowned mutex at byteOffset (8-byte aligned, RobustMutex.BYTES long). */
  static initialize(buffer: SharedArrayBuffer, byteOffset: number, options: InitializeOptions & MutexOptions = {}): RobustMutex {
    checkPlacement(buffer, byteOffset, MUTEX_BYTES, 'mutex');
    const policy = options.policy ?? 'posix';
    if (policy !== 'posix' && policy !== 'windows') throw new InvalidArgumentError(`policy must be 'posix' or 'windows', got ${String(policy)}`);
    const mechanism = options.waitMechanism ?? defaultWaitMechanism();
    const i32 = new Int32Array(buffer, byteOffset, MUTEX_BYTES / 4);
    i32.fill(0);
    Atomics.store(i32, I.tag, NODE_TAG);
    Atomics.store(i32, I.policy, policy === 'posix' ? 0 : 1);
    Atomics.store(i32, I.waitKind, mechanism === 'futex' ? WAIT_FUTEX : WAIT_ATOMICS);
    Atomics.store(i32, I.version, LAYOUT_VERSION);
    // The magic goes last: `at()` in another thread treats it as "ready".
    Atomics.store(i32, I.magic, MAGIC);
    return RobustMutex.at(buffer, byteOffset, options);
  }

  /** Attach to a mutex that initialize() wrote (in any thread or process). */
  static at(buffer: SharedArrayBuffer, byteOffset: number, options: MutexOptions = {}): RobustMutex {
    checkPlacement(buffer, byteOffset, MUTEX_BYTES, 'mutex');
    checkLayout(new Int32Array(buffer, byteOffset, MUTEX_BYTES / 4), byteOffset);
    return new RobustMutex(buffer, byteOffset, options);
  }

  /**
   * Find the mutex called `name` in a region, creating it on first use (like a
   * Windows named mutex). An explicit `policy` (or `waitMechanism`) that differs
   * from the existing mutex's throws MutexPolicyMismatchError.
   */
  static open(region: NamedObjectHost, name: string, options: InitializeOptions & MutexOptions = {}): RobustMutex {
    const { offset } = region.findOrCreate(`mutex:${name}`, MUTEX_BYTES, (byteOffset) => {
      RobustMutex.initialize(region.buffer, byteOffset, options);
    });
    const mutex = RobustMutex.at(region.buffer, offset, options);
    if (options.policy !== undefined && mutex.policy !== options.policy) {
      throw new MutexPolicyMismatchError(`mutex '${name}' exists with policy '${mutex.policy}', not the '${options.policy}' asked for`);
    }
    if (options.waitMechanism !== undefined && mutex.waitMechanism !== options.waitMechanism) {
      throw new MutexPolicyMismatchError(`mutex '${name}' exists with wait mechanism '${mutex.waitMechanism}', not the '${options.waitMechanism}' asked for`);
    }
    return mutex;
  }

  /** The recovery policy chosen at initialisation (see RecoveryPolicy). */
  get policy(): RecoveryPolicy {
    return Atomics.load(this.m, I.policy) === 0 ? 'posix' : 'windows';
  }

  /** How waiters sleep on this mutex, chosen at initialisation: the kernel futex (cross-process, woken at an owner's death) or V8's Atomics.wait (one process). */
  get waitMechanism(): 'futex' | 'atomics' {
    return this.lockWord.kind === WAIT_FUTEX ? 'futex' : 'atomics';
  }

  // ---- acquiring -------------------------------------------------------

  /** Block until owned, abandoned-and-owned, timed out, or not recoverable. */
  acquire(timeoutMs = Infinity): AcquireResult {
    if (timeoutMs !== Infinity) checkTimeout(timeoutMs);
    // Fast path, uncontended: list_op_pending, then one compare-and-swap of the 32-bit word.
    const me = this.me;
    const head = this.head;
    if (head !== null) head[PENDING] = this.nodePointer;
    if (Atomics.compareExchange(this.m, 0, 0, me.tid) === 0) {
      this.tookWord();
      return ACQUIRED_FIRST;
    }
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
   * The waiting loop of acquire() and acquireAsync(): it yields the lock-word
   * value to sleep on and for how long; the caller sleeps its own way
   * (waitSlice or waitAsync) and sends back whether the sleep timed out.
   */
  private *waiting(me: OwnerIdentity, timeoutMs: number): Generator<{ waitValue: number; sliceMs: number }, AcquireResult, boolean> {
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    let registered = NOT_REGISTERED;
    try {
      let checkOwner = false;
      for (;;) {
        const step = this.step(me, true, checkOwner);
        if (step.result) return step.result;
        checkOwner = false;
        if (step.retry) continue;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return NOT_OWNED_TIMEOUT;
        if (registered === NOT_REGISTERED) registered = this.registerWaiter(me.tid);
        // Only a sleep that nobody cut short means the owner held on for a
        // whole interval: that is when it is worth asking /proc about it.
        checkOwner = yield { waitValue: step.waitValue, sliceMs: Math.min(this.livenessIntervalMs, remaining) };
      }
    } finally {
      this.unregisterWaiter(registered, me.tid);
    }
  }

  /** One attempt, never blocks: 'busy' when a live owner holds it. A dead owner is taken over at once. */
  tryAcquire(): AcquireResult {
    const me = this.me;
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
    const me = this.me;
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    // Async sleeps are on the lock word itself (waiting.ts): a release in any
    // process wakes them, and so does the kernel at the owner's death (its
    // robust-list walk sets OWNER_DIED and wakes the word). The /proc look
    // between sleeps is then only a safety net for an owner the kernel does not
    // report (one whose thread had no robust list): hundreds of pending
    // acquires must not each read /proc every livenessIntervalMs (500 pending
    // acquires looking every second cost ~1% of a core here).
    const lookMs = this.lockWord.kind === WAIT_FUTEX ? this.asyncLivenessIntervalMs : this.livenessIntervalMs;
    const waiting = this.waiting(me, timeoutMs);
    try {
      let next = waiting.next(false);
      while (!next.done) {
        const sliceMs = Math.max(0, Math.min(lookMs, deadline - performance.now()));
        const outcome = await waitAsync(this.lockWord, next.value.waitValue, sliceMs, signal);
        next = waiting.next(outcome === 'timed-out');
      }
      return next.value;
    } finally {
      // Runs the generator's own finally (frees the waiter slot) when we leave early (abort).
      waiting.return(NOT_OWNED_TIMEOUT);
    }
  }

  /** What serves acquireAsync() in this process (see AsyncWaitMechanism). */
  get asyncWaitMechanism(): AsyncWaitMechanism {
    return asyncWaitMechanism(this.lockWord.kind);
  }

  /** acquire() that throws LockTimeoutError / NotRecoverableError instead of returning them. */
  acquireOrThrow(timeoutMs = Infinity): Owned {
    const result = this.acquire(timeoutMs);
    if (result.owned) return result;
    if (result.status === 'not-recoverable') throw new NotRecoverableError();
    throw new LockTimeoutError(timeoutMs);
  }

  /**
   * One look at the lock word: take it if free (or its owner died), recurse
   * if ours, mark it OWNER_DIED if its owner is dead. Otherwise report the
   * value to sleep on.
   */
  private step(me: OwnerIdentity, wantWait: boolean, checkOwner: boolean): { result?: AcquireResult; waitValue: number; retry?: boolean } {
    const m = this.m;
    const word = Atomics.load(m, 0);
    const tid = word & TID_MASK;
    if (tid === 0) {
      // Free, or free after its owner died: the kernel (or the cleanup hook,
      // or a waiter reading /proc) cleared the TID and set OWNER_DIED.
      const died = (word & OWNER_DIED) !== 0;
      // A thread past its spin phase takes it with WAITERS set: the release
      // that woke it woke only one sleeper, others may still sleep, and
      // without the bit our own release would not wake them.
      const next = me.tid | (wantWait || (died && (word & WAITERS) !== 0) ? WAITERS : 0);
      let previous: OwnerIdentity | undefined;
      if (died) {
        previous = this.recordedOwner();
        // The dead owner's record must not vouch for our start time (we may
        // have inherited its TID): marked stale by compare-and-swap, so a
        // racing taker never spoils the winner's record. Marked, not cleared:
        // when several waiters notice the death at once (hard case 6), the
        // one that wins the word may read the record after a loser marked
        // it, and must still name the dead owner.
        const recorded = Atomics.load(m, I.ownerTid);
        if (recorded !== 0 && (recorded & RECORD_STALE) === 0) Atomics.compareExchange(m, I.ownerTid, recorded, recorded | RECORD_STALE);
        if (this.onDeadRecordMarked !== undefined) this.onDeadRecordMarked();
      }
      this.announce();
      if (Atomics.compareExchange(m, 0, word, next) === word) return { result: this.took(me, died, previous), waitValue: 0 };
      return { waitValue: 0, retry: true };
    }
    if (tid === NOT_RECOVERABLE_TID) return { result: NOT_OWNED_UNRECOVERABLE, waitValue: 0 };
    if (tid === me.tid && m[I.startTime] === (me.startTime | 0)) {
      const depth = (m[I.depth] ?? 0) + 1;
      m[I.depth] = depth;
      return { result: { owned: true, status: 'acquired', abandoned: false, depth }, waitValue: 0 };
    }
    // Our own TID with another start time: a dead thread's that this one
    // inherited (this thread is not inside an acquire, so it is not the taker).
    if (tid === me.tid || (checkOwner && this.ownerGone(word, tid))) {
      // Exactly one of several waiters that notice the death at once wins
      // this compare-and-swap (hard case 6); the next step takes the word.
      Atomics.compareExchange(m, 0, word, (word & WAITERS) | OWNER_DIED);
      return { waitValue: 0, retry: true };
    }
    if (wantWait && (word & WAITERS) === 0) {
      const flagged = word | WAITERS;
      if (Atomics.compareExchange(m, 0, word, flagged) !== word) return { waitValue: 0, retry: true };
      return { waitValue: flagged };
    }
    return { waitValue: word };
  }

  /**
   * Whether a waiter may take the word from its owner. A live thread whose
   * TID is in the word but who never recorded itself is the owner only for
   * the instants between its compare-and-swap and its record; a word that
   * stays so for UNRECORDED_GRACE_MS while that thread runs was not written
   * by an acquire (a scribbled word naming, say, pid 1, or a TID reused after
   * a death in that window without the addon), and waiting on would hang for
   * ever. A stopped thread (SIGSTOP) is still given the benefit of the doubt.
   */
  private ownerGone(word: number, tid: number): boolean {
    if (this.ownerLivenessOf(tid) !== 'alive') return true;
    if (Atomics.load(this.m, I.ownerTid) === tid) {
      this.unrecordedWord = 0;
      return false;
    }
    const now = performance.now();
    if (this.unrecordedWord !== word) {
      this.unrecordedWord = word;
      this.unrecordedSince = now;
      return false;
    }
    if (now - this.unrecordedSince < UNRECORDED_GRACE_MS) return false;
    const stat = readThreadStat(tid);
    return stat !== null && stat.state !== 'T' && stat.state !== 't';
  }

  /** The /proc verdict on the thread whose TID is in the word (see the file comment). */
  private ownerLivenessOf(tid: number): Liveness {
    const m = this.m;
    if (Atomics.load(m, I.ownerTid) !== tid) return threadLiveness(tid);
    const startTime = Atomics.load(m, I.startTime);
    // Still the same owner's record: the start time just read is that owner's.
    if (Atomics.load(m, I.ownerTid) !== tid) return threadLiveness(tid);
    return ownerLiveness({ tid, startTime });
  }

  /** Before any compare-and-swap that may make us owner: a death from here on is the kernel's to report. */
  private announce(): void {
    if (this.head !== null) this.head[PENDING] = this.nodePointer;
  }

  /**
   * After an acquire that did not make us owner: a stale list_op_pending could
   * outlive this mapping, and at our exit the kernel would look at whatever
   * is mapped at that address by then.
   */
  private withdraw(): void {
    if (this.head !== null) this.head[PENDING] = 0;
  }

  /**
   * The owner as the metadata words remember it (it may have died before
   * writing them, and then this is the last owner that recorded itself: a
   * taker that dies between its compare-and-swap and its record, hard case 1,
   * is not named, and the data are as the owner named here left them).
   */
  private recordedOwner(): OwnerIdentity {
    return { tid: Atomics.load(this.m, I.ownerTid) & TID_MASK, pid: this.m[I.ownerPid] ?? 0, startTime: (this.m[I.startTime] ?? 0) >>> 0 };
  }

  private took(me: OwnerIdentity, abandoned: boolean, previousOwner: OwnerIdentity | undefined): Owned {
    this.tookWord();
    if (!abandoned) return ACQUIRED_FIRST;
    const m = this.m;
    Atomics.add(m, I.timesAbandoned, 1);
    // Under both policies the state is suspect until the new owner says otherwise;
    // only release() differs (posix: not recoverable; windows: passes on).
    Atomics.compareExchange(m, I.consistency, CONSISTENT, INCONSISTENT);
    return previousOwner && previousOwner.tid !== 0
      ? { owned: true, status: 'abandoned', abandoned: true, depth: 1, previousOwner }
      : { owned: true, status: 'abandoned', abandoned: true, depth: 1 };
  }

  /** Everything an owner writes right after its compare-and-swap won the word (small: inlined on the fast path). */
  private tookWord(): void {
    if (this.onLockWordTaken !== undefined) this.onLockWordTaken();
    const m = this.m;
    // Start time first, then the record that vouches for it. Plain stores:
    // V8 keeps typed-array stores in program order, x86 (TSO) never reorders
    // two stores, and the compare-and-swap that made us owner, like the
    // exchange that releases, is a full fence (locked instruction).
    m[I.startTime] = this.startTime32;
    m[I.ownerTid] = this.tid;
    if (this.head !== null) {
      this.robustList!.link(this.node!);
      this.head[PENDING] = 0;
    }
    m[I.ownerPid] = this.pid;
    m[I.depth] = 1;
    m[I.acquisitions] = (m[I.acquisitions] ?? 0) + 1;
  }

  /** A waiter slot for inspect(); WITHOUT_SLOT (counted in one shared word) when all are taken. */
  private registerWaiter(tid: number): number {
    const first = this.base + I.waiterSlots;
    for (let i = 0; i < WAITER_SLOTS; i++) {
      const current = Atomics.load(this.i32, first + i);
      if (current === 0 && Atomics.compareExchange(this.i32, first + i, 0, tid) === 0) return i;
    }
    Atomics.add(this.m, I.waitersWithoutSlot, 1);
    return WITHOUT_SLOT;
  }

  private unregisterWaiter(registered: number, tid: number): void {
    if (registered >= 0) Atomics.compareExchange(this.m, I.waiterSlots + registered, tid, 0);
    else if (registered === WITHOUT_SLOT) Atomics.sub(this.m, I.waitersWithoutSlot, 1);
  }

  // ---- releasing -------------------------------------------------------

  /** True when the calling thread owns the mutex. */
  isHeldByCurrentThread(): boolean {
    return this.heldBy(this.me);
  }

  /**
   * The word holds our TID and the start time is ours. No other thread can
   * produce that pair: a dead thread with our TID had another start time,
   * and while we own the word only we write the start time.
   */
  private heldBy(me: OwnerIdentity): boolean {
    return ((this.m[0] ?? 0) & TID_MASK) === me.tid && this.m[I.startTime] === this.startTime32;
  }

  /**
   * After an abandoned acquire: declare the protected state repaired
   * (pthread_mutex_consistent). Throws NotOwnerError when the caller does not
   * own the mutex, and NotInconsistentError (EINVAL) when there is no
   * abandonment to repair.
   */
  markConsistent(): void {
    if (!this.isHeldByCurrentThread()) throw new NotOwnerError('markConsistent() needs the calling thread to own the mutex');
    if (Atomics.compareExchange(this.m, I.consistency, INCONSISTENT, CONSISTENT) !== INCONSISTENT) throw new NotInconsistentError();
  }

  /** Release one level of ownership. Throws NotOwnerError (ERROR_NOT_OWNER) when the caller is not the owner. */
  release(): void {
    const me = this.me;
    if (!this.heldBy(me)) throw new NotOwnerError();
    const m = this.m;
    const depth = m[I.depth] ?? 0;
    if (depth > 1) {
      m[I.depth] = depth - 1;
      return;
    }
    m[I.depth] = 0;
    m[I.ownerPid] = 0;
    // The record goes before the word: a later owner's start time is never vouched for by ours.
    m[I.ownerTid] = 0;
    const head = this.head;
    if (head !== null) {
      // Unlinked but not yet released: list_op_pending covers a death in between.
      head[PENDING] = this.nodePointer;
      this.robustList!.unlink(this.node!);
    }
    if (m[I.consistency] !== INCONSISTENT) {
      if (Atomics.exchange(m, 0, 0) !== me.tid) this.wakeWaiters(1);
    } else {
      this.releaseInconsistent();
    }
    if (head !== null) head[PENDING] = 0;
  }

  private releaseInconsistent(): void {
    if (this.policy === 'posix') {
      Atomics.store(this.m, I.consistency, NOT_RECOVERABLE);
      Atomics.store(this.m, 0, NOT_RECOVERABLE_TID);
      this.wakeWaiters(0x7fff_ffff);
      return;
    }
    Atomics.store(this.m, I.consistency, CONSISTENT);
    Atomics.store(this.m, 0, 0);
    this.wakeWaiters(1);
  }

  private wakeWaiters(count: number): void {
    wake(this.lockWord, count);
  }

  // ---- looking ---------------------------------------------------------

  /** A snapshot for tools and the lock lab. Reads /proc for the owner and waiters. */
  inspect(): MutexSnapshot {
    const b = this.base;
    const word = Atomics.load(this.m, 0);
    const tid = word & TID_MASK;
    const consistency = Atomics.load(this.m, I.consistency);
    let owner: OwnerIdentity | null = null;
    let ownerAlive: boolean | null = null;
    let state: MutexState;
    if (tid === NOT_RECOVERABLE_TID || consistency === NOT_RECOVERABLE) {
      state = 'not-recoverable';
    } else if (tid === 0 && (word & OWNER_DIED) !== 0) {
      owner = this.recordedOwner();
      ownerAlive = false;
      state = 'owner-dead';
    } else if (tid === 0) {
      state = 'free';
    } else {
      const recorded = Atomics.load(this.m, I.ownerTid) === tid;
      const pid = (recorded && Atomics.load(this.m, I.ownerPid)) || processOfThread(tid);
      owner = { tid, pid, startTime: recorded ? Atomics.load(this.m, I.startTime) >>> 0 : 0 };
      ownerAlive = this.ownerLivenessOf(tid) === 'alive';
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
    const withoutSlot = Math.max(0, Atomics.load(this.m, I.waitersWithoutSlot));
    return {
      state,
      owner,
      ownerAlive,
      depth: owner ? Atomics.load(this.m, I.depth) : 0,
      waiters: waiters + withoutSlot,
      waitersExact: withoutSlot === 0,
      timesAbandoned: Atomics.load(this.m, I.timesAbandoned),
      policy: this.policy,
      asyncWaits: this.asyncWaitMechanism,
      deathDetection: this.robustList ? 'robust-list' : 'fallback',
    };
  }

  /** How many times the mutex has been acquired (not counting recursion). */
  get acquisitions(): number {
    return Atomics.load(this.m, I.acquisitions);
  }
}

/** How long a live, running thread may sit in the lock word without its record before waiters stop believing it (ownerGone). */
const UNRECORDED_GRACE_MS = 2000;
/**
 * Set in the owner-TID record by a taker of a dead owner's word: the record
 * still names the dead owner (for the 'abandoned' report) but vouches for no
 * thread's start time, since no thread's TID compares equal to it.
 */
const RECORD_STALE = 0x4000_0000;
const NOT_REGISTERED = -1;
const WITHOUT_SLOT = -2;

/** A clear MutexLayoutError for anything but an initialised version-2 mutex. */
function checkLayout(i32: Int32Array, byteOffset: number): void {
  const magic = Atomics.load(i32, I.magic);
  if (magic === MAGIC) {
    const version = Atomics.load(i32, I.version);
    if (version !== LAYOUT_VERSION) throw new MutexLayoutError(`mutex layout version ${version} at byte offset ${byteOffset}, this library reads ${LAYOUT_VERSION}`);
    return;
  }
  if (Atomics.load(i32, V1.magic) === MAGIC) {
    const version = Atomics.load(i32, V1.version);
    throw new MutexLayoutError(
      `the mutex at byte offset ${byteOffset} has layout version ${version} (64-bit lock word, written by robust-shm before the ` +
        `glibc-shared robust list); this library reads version ${LAYOUT_VERSION}. Recreate the region with this version, ` +
        'or open it with the robust-shm release that wrote it',
    );
  }
  throw new MutexLayoutError(`no robust mutex at byte offset ${byteOffset} (magic ${(magic >>> 0).toString(16)})`);
}
