// Test-only hooks: callbacks that let a test (or the lock lab) stop a thread at
// one exact instruction inside a lock, so that it can be killed right there.
// They are not part of the public option types: they travel under a symbol key
// that only this module (not exported by the package) provides, so a user's
// `MutexOptions` / `OpenRegionOptions` / `SharedHeapOptions` stay clean while
// the repo's tests and the lab still reach the hard cases.
//
// Beside src/errors.ts at the bottom of the layer order: every layer may import it.

/** The key under which an options object carries its test hooks. */
export const TEST_HOOKS: unique symbol = Symbol('robust-shm.testHooks');

/** The steps of creating a region file, in order; `onCreationStep` can stop (and a test kill) the creator at each. */
export const CREATION_STEPS = ['temp-created', 'space-reserved', 'initialised', 'linked'] as const;
/** One of {@link CREATION_STEPS}. */
export type CreationStep = (typeof CREATION_STEPS)[number];

/** Where `onInsideHeapLock` is called, always with the heap lock held. */
export type HeapHookPoint =
  | 'alloc:intent'
  | 'alloc:committed'
  | 'free:intent'
  | 'free:committed'
  | 'realloc:intent'
  | 'realloc:allocated'
  | 'realloc:copied'
  | 'realloc:committed';

/** Where `onInsideQueueLock` is called, always with the queue mutex held. */
export type QueueHookPoint = 'enqueue:copying' | 'enqueue:committed' | 'take:claiming' | 'take:claimed' | 'ack:freed' | 'lease:copied' | 'repair:claimed-ready';

export interface TestHooks {
  /** RobustMutex: right after the lock word was taken, before any other owner field is written (hard case 1). */
  onLockWordTaken?: () => void;
  /** RobustMutex: a taker of a dead owner's word has read and marked the owner record, before its compare-and-swap on the word (hard case 6's race). */
  onDeadRecordMarked?: () => void;
  /** RobustRwLock: right after this thread took over a dead writer's word (the repair owed is now its own), before it drains the readers. */
  onWriterTakenOver?: () => void;
  /** openRegion: at each step of creating a region file (see CREATION_STEPS), with the temporary file's path. */
  onCreationStep?: (step: CreationStep, tempPath: string) => void | Promise<void>;
  /** SharedHeap: at each HeapHookPoint, inside the heap lock. */
  onInsideHeapLock?: (point: HeapHookPoint) => void;
  /**
   * RobustQueue: inside the queue mutex, halfway through copying a job in
   * ('enqueue:copying'), after a job is READY but before it is counted
   * ('enqueue:committed'), between a job's claim and its robust-list link
   * ('take:claiming'), right after taking a job's claim ('take:claimed'),
   * after an acked job's slot is free but before the ack is counted
   * ('ack:freed'), in a repair between a lease copy's READY and its
   * original's EXPIRED ('lease:copied'), or in a repair that met a claimed
   * READY slot, before it clears the claim ('repair:claimed-ready').
   */
  onInsideQueueLock?: (point: QueueHookPoint) => void;
}

/** An options object that may carry test hooks. */
export interface WithTestHooks {
  [TEST_HOOKS]?: TestHooks;
}

/** `options` plus `hooks`, typed as the plain options so it passes to the public API. */
export function withTestHooks<O extends object>(options: O, hooks: TestHooks): O {
  return { ...options, [TEST_HOOKS]: hooks };
}

/** The hooks an options object carries (empty when it has none). */
export function testHooksOf(options: object | undefined): TestHooks {
  return (options as WithTestHooks | undefined)?.[TEST_HOOKS] ?? {};
}
