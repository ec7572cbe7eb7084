// Async futex waits woken by the kernel, from any process: the JS side of the
// native waiter threads (src/native/waiter.cc, futex_waitv). The native side
// only says "this wait ended"; what that means is the caller's business.
//
// State is per thread (per JS environment), like the native side's delivery
// point: each worker registers its own callback and its own waits.
import { native, type WaiterStats } from '../native/index.js';

export type KernelWaitResult = 'woken' | 'timed-out';

let availability: { available: boolean; reason: string } | undefined;

/**
 * Whether async waits can be served by the kernel here: the addon loads and
 * futex_waitv(2) works (Linux >= 5.16, not blocked by seccomp).
 * ROBUST_SHM_ASYNC_WAIT=slices turns it off (benchmarks of the fallback).
 */
export function kernelWaitsAvailable(): boolean {
  if (availability === undefined) {
    if (process.env['ROBUST_SHM_ASYNC_WAIT'] === 'slices') {
      availability = { available: false, reason: 'ROBUST_SHM_ASYNC_WAIT=slices' };
    } else {
      try {
        const probe = native().waiterAvailable();
        availability = { available: probe.available, reason: probe.available ? '' : `futex_waitv: ${probe.error}` };
      } catch (error) {
        availability = { available: false, reason: (error as Error).message };
      }
    }
  }
  return availability.available;
}

interface Delivery {
  /** Wait id -> what settles its promise. */
  readonly pending: Map<number, () => void>;
  started: boolean;
}

const KEY = Symbol.for('robust-shm.kernelWaits');

/**
 * This thread's delivery point, kept on globalThis (one per isolate): the
 * native side has one callback per environment, so two copies of this module
 * loaded in one thread (a bundle and the source, say) must share it, or the
 * second waiterStart() would orphan the first copy's waits.
 */
function delivery(): Delivery {
  const holder = globalThis as { [KEY]?: Delivery };
  return (holder[KEY] ??= { pending: new Map(), started: false });
}

function deliver(ids: number[]): void {
  const { pending } = delivery();
  for (const id of ids) {
    const settle = pending.get(id);
    if (settle === undefined) continue;
    pending.delete(id);
    settle();
  }
}

/**
 * Sleep, without blocking the event loop, until the 32-bit word at byteOffset
 * is futex-woken (by FUTEX_WAKE in any process, or the kernel's robust-list
 * wake at an owner's death) or no longer holds `expected`; or until timeoutMs.
 * Rejects with the signal's reason on abort.
 *
 * A wait that had already taken a wake when its timeout or abort came still
 * owes it to someone: a timeout then reports 'woken' (the caller re-checks and
 * may take what was handed to it), an abort passes the wake on to one other
 * sleeper. Without that, a FUTEX_WAKE(1) could be swallowed by a waiter that
 * leaves, and the next sleeper would sleep on a free lock.
 */
export function kernelWait(sab: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs: number, signal?: AbortSignal): Promise<KernelWaitResult> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const binding = native();
  const d = delivery();
  if (!d.started) {
    binding.waiterStart(deliver);
    d.started = true;
  }
  const { pending } = d;
  return new Promise<KernelWaitResult>((resolve, reject) => {
    const id = binding.waiterAdd(sab, byteOffset, expected);
    let timer: NodeJS.Timeout | undefined;
    const done = (clearTimer: boolean): void => {
      pending.delete(id);
      if (timer !== undefined && clearTimer) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      done(true);
      if (binding.waiterCancel(id) === 'fired') binding.futexWake(sab, byteOffset, 1);
      reject(signal?.reason);
    };
    pending.set(id, () => {
      // A wake is on the hand-over's path, and clearTimeout() there cost ~20 us of
      // the ~35 us from the delivery to the waiting loop's next look (bench/async-trace.ts,
      // Node 20): a short timer is left to fire as a no-op instead (it is unref'd).
      done(timeoutMs > STALE_TIMER_MAX_MS);
      resolve('woken');
    });
    if (timeoutMs !== Infinity) {
      timer = setTimeout(() => {
        // Already woken (and delivered): the wait is over, nothing to cancel.
        if (!pending.has(id)) return;
        done(false);
        resolve(binding.waiterCancel(id) === 'fired' ? 'woken' : 'timed-out');
      }, timeoutMs);
      // The native side keeps the loop alive while the wait is pending; a timer
      // left behind by a woken wait must not.
      timer.unref();
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A woken wait leaves its timeout timer to fire as a no-op when it is at most
 * this long (acquireAsync's default liveness look is 1000 ms): cheaper on the
 * hand-over path than clearTimeout(), and a bounded number of stale timers.
 */
const STALE_TIMER_MAX_MS = 1000;

/** Native waits left pending (this thread's and the process's): tests count them to prove nothing leaks. */
export function kernelWaitStats(): WaiterStats {
  if (!kernelWaitsAvailable()) return { environment: 0, process: 0, threads: 0, words: 0 };
  return native().waiterStats();
}
