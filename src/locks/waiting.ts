// How a blocked thread sleeps on a mutex word, and how a releaser wakes it.
//
// Two mechanisms, never mixed on one word (V8's Atomics.wait queue and the
// kernel futex queue are separate even inside one process):
// - kernel futex (native addon): a wake reaches waiters in every process;
// - Atomics.wait: threads of one process only, but needs no addon.
// Waits are short bounded slices so a worker blocked here stays interruptible
// by worker.terminate() (which cannot interrupt a native call) and so the
// waiter can look at the owner's liveness between slices.
import { native } from '../native/index.js';
import { WAIT_FUTEX } from './mutex-layout.js';

export type SliceResult = 'woken' | 'changed' | 'timed-out';

export interface WaitWord {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  /** Int32 index of the word. */
  readonly index: number;
  readonly kind: number;
}

export function waitSlice(word: WaitWord, expected: number, timeoutMs: number): SliceResult {
  if (word.kind === WAIT_FUTEX) {
    const result = native().futexWait(word.sab, word.index * 4, expected, timeoutMs);
    if (result === 'timed-out') return 'timed-out';
    return result === 'not-equal' ? 'changed' : 'woken';
  }
  const result = Atomics.wait(word.i32, word.index, expected, timeoutMs);
  if (result === 'timed-out') return 'timed-out';
  return result === 'not-equal' ? 'changed' : 'woken';
}

export function wake(word: WaitWord, count: number): void {
  if (word.kind === WAIT_FUTEX) native().futexWake(word.sab, word.index * 4, count);
  else Atomics.notify(word.i32, word.index, count);
}
