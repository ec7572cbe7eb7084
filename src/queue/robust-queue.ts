// RobustQueue: a job queue in shared memory (a region) for threads and
// processes of one host, where a dead consumer's job comes back at once and a
// live one's never goes away.
//
// Brokers guess a consumer's death from silence (BullMQ's lock lapses after
// lockDuration, SQS's visibility timeout): a crashed consumer's job waits for
// the timeout, and a consumer that is merely busy past it loses its job to a
// second run. Here a consumer's claim on a job is a robust-futex word holding
// its TID, linked on its thread's kernel robust list (as the semaphore's
// units are): however the thread ends (SIGKILL, worker.terminate(), an
// aborted piscina task, process.exit(), an uncaught throw) the kernel sets
// FUTEX_OWNER_DIED in the word and wakes a waiter flagged on it; the queue
// then puts the job back at the front. A live consumer's word never changes,
// however long it works or blocks. Without the native addon (threads only)
// the claim words are looked up in /proc between wait slices instead.
//
// Every change of the ring, the free stack and a slot's state happens under
// one RobustMutex (copies of payloads included: a few microseconds). A
// producer that dies inside it (mid-copy) leaves the mutex abandoned, and the
// next thread in rebuilds the ring and the free stack from the slots' states:
// the half-written slot was never READY, so it is simply free again.
//
// Order: jobs never redelivered come out in enqueue order (FIFO). A job whose
// consumer died goes back to the FRONT (it is the oldest work, and a poison
// job meets its dead-letter limit quickly); a job release()d goes to the BACK.
//
// No lease unless asked for (leaseMs): then a job held too long by a live
// consumer is copied into a free slot for the next consumer, and the old slot
// (still on the slow consumer's robust list: its node cannot move to another
// thread's list) stays that consumer's until it acks, releases or dies.
import { InvalidArgumentError } from '../errors.js';
import { checkTimeout } from '../locks/lock-arguments.js';
import { OWNER_DIED, TID_MASK, WAITERS, WAIT_ATOMICS, WAIT_FUTEX } from '../locks/mutex-layout.js';
import { currentThreadIdentity, ownerLiveness } from '../locks/owner.js';
import { RobustMutex } from '../locks/robust-mutex.js';
import { initRobustNode, robustNode, threadRobustList, type RobustNode, type ThreadRobustList } from '../locks/robust-list.js';
import type { NamedObjectHost, OwnerIdentity } from '../locks/types.js';
import { asyncWaitMechanism, waitAsyncAny, waitSlice, wake, type AsyncWaitMechanism, type WaitWord, type WordValue } from '../locks/waiting.js';
import { native } from '../native/index.js';
import { RegionCorruptError } from '../shm/region.js';
import { testHooksOf, type QueueHookPoint } from '../test-hooks.js';
import { Job, type DeadConsumer } from './job.js';
import { JobNotHeldError, JobTooLargeError, LeaseExpiredError, QueueFullError, QueueMismatchError } from './queue-errors.js';
import {
  JournalOp,
  MAX_CAPACITY,
  MAX_DELIVERIES,
  MAX_JOB_BYTES,
  MAX_LEASE_MS,
  Q,
  Q_F64,
  QUEUE_HEADER_BYTES,
  QUEUE_LAYOUT_VERSION,
  QUEUE_MAGIC,
  QUEUE_MUTEX_OFFSET,
  QUEUE_RING_OFFSET,
  S,
  SLOT_HEADER_BYTES,
  S_F64,
  SlotState,
  freeStackOffset,
  queueBytes,
  slotBytes,
  slotsOffset,
} from './queue-layout.js';

/** Options of {@link RobustQueue.open}: the shape of the queue (fixed when it is created) and this handle's waiting. */
export interface QueueOptions {
  /** How many jobs it holds at most: waiting, in progress and dead-lettered together (1..65536). */
  capacity: number;
  /** Largest payload in bytes (1..64 MiB); every slot reserves this much. */
  maxJobBytes: number;
  /** Deliveries after which a job that comes back (death or release) goes to the dead-letter list instead (default 3). */
  maxDeliveries?: number;
  /** How often (ms) a blocked take()/enqueue() looks for dead consumers between sleeps (default 2). */
  livenessIntervalMs?: number;
  /**
   * Off (0) by default: a live consumer keeps its job however long it takes.
   * With a lease, a job held longer than leaseMs by a consumer that is still
   * alive is given to another consumer as well (a copy goes to the front, in
   * another free slot); the first consumer's ack() then throws
   * LeaseExpiredError (ERR_LEASE_EXPIRED). Brokers' behaviour, for those who
   * want it: a hung consumer stops holding work up, at the price of a job run
   * twice by one that was only slow. Fixed when the queue is created.
   */
  leaseMs?: number;
}

/** Options of a blocking or async take. */
export interface TakeOptions {
  /** Give up after this many ms (take() returns null). Default: wait for ever. */
  timeoutMs?: number;
  /** Abort the wait: takeAsync() rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of a blocking or async enqueue. */
export interface EnqueueOptions {
  /** Give up after this many ms when the queue stays full (QueueFullError, ERR_QUEUE_FULL). Default: wait for ever. */
  timeoutMs?: number;
  /** Abort the wait: enqueueAsync() rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A job in the dead-letter list (see {@link RobustQueue.deadLetters}). */
export interface DeadLetter {
  /** The job's id. */
  id: number;
  /** A copy of its payload. */
  data: Uint8Array;
  /** How many times it was delivered. */
  deliveries: number;
  /** The consumer that died with it last, if its last delivery ended in a death. */
  previousOwner: DeadConsumer | undefined;
}

/** A job in progress, as inspect() sees it. */
export interface TakenJob {
  /** The job's id. */
  id: number;
  /** Its current delivery (1 = first). */
  deliveries: number;
  /** The consumer thread holding it. */
  tid: number;
  /** That thread's process. */
  pid: number;
  /** False when the consumer is dead and the job not yet put back (the next take or sweep does). */
  alive: boolean;
  /** True when its lease ran out and a copy went to another consumer (leaseMs). */
  leaseExpired: boolean;
}

/** What {@link RobustQueue.inspect} reports (a racy snapshot, for display and tests). */
export interface QueueSnapshot {
  /** Slots in all. */
  capacity: number;
  /** Largest payload. */
  maxJobBytes: number;
  /** The dead-letter limit. */
  maxDeliveries: number;
  /** Jobs waiting to be taken. */
  ready: number;
  /** Jobs in progress. */
  taken: TakenJob[];
  /** Ids of the jobs in the dead-letter list. */
  deadLetters: number[];
  /** Free slots. */
  free: number;
  /** Jobs enqueued since creation. */
  enqueued: number;
  /** Jobs acked since creation. */
  acked: number;
  /** Jobs put back because their consumer died. */
  redelivered: number;
  /** Jobs release()d by their consumer. */
  released: number;
  /** Jobs moved to the dead-letter list. */
  deadLettered: number;
  /** Times a thread found the queue mutex abandoned (a participant died inside it) and rebuilt the queue. */
  repairs: number;
  /** The lease (ms), 0 when off. */
  leaseMs: number;
  /** Jobs given to another consumer because a live consumer's lease ran out. */
  leasesExpired: number;
  /**
   * Consumers asleep waiting for a job. A waiter killed while it waited stays
   * counted (the count only makes wakes unconditional; nothing waits on it).
   */
  consumersWaiting: number;
  /** Producers asleep waiting for room (a producer killed while waiting stays counted, as above). */
  producersWaiting: number;
  /** What serves takeAsync()/enqueueAsync() in this process. */
  asyncWaits: AsyncWaitMechanism;
}

/** Async consumers watch the claim words of at most this many jobs in progress (one kernel wait each); past it they look every livenessIntervalMs. */
const MAX_WATCHED_CLAIMS = 32;
const ASYNC_SAFETY_NET_MS = 1000;
const encoder = new TextEncoder();

/** CLOCK_MONOTONIC in ms: one clock for every process of the host (leases only). */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** A payload as bytes: a string is encoded as UTF-8. */
function payloadBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  throw new InvalidArgumentError(`a job is a Uint8Array or a string, got ${data === null ? 'null' : typeof data}`);
}

/**
 * A multi-producer, multi-consumer job queue in a region, shared by worker
 * threads and processes. A handle belongs to the thread that opened it.
 *
 * ```ts
 * const queue = RobustQueue.open(region, 'jobs', { capacity: 1024, maxJobBytes: 4096 });
 * queue.enqueue('resize photo 17');
 * for await (const job of queue.jobs()) {
 *   await work(job.text());
 *   job.ack();            // if this thread dies first, the job is taken again at once
 * }
 * ```
 */
export class RobustQueue {
  /** Bytes a queue of this shape occupies. */
  static bytes(capacity: number, maxJobBytes: number): number {
    checkInteger(capacity, 'capacity', 1, MAX_CAPACITY);
    checkInteger(maxJobBytes, 'maxJobBytes', 1, MAX_JOB_BYTES);
    return queueBytes(capacity, maxJobBytes);
  }

  /** The shared memory the queue lives in. */
  readonly buffer: SharedArrayBuffer;
  /** Where in `buffer`. */
  readonly byteOffset: number;
  /** Slots in all. */
  readonly capacity: number;
  /** Largest payload. */
  readonly maxJobBytes: number;
  /** Deliveries before a returning job is dead-lettered. */
  readonly maxDeliveries: number;
  /** The lease (ms), 0 when off (the default). */
  readonly leaseMs: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  /** Int32 index of the header; Float64 index of the header. */
  private readonly base: number;
  private readonly baseF64: number;
  private readonly ringBase: number;
  private readonly freeBase: number;
  private readonly slotsByte: number;
  private readonly slotBytes: number;
  private readonly kind: number;
  private readonly mutex: RobustMutex;
  private readonly list: ThreadRobustList | null;
  private readonly nodes: (RobustNode | null | undefined)[];
  private readonly me: OwnerIdentity;
  private readonly livenessIntervalMs: number;
  private readonly hook: ((point: QueueHookPoint) => void) | undefined;
  private lastSweep = 0;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number, options: Partial<QueueOptions>) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.i32 = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.f64 = new Float64Array(buffer, 0, buffer.byteLength >> 3);
    this.u8 = new Uint8Array(buffer);
    this.base = byteOffset >> 2;
    this.baseF64 = byteOffset >> 3;
    const b = this.base;
    this.capacity = Atomics.load(this.i32, b + Q.capacity);
    this.maxJobBytes = Atomics.load(this.i32, b + Q.maxJobBytes);
    this.maxDeliveries = Atomics.load(this.i32, b + Q.maxDeliveries);
    this.kind = Atomics.load(this.i32, b + Q.waitKind);
    this.leaseMs = Atomics.load(this.i32, b + Q.leaseMs);
    this.ringBase = b + QUEUE_RING_OFFSET / 4;
    this.freeBase = b + freeStackOffset(this.capacity) / 4;
    this.slotsByte = byteOffset + slotsOffset(this.capacity);
    this.slotBytes = slotBytes(this.maxJobBytes);
    this.livenessIntervalMs = options.livenessIntervalMs ?? 2;
    if (typeof this.livenessIntervalMs !== 'number' || !(this.livenessIntervalMs > 0)) throw new InvalidArgumentError(`livenessIntervalMs must be > 0, got ${String(options.livenessIntervalMs)}`);
    this.hook = testHooksOf(options).onInsideQueueLock;
    this.mutex = RobustMutex.at(buffer, byteOffset + QUEUE_MUTEX_OFFSET);
    this.list = this.kind === WAIT_FUTEX ? threadRobustList() : null;
    this.nodes = new Array<RobustNode | null | undefined>(this.capacity);
    this.me = currentThreadIdentity();
  }

  /** Write an empty queue at byteOffset (8-byte aligned, RobustQueue.bytes(capacity, maxJobBytes) long). */
  static initialize(buffer: SharedArrayBuffer, byteOffset: number, options: QueueOptions): RobustQueue {
    const capacity = checkInteger(options.capacity, 'capacity', 1, MAX_CAPACITY);
    const maxJobBytes = checkInteger(options.maxJobBytes, 'maxJobBytes', 1, MAX_JOB_BYTES);
    const maxDeliveries = checkInteger(options.maxDeliveries ?? 3, 'maxDeliveries', 1, MAX_DELIVERIES);
    const leaseMs = checkInteger(options.leaseMs ?? 0, 'leaseMs', 0, MAX_LEASE_MS);
    const bytes = queueBytes(capacity, maxJobBytes);
    if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidArgumentError('a robust queue needs a SharedArrayBuffer');
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0 || byteOffset + bytes > buffer.byteLength) {
      throw new InvalidArgumentError(`queue byteOffset must be a multiple of 8 with ${bytes} bytes inside the buffer, got ${byteOffset}`);
    }
    let futex = true;
    try {
      native();
    } catch {
      futex = false;
    }
    new Uint8Array(buffer, byteOffset, slotsOffset(capacity)).fill(0);
    const h = new Int32Array(buffer, byteOffset, QUEUE_HEADER_BYTES / 4);
    const hf = new Float64Array(buffer, byteOffset, QUEUE_HEADER_BYTES / 8);
    Atomics.store(h, Q.capacity, capacity);
    Atomics.store(h, Q.maxJobBytes, maxJobBytes);
    Atomics.store(h, Q.maxDeliveries, maxDeliveries);
    Atomics.store(h, Q.leaseMs, leaseMs);
    Atomics.store(h, Q.waitKind, futex ? WAIT_FUTEX : WAIT_ATOMICS);
    hf[Q_F64.nextId] = 1;
    hf[Q_F64.backKey] = 1;
    hf[Q_F64.frontKey] = 0;
    RobustMutex.initialize(buffer, byteOffset + QUEUE_MUTEX_OFFSET, { policy: 'posix', waitMechanism: futex ? 'futex' : 'atomics' });
    const free = new Int32Array(buffer, byteOffset + freeStackOffset(capacity), capacity);
    const size = slotBytes(maxJobBytes);
    for (let slot = 0; slot < capacity; slot++) {
      const at = byteOffset + slotsOffset(capacity) + slot * size;
      new Uint8Array(buffer, at, SLOT_HEADER_BYTES).fill(0);
      initRobustNode(buffer, at);
      // The stack pops from its end: slot 0 is handed out first.
      free[slot] = capacity - 1 - slot;
    }
    Atomics.store(h, Q.freeCount, capacity);
    Atomics.store(h, Q.version, QUEUE_LAYOUT_VERSION);
    Atomics.store(h, Q.magic, QUEUE_MAGIC);
    return RobustQueue.at(buffer, byteOffset, options);
  }

  /** Attach to a queue that initialize() wrote. A header no queue has throws RegionCorruptError (ERR_REGION_CORRUPT). */
  static at(buffer: SharedArrayBuffer, byteOffset: number, options: Partial<QueueOptions> = {}): RobustQueue {
    if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidArgumentError('a robust queue needs a SharedArrayBuffer');
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0 || byteOffset + QUEUE_RING_OFFSET > buffer.byteLength) {
      throw new InvalidArgumentError(`queue byteOffset must be a multiple of 8 with a queue header inside the buffer, got ${byteOffset}`);
    }
    checkQueueHeader(new Int32Array(buffer, byteOffset, QUEUE_HEADER_BYTES / 4), byteOffset, buffer.byteLength);
    try {
      return new RobustQueue(buffer, byteOffset, options);
    } catch (error) {
      if (error instanceof Error && 'code' in error && error.code === 'ERR_MUTEX_LAYOUT') throw new RegionCorruptError(`queue at byte offset ${byteOffset}: its mutex is overwritten (${error.message})`);
      throw error;
    }
  }

  /**
   * Find the queue called `name` in a region, creating it on first use. A
   * queue of that name with another capacity or maxJobBytes (or an explicit
   * maxDeliveries that differs) throws QueueMismatchError.
   */
  static open(region: NamedObjectHost, name: string, options: QueueOptions): RobustQueue {
    if (options === null || typeof options !== 'object') throw new InvalidArgumentError('RobustQueue.open needs options { capacity, maxJobBytes }');
    const bytes = RobustQueue.bytes(options.capacity, options.maxJobBytes);
    if (options.maxDeliveries !== undefined) checkInteger(options.maxDeliveries, 'maxDeliveries', 1, MAX_DELIVERIES);
    if (options.leaseMs !== undefined) checkInteger(options.leaseMs, 'leaseMs', 0, MAX_LEASE_MS);
    if (typeof name !== 'string' || name.length === 0) throw new InvalidArgumentError(`a queue name is a non-empty string, got ${String(name)}`);
    let offset: number;
    try {
      ({ offset } = region.findOrCreate(`queue:${name}`, bytes, (byteOffset) => {
        RobustQueue.initialize(region.buffer, byteOffset, options);
      }));
    } catch (error) {
      // The region refuses a larger shape than the one that exists; a smaller one is caught below.
      if (error instanceof InvalidArgumentError && / exists with /.test(error.message)) throw new QueueMismatchError(`queue '${name}' exists with another shape: ${error.message}`);
      throw error;
    }
    const queue = RobustQueue.at(region.buffer, offset, options);
    if (queue.capacity !== options.capacity || queue.maxJobBytes !== options.maxJobBytes) {
      throw new QueueMismatchError(`queue '${name}' has capacity ${queue.capacity} and maxJobBytes ${queue.maxJobBytes}, not ${options.capacity} and ${options.maxJobBytes}`);
    }
    if (options.maxDeliveries !== undefined && queue.maxDeliveries !== options.maxDeliveries) {
      throw new QueueMismatchError(`queue '${name}' has maxDeliveries ${queue.maxDeliveries}, not ${options.maxDeliveries}`);
    }
    if (options.leaseMs !== undefined && queue.leaseMs !== options.leaseMs) {
      throw new QueueMismatchError(`queue '${name}' has leaseMs ${queue.leaseMs}, not ${options.leaseMs}`);
    }
    return queue;
  }

  /** What serves takeAsync()/enqueueAsync() in this process. */
  get asyncWaitMechanism(): AsyncWaitMechanism {
    return asyncWaitMechanism(this.kind);
  }

  // ---- producing ---------------------------------------------------------

  /** Add a job if there is room: its id, or 'full'. */
  tryEnqueue(data: Uint8Array | string): number | 'full' {
    const bytes = this.checkPayload(data);
    const id = this.put(bytes);
    return id < 0 ? 'full' : id;
  }

  /** Add a job, blocking while the queue is full: its id. Throws QueueFullError after timeoutMs. */
  enqueue(data: Uint8Array | string, options: EnqueueOptions = {}): number {
    const bytes = this.checkPayload(data);
    const timeoutMs = options.timeoutMs ?? Infinity;
    checkTimeout(timeoutMs);
    options.signal?.throwIfAborted();
    const deadline = performance.now() + timeoutMs;
    const seqWord = this.word(Q.freeSeq);
    let sleeping = false;
    try {
      for (;;) {
        const seq = Atomics.load(this.i32, seqWord.index);
        const id = this.put(bytes);
        if (id >= 0) return id;
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw new QueueFullError(timeoutMs);
        if (!sleeping) {
          Atomics.add(this.i32, this.base + Q.producerSleepers, 1);
          sleeping = true;
          continue;
        }
        options.signal?.throwIfAborted();
        if (waitSlice(seqWord, seq, Math.min(this.livenessIntervalMs, remaining)) === 'timed-out') this.sweep(true);
      }
    } finally {
      if (sleeping) Atomics.sub(this.i32, this.base + Q.producerSleepers, 1);
    }
  }

  /** enqueue() without blocking the event loop. */
  async enqueueAsync(data: Uint8Array | string, options: EnqueueOptions = {}): Promise<number> {
    const bytes = this.checkPayload(data);
    const timeoutMs = options.timeoutMs ?? Infinity;
    checkTimeout(timeoutMs);
    const { signal } = options;
    signal?.throwIfAborted();
    const deadline = performance.now() + timeoutMs;
    const seqWord = this.word(Q.freeSeq);
    let sleeping = false;
    try {
      for (;;) {
        const seq = Atomics.load(this.i32, seqWord.index);
        const id = this.put(bytes);
        if (id >= 0) return id;
        const remaining = deadline - performance.now();
        if (remaining <= 0) throw new QueueFullError(timeoutMs);
        if (!sleeping) {
          Atomics.add(this.i32, this.base + Q.producerSleepers, 1);
          sleeping = true;
          continue;
        }
        const watched = this.watchClaims();
        const sleepMs = watched === null ? Math.min(this.livenessIntervalMs, remaining) : Math.min(ASYNC_SAFETY_NET_MS, remaining);
        const outcome = await waitAsyncAny([{ word: seqWord, expected: seq }, ...(watched ?? [])], sleepMs, signal);
        if (outcome !== 'changed' || watched === null) this.sweep(true);
      }
    } finally {
      if (sleeping) Atomics.sub(this.i32, this.base + Q.producerSleepers, 1);
    }
  }

  private checkPayload(data: Uint8Array | string): Uint8Array {
    const bytes = payloadBytes(data);
    if (bytes.length > this.maxJobBytes) throw new JobTooLargeError(bytes.length, this.maxJobBytes);
    return bytes;
  }

  /** One attempt to add a job: its id, or -1 when full. */
  private put(bytes: Uint8Array): number {
    const i32 = this.i32;
    const b = this.base;
    this.lock();
    let id: number;
    let journaled = false;
    try {
      const freeCount = i32[b + Q.freeCount]!;
      if (freeCount === 0) return -1;
      const slot = this.slotNumber(i32[this.freeBase + freeCount - 1]!);
      const s = this.slotInt(slot);
      if (i32[s + S.state] !== SlotState.FREE) throw this.corrupt(`free stack names slot ${slot}, which is not free`);
      const payload = this.slotsByte + slot * this.slotBytes + SLOT_HEADER_BYTES;
      if (this.hook !== undefined) {
        // A death (or a throw) here leaves the slot FREE, still on the free stack, with half a payload.
        const half = bytes.length >> 1;
        this.u8.set(bytes.subarray(0, half), payload);
        this.hook('enqueue:copying');
        this.u8.set(bytes.subarray(half), payload + half);
      } else {
        this.u8.set(bytes, payload);
      }
      i32[s + S.length] = bytes.length;
      i32[s + S.deliveries] = 0;
      i32[s + S.prevTid] = 0;
      i32[s + S.prevPid] = 0;
      const f = this.slotF64(slot);
      const hf = this.baseF64;
      id = this.f64[hf + Q_F64.nextId]!;
      this.f64[hf + Q_F64.nextId] = id + 1;
      this.f64[f + S_F64.id] = id;
      const key = this.f64[hf + Q_F64.backKey]!;
      this.f64[hf + Q_F64.backKey] = key + 1;
      this.f64[f + S_F64.key] = key;
      i32[b + Q.freeCount] = freeCount - 1;
      this.journal(JournalOp.ENQUEUE, slot, Q.enqueued);
      journaled = true;
      // The commit: from here the rebuild sees a READY job (and files it by its key, and counts it from the journal).
      Atomics.store(i32, s + S.state, SlotState.READY);
      this.ringPushBack(slot);
      this.hook?.('enqueue:committed');
      i32[b + Q.enqueued] = (i32[b + Q.enqueued]! + 1) | 0;
      this.endJournal();
      journaled = false;
      Atomics.add(i32, b + Q.readySeq, 1);
    } finally {
      this.leave(journaled);
    }
    if (Atomics.load(i32, b + Q.consumerSleepers) > 0) wake(this.word(Q.readySeq), 1);
    return id;
  }

  // ---- consuming ---------------------------------------------------------

  /** Take the next job if one is ready, else null. */
  tryTake(): Job | null {
    this.sweep(false);
    return this.grab();
  }

  /** Take the next job, blocking until one is ready: null after timeoutMs. */
  take(options: TakeOptions = {}): Job | null {
    const timeoutMs = options.timeoutMs ?? Infinity;
    checkTimeout(timeoutMs);
    options.signal?.throwIfAborted();
    const deadline = performance.now() + timeoutMs;
    const seqWord = this.word(Q.readySeq);
    let sleeping = false;
    this.sweep(false);
    try {
      for (;;) {
        const seq = Atomics.load(this.i32, seqWord.index);
        const job = this.grab();
        if (job !== null) return job;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return null;
        if (!sleeping) {
          Atomics.add(this.i32, this.base + Q.consumerSleepers, 1);
          sleeping = true;
          continue;
        }
        options.signal?.throwIfAborted();
        if (waitSlice(seqWord, seq, Math.min(this.livenessIntervalMs, remaining)) === 'timed-out') this.sweep(true);
      }
    } finally {
      if (sleeping) Atomics.sub(this.i32, this.base + Q.consumerSleepers, 1);
    }
  }

  /**
   * take() without blocking the event loop: null after timeoutMs; rejects
   * with the signal's reason when it aborts. On a futex queue the kernel's
   * death wake of a job's claim word reaches it directly (up to 32 jobs in
   * progress; past that it looks every livenessIntervalMs).
   */
  async takeAsync(options: TakeOptions = {}): Promise<Job | null> {
    const timeoutMs = options.timeoutMs ?? Infinity;
    checkTimeout(timeoutMs);
    const { signal } = options;
    signal?.throwIfAborted();
    const deadline = performance.now() + timeoutMs;
    const seqWord = this.word(Q.readySeq);
    let sleeping = false;
    this.sweep(false);
    try {
      for (;;) {
        const seq = Atomics.load(this.i32, seqWord.index);
        const job = this.grab();
        if (job !== null) return job;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return null;
        if (!sleeping) {
          Atomics.add(this.i32, this.base + Q.consumerSleepers, 1);
          sleeping = true;
          continue;
        }
        const watched = this.watchClaims();
        if (watched === null && this.kind === WAIT_FUTEX && this.list !== null && this.claimsDied()) {
          this.sweep(true);
          continue;
        }
        const sleepMs = watched === null ? Math.min(this.livenessIntervalMs, remaining) : Math.min(ASYNC_SAFETY_NET_MS, remaining);
        const outcome = await waitAsyncAny([{ word: seqWord, expected: seq }, ...(watched ?? [])], sleepMs, signal);
        if (outcome !== 'changed' || watched === null) this.sweep(true);
      }
    } finally {
      if (sleeping) Atomics.sub(this.i32, this.base + Q.consumerSleepers, 1);
    }
  }

  /**
   * Every job, as it becomes ready, for `for await`. Ack or release each
   * before asking for the next. Ends (without throwing) when the signal aborts.
   */
  async *jobs(options: { signal?: AbortSignal } = {}): AsyncGenerator<Job, void, undefined> {
    const { signal } = options;
    for (;;) {
      if (signal?.aborted) return;
      let job: Job | null;
      try {
        job = await this.takeAsync(signal ? { signal } : {});
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
      if (job !== null) yield job;
    }
  }

  /** One attempt to take the ring's first job (under the mutex). */
  private grab(): Job | null {
    const i32 = this.i32;
    const b = this.base;
    const me = this.me;
    let slot: number;
    let id: number;
    let deliveries: number;
    let length: number;
    let previousOwner: DeadConsumer | undefined;
    this.lock();
    try {
      const count = i32[b + Q.ringCount]!;
      if (count === 0) return null;
      const head = i32[b + Q.ringHead]!;
      slot = this.slotNumber(i32[this.ringBase + head]!);
      const s = this.slotInt(slot);
      if (i32[s + S.state] !== SlotState.READY) throw this.corrupt(`the ring names slot ${slot}, which is not ready`);
      length = i32[s + S.length]!;
      if (length < 0 || length > this.maxJobBytes) throw this.corrupt(`slot ${slot} says its job is ${length} bytes`);
      const node = this.node(slot);
      const list = this.list;
      if (node !== null) list!.pending(node);
      // Async waiters flag FUTEX_WAITERS on claim words: keep it when they exist, so our death wakes one.
      const word = Atomics.load(i32, b + Q.consumerSleepers) > 0 ? me.tid | WAITERS : me.tid;
      if (Atomics.compareExchange(i32, s + S.claim, 0, word) !== 0) {
        if (node !== null) list!.clearPending();
        throw this.corrupt(`slot ${slot} is ready but its claim word is held`);
      }
      this.hook?.('take:claiming');
      if (node !== null) {
        list!.link(node);
        list!.clearPending();
      }
      i32[s + S.pid] = me.pid;
      i32[s + S.startTime] = me.startTime | 0;
      Atomics.store(i32, s + S.tid, me.tid);
      deliveries = i32[s + S.deliveries]! + 1;
      i32[s + S.deliveries] = deliveries;
      if (this.leaseMs > 0) this.f64[this.slotF64(slot) + S_F64.takenAt] = monotonicMs();
      Atomics.store(i32, s + S.state, SlotState.TAKEN);
      i32[b + Q.ringHead] = head + 1 === this.capacity ? 0 : head + 1;
      i32[b + Q.ringCount] = count - 1;
      id = this.f64[this.slotF64(slot) + S_F64.id]!;
      const prevTid = i32[s + S.prevTid]!;
      if (prevTid !== 0) previousOwner = { tid: prevTid, pid: i32[s + S.prevPid]! };
      this.hook?.('take:claimed');
    } finally {
      this.unlock();
    }
    // The slot is ours until ack/release: copy outside the mutex.
    const payload = this.slotsByte + slot * this.slotBytes + SLOT_HEADER_BYTES;
    return new Job(this, slot, id, deliveries, this.u8.slice(payload, payload + length), previousOwner);
  }

  /** @internal Job.ack(). */
  ackJob(slot: number, id: number): void {
    const i32 = this.i32;
    const b = this.base;
    let expired = false;
    let journaled = false;
    this.lock();
    try {
      const s = this.heldSlot(slot, id, 'ack');
      expired = i32[s + S.state] === SlotState.EXPIRED;
      // An expired job's ack frees this copy only: the job is the other consumer's to ack (and count).
      if (!expired) {
        this.journal(JournalOp.ACK, slot, Q.acked);
        journaled = true;
      }
      this.dropClaim(slot, s);
      // The commit: a death from here on still counts the ack (the rebuild finds the slot FREE and the journal).
      Atomics.store(i32, s + S.state, SlotState.FREE);
      this.freePush(slot);
      this.hook?.('ack:freed');
      if (!expired) {
        i32[b + Q.acked] = (i32[b + Q.acked]! + 1) | 0;
        this.endJournal();
        journaled = false;
      }
      Atomics.add(i32, b + Q.freeSeq, 1);
    } finally {
      this.leave(journaled);
    }
    if (Atomics.load(i32, b + Q.producerSleepers) > 0) wake(this.word(Q.freeSeq), 1);
    if (expired) throw new LeaseExpiredError(id, this.leaseMs);
  }

  /** @internal Job.release(). */
  releaseJob(slot: number, id: number): void {
    const i32 = this.i32;
    const b = this.base;
    this.lock();
    try {
      const s = this.heldSlot(slot, id, 'release');
      const expired = i32[s + S.state] === SlotState.EXPIRED;
      this.dropClaim(slot, s);
      if (expired) {
        // The job is another consumer's already: just free this copy.
        Atomics.store(i32, s + S.state, SlotState.FREE);
        this.freePush(slot);
        Atomics.add(i32, b + Q.freeSeq, 1);
      } else {
        i32[b + Q.released] = (i32[b + Q.released]! + 1) | 0;
        if (this.retire(slot, s)) this.ringPushBack(slot);
      }
    } finally {
      this.unlock();
    }
    this.wakeConsumers();
  }

  /** The slot's Int32 index after checking that the calling thread holds job `id` in it. */
  private heldSlot(slot: number, id: number, what: string): number {
    const i32 = this.i32;
    const s = this.slotInt(slot);
    const state = i32[s + S.state];
    const held = (state === SlotState.TAKEN || state === SlotState.EXPIRED) && (Atomics.load(i32, s + S.claim) & TID_MASK) === this.me.tid && this.f64[this.slotF64(slot) + S_F64.id] === id;
    if (!held) throw new JobNotHeldError(`${what}: job ${id} is not held by the calling thread (already acked or released, or taken by another thread)`);
    return s;
  }

  /** Unlink the slot's claim node from our robust list and clear the word (under the mutex). */
  private dropClaim(slot: number, s: number): void {
    const i32 = this.i32;
    const node = this.node(slot);
    i32[s + S.pid] = 0;
    i32[s + S.startTime] = 0;
    i32[s + S.tid] = 0;
    if (node !== null) {
      this.list!.pending(node);
      this.list!.unlink(node);
    }
    Atomics.store(i32, s + S.claim, 0);
    if (node !== null) this.list!.clearPending();
  }

  /**
   * A job comes back (its claim already cleared): dead-lettered at
   * maxDeliveries (false), else READY with a fresh back key (true; the caller
   * places it in the ring).
   */
  private retire(slot: number, s: number): boolean {
    const i32 = this.i32;
    const b = this.base;
    if (i32[s + S.deliveries]! >= this.maxDeliveries) {
      Atomics.store(i32, s + S.state, SlotState.DEAD);
      i32[b + Q.deadCount] = i32[b + Q.deadCount]! + 1;
      i32[b + Q.deadLettered] = (i32[b + Q.deadLettered]! + 1) | 0;
      return false;
    }
    const hf = this.baseF64;
    const key = this.f64[hf + Q_F64.backKey]!;
    this.f64[hf + Q_F64.backKey] = key + 1;
    this.f64[this.slotF64(slot) + S_F64.key] = key;
    Atomics.store(i32, s + S.state, SlotState.READY);
    return true;
  }

  // ---- dead consumers ------------------------------------------------------

  /**
   * Put back the jobs of dead consumers now (take() and friends do it by
   * themselves): how many came back or were dead-lettered.
   */
  recoverDeadConsumers(): number {
    this.lastSweep = performance.now();
    this.lock();
    let recovered: number;
    try {
      recovered = this.rebuild();
    } finally {
      this.unlock();
    }
    if (recovered > 0) this.wakeConsumers();
    return recovered;
  }

  /**
   * Look for dead consumers: at most every livenessIntervalMs unless forced.
   * With the robust list a dead consumer's claim word carries OWNER_DIED (one
   * load per slot); without it, /proc tells.
   */
  private sweep(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.lastSweep < this.livenessIntervalMs) return;
    this.lastSweep = now;
    if (this.claimsDied()) this.recoverDeadConsumers();
  }

  /** True when some job's consumer is dead (racy look, no mutex). */
  private claimsDied(): boolean {
    const i32 = this.i32;
    const now = this.leaseMs > 0 ? monotonicMs() : 0;
    for (let slot = 0; slot < this.capacity; slot++) {
      const s = this.slotInt(slot);
      const v = Atomics.load(i32, s + S.claim);
      if (v === 0) continue;
      if ((v & OWNER_DIED) !== 0) return true;
      if (this.leaseMs > 0 && Atomics.load(i32, s + S.state) === SlotState.TAKEN && this.leaseRanOut(slot, now)) return true;
      if (this.list === null && Atomics.load(i32, s + S.state) === SlotState.TAKEN && this.claimerDead(s, v)) return true;
    }
    return false;
  }

  /** A job taken longer than leaseMs ago (leaseMs > 0). */
  private leaseRanOut(slot: number, now: number): boolean {
    return now - this.f64[this.slotF64(slot) + S_F64.takenAt]! >= this.leaseMs;
  }

  /** Without the kernel's mark: is the thread named in claim word v (of slot Int32 index s) gone? */
  private claimerDead(s: number, v: number): boolean {
    if ((v & OWNER_DIED) !== 0) return true;
    const tid = v & TID_MASK;
    if (tid === 0) return true;
    if (this.list !== null) return false;
    const startTime = Atomics.load(this.i32, s + S.tid) === tid ? Atomics.load(this.i32, s + S.startTime) >>> 0 : 0;
    const liveness = ownerLiveness({ tid, startTime });
    return !(liveness === 'alive' || (liveness === 'reused' && startTime === 0));
  }

  /**
   * Rebuild the ring and the free stack from the slots' states (under the
   * mutex), putting back every job whose consumer died: after a death inside
   * the mutex nothing else of the derived state is trusted. Returns how many
   * jobs came back (or were dead-lettered).
   */
  private rebuild(): number {
    const i32 = this.i32;
    const b = this.base;
    const cap = this.capacity;
    this.finishJournal();
    const ready: number[] = [];
    const freeSlots: number[] = [];
    const expiring: number[] = [];
    const now = this.leaseMs > 0 ? monotonicMs() : 0;
    let dead = 0;
    let recovered = 0;
    const copied = this.leaseMs > 0 ? this.readyIds() : null;
    for (let slot = 0; slot < cap; slot++) {
      const s = this.slotInt(slot);
      let state = Atomics.load(i32, s + S.state);
      const v = Atomics.load(i32, s + S.claim);
      if (state === SlotState.TAKEN && copied !== null && copied.has(this.f64[this.slotF64(slot) + S_F64.id]!)) {
        // A lease copy of this job is READY: a repair died between storing
        // the copy and marking this original EXPIRED (below). Finish that;
        // the slot is then an expired one like any other (freed below if its
        // consumer died meanwhile).
        Atomics.store(i32, s + S.state, SlotState.EXPIRED);
        state = SlotState.EXPIRED;
        i32[b + Q.leasesExpired] = (i32[b + Q.leasesExpired]! + 1) | 0;
        recovered++;
      }
      switch (state) {
        case SlotState.FREE:
          // A taker dies only after the claim (READY->TAKEN); a free slot's claim word is free.
          if (v !== 0) throw this.corrupt(`free slot ${slot} has claim word ${v >>> 0}`);
          freeSlots.push(slot);
          break;
        case SlotState.READY:
          // A claimed READY slot exists only inside grab(), under the mutex we
          // hold now: its taker died inside the mutex, between claiming and
          // marking it TAKEN. Its word need not say OWNER_DIED yet: the kernel
          // walks a dying thread's robust list in order and list_op_pending
          // last, and the mutex's OWNER_DIED (and wake) can reach us before
          // the claim's (a death between the claim's compare-and-swap and its
          // link). Taking that for a live claimer made a 10,000-kill soak's
          // queue "corrupt". Cleared: a late kernel look finds 0 (and at most
          // wakes a sleeper) or another TID, and changes nothing.
          if (v !== 0) {
            this.hook?.('repair:claimed-ready');
            Atomics.store(i32, s + S.claim, 0);
          }
          ready.push(slot);
          break;
        case SlotState.TAKEN:
          if (v !== 0 && !this.claimerDead(s, v)) {
            if (this.leaseMs > 0 && this.leaseRanOut(slot, now)) expiring.push(slot);
            break;
          }
          i32[s + S.prevTid] = Atomics.load(i32, s + S.tid);
          i32[s + S.prevPid] = i32[s + S.pid]!;
          i32[s + S.pid] = 0;
          i32[s + S.startTime] = 0;
          i32[s + S.tid] = 0;
          Atomics.store(i32, s + S.claim, 0);
          recovered++;
          i32[b + Q.redelivered] = (i32[b + Q.redelivered]! + 1) | 0;
          if (i32[s + S.deliveries]! >= this.maxDeliveries) {
            Atomics.store(i32, s + S.state, SlotState.DEAD);
            i32[b + Q.deadLettered] = (i32[b + Q.deadLettered]! + 1) | 0;
            dead++;
          } else {
            // Back to the front: it is the oldest work in the queue.
            const hf = this.baseF64;
            const key = this.f64[hf + Q_F64.frontKey]!;
            this.f64[hf + Q_F64.frontKey] = key - 1;
            this.f64[this.slotF64(slot) + S_F64.key] = key;
            Atomics.store(i32, s + S.state, SlotState.READY);
            ready.push(slot);
          }
          break;
        case SlotState.DEAD:
          if (v !== 0) throw this.corrupt(`dead-lettered slot ${slot} has claim word ${v >>> 0}`);
          dead++;
          break;
        case SlotState.EXPIRED:
          // A copy of its job went to another consumer; once this consumer is gone the slot is simply free.
          if (v !== 0 && !this.claimerDead(s, v)) break;
          i32[s + S.pid] = 0;
          i32[s + S.startTime] = 0;
          i32[s + S.tid] = 0;
          Atomics.store(i32, s + S.claim, 0);
          Atomics.store(i32, s + S.state, SlotState.FREE);
          freeSlots.push(slot);
          break;
        default:
          throw this.corrupt(`slot ${slot} has state ${state}`);
      }
    }
    // Leases that ran out: the job goes, as a copy in a free slot, to the front; the old slot stays its consumer's.
    for (const slot of expiring) {
      const copy = freeSlots.pop();
      if (copy === undefined) break;
      const s = this.slotInt(slot);
      const c = this.slotInt(copy);
      const from = this.slotsByte + slot * this.slotBytes;
      const to = this.slotsByte + copy * this.slotBytes;
      const length = Math.min(Math.max(i32[s + S.length]!, 0), this.maxJobBytes);
      this.u8.copyWithin(to + SLOT_HEADER_BYTES, from + SLOT_HEADER_BYTES, from + SLOT_HEADER_BYTES + length);
      i32[c + S.length] = length;
      i32[c + S.deliveries] = i32[s + S.deliveries]!;
      i32[c + S.prevTid] = 0;
      i32[c + S.prevPid] = 0;
      this.f64[this.slotF64(copy) + S_F64.id] = this.f64[this.slotF64(slot) + S_F64.id]!;
      const hf = this.baseF64;
      const key = this.f64[hf + Q_F64.frontKey]!;
      this.f64[hf + Q_F64.frontKey] = key - 1;
      this.f64[this.slotF64(copy) + S_F64.key] = key;
      // Copy first: a death between these two stores leaves the job READY
      // here and TAKEN there (the next repair finishes it, above), never nowhere.
      Atomics.store(i32, c + S.state, SlotState.READY);
      this.hook?.('lease:copied');
      Atomics.store(i32, s + S.state, SlotState.EXPIRED);
      i32[b + Q.leasesExpired] = (i32[b + Q.leasesExpired]! + 1) | 0;
      ready.push(copy);
      recovered++;
    }
    for (let k = 0; k < freeSlots.length; k++) i32[this.freeBase + k] = freeSlots[k]!;
    const free = freeSlots.length;
    // Slots of expired copies whose consumer died are free again: producers waiting for room may go on.
    if (free > i32[b + Q.freeCount]!) {
      Atomics.add(i32, b + Q.freeSeq, 1);
      if (Atomics.load(i32, b + Q.producerSleepers) > 0) wake(this.word(Q.freeSeq), 0x7fff_ffff);
    }
    const f64 = this.f64;
    ready.sort((x, y) => f64[this.slotF64(x) + S_F64.key]! - f64[this.slotF64(y) + S_F64.key]!);
    for (let k = 0; k < ready.length; k++) i32[this.ringBase + k] = ready[k]!;
    i32[b + Q.ringHead] = 0;
    i32[b + Q.ringCount] = ready.length;
    i32[b + Q.freeCount] = free;
    i32[b + Q.deadCount] = dead;
    if (recovered > 0) Atomics.add(i32, b + Q.readySeq, 1);
    return recovered;
  }

  /**
   * The job ids of the READY slots. Only a lease copy shares its id with a
   * TAKEN slot: a job taken is never READY elsewhere otherwise.
   */
  private readyIds(): Set<number> {
    const ids = new Set<number>();
    for (let slot = 0; slot < this.capacity; slot++) {
      if (Atomics.load(this.i32, this.slotInt(slot) + S.state) === SlotState.READY) ids.add(this.f64[this.slotF64(slot) + S_F64.id]!);
    }
    return ids;
  }

  /**
   * For an async waiter: set FUTEX_WAITERS in the claim word of every job in
   * progress, so the kernel wakes us when its consumer dies; the words with
   * the values to sleep on. null when there are too many to watch, or this
   * is not a futex queue (then the caller looks every livenessIntervalMs).
   */
  private watchClaims(): WordValue[] | null {
    if (this.kind !== WAIT_FUTEX || this.list === null) return null;
    const i32 = this.i32;
    const watched: WordValue[] = [];
    for (let slot = 0; slot < this.capacity; slot++) {
      const s = this.slotInt(slot);
      const v = Atomics.load(i32, s + S.claim);
      if (v === 0) continue;
      if ((v & OWNER_DIED) !== 0) return null;
      if (watched.length === MAX_WATCHED_CLAIMS) return null;
      const flagged = v | WAITERS;
      if (v !== flagged && Atomics.compareExchange(i32, s + S.claim, v, flagged) !== v) continue;
      watched.push({ word: { sab: this.buffer, i32, index: s + S.claim, kind: this.kind }, expected: flagged });
    }
    return watched;
  }

  // ---- dead letters and looking ---------------------------------------------

  /** The jobs in the dead-letter list (copies), oldest id first. They stay there until removeDeadLetters(). */
  deadLetters(): DeadLetter[] {
    const out: DeadLetter[] = [];
    const i32 = this.i32;
    this.lock();
    try {
      for (let slot = 0; slot < this.capacity; slot++) {
        const s = this.slotInt(slot);
        if (i32[s + S.state] !== SlotState.DEAD) continue;
        const length = Math.min(Math.max(i32[s + S.length]!, 0), this.maxJobBytes);
        const payload = this.slotsByte + slot * this.slotBytes + SLOT_HEADER_BYTES;
        const prevTid = i32[s + S.prevTid]!;
        out.push({
          id: this.f64[this.slotF64(slot) + S_F64.id]!,
          data: this.u8.slice(payload, payload + length),
          deliveries: i32[s + S.deliveries]!,
          previousOwner: prevTid !== 0 ? { tid: prevTid, pid: i32[s + S.prevPid]! } : undefined,
        });
      }
    } finally {
      this.unlock();
    }
    return out.sort((x, y) => x.id - y.id);
  }

  /** Free the slots of dead-lettered jobs (all, or those whose ids are given): how many were removed. */
  removeDeadLetters(ids?: readonly number[]): number {
    const wanted = ids === undefined ? null : new Set(ids);
    const i32 = this.i32;
    const b = this.base;
    let removed = 0;
    this.lock();
    try {
      for (let slot = 0; slot < this.capacity; slot++) {
        const s = this.slotInt(slot);
        if (i32[s + S.state] !== SlotState.DEAD) continue;
        if (wanted !== null && !wanted.has(this.f64[this.slotF64(slot) + S_F64.id]!)) continue;
        Atomics.store(i32, s + S.state, SlotState.FREE);
        this.freePush(slot);
        i32[b + Q.deadCount] = i32[b + Q.deadCount]! - 1;
        removed++;
      }
      if (removed > 0) Atomics.add(i32, b + Q.freeSeq, 1);
    } finally {
      this.unlock();
    }
    if (removed > 0 && Atomics.load(i32, b + Q.producerSleepers) > 0) wake(this.word(Q.freeSeq), removed);
    return removed;
  }

  /** Counts, jobs in progress (with their consumers' liveness) and dead letters. Takes the mutex briefly; reads /proc. */
  inspect(): QueueSnapshot {
    const i32 = this.i32;
    const b = this.base;
    const taken: TakenJob[] = [];
    const starts: number[] = [];
    const deadLetters: number[] = [];
    let ready: number;
    let free: number;
    let counts: Pick<QueueSnapshot, 'enqueued' | 'acked' | 'redelivered' | 'released' | 'deadLettered' | 'repairs' | 'leasesExpired'>;
    this.lock();
    try {
      ready = i32[b + Q.ringCount]!;
      free = i32[b + Q.freeCount]!;
      // Read with the slots, under the mutex, so that in one snapshot enqueued = acked + ready + taken (less expired originals) + dead letters + those removed (the lab's soak checks it).
      counts = {
        enqueued: i32[b + Q.enqueued]! >>> 0,
        acked: i32[b + Q.acked]! >>> 0,
        redelivered: i32[b + Q.redelivered]! >>> 0,
        released: i32[b + Q.released]! >>> 0,
        deadLettered: i32[b + Q.deadLettered]! >>> 0,
        repairs: i32[b + Q.repairs]! >>> 0,
        leasesExpired: i32[b + Q.leasesExpired]! >>> 0,
      };
      for (let slot = 0; slot < this.capacity; slot++) {
        const s = this.slotInt(slot);
        const state = i32[s + S.state];
        const id = this.f64[this.slotF64(slot) + S_F64.id]!;
        if (state === SlotState.DEAD) deadLetters.push(id);
        if (state !== SlotState.TAKEN && state !== SlotState.EXPIRED) continue;
        const v = Atomics.load(i32, s + S.claim);
        const tid = Atomics.load(i32, s + S.tid);
        const startTime = Atomics.load(i32, s + S.startTime) >>> 0;
        // Liveness is looked up after the mutex is released (a /proc read per job): OWNER_DIED marks it false now.
        taken.push({ id, deliveries: i32[s + S.deliveries]!, tid, pid: i32[s + S.pid]!, alive: (v & OWNER_DIED) === 0, leaseExpired: state === SlotState.EXPIRED });
        starts.push(startTime);
      }
    } finally {
      this.unlock();
    }
    taken.forEach((job, k) => {
      if (!job.alive) return;
      const startTime = starts[k]!;
      const liveness = ownerLiveness({ tid: job.tid, startTime });
      job.alive = liveness === 'alive' || (liveness === 'reused' && startTime === 0);
    });
    return {
      capacity: this.capacity,
      maxJobBytes: this.maxJobBytes,
      maxDeliveries: this.maxDeliveries,
      ready,
      taken: taken.sort((x, y) => x.id - y.id),
      deadLetters: deadLetters.sort((x, y) => x - y),
      free,
      ...counts,
      leaseMs: this.leaseMs,
      consumersWaiting: Atomics.load(i32, b + Q.consumerSleepers),
      producersWaiting: Atomics.load(i32, b + Q.producerSleepers),
      asyncWaits: this.asyncWaitMechanism,
    };
  }

  // ---- the count journal ---------------------------------------------------

  /**
   * Before a step's commit (under the mutex): which step, on which slot, and
   * the count it bumps as it is now. Only the mutex's next holder reads it,
   * after our release or death; the op word is an atomic store all the same,
   * because JavaScript lets plain stores be reordered, and an op word that
   * landed before its slot and count would describe an older step.
   */
  private journal(op: number, slot: number, count: number): void {
    const i32 = this.i32;
    const b = this.base;
    i32[b + Q.journalSlot] = slot;
    i32[b + Q.journalBefore] = i32[b + count]!;
    Atomics.store(i32, b + Q.journalOp, op);
  }

  /** After the step's count (atomic: it must not land before the count). */
  private endJournal(): void {
    Atomics.store(this.i32, this.base + Q.journalOp, JournalOp.NONE);
  }

  /**
   * The `finally` of a journalled step: `journaled` still true means it threw
   * between its journal and its count. The journal is finished from the
   * slot's state like a dead thread's (a commit that threw after it, a ring
   * or free stack found over capacity, is still counted), and the mutex is
   * released even if that finds the journal corrupt.
   */
  private leave(journaled: boolean): void {
    try {
      if (journaled) this.finishJournal();
    } finally {
      this.unlock();
    }
  }

  /**
   * In the rebuild after a death inside the mutex: set the journalled count
   * from the slot's state. Each step's commit moves its slot out of the state
   * it started in (ENQUEUE: FREE -> READY; ACK: TAKEN -> FREE) and nothing
   * after it in that step touches the slot, so the state tells whether the
   * step committed. The count is set, not bumped: a rebuild that dies and
   * runs again sets the same value.
   */
  private finishJournal(): void {
    const i32 = this.i32;
    const b = this.base;
    const op = Atomics.load(i32, b + Q.journalOp);
    if (op === JournalOp.NONE) return;
    const slot = i32[b + Q.journalSlot]!;
    if ((op !== JournalOp.ENQUEUE && op !== JournalOp.ACK) || !(slot >= 0 && slot < this.capacity)) throw this.corrupt(`count journal names step ${op} on slot ${slot}`);
    const state = Atomics.load(i32, this.slotInt(slot) + S.state);
    const before = i32[b + Q.journalBefore]!;
    const count = op === JournalOp.ENQUEUE ? Q.enqueued : Q.acked;
    const now = i32[b + count]!;
    // A count past before + 1 means the journal is stale: a repair by a
    // version without the journal ran since, and steps after it counted.
    if (now === before || now === ((before + 1) | 0)) {
      const committed = op === JournalOp.ENQUEUE ? state !== SlotState.FREE : state === SlotState.FREE;
      i32[b + count] = (before + (committed ? 1 : 0)) | 0;
    }
    Atomics.store(i32, b + Q.journalOp, JournalOp.NONE);
  }

  // ---- plumbing -------------------------------------------------------------

  private lock(): void {
    const result = this.mutex.acquire();
    if (!result.owned) throw this.corrupt(`its mutex is ${result.status}`);
    if (!result.abandoned) {
      this.checkCounts();
      return;
    }
    // A participant died inside the mutex: the ring and free stack may be half-changed.
    try {
      const recovered = this.rebuild();
      Atomics.add(this.i32, this.base + Q.repairs, 1);
      this.mutex.markConsistent();
      // Jobs of consumers that died with it are ready again: sleepers must look (they wait on readySeq and the claims).
      if (recovered > 0) this.wakeConsumers();
    } catch (error) {
      this.mutex.release();
      throw error;
    }
  }

  private unlock(): void {
    this.mutex.release();
  }

  private wakeConsumers(): void {
    if (Atomics.load(this.i32, this.base + Q.consumerSleepers) > 0) wake(this.word(Q.readySeq), 0x7fff_ffff);
  }

  /** The header's counts are in range (under the mutex): a wild write is refused before it sends us out of the queue. */
  private checkCounts(): void {
    const i32 = this.i32;
    const b = this.base;
    const cap = this.capacity;
    const head = i32[b + Q.ringHead]!;
    const count = i32[b + Q.ringCount]!;
    const free = i32[b + Q.freeCount]!;
    if (head < 0 || head >= cap || count < 0 || count > cap || free < 0 || free > cap || i32[b + Q.magic] !== QUEUE_MAGIC) {
      this.mutex.release();
      throw this.corrupt(`header counts out of range (ring head ${head}, ready ${count}, free ${free})`);
    }
  }

  private ringPushBack(slot: number): void {
    const i32 = this.i32;
    const b = this.base;
    const count = i32[b + Q.ringCount]!;
    if (count >= this.capacity) throw this.corrupt('the ring is over capacity');
    i32[this.ringBase + ((i32[b + Q.ringHead]! + count) % this.capacity)] = slot;
    i32[b + Q.ringCount] = count + 1;
    Atomics.add(i32, b + Q.readySeq, 1);
  }

  private freePush(slot: number): void {
    const i32 = this.i32;
    const b = this.base;
    const free = i32[b + Q.freeCount]!;
    if (free >= this.capacity) throw this.corrupt('the free stack is over capacity');
    i32[this.freeBase + free] = slot;
    i32[b + Q.freeCount] = free + 1;
  }

  private slotNumber(value: number): number {
    if (!(value >= 0 && value < this.capacity)) throw this.corrupt(`slot number ${value} out of range`);
    return value;
  }

  private slotInt(slot: number): number {
    return (this.slotsByte + slot * this.slotBytes) >> 2;
  }

  private slotF64(slot: number): number {
    return (this.slotsByte + slot * this.slotBytes) >> 3;
  }

  private node(slot: number): RobustNode | null {
    if (this.list === null) return null;
    let node = this.nodes[slot];
    if (node === undefined) {
      node = robustNode(this.buffer, this.slotsByte + slot * this.slotBytes, { i32: this.i32, f64: this.f64 });
      this.nodes[slot] = node;
    }
    return node;
  }

  private word(field: number): WaitWord {
    return { sab: this.buffer, i32: this.i32, index: this.base + field, kind: this.kind };
  }

  private corrupt(problem: string): RegionCorruptError {
    return new RegionCorruptError(`queue at byte offset ${this.byteOffset}: ${problem}`);
  }
}

/** The header's fixed fields are ones a queue can have (else ERR_REGION_CORRUPT). */
function checkQueueHeader(h: Int32Array, byteOffset: number, bufferBytes: number): void {
  const problem = (text: string): RegionCorruptError => new RegionCorruptError(`queue at byte offset ${byteOffset}: ${text}`);
  const magic = Atomics.load(h, Q.magic);
  if (magic !== QUEUE_MAGIC) throw problem(`no queue magic (found ${(magic >>> 0).toString(16)})`);
  const version = Atomics.load(h, Q.version);
  if (version !== QUEUE_LAYOUT_VERSION) throw problem(`layout version ${version}, this library reads ${QUEUE_LAYOUT_VERSION}`);
  const capacity = Atomics.load(h, Q.capacity);
  const maxJobBytes = Atomics.load(h, Q.maxJobBytes);
  const maxDeliveries = Atomics.load(h, Q.maxDeliveries);
  const kind = Atomics.load(h, Q.waitKind);
  if (!(capacity >= 1 && capacity <= MAX_CAPACITY)) throw problem(`capacity ${capacity}`);
  if (!(maxJobBytes >= 1 && maxJobBytes <= MAX_JOB_BYTES)) throw problem(`maxJobBytes ${maxJobBytes}`);
  if (!(maxDeliveries >= 1 && maxDeliveries <= MAX_DELIVERIES)) throw problem(`maxDeliveries ${maxDeliveries}`);
  if (kind !== WAIT_FUTEX && kind !== WAIT_ATOMICS) throw problem(`wait mechanism ${kind}`);
  const leaseMs = Atomics.load(h, Q.leaseMs);
  if (!(leaseMs >= 0 && leaseMs <= MAX_LEASE_MS)) throw problem(`leaseMs ${leaseMs}`);
  if (byteOffset + queueBytes(capacity, maxJobBytes) > bufferBytes) throw problem(`capacity ${capacity} x ${maxJobBytes} bytes runs past the end of the buffer`);
  const head = Atomics.load(h, Q.ringHead);
  const count = Atomics.load(h, Q.ringCount);
  const free = Atomics.load(h, Q.freeCount);
  if (head < 0 || head >= capacity || count < 0 || count > capacity || free < 0 || free > capacity) throw problem(`counts out of range (ring head ${head}, ready ${count}, free ${free})`);
}
