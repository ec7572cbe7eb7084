// The one waiting primitive of the library: how a thread sleeps on a 32-bit
// word in shared memory until it changes, and how whoever changes it wakes the
// sleepers. Every lock of the library (mutex, rwlock, semaphore) and the parking lot use it (like parking_lot's one
// parking primitive under every lock); what a wake means stays theirs.
//
// A word has one kind, fixed when it is created, never mixed (V8's Atomics.wait
// queue and the kernel futex queue are separate even inside one process):
// - WAIT_FUTEX (native addon): a kernel futex; a wake reaches sleepers in
//   every process, and so does the kernel's robust-list wake at an owner's death;
// - WAIT_ATOMICS: Atomics.wait/notify; threads of one process only, no addon.
//
// One wake, three sleeps. wake() on a futex word wakes the kernel queue AND
// this process's V8 queue (73 ns when nobody sleeps there), so every sleeper
// below is reached by it; a sleeper picks its queue by who must reach it fast:
// - waitSlice: the word's own queue (futex: a wake from any process). A short
//   bounded slice, because worker.terminate() cannot interrupt a native call;
//   the caller may look around between slices.
// - waitSliceTerminable: V8's queue (Atomics.wait), which worker.terminate()
//   interrupts at once; a wake from another process reaches it only at the end
//   of its slice. For a worker parked where a test will terminate() it.
// - waitAsync: never blocks the event loop. On a futex word it is served by
//   the process's futex_waitv waiter threads (kernel-waits.ts): woken by the
//   kernel from any process, no timer, no polling. Where futex_waitv is missing
//   it falls back to Atomics.waitAsync slices of POLL_SLICE_MS that look at the
//   word between slices.
// - waitAsyncAny: waitAsync on several words at once, for a waiter that must
//   hear about any of them (a semaphore waiter: a release bumps one word, a
//   holder's death is the kernel's wake of that holder's unit word).
import { native } from '../native/index.js';
import { kernelWait, kernelWaitsAvailable } from './kernel-waits.js';
import { WAIT_FUTEX } from './mutex-layout.js';

export type SliceResult = 'woken' | 'changed' | 'timed-out';

/**
 * What serves async waits on a word of this kind, in this process:
 * 'futex_waitv' the kernel wakes them (any process, and at an owner's death);
 * 'slice-polling' futex words without futex_waitv: Atomics.waitAsync slices
 * that look at the word every POLL_SLICE_MS; 'atomics' an Atomics-only word
 * (this process's Atomics.notify wakes them).
 */
export type AsyncWaitMechanism = 'futex_waitv' | 'slice-polling' | 'atomics';

/** One sleep of the slice-polling fallback: bounds its cross-process wake latency. */
export const POLL_SLICE_MS = 5;
/** Longest single Atomics.waitAsync: an abandoned one (abort) lingers in V8's queue at most this long. */
const ATOMICS_SLICE_MAX_MS = 1000;

/** A word and the value a sleeper expects in it (waitAsyncAny). */
export interface WordValue {
  readonly word: WaitWord;
  readonly expected: number;
}

export interface WaitWord {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  /** Int32 index of the word. */
  readonly index: number;
  readonly kind: number;
}

export function asyncWaitMechanism(kind: number): AsyncWaitMechanism {
  if (kind !== WAIT_FUTEX) return 'atomics';
  return kernelWaitsAvailable() ? 'futex_waitv' : 'slice-polling';
}

/** Sleep (blocking) while the word holds `expected`, at most timeoutMs. */
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

/**
 * Sleep (blocking) in V8's queue while the word holds `expected`, at most
 * timeoutMs: worker.terminate() ends it at once. wake() in this process
 * reaches it; a wake in another process only when the slice ends.
 */
export function waitSliceTerminable(word: WaitWord, expected: number, timeoutMs: number): SliceResult {
  const result = Atomics.wait(word.i32, word.index, expected, timeoutMs);
  if (result === 'timed-out') return 'timed-out';
  return result === 'not-equal' ? 'changed' : 'woken';
}

/**
 * Sleep without blocking the event loop while the word holds `expected`, at
 * most timeoutMs; rejects with the signal's reason on abort. Keeps the process
 * alive while pending. Like a futex, it may end early: callers re-check.
 */
export function waitAsync(word: WaitWord, expected: number, timeoutMs: number, signal?: AbortSignal): Promise<SliceResult> {
  const mechanism = asyncWaitMechanism(word.kind);
  if (mechanism === 'futex_waitv') return kernelWait(word.sab, word.index * 4, expected, timeoutMs, signal);
  return atomicsWaitAsync(word, expected, timeoutMs, mechanism === 'slice-polling' ? POLL_SLICE_MS : ATOMICS_SLICE_MAX_MS, signal);
}

/**
 * waitAsync() on several words: ends when any of them is woken or no longer
 * holds its expected value, or at timeoutMs. The words share one kind. On
 * futex words each is one kernel-served wait; the first to end cancels the
 * others (a cancelled wait that had taken a wake passes it on, see kernelWait).
 * Without futex_waitv it sleeps on the first word and looks at the others
 * between slices.
 */
export async function waitAsyncAny(words: readonly WordValue[], timeoutMs: number, signal?: AbortSignal): Promise<SliceResult> {
  const first = words[0];
  if (first === undefined) throw new RangeError('waitAsyncAny needs at least one word');
  if (words.length === 1) return waitAsync(first.word, first.expected, timeoutMs, signal);
  const mechanism = asyncWaitMechanism(first.word.kind);
  if (mechanism !== 'futex_waitv') {
    return atomicsWaitAsync(first.word, first.expected, timeoutMs, mechanism === 'slice-polling' ? POLL_SLICE_MS : ATOMICS_SLICE_MAX_MS, signal, words.slice(1));
  }
  signal?.throwIfAborted();
  const siblings = new AbortController();
  const onAbort = (): void => siblings.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    // One timer is enough: the first word's wait carries the timeout.
    const waits = words.map(({ word, expected }, i) => kernelWait(word.sab, word.index * 4, expected, i === 0 ? timeoutMs : Infinity, siblings.signal));
    for (const wait of waits) wait.catch(() => {});
    return await Promise.race(waits);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // Withdraws the waits still pending (a no-op after a user abort, which already did).
    if (!siblings.signal.aborted) siblings.abort(SIBLING_ENDED);
  }
}

/** The reason the other waits of a waitAsyncAny are withdrawn with (never seen by callers). */
const SIBLING_ENDED = new Error('another word of this waitAsyncAny ended the wait');

async function atomicsWaitAsync(word: WaitWord, expected: number, timeoutMs: number, sliceMs: number, signal?: AbortSignal, others: readonly WordValue[] = []): Promise<SliceResult> {
  signal?.throwIfAborted();
  const othersChanged = (): boolean => others.some(({ word: w, expected: e }) => Atomics.load(w.i32, w.index) !== e);
  if (othersChanged()) return 'changed';
  const deadline = performance.now() + timeoutMs;
  // A pending Atomics.waitAsync does not keep Node alive; this handle does.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let onAbort: (() => void) | undefined;
  const aborted = signal
    ? new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      })
    : undefined;
  aborted?.catch(() => {});
  try {
    for (;;) {
      const remaining = deadline - performance.now();
      if (remaining <= 0) return 'timed-out';
      const wait = Atomics.waitAsync(word.i32, word.index, expected, Math.min(remaining, sliceMs));
      if (!wait.async) {
        if (wait.value === 'not-equal') return 'changed';
        continue;
      }
      const outcome = aborted ? await Promise.race([wait.value, aborted]) : await wait.value;
      if (outcome === 'ok') return 'woken';
      if (Atomics.load(word.i32, word.index) !== expected || othersChanged()) return 'changed';
    }
  } finally {
    clearInterval(keepAlive);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Wake up to `count` sleepers of each queue on the word: the kernel's (futex
 * words: sync sleepers and kernel-served async waits, in every process) and
 * this process's V8 queue (terminable and slice-polling sleepers).
 */
export function wake(word: WaitWord, count: number): void {
  if (word.kind === WAIT_FUTEX) native().futexWake(word.sab, word.index * 4, count);
  Atomics.notify(word.i32, word.index, count);
}
