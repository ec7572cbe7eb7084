// RobustRwLock: a phase-fair reader-writer lock in shared memory whose
// writers' AND readers' deaths are noticed. A dead writer's lock is
// "abandoned" (same protocol and policies as RobustMutex); a dead reader's
// share is reclaimed, so nobody waits for it.
//
// How holders are tracked (see rwlock-layout.ts): the writer word and every
// reader slot are robust-futex words holding their owner's TID, linked on the
// owner thread's kernel robust list while held. A reader keeps its slot while
// it waits too, so writers see who is waiting (phase fairness) and a waiting
// reader's death is reported like a holder's.
//
// Phase fairness:
// - a writer that owns the writer word stops new readers (they wait), so a
//   stream of readers cannot starve it: it waits only for the readers inside
//   and for the readers a previous write release admitted;
// - every write release moves the read generation on, and a reader waiting
//   since an older generation is admitted even past the next writer (which
//   waits for it), so a stream of writers cannot starve a reader: it waits
//   for at most one write phase.
//
// The Dekker pairs that make it correct (all accesses are sequentially
// consistent Atomics):
// - reader: state := HOLDING, then read the writer word;
//   writer: compare-and-swap the writer word, then read each slot's state.
//   One of them sees the other.
// - the read generation only moves inside a write release, and only the
//   owner of the writer word releases, so during a writer's drain it is
//   constant: "waiting since the current generation" is exactly "arrived
//   after the last write release".
import { InvalidArgumentError } from '../errors.js';
import { native } from '../native/index.js';
import { LockUpgradeError, NotOwnerError, RwLockLayoutError } from './errors.js';
import * as mutexLayout from './mutex-layout.js';
import { currentThreadIdentity, ownerLiveness } from './owner.js';
import type { NamedObjectHost } from './robust-mutex.js';
import { initRobustNode, robustNode, threadRobustList, type RobustNode, type ThreadRobustList } from './robust-list.js';
import * as layout from './rwlock-layout.js';
import type { NotOwned, OwnerIdentity, RecoveryPolicy } from './types.js';
import { asyncWaitMechanism, waitAsync, waitSlice, wake, type AsyncWaitMechanism, type WaitWord } from './waiting.js';
import { checkLayoutHeader, checkPlacement, checkTimeout } from './lock-arguments.js';
import { RMW_ORDERS_LATER_LOADS } from './memory-order.js';
import { testHooksOf } from '../test-hooks.js';

/** Per-handle options of a RobustRwLock: how this thread waits (not stored in shared memory). */
export interface RwLockOptions {
  /** How often (ms) a sleeping waiter looks at a holder's liveness in /proc when nothing woke it (default 5). */
  livenessIntervalMs?: number;
  /**
   * How often (ms) an async waiter on a futex lock (the addon's default) looks
   * at a holder's liveness when nothing woke it. It sleeps on the word the
   * releaser and the kernel wake (a release in any process, a holder's death
   * via its robust list), so this is only a safety net, as for
   * RobustMutex. Default max(livenessIntervalMs, 1000). Atomics-only locks
   * use livenessIntervalMs.
   */
  asyncLivenessIntervalMs?: number;
  /** Spin iterations on a held writer word before sleeping (default 100). */
  spin?: number;
}

/** Options fixed when a RobustRwLock is first written into shared memory. */
export interface RwLockInitializeOptions {
  /** Default 'posix': see RecoveryPolicy (applies to writer deaths). */
  policy?: RecoveryPolicy;
  /** How waiters sleep: 'futex' (default with the addon: cross-process, woken by the kernel at a holder's death) or 'atomics' (one process only). */
  waitMechanism?: 'futex' | 'atomics';
  /**
   * Reader slots (default 64): how many threads can hold or wait for a read
   * share at once. A reader that finds every slot taken waits (within its
   * timeout) for one to free; tryAcquireRead() returns 'busy'.
   */
  readerSlots?: number;
}

/** An owned rwlock result: the mutex's fields, plus how many dead readers' shares this acquire reclaimed. */
export interface RwOwned {
  /** The calling thread now holds the lock. */
  readonly owned: true;
  /** 'abandoned': a writer died holding the lock (WAIT_ABANDONED / EOWNERDEAD); the caller owns it and must repair the data. */
  readonly status: 'acquired' | 'abandoned';
  /** Same as `status === 'abandoned'`. */
  readonly abandoned: boolean;
  /** This thread's hold count of this side after the acquire (recursive holds count up). */
  readonly depth: number;
  /** The dead writer, when abandoned. */
  readonly previousOwner?: OwnerIdentity;
  /** Shares of dead readers this acquire took back (a writer reclaims those it waited for). */
  readonly sharesReclaimed: number;
}

/** What an rwlock acquire returns: owned (acquired or abandoned), or not owned (timeout, busy, not recoverable). */
export type RwAcquireResult = RwOwned | NotOwned;

/** A thread that holds or waits for an rwlock, as inspect() sees it. */
export interface RwLockHolder {
  /** The thread's kernel TID. */
  tid: number;
  /** Its process. */
  pid: number;
  /** false: the thread is dead and its slot not yet reclaimed (the next writer or reader reclaims it). */
  alive: boolean;
}

/** A point-in-time view of a RobustRwLock (RobustRwLock.inspect()). */
export interface RwLockSnapshot {
  /** 'draining': a writer owns the writer word and waits for readers to leave. */
  state: 'free' | 'read' | 'draining' | 'write' | 'writer-dead' | 'not-recoverable';
  /** The writer (with its hold depth and /proc start time), or null. */
  writer: (RwLockHolder & {
    /** Its recursive write depth. */
    depth: number;
    /** Its /proc start time (field 22), which tells it from a later thread with the same TID. */
    startTime: number;
  }) | null;
  /** Threads holding read shares. */
  readers: (RwLockHolder & {
    /** Its recursive read depth. */
    depth: number;
  })[];
  /** Readers waiting for a share. */
  waitingReaders: RwLockHolder[];
  /** Writers waiting (a count: writers wait on one word). */
  waitingWriters: number;
  /** Dead readers' shares reclaimed so far. */
  sharesReclaimed: number;
  /** Writer deaths reported as 'abandoned' so far. */
  timesAbandoned: number;
  /** Write acquisitions so far (write phases). */
  writeAcquisitions: number;
  /** Reader slots (the most threads that can hold or wait for read shares at once). */
  readerSlots: number;
  /** The recovery policy for writer deaths. */
  policy: RecoveryPolicy;
  /** false while an abandoned write hold has not been marked consistent. */
  consistent: boolean;
  /** What serves async acquires in this process (see AsyncWaitMechanism). */
  asyncWaits: AsyncWaitMechanism;
}

interface Takeover {
  previous: OwnerIdentity;
  /** The dead writer had drained the readers and was inside. */
  abandoned: boolean;
}

interface Sleep {
  /** Int32 index of the word to sleep on, and its expected value. */
  index: number;
  expected: number;
  /** Until the next /proc look of a sync sleeper: min(livenessIntervalMs, remainingMs). */
  sliceMs: number;
  remainingMs: number;
  /**
   * Everything this sleep waits for wakes the word (a release, or the
   * kernel at the holder's death): an async sleeper then needs no slice. Not
   * so for a reader waiting for any reader slot to free: it sleeps on one.
   */
  wokenByAll: boolean;
}

// Local copies of the layout constants: imported bindings can compile to
// getter calls (tsx, some bundlers), which would dominate the uncontended paths.
const { NOT_RECOVERABLE_TID, OWNER_DIED, TID_MASK, WAITERS, WAIT_ATOMICS, WAIT_FUTEX, CONSISTENT, INCONSISTENT, NOT_RECOVERABLE } = mutexLayout;
const { DEFAULT_READER_SLOTS, MAX_READER_SLOTS, READER_SLOTS_OFFSET, RW_LAYOUT_VERSION, RW_MAGIC, SLOT_HOLDING, SLOT_IDLE, SLOT_INTS, SLOT_STRIDE, WRITER_NODE_OFFSET, WRITER_WAITER_SLOTS, isWaitingState, rwLockBytes, waitingState } = layout;
const H = { ...layout.H } as const;
const S = { ...layout.S } as const;

const NOT_OWNED_TIMEOUT: NotOwned = Object.freeze({ owned: false, status: 'timeout', abandoned: false });
const NOT_OWNED_BUSY: NotOwned = Object.freeze({ owned: false, status: 'busy', abandoned: false });
const NOT_OWNED_UNRECOVERABLE: NotOwned = Object.freeze({ owned: false, status: 'not-recoverable', abandoned: false });
/** A thread gives its idle reader slot back after this long without a read (see SLOT_IDLE). */
const IDLE_SLOT_MS = 100;
/** Default shortest interval between an async waiter's /proc looks on a futex lock (see RwLockOptions). */
const ASYNC_LIVENESS_DEFAULT_MS = 1000;
const ENTERED: RwOwned = Object.freeze({ owned: true, status: 'acquired', abandoned: false, depth: 1, sharesReclaimed: 0 });

function defaultWaitMechanism(): 'futex' | 'atomics' {
  try {
    native();
    return 'futex';
  } catch {
    return 'atomics';
  }
}

/**
 * A robust reader-writer lock for threads and processes.
 *
 * ```ts
 * const r = rw.acquireRead(1_000);
 * if (!r.owned) throw new Error(r.status);
 * try {
 *   if (r.abandoned) { repair(); rw.markConsistent(); } // a writer died inside: you hold it exclusively
 *   read();
 * } finally { rw.releaseRead(); }
 * ```
 *
 * Readers must not write. A reader's death therefore never leaves the data
 * inconsistent and is not reported as 'abandoned': its share is simply
 * reclaimed. A reader that wrote anyway and died mid-write leaves a torn
 * state that nobody is told about; write under the write lock.
 */
export class RobustRwLock {
  /** Bytes a lock with `readerSlots` slots occupies. */
  static bytes(readerSlots = DEFAULT_READER_SLOTS): number {
    return rwLockBytes(readerSlots);
  }

  /** The shared memory the lock lives in. */
  readonly buffer: SharedArrayBuffer;
  /** Where the lock starts in `buffer`. */
  readonly byteOffset: number;
  /** Reader slots, fixed at initialisation. */
  readonly readerSlots: number;
  private readonly i32: Int32Array;
  private readonly base: number;
  private readonly kind: number;
  private readonly livenessIntervalMs: number;
  private readonly asyncLivenessIntervalMs: number;
  private readonly spin: number;
  private readonly list: ThreadRobustList | null;
  private readonly writerNode: RobustNode;
  private readonly slotNodes: RobustNode[];
  /** The slot this thread last held (handles are per thread: JS objects are not shared between threads). */
  private readonly onWriterTakenOver: (() => void) | undefined;
  private mySlot = -1;
  private meCached: OwnerIdentity | undefined;

  /** The calling thread's identity (a handle lives in one thread). */
  private get me(): OwnerIdentity {
    if (this.meCached === undefined) {
      this.meCached = currentThreadIdentity();
      this.myTid = this.meCached.tid;
    }
    return this.meCached;
  }
  /** me.tid once `me` was read (0 before: no slot word holds 0 as its owner), for the fast paths. */
  private myTid = 0;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, options: RwLockOptions) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.i32 = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.base = byteOffset / 4;
    this.readerSlots = Atomics.load(this.i32, this.base + H.slotCount);
    this.kind = Atomics.load(this.i32, this.base + H.waitKind);
    this.livenessIntervalMs = options.livenessIntervalMs ?? 5;
    this.spin = options.spin ?? 100;
    this.onWriterTakenOver = testHooksOf(options).onWriterTakenOver;
    if (!(this.livenessIntervalMs > 0)) throw new InvalidArgumentError('livenessIntervalMs must be > 0');
    this.asyncLivenessIntervalMs = options.asyncLivenessIntervalMs ?? Math.max(this.livenessIntervalMs, ASYNC_LIVENESS_DEFAULT_MS);
    if (!(this.asyncLivenessIntervalMs > 0)) throw new InvalidArgumentError('asyncLivenessIntervalMs must be > 0');
    // Without the native addon there is no robust list (both are null): waiters then read /proc between sleeps.
    const views = { i32: this.i32, f64: new Float64Array(buffer, 0, buffer.byteLength >> 3) };
    const writerNode = robustNode(buffer, byteOffset + WRITER_NODE_OFFSET, views);
    this.list = writerNode ? threadRobustList() : null;
    this.writerNode = writerNode!;
    this.slotNodes = [];
    if (writerNode) for (let i = 0; i < this.readerSlots; i++) this.slotNodes.push(robustNode(buffer, byteOffset + READER_SLOTS_OFFSET + i * SLOT_STRIDE, views)!);
  }

  /** Write a fresh, free lock at byteOffset (8-byte aligned, RobustRwLock.bytes(readerSlots) long). */
  static initialize(buffer: SharedArrayBuffer, byteOffset: number, options: RwLockInitializeOptions & RwLockOptions = {}): RobustRwLock {
    const slots = options.readerSlots ?? DEFAULT_READER_SLOTS;
    if (!Number.isInteger(slots) || slots < 1 || slots > MAX_READER_SLOTS) throw new InvalidArgumentError(`readerSlots must be an integer from 1 to ${MAX_READER_SLOTS}, got ${String(slots)}`);
    checkPlacement(buffer, byteOffset, rwLockBytes(slots), 'rwlock');
    const policy = options.policy ?? 'posix';
    if (policy !== 'posix' && policy !== 'windows') throw new InvalidArgumentError(`policy must be 'posix' or 'windows', got ${String(policy)}`);
    const mechanism = options.waitMechanism ?? defaultWaitMechanism();
    const i32 = new Int32Array(buffer, byteOffset, rwLockBytes(slots) / 4);
    i32.fill(0);
    initRobustNode(buffer, byteOffset + WRITER_NODE_OFFSET);
    for (let i = 0; i < slots; i++) initRobustNode(buffer, byteOffset + READER_SLOTS_OFFSET + i * SLOT_STRIDE);
    Atomics.store(i32, H.policy, policy === 'posix' ? 0 : 1);
    Atomics.store(i32, H.waitKind, mechanism === 'futex' ? WAIT_FUTEX : WAIT_ATOMICS);
    Atomics.store(i32, H.slotCount, slots);
    Atomics.store(i32, H.version, RW_LAYOUT_VERSION);
    // The magic goes last: at() in another thread treats it as "ready".
    Atomics.store(i32, H.magic, RW_MAGIC);
    return RobustRwLock.at(buffer, byteOffset, options);
  }

  /** Attach to a lock that initialize() wrote (in any thread or process). */
  static at(buffer: SharedArrayBuffer, byteOffset: number, options: RwLockOptions = {}): RobustRwLock {
    checkPlacement(buffer, byteOffset, READER_SLOTS_OFFSET, 'rwlock');
    const i32 = new Int32Array(buffer, byteOffset, READER_SLOTS_OFFSET / 4);
    checkLayoutHeader(i32, H, { magic: RW_MAGIC, version: RW_LAYOUT_VERSION }, 'rwlock', byteOffset, RwLockLayoutError);
    checkPlacement(buffer, byteOffset, rwLockBytes(Atomics.load(i32, H.slotCount)), 'rwlock');
    return new RobustRwLock(buffer, byteOffset, options);
  }

  /** Find the lock called `name` in a region, creating it on first use. */
  static open(region: NamedObjectHost, name: string, options: RwLockInitializeOptions & RwLockOptions = {}): RobustRwLock {
    const { offset } = region.findOrCreate(`rwlock:${name}`, rwLockBytes(options.readerSlots ?? DEFAULT_READER_SLOTS), (byteOffset) => {
      RobustRwLock.initialize(region.buffer, byteOffset, options);
    });
    return RobustRwLock.at(region.buffer, offset, options);
  }

  /** The recovery policy chosen at initialisation (see RecoveryPolicy). */
  get policy(): RecoveryPolicy {
    return Atomics.load(this.i32, this.base + H.policy) === 0 ? 'posix' : 'windows';
  }

  // ---- reading ---------------------------------------------------------

  /** Block until a read share is held (or, after a writer's death, the lock exclusively: 'abandoned'). */
  acquireRead(timeoutMs = Infinity): RwAcquireResult {
    // The fast path is kept small so V8 inlines it into the caller: our idle
    // slot (already ours, already on our robust list), one exchange that says
    // "I am in", one look at the writer word. Everything else is readSlow().
    const slot = this.mySlot;
    if (slot >= 0 && (timeoutMs === Infinity || (typeof timeoutMs === 'number' && timeoutMs >= 0))) {
      const i32 = this.i32;
      const at = this.base + H.slots + slot * SLOT_INTS;
      if (((i32[at] ?? 0) & TID_MASK) === this.myTid && i32[at + S.state] === SLOT_IDLE) {
        Atomics.exchange(i32, at + S.state, SLOT_HOLDING);
        // The writer side of this Dekker pair, after the exchange (memory-order.ts).
        const w = RMW_ORDERS_LATER_LOADS ? i32[this.base + H.writer]! : Atomics.load(i32, this.base + H.writer);
        if (w === 0) {
          i32[at + S.depth] = 1;
          this.reads++;
          return ENTERED;
        }
        return this.readPastWriter(at, w, timeoutMs);
      }
    }
    return this.readSlow(timeoutMs);
  }

  /** Our idle slot says "in" but the writer word is not free. */
  private readPastWriter(at: number, w: number, timeoutMs: number): RwAcquireResult {
    const me = this.me;
    if ((w & TID_MASK) !== me.tid) return this.drive(this.reading(me, timeoutMs, false, this.mySlot));
    // Inside our own write hold: counted there (readAgain); the slot stays idle.
    Atomics.exchange(this.i32, at + S.state, SLOT_IDLE);
    return this.readAgain(me)!;
  }

  private readSlow(timeoutMs: number): RwAcquireResult {
    if (timeoutMs !== Infinity) checkTimeout(timeoutMs);
    const me = this.me;
    const i32 = this.i32;
    const kept = this.mySlot;
    if (kept >= 0) {
      const at = this.slotAt(kept);
      // Our idle slot: the exchange says "I am in", then one look at the writer word.
      if (((i32[at] ?? 0) & TID_MASK) === me.tid && i32[at + S.state] === SLOT_IDLE) {
        Atomics.exchange(i32, at + S.state, SLOT_HOLDING);
        const w = Atomics.load(i32, this.base + H.writer);
        if (w === 0) {
          i32[at + S.depth] = 1;
          this.reads++;
          return ENTERED;
        }
        return this.readPastWriter(at, w, timeoutMs);
      }
    }
    const again = this.readAgain(me);
    if (again) return again;
    // Uncontended, first read: claim a slot, find no writer.
    // The compare-and-swap that claims the slot says "I am in" (a free slot's
    // state is HOLDING); a writer compare-and-swaps its word before it looks at
    // the slots, so one of us sees the other.
    const slot = this.claimPreferred(me);
    if (slot >= 0 && Atomics.load(this.i32, this.base + H.writer) === 0) return this.readEntered(slot, 0);
    return this.drive(this.reading(me, timeoutMs, false, slot));
  }

  /** One attempt, never blocks: 'busy' when a writer holds or waits for the lock (or no slot is free). */
  tryAcquireRead(): RwAcquireResult {
    const me = this.me;
    return this.readAgain(me) ?? this.drive(this.reading(me, 0, true, -1));
  }

  /** acquireRead() without blocking the event loop; rejects with the signal's reason when it aborts. */
  acquireReadAsync(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<RwAcquireResult> {
    const timeoutMs = options.timeoutMs ?? Infinity;
    checkTimeout(timeoutMs);
    const me = this.me;
    const again = this.readAgain(me);
    if (again) return Promise.resolve(again);
    return this.driveAsync(this.reading(me, timeoutMs, false, -1), options.signal);
  }

  /** Release one level of a read hold. Throws NotOwnerError when the calling thread holds no read share. */
  releaseRead(): void {
    const slot = this.mySlot;
    if (slot >= 0) {
      const i32 = this.i32;
      const at = this.base + H.slots + slot * SLOT_INTS;
      if (((i32[at] ?? 0) & TID_MASK) === this.myTid && i32[at + S.state] === SLOT_HOLDING) {
        const depth = i32[at + S.depth] ?? 0;
        if (depth > 1) {
          i32[at + S.depth] = depth - 1;
          return;
        }
        // Keep the slot for the next read: state IDLE, then look for a
        // writer that flagged the word while we were in (the Dekker pair of
        // the writer's compare-and-swap of WAITERS, then its look at our state).
        i32[at + S.depth] = 0;
        Atomics.exchange(i32, at + S.state, SLOT_IDLE);
        const v = RMW_ORDERS_LATER_LOADS ? i32[at]! : Atomics.load(i32, at);
        // slotWanted is a hint only (the give-back timer frees the slot anyway): a plain load everywhere.
        if ((v & WAITERS) === 0 && i32[this.base + H.slotWanted] === 0 && this.giveBackTimer !== null) return;
        this.idled(slot, at, v);
        return;
      }
    }
    this.releaseReadSlow();
  }

  private releaseReadSlow(): void {
    const me = this.me;
    const i32 = this.i32;
    const b = this.base;
    if (((i32[b + H.writer] ?? 0) & TID_MASK) === me.tid && (i32[b + H.readsInWrite] ?? 0) > 0) {
      const reads = (i32[b + H.readsInWrite] ?? 0) - 1;
      i32[b + H.readsInWrite] = reads;
      if (reads === 0 && i32[b + H.writeDepth] === 0) this.releaseWriter();
      return;
    }
    throw new NotOwnerError('the calling thread holds no read share of this lock');
  }

  /**
   * The slot was just set IDLE (releaseRead): wake a writer that flagged the
   * word while we were in, give the slot back when another reader wants one,
   * else keep it and arm the give-back timer.
   */
  private idled(slot: number, at: number, v: number): void {
    const i32 = this.i32;
    if ((v & WAITERS) !== 0) this.wakeSlotSleeper(at);
    if (i32[this.base + H.slotWanted] !== 0 && Atomics.compareExchange(i32, this.base + H.slotWanted, 1, 0) === 1) {
      this.releaseSlot(slot);
      return;
    }
    this.giveBackLater();
  }

  /** Reads since the give-back timer was set; the timer gives the slot back only after a quiet period. */
  private reads = 0;
  private giveBackTimer: ReturnType<typeof setTimeout> | null = null;

  private giveBackLater(): void {
    if (this.giveBackTimer !== null) return;
    this.reads = 0;
    this.giveBackTimer = setTimeout(() => {
      this.giveBackTimer = null;
      if (this.reads > 0) return this.giveBackLater();
      this.close();
    }, IDLE_SLOT_MS);
    this.giveBackTimer.unref();
  }

  /**
   * Give this thread's idle slot back now (a thread keeps its slot between
   * reads and gives it back after ${IDLE_SLOT_MS} ms without a read; a thread
   * that stops reading for good and will not return to its event loop should call this).
   */
  close(): void {
    const slot = this.mySlot;
    if (slot < 0) return;
    const at = this.slotAt(slot);
    if (((this.i32[at] ?? 0) & TID_MASK) === this.me.tid && this.i32[at + S.state] === SLOT_IDLE) this.releaseSlot(slot);
  }

  /** Recursion: a read inside our own read (counted in the slot) or inside our own write hold. */
  private readAgain(me: OwnerIdentity): RwOwned | null {
    const i32 = this.i32;
    const slot = this.mySlot;
    if (slot >= 0) {
      const at = this.slotAt(slot);
      if (((i32[at] ?? 0) & TID_MASK) === me.tid && i32[at + S.state] === SLOT_HOLDING) {
        const depth = (i32[at + S.depth] ?? 0) + 1;
        i32[at + S.depth] = depth;
        return { owned: true, status: 'acquired', abandoned: false, depth, sharesReclaimed: 0 };
      }
    }
    const b = this.base;
    if (((i32[b + H.writer] ?? 0) & TID_MASK) === me.tid) {
      const reads = (i32[b + H.readsInWrite] ?? 0) + 1;
      i32[b + H.readsInWrite] = reads;
      return { owned: true, status: 'acquired', abandoned: false, depth: reads, sharesReclaimed: 0 };
    }
    return null;
  }

  private *reading(me: OwnerIdentity, timeoutMs: number, tryOnly: boolean, claimed: number): Generator<Sleep, RwAcquireResult, boolean> {
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    const i32 = this.i32;
    const W = this.base + H.writer;
    let slot = claimed;
    let done = false;
    let reclaimed = 0;
    if (slot < 0 && this.mySlot >= 0) {
      // Our kept slot, idle: use it rather than claim a second one.
      const at = this.slotAt(this.mySlot);
      if (((i32[at] ?? 0) & TID_MASK) === me.tid && i32[at + S.state] === SLOT_IDLE) {
        slot = this.mySlot;
        Atomics.exchange(i32, at + S.state, SLOT_HOLDING);
      }
    }
    try {
      // A slot first. Every slot held by a live reader: sleep on one of them until something frees.
      while (slot < 0) {
        const claim = this.claimAny(me);
        reclaimed += claim.reclaimed;
        slot = claim.slot;
        if (slot >= 0) break;
        if (tryOnly) return NOT_OWNED_BUSY;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return NOT_OWNED_TIMEOUT;
        // Ask a thread that keeps an idle slot to give it back at its next release.
        Atomics.store(i32, this.base + H.slotWanted, 1);
        const k = this.slotAt(me.tid % this.readerSlots);
        const v = Atomics.load(i32, k);
        if (v === 0) continue;
        const expected = v | WAITERS;
        if (v !== expected && Atomics.compareExchange(i32, k, v, expected) !== v) continue;
        // Only slot k's release or death wakes us, not another slot's: async sleepers keep the liveness slice here.
        if (yield { index: k, expected, sliceMs: Math.min(this.livenessIntervalMs, remaining), remainingMs: remaining, wokenByAll: false }) this.markSlotIfDead(k);
      }
      const at = this.slotAt(slot);
      let myGen: number | null = null;
      let spins = 0;
      for (;;) {
        Atomics.store(i32, at + S.state, SLOT_HOLDING);
        const w = Atomics.load(i32, W);
        // Admitted by a write release since we started waiting: in, even past the next writer (it waits for us).
        if (w === 0 || (myGen !== null && Atomics.load(i32, this.base + H.readGen) !== myGen)) {
          done = true;
          return this.readEntered(slot, reclaimed);
        }
        const tid = w & TID_MASK;
        if (tid === NOT_RECOVERABLE_TID) return NOT_OWNED_UNRECOVERABLE;
        if (tid === 0) {
          // The kernel (or a /proc look) found the writer dead.
          if (!this.repairOwed()) {
            // It died before it was in: nothing to repair; clear the word and let everyone on.
            if (Atomics.compareExchange(i32, W, w, 0) === w) this.wakeWriterWaiters();
            continue;
          }
          const takeover = this.takeOverWriter(w, me);
          if (!takeover) continue;
          // Exclusive now, as a read nested in a write hold; our slot would only make the drain wait for us.
          this.releaseSlot(slot);
          slot = -1;
          i32[this.base + H.writeDepth] = 0;
          i32[this.base + H.readsInWrite] = 1;
          let drained = -1;
          try {
            drained = yield* this.draining(me, deadline, tryOnly);
          } finally {
            if (drained < 0) this.giveUpWriter(takeover);
          }
          if (drained < 0) return drained === -1 ? NOT_OWNED_TIMEOUT : NOT_OWNED_BUSY;
          done = true;
          return this.writerIn(takeover, drained + reclaimed);
        }
        if (tryOnly) return NOT_OWNED_BUSY;
        // Write critical sections are often short: watch the word a little before sleeping.
        if (spins < this.spin) {
          while (spins++ < this.spin && Atomics.load(i32, W) === w);
          continue;
        }
        // A writer holds or waits for the lock: wait for the next write release.
        myGen = Atomics.load(i32, this.base + H.readGen);
        Atomics.store(i32, at + S.state, waitingState(myGen));
        // A writer may already be asleep on our slot because it saw us HOLDING a moment ago.
        this.wakeSlotSleeper(at);
        if (Atomics.load(i32, this.base + H.readGen) !== myGen) continue;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return NOT_OWNED_TIMEOUT;
        const expected = w | WAITERS;
        if (w !== expected && Atomics.compareExchange(i32, W, w, expected) !== w) continue;
        if (yield { index: W, expected, sliceMs: Math.min(this.livenessIntervalMs, remaining), remainingMs: remaining, wokenByAll: true }) {
          this.markIfDead(W, this.base + H.writerStart, this.base + H.writerTid);
        }
      }
    } finally {
      if (!done && slot >= 0) this.releaseSlot(slot);
    }
  }

  private readEntered(slot: number, reclaimed: number): RwOwned {
    const i32 = this.i32;
    const kept = this.mySlot;
    if (kept >= 0 && kept !== slot) {
      // Another read of this thread was waiting alongside (two acquireReadAsync
      // pending at once) and claimed a slot of its own. One thread holds one
      // slot (releaseRead and close() only know mySlot): count this read there
      // as recursion, or, if that slot is only kept idle, give it back.
      const at = this.slotAt(kept);
      if (((i32[at] ?? 0) & TID_MASK) === this.me.tid) {
        const state = i32[at + S.state];
        const depth = i32[at + S.depth] ?? 0;
        if (state === SLOT_HOLDING && depth > 0) {
          i32[at + S.depth] = depth + 1;
          this.releaseSlot(slot);
          return { owned: true, status: 'acquired', abandoned: false, depth: depth + 1, sharesReclaimed: reclaimed };
        }
        if (state === SLOT_IDLE) this.releaseSlot(kept);
      }
    }
    i32[this.slotAt(slot) + S.depth] = 1;
    this.mySlot = slot;
    this.reads++;
    return reclaimed === 0 ? ENTERED : { owned: true, status: 'acquired', abandoned: false, depth: 1, sharesReclaimed: reclaimed };
  }

  // ---- writing ---------------------------------------------------------

  /** Block until the lock is held for writing: 'acquired', or 'abandoned' when a writer died inside. */
  acquireWrite(timeoutMs = Infinity): RwAcquireResult {
    if (timeoutMs !== Infinity) checkTimeout(timeoutMs);
    const me = this.me;
    const again = this.writeAgain(me);
    if (again) return again;
    // Uncontended: take the writer word, find no reader in.
    const i32 = this.i32;
    const W = this.base + H.writer;
    if (i32[W] === 0) {
      this.list?.pending(this.writerNode);
      if (Atomics.compareExchange(i32, W, 0, me.tid) === 0) {
        this.list?.link(this.writerNode);
        this.list?.clearPending();
        this.writerIdentity(me);
        i32[this.base + H.writeDepth] = 1;
        i32[this.base + H.readsInWrite] = 0;
        if (this.noReaderToWaitFor(me)) return this.writerIn(null, 0);
        return this.drive(this.writing(me, timeoutMs, false, true));
      }
      this.list?.clearPending();
    }
    return this.drive(this.writing(me, timeoutMs, false, false));
  }

  /** One pass over the slots, for the uncontended write: true when no slot is held by a reader that is in or admitted (or by the dead). */
  private noReaderToWaitFor(me: OwnerIdentity): boolean {
    const i32 = this.i32;
    const notAdmitted = waitingState(Atomics.load(i32, this.base + H.readGen));
    for (let i = 0; i < this.readerSlots; i++) {
      const at = this.slotAt(i);
      const v = Atomics.load(i32, at);
      if (v === 0 || (v & TID_MASK) === me.tid) continue;
      const state = Atomics.load(i32, at + S.state);
      if ((v & TID_MASK) === 0 || (state !== notAdmitted && state !== SLOT_IDLE)) return false;
    }
    return true;
  }

  /** Take the write side only if it is free now (no waiting); 'busy' otherwise. A dead writer's hold is taken over ('abandoned'). */
  tryAcquireWrite(): RwAcquireResult {
    const me = this.me;
    return this.writeAgain(me) ?? this.drive(this.writing(me, 0, true));
  }

  /** acquireWrite() without blocking the event loop: resolves when owned, on timeout, or rejects with an AbortError on `signal`. */
  acquireWriteAsync(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<RwAcquireResult> {
    const timeoutMs = options.timeoutMs ?? Infinity;
    checkTimeout(timeoutMs);
    const me = this.me;
    const again = this.writeAgain(me);
    if (again) return Promise.resolve(again);
    return this.driveAsync(this.writing(me, timeoutMs, false), options.signal);
  }

  /** Release one level of a write hold. Throws NotOwnerError when the calling thread does not hold it for writing. */
  releaseWrite(): void {
    const me = this.me;
    const i32 = this.i32;
    const b = this.base;
    const depth = i32[b + H.writeDepth] ?? 0;
    if (((i32[b + H.writer] ?? 0) & TID_MASK) !== me.tid || depth === 0) throw new NotOwnerError('the calling thread does not hold this lock for writing');
    i32[b + H.writeDepth] = depth - 1;
    if (depth === 1 && (i32[b + H.readsInWrite] ?? 0) === 0) this.releaseWriter();
  }

  /** After an abandoned acquire: the protected state is repaired (pthread_mutex_consistent). */
  markConsistent(): void {
    const me = this.me;
    if ((Atomics.load(this.i32, this.base + H.writer) & TID_MASK) !== me.tid) {
      throw new NotOwnerError('markConsistent() needs the calling thread to hold the lock exclusively');
    }
    Atomics.compareExchange(this.i32, this.base + H.consistency, INCONSISTENT, CONSISTENT);
  }

  /** True when the calling thread holds the lock for writing (or exclusively after an abandoned read). */
  isWriteHeldByCurrentThread(): boolean {
    return (Atomics.load(this.i32, this.base + H.writer) & TID_MASK) === this.me.tid;
  }

  /** The calling thread's read depth (0 when it holds no read share). */
  readDepthOfCurrentThread(): number {
    const slot = this.mySlot;
    if (slot < 0) return 0;
    const at = this.slotAt(slot);
    const i32 = this.i32;
    return (Atomics.load(i32, at) & TID_MASK) === this.me.tid && i32[at + S.state] === SLOT_HOLDING ? i32[at + S.depth] ?? 0 : 0;
  }

  private writeAgain(me: OwnerIdentity): RwOwned | null {
    const i32 = this.i32;
    const b = this.base;
    if (((i32[b + H.writer] ?? 0) & TID_MASK) === me.tid) {
      const depth = (i32[b + H.writeDepth] ?? 0) + 1;
      i32[b + H.writeDepth] = depth;
      return { owned: true, status: 'acquired', abandoned: false, depth, sharesReclaimed: 0 };
    }
    if (this.readDepthOfCurrentThread() > 0) throw new LockUpgradeError();
    return null;
  }

  private *writing(me: OwnerIdentity, timeoutMs: number, tryOnly: boolean, preTaken = false): Generator<Sleep, RwAcquireResult, boolean> {
    const deadline = timeoutMs === Infinity ? Infinity : performance.now() + timeoutMs;
    const i32 = this.i32;
    const W = this.base + H.writer;
    let registered = -1;
    let taken = preTaken;
    let done = false;
    let takeover: Takeover | null = null;
    try {
      for (let spins = 0; !preTaken; spins++) {
        const w = Atomics.load(i32, W);
        if (w === 0) {
          this.list?.pending(this.writerNode);
          if (Atomics.compareExchange(i32, W, 0, me.tid) === 0) {
            this.list?.link(this.writerNode);
            this.list?.clearPending();
            taken = true;
            break;
          }
          this.list?.clearPending();
          continue;
        }
        const tid = w & TID_MASK;
        if (tid === 0) {
          takeover = this.takeOverWriter(w, me);
          if (takeover) {
            taken = true;
            break;
          }
          continue;
        }
        if (tid === NOT_RECOVERABLE_TID) return NOT_OWNED_UNRECOVERABLE;
        if (tryOnly) return NOT_OWNED_BUSY;
        if (spins < this.spin) continue;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return NOT_OWNED_TIMEOUT;
        if (registered < 0) registered = this.registerWriterWaiter(me.tid);
        const expected = w | WAITERS;
        if (w !== expected && Atomics.compareExchange(i32, W, w, expected) !== w) continue;
        if (yield { index: W, expected, sliceMs: Math.min(this.livenessIntervalMs, remaining), remainingMs: remaining, wokenByAll: true }) this.markIfDead(W, this.base + H.writerStart, this.base + H.writerTid);
      }
      if (!takeover && !preTaken) this.writerIdentity(me);
      i32[this.base + H.writeDepth] = 1;
      i32[this.base + H.readsInWrite] = 0;
      const drained = yield* this.draining(me, deadline, tryOnly);
      if (drained < 0) return drained === -1 ? NOT_OWNED_TIMEOUT : NOT_OWNED_BUSY;
      done = true;
      return this.writerIn(takeover, drained);
    } finally {
      if (registered >= 0) Atomics.compareExchange(i32, this.base + H.writerWaiters + registered, me.tid, 0);
      if (taken && !done) this.giveUpWriter(takeover);
    }
  }

  /**
   * The writer word says its owner died (the kernel, or a /proc look, set
   * OWNER_DIED): take it over. Returns the dead owner and whether it had been
   * inside (then the data may be inconsistent: 'abandoned'), or null when
   * another thread was faster.
   */
  private takeOverWriter(w: number, me: OwnerIdentity): Takeover | null {
    const i32 = this.i32;
    const b = this.base;
    // Stable while the word says OWNER_DIED: only an owner writes these.
    const abandoned = this.repairOwed();
    this.list?.pending(this.writerNode);
    if (Atomics.compareExchange(i32, b + H.writer, w, me.tid | (w & WAITERS)) !== w) {
      this.list?.clearPending();
      return null;
    }
    this.list?.link(this.writerNode);
    this.list?.clearPending();
    // The repair is owed from here on, not only once we are in: a taker that
    // dies while it drains the readers (active is 0 again then) must still
    // leave 'abandoned' to the next one. Owed only in `active`, it was lost,
    // and an inconsistency left by an earlier abandoned writer then met a
    // release that knew nothing of it (posix: not recoverable for everyone).
    if (abandoned) Atomics.compareExchange(i32, b + H.consistency, CONSISTENT, INCONSISTENT);
    const previous = { tid: i32[b + H.writerTid] ?? 0, pid: i32[b + H.writerPid] ?? 0, startTime: (i32[b + H.writerStart] ?? 0) >>> 0 };
    Atomics.store(i32, b + H.active, 0);
    // Here the word names us while the identity fields still name the dead
    // writer: a waiter's liveness look must not read our tid with its start
    // time (markIfDead goes by the identity's tid, written last).
    this.onWriterTakenOver?.();
    this.writerIdentity(me);
    return { previous, abandoned };
  }

  /** The dead writer in the word owes a repair: it was in (active), or it had itself taken over an abandoned lock. */
  private repairOwed(): boolean {
    return Atomics.load(this.i32, this.base + H.active) === 1 || Atomics.load(this.i32, this.base + H.consistency) === INCONSISTENT;
  }

  private writerIdentity(me: OwnerIdentity): void {
    const i32 = this.i32;
    const b = this.base;
    i32[b + H.writerPid] = me.pid;
    i32[b + H.writerStart] = me.startTime | 0;
    // Last: a start time counts for the tid in the word only once this names it (markIfDead).
    Atomics.store(i32, b + H.writerTid, me.tid);
  }

  /** A writer that did not get in after all (timeout, abort, try). */
  private giveUpWriter(takeover: Takeover | null): void {
    if (takeover?.abandoned) this.putBackAbandoned();
    else this.releaseWriter();
  }

  /** A writer that took over a dead active writer and then gave up: the next acquirer must still be told. */
  private putBackAbandoned(): void {
    const i32 = this.i32;
    const b = this.base;
    Atomics.store(i32, b + H.active, 1);
    this.list?.pending(this.writerNode);
    this.list?.unlink(this.writerNode);
    const old = Atomics.exchange(i32, b + H.writer, OWNER_DIED | WAITERS);
    void old;
    this.wakeWriterWaiters();
    this.list?.clearPending();
  }

  /**
   * Wait until no reader is inside and none admitted by the last write
   * release is still on its way in; reclaim dead readers' slots on the way.
   * Returns the number of shares reclaimed, -1 on timeout, -2 for a try that would wait.
   */
  private *draining(me: OwnerIdentity, deadline: number, tryOnly: boolean): Generator<Sleep, number, boolean> {
    const i32 = this.i32;
    let reclaimed = 0;
    for (;;) {
      // Constant while we own the writer word: only a write release moves it.
      const notAdmitted = waitingState(Atomics.load(i32, this.base + H.readGen));
      let waitAt = -1;
      let v = 0;
      for (let i = 0; i < this.readerSlots; i++) {
        const at = this.slotAt(i);
        v = Atomics.load(i32, at);
        if (v === 0) continue;
        const tid = v & TID_MASK;
        if (tid === 0) {
          reclaimed += this.reclaimSlot(at, v, me);
          continue;
        }
        if (tid === me.tid) continue;
        const state = Atomics.load(i32, at + S.state);
        if (state === notAdmitted || state === SLOT_IDLE) continue;
        waitAt = at;
        break;
      }
      if (waitAt < 0) return reclaimed;
      if (tryOnly) return -2;
      const remaining = deadline - performance.now();
      if (remaining <= 0) return -1;
      const expected = v | WAITERS;
      if (v !== expected && Atomics.compareExchange(i32, waitAt, v, expected) !== v) continue;
      // It may have stepped back to waiting (and looked for our flag) in between.
      const state = Atomics.load(i32, waitAt + S.state);
      if (state === notAdmitted || state === SLOT_IDLE) continue;
      if (yield { index: waitAt, expected, sliceMs: Math.min(this.livenessIntervalMs, remaining), remainingMs: remaining, wokenByAll: true }) this.markSlotIfDead(waitAt);
    }
  }

  private writerIn(takeover: Takeover | null, reclaimed: number): RwOwned {
    const i32 = this.i32;
    const b = this.base;
    Atomics.store(i32, b + H.active, 1);
    i32[b + H.writeAcquisitions] = (i32[b + H.writeAcquisitions] ?? 0) + 1;
    const depth = Math.max(1, (i32[b + H.writeDepth] ?? 0) + (i32[b + H.readsInWrite] ?? 0));
    if (takeover?.abandoned) {
      Atomics.add(i32, b + H.timesAbandoned, 1);
      Atomics.compareExchange(i32, b + H.consistency, CONSISTENT, INCONSISTENT);
      const previous = takeover.previous;
      return previous.tid > 0
        ? { owned: true, status: 'abandoned', abandoned: true, depth, previousOwner: previous, sharesReclaimed: reclaimed }
        : { owned: true, status: 'abandoned', abandoned: true, depth, sharesReclaimed: reclaimed };
    }
    return reclaimed === 0 ? ENTERED : { owned: true, status: 'acquired', abandoned: false, depth: 1, sharesReclaimed: reclaimed };
  }

  /** Give the writer word back: admit the waiting readers (new read generation), then wake everyone asleep on it. */
  private releaseWriter(): void {
    const i32 = this.i32;
    const b = this.base;
    Atomics.store(i32, b + H.active, 0);
    i32[b + H.writerTid] = 0;
    i32[b + H.writerPid] = 0;
    i32[b + H.writerStart] = 0;
    i32[b + H.writeDepth] = 0;
    i32[b + H.readsInWrite] = 0;
    // Before the word is free: a writer that takes it next must already see the readers waiting now as admitted.
    Atomics.add(i32, b + H.readGen, 1);
    this.list?.pending(this.writerNode);
    this.list?.unlink(this.writerNode);
    let old: number;
    if (Atomics.load(i32, b + H.consistency) === INCONSISTENT) {
      if (this.policy === 'posix') {
        Atomics.store(i32, b + H.consistency, NOT_RECOVERABLE);
        old = Atomics.exchange(i32, b + H.writer, NOT_RECOVERABLE_TID) | WAITERS;
      } else {
        Atomics.store(i32, b + H.consistency, CONSISTENT);
        old = Atomics.exchange(i32, b + H.writer, 0) | WAITERS;
      }
    } else {
      old = Atomics.exchange(i32, b + H.writer, 0);
    }
    if ((old & WAITERS) !== 0) this.wakeWriterWaiters();
    this.list?.clearPending();
  }

  private wakeWriterWaiters(): void {
    wake(this.waitWord(this.base + H.writer), 0x7fff_ffff);
  }

  private registerWriterWaiter(tid: number): number {
    const first = this.base + H.writerWaiters;
    for (let i = 0; i < WRITER_WAITER_SLOTS; i++) {
      if (Atomics.load(this.i32, first + i) === 0 && Atomics.compareExchange(this.i32, first + i, 0, tid) === 0) return i;
    }
    return -1;
  }

  // ---- slots -----------------------------------------------------------

  private slotAt(slot: number): number {
    return this.base + H.slots + slot * SLOT_INTS;
  }

  /** The slot this thread used last (likely still free), else its hashed one: one compare-and-swap when uncontended. */
  private claimPreferred(me: OwnerIdentity): number {
    const slot = this.mySlot >= 0 ? this.mySlot : me.tid % this.readerSlots;
    return this.claim(slot, me) ? slot : -1;
  }

  private claim(slot: number, me: OwnerIdentity): boolean {
    const i32 = this.i32;
    const at = this.slotAt(slot);
    if (i32[at] !== 0) return false;
    const node = this.slotNodes[slot]!;
    this.list?.pending(node);
    if (Atomics.compareExchange(i32, at, 0, me.tid) !== 0) {
      this.list?.clearPending();
      return false;
    }
    this.list?.link(node);
    this.list?.clearPending();
    i32[at + S.pid] = me.pid;
    i32[at + S.startTime] = me.startTime | 0;
    return true;
  }

  /** Any free slot, reclaiming dead readers' slots met on the way. */
  private claimAny(me: OwnerIdentity): { slot: number; reclaimed: number } {
    const n = this.readerSlots;
    const start = me.tid % n;
    let reclaimed = 0;
    for (let k = 0; k < n; k++) {
      const slot = (start + k) % n;
      const at = this.slotAt(slot);
      const v = Atomics.load(this.i32, at);
      if (v !== 0 && (v & TID_MASK) === 0) reclaimed += this.reclaimSlot(at, v, me);
      if (this.claim(slot, me)) return { slot, reclaimed };
    }
    return { slot: -1, reclaimed };
  }

  /**
   * A slot whose reader died (OWNER_DIED): take it for a moment to reset its
   * fields, then free it. Counts a share when the reader was inside.
   */
  private reclaimSlot(at: number, v: number, me: OwnerIdentity): number {
    const i32 = this.i32;
    const state = Atomics.load(i32, at + S.state);
    // Before the word names us: with the dead reader's start time beside our
    // tid, a liveness look would judge us "reused", so dead, and the slot
    // could be freed twice. Zeroing it early can only make a look more lenient.
    if (Atomics.load(i32, at) !== v) return 0;
    Atomics.store(i32, at + S.startTime, 0);
    if (Atomics.compareExchange(i32, at, v, me.tid) !== v) return 0;
    i32[at + S.state] = SLOT_HOLDING;
    i32[at + S.depth] = 0;
    i32[at + S.pid] = 0;
    i32[at + S.startTime] = 0;
    Atomics.store(i32, at, 0);
    if ((v & WAITERS) !== 0) {
      wake(this.waitWord(at), 0x7fff_ffff);
    }
    if (state !== SLOT_HOLDING) return 0;
    Atomics.add(i32, this.base + H.sharesReclaimed, 1);
    return 1;
  }

  private releaseSlot(slot: number): void {
    const i32 = this.i32;
    const at = this.slotAt(slot);
    // Plain stores: the exchange below is the fence that publishes them (x86 locked instruction).
    i32[at + S.depth] = 0;
    i32[at + S.startTime] = 0;
    i32[at + S.state] = SLOT_HOLDING;
    const node = this.slotNodes[slot]!;
    this.list?.pending(node);
    this.list?.unlink(node);
    const old = Atomics.exchange(i32, at, 0);
    if ((old & WAITERS) !== 0) {
      wake(this.waitWord(at), 0x7fff_ffff);
    }
    this.list?.clearPending();
  }

  /** We stepped back from HOLDING to waiting: a writer asleep on our slot must look again. */
  private wakeSlotSleeper(at: number): void {
    const v = Atomics.load(this.i32, at);
    if ((v & WAITERS) === 0) return;
    Atomics.compareExchange(this.i32, at, v, v & ~WAITERS);
    wake(this.waitWord(at), 0x7fff_ffff);
  }

  // ---- liveness (the /proc fallback; the kernel's robust list is the fast path) ----

  private markSlotIfDead(at: number): void {
    this.markIfDead(at, at + S.startTime, -1);
  }

  /**
   * Set OWNER_DIED (TID cleared) in a robust word whose holder is dead, as the
   * kernel would. A start time of 0 means "not written yet": then only a
   * thread that is gone, a zombie or exiting counts as dead, never "reused".
   * The writer's start time is taken as "not written yet" too unless the
   * identity's tid (`tidIndex`, written after the start time) names the tid
   * in the word: a taker of a dead writer's word holds it with the dead
   * writer's identity for a moment, and was judged "reused", so dead, by its
   * tid and the dead writer's start time: a second writer went in.
   */
  private markIfDead(index: number, startIndex: number, tidIndex: number): void {
    const i32 = this.i32;
    const v = Atomics.load(i32, index);
    const tid = v & TID_MASK;
    if (tid === 0 || tid === NOT_RECOVERABLE_TID) return;
    const startTime = tidIndex < 0 || Atomics.load(i32, tidIndex) === tid ? Atomics.load(i32, startIndex) >>> 0 : 0;
    const liveness = ownerLiveness({ tid, startTime });
    if (liveness === 'alive' || (liveness === 'reused' && startTime === 0)) return;
    Atomics.compareExchange(i32, index, v, (v & WAITERS) | OWNER_DIED);
  }

  // ---- sleeping ----------------------------------------------------------

  private waitWord(index: number): WaitWord {
    return { sab: this.buffer, i32: this.i32, index, kind: this.kind };
  }

  private drive(steps: Generator<Sleep, RwAcquireResult, boolean>): RwAcquireResult {
    let next = steps.next(false);
    while (!next.done) {
      const { index, expected, sliceMs } = next.value;
      next = steps.next(waitSlice(this.waitWord(index), expected, sliceMs) === 'timed-out');
    }
    return next.value;
  }

  /**
   * Async sleeps are on the same words as sync ones (waiting.ts): the
   * releaser's wake() and the kernel's robust-list wake at a holder's death
   * reach them from any process, so no slice timer runs. The /proc look
   * between sleeps is then a safety net at asyncLivenessIntervalMs, except
   * where the word does not tell everything (Sleep.wokenByAll).
   */
  private async driveAsync(steps: Generator<Sleep, RwAcquireResult, boolean>, signal: AbortSignal | undefined): Promise<RwAcquireResult> {
    const lookMs = this.kind === WAIT_FUTEX ? this.asyncLivenessIntervalMs : this.livenessIntervalMs;
    try {
      signal?.throwIfAborted();
      let next = steps.next(false);
      while (!next.done) {
        const { index, expected, sliceMs, remainingMs, wokenByAll } = next.value;
        const sleepMs = wokenByAll ? Math.min(lookMs, remainingMs) : sliceMs;
        const outcome = await waitAsync(this.waitWord(index), expected, sleepMs, signal);
        next = steps.next(outcome === 'timed-out');
      }
      return next.value;
    } finally {
      // Runs the generator's finally (frees the slot / the writer word) when we leave early (abort).
      steps.return(NOT_OWNED_TIMEOUT);
    }
  }

  /** What serves acquireReadAsync() / acquireWriteAsync() in this process (see AsyncWaitMechanism). */
  get asyncWaitMechanism(): AsyncWaitMechanism {
    return asyncWaitMechanism(this.kind);
  }

  // ---- looking -----------------------------------------------------------

  /** A snapshot for tools and the lab. Reads /proc for liveness. */
  inspect(): RwLockSnapshot {
    const i32 = this.i32;
    const b = this.base;
    const w = Atomics.load(i32, b + H.writer);
    const wtid = w & TID_MASK;
    const consistency = Atomics.load(i32, b + H.consistency);
    const readers: RwLockSnapshot['readers'] = [];
    const waitingReaders: RwLockHolder[] = [];
    for (let i = 0; i < this.readerSlots; i++) {
      const at = this.slotAt(i);
      const v = Atomics.load(i32, at);
      if (v === 0) continue;
      const tid = v & TID_MASK;
      const state = Atomics.load(i32, at + S.state);
      const pid = i32[at + S.pid] ?? 0;
      const alive = tid !== 0 && isAlive(tid, (i32[at + S.startTime] ?? 0) >>> 0);
      if (state === SLOT_HOLDING) readers.push({ tid, pid, alive, depth: i32[at + S.depth] ?? 0 });
      else if (isWaitingState(state)) waitingReaders.push({ tid, pid, alive });
    }
    let waitingWriters = 0;
    for (let i = 0; i < WRITER_WAITER_SLOTS; i++) if (Atomics.load(i32, b + H.writerWaiters + i) !== 0) waitingWriters++;
    let writer: RwLockSnapshot['writer'] = null;
    let state: RwLockSnapshot['state'];
    if (wtid === NOT_RECOVERABLE_TID || consistency === NOT_RECOVERABLE) state = 'not-recoverable';
    else if (w === 0) state = readers.length > 0 ? 'read' : 'free';
    else {
      const startTime = (i32[b + H.writerStart] ?? 0) >>> 0;
      const tid = wtid || (i32[b + H.writerTid] ?? 0);
      // A taker not yet recorded: its tid, judged without the dead writer's start time (see markIfDead).
      const alive = wtid !== 0 && isAlive(wtid, Atomics.load(i32, b + H.writerTid) === wtid ? startTime : 0);
      writer = { tid, pid: i32[b + H.writerPid] ?? 0, startTime, alive, depth: (i32[b + H.writeDepth] ?? 0) + (i32[b + H.readsInWrite] ?? 0) };
      state = !alive ? 'writer-dead' : Atomics.load(i32, b + H.active) === 1 ? 'write' : 'draining';
    }
    return {
      state,
      writer,
      readers,
      waitingReaders,
      waitingWriters,
      sharesReclaimed: Atomics.load(i32, b + H.sharesReclaimed),
      timesAbandoned: Atomics.load(i32, b + H.timesAbandoned),
      writeAcquisitions: Atomics.load(i32, b + H.writeAcquisitions),
      readerSlots: this.readerSlots,
      policy: this.policy,
      consistent: consistency === CONSISTENT,
      asyncWaits: this.asyncWaitMechanism,
    };
  }
}

function isAlive(tid: number, startTime: number): boolean {
  const liveness = ownerLiveness({ tid, startTime });
  return liveness === 'alive' || (liveness === 'reused' && startTime === 0);
}
