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

export interface TestHooks {
  /** RobustMutex: right after the lock word was taken, before any other owner field is written (hard case 1). */
  onLockWordTaken?: () => void;
  /** openRegion: while this process holds the creation lock and the header says "initialising". */
  onInitializing?: () => void | Promise<void>;
  /** SharedHeap: at each HeapHookPoint, inside the heap lock. */
  onInsideHeapLock?: (point: HeapHookPoint) => void;
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
