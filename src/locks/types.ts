// The public result and snapshot types of the robust mutex, and the one shape
// of "a region" that everything found by name in one uses.
import type { AsyncWaitMechanism } from './waiting.js';
import type { DeathDetection } from './robust-list.js';

/**
 * What finds a named object in shared memory: a region ({@link Region} from
 * `openRegion` or `Region.create`), or anything with the same two members.
 * The mutex, the heap, parking lots and the lab's objects are all opened by
 * name through it.
 */
export interface NamedObjectHost {
  /** The shared memory every object lives in. */
  readonly buffer: SharedArrayBuffer;
  /**
   * The byte offset of the object called `name`, reserving `bytes` (and running
   * `init` on them, once, under the region's directory lock) if it does not exist yet.
   */
  findOrCreate(name: string, bytes: number, init?: (byteOffset: number) => void): {
    /** Byte offset in `buffer`. */
    offset: number;
    /** True when this call made it. */
    created: boolean;
  };
}

/** Who owns (or owned) a lock: the OS thread, its process, and the thread's start time. */
export interface OwnerIdentity {
  /** OS thread id (gettid), as in /proc/<pid>/task/<tid>. */
  tid: number;
  /** Process id (thread-group id) of that thread. 0 when not yet known. */
  pid: number;
  /** Low 32 bits of the thread's start time in clock ticks since boot (/proc/<tid>/stat field 22). */
  startTime: number;
}

/**
 * What an acquire returns. Check `owned`, not `status`: an abandoned mutex is
 * *owned by you* (Windows WAIT_ABANDONED and POSIX EOWNERDEAD are success
 * codes). Code written as `if (!r.owned) fail()` handles abandonment correctly
 * by construction; `if (r.status !== 'acquired') fail()` is the bug of the
 * "WAIT_ABANDONED is a success code" story and leaves you holding the lock.
 */
export type AcquireResult = Owned | NotOwned;

/** An acquire that got the mutex: `status` 'acquired', or 'abandoned' (its previous owner died holding it). */
export interface Owned {
  /** Always true: you own the mutex and must release it. */
  readonly owned: true;
  /** 'acquired': normal; 'abandoned': the previous owner died inside, the protected state may be inconsistent. */
  readonly status: 'acquired' | 'abandoned';
  /** status === 'abandoned': repair the protected state, then markConsistent() (posix policy). */
  readonly abandoned: boolean;
  /** Recursion depth after this acquire (1 for a first acquire, and always 1 after abandonment). */
  readonly depth: number;
  /** The dead owner, when abandoned. */
  readonly previousOwner?: OwnerIdentity;
}

/** An acquire that did not get the mutex. */
export interface NotOwned {
  /** Always false: do not release. */
  readonly owned: false;
  /** 'timeout': not acquired in time; 'busy': tryAcquire found it held; 'not-recoverable': ENOTRECOVERABLE, for ever. */
  readonly status: 'timeout' | 'busy' | 'not-recoverable';
  /** Always false. */
  readonly abandoned: false;
}

/**
 * 'posix': after an abandoned acquire, releasing without markConsistent() makes
 * the mutex not-recoverable for ever (pthread robust mutex semantics).
 * 'windows': ownership simply passes on; each abandonment is reported once.
 */
export type RecoveryPolicy = 'posix' | 'windows';

/**
 * A mutex as inspect() sees it: 'owned-inconsistent' = owned after an
 * abandonment, not yet markConsistent(); 'owner-dead' = held by a thread that
 * is gone (the next acquirer gets 'abandoned').
 */
export type MutexState = 'free' | 'owned' | 'owned-inconsistent' | 'owner-dead' | 'not-recoverable';

/** What RobustMutex.inspect() reports (a racy snapshot, for display and tests). */
export interface MutexSnapshot {
  /** See MutexState. */
  state: MutexState;
  /** Who holds it (or held it, when dead); null when free. */
  owner: OwnerIdentity | null;
  /** Whether the owner is alive right now (null when there is no owner). */
  ownerAlive: boolean | null;
  /** The owner's recursion depth (0 when free). */
  depth: number;
  /** Threads blocked in acquire (waiters killed while blocked are dropped as soon as they are noticed). */
  waiters: number;
  /**
   * False when more threads blocked than the mutex has waiter slots (12): the
   * ones without a slot are counted by one shared number, which still
   * includes any of them that were killed while they waited.
   */
  waitersExact: boolean;
  /** How many times an acquirer was told 'abandoned', since initialisation. */
  timesAbandoned: number;
  /** The policy chosen at initialisation. */
  policy: RecoveryPolicy;
  /** What serves acquireAsync() in the inspecting process: 'futex_waitv' (kernel wakes), or a fallback. */
  asyncWaits: AsyncWaitMechanism;
  /**
   * How the inspecting thread learns of an owner's death: 'robust-list' (the kernel marks the word
   * when the owner thread exits) or 'fallback' (the owner's liveness is checked in /proc once per
   * wait slice: under qemu-user, in a sandbox that refuses set_robust_list, without the addon, or
   * for a threads-only mutex). See DeathDetection in robust-list.ts.
   */
  deathDetection: DeathDetection;
}
