// Typed loader for the thin native layer (src/native/*.cc, built by
// `npm install` through binding.gyp). Everything here is a syscall wrapper;
// policy lives in the modules that call it.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export type FutexWaitResult = 'ok' | 'not-equal' | 'timed-out' | 'interrupted';
export type Advice = 'dontneed' | 'pageout' | 'cold' | 'willneed';

export interface NativeBinding {
  /** mmap the first `length` bytes of an open file; privateCopy maps MAP_PRIVATE. */
  mapFd(fd: number, length: number, privateCopy: boolean): SharedArrayBuffer;
  /** Anonymous zero-filled memory (MAP_PRIVATE or MAP_SHARED). */
  mapAnonymous(length: number, shared: boolean): SharedArrayBuffer;
  msync(sab: SharedArrayBuffer, offset: number, length: number, async: boolean): void;
  madvise(sab: SharedArrayBuffer, offset: number, length: number, advice: Advice): void;
  /** One byte per page of [offset, offset+length) rounded out to pages; bit 0 = resident. */
  mincore(sab: SharedArrayBuffer, offset: number, length: number): Uint8Array;
  /** Virtual address of byte `offset` (for /proc/self/pagemap). */
  addressOf(sab: SharedArrayBuffer, offset: number): number;
  /** Cross-process FUTEX_WAIT; timeoutMs < 0 or Infinity = no timeout. */
  futexWait(sab: SharedArrayBuffer, byteOffset: number, expected: number, timeoutMs: number): FutexWaitResult;
  /** Cross-process FUTEX_WAKE; returns how many waiters woke. */
  futexWake(sab: SharedArrayBuffer, byteOffset: number, count: number): number;
  /** The calling OS thread's id. */
  gettid(): number;
  pageSize(): number;
  /**
   * Register (once per thread) a kernel robust-futex list head for the calling
   * thread and return a view of it: { next, futex_offset, list_op_pending } as
   * three 64-bit words, and its address.
   */
  robustListHead(futexOffset: number): { head: ArrayBuffer; address: number };
}

function load(): NativeBinding {
  // Threads-only users (and the tests of that mode) can run without the addon.
  if (process.env['ROBUST_SHM_NO_NATIVE'] === '1') throw new Error('robust-shm: the native addon is disabled (ROBUST_SHM_NO_NATIVE=1)');
  const here = dirname(fileURLToPath(import.meta.url));
  const root = join(here, '..', '..');
  const candidates = [join(root, 'build', 'Release', 'robust_shm_native.node'), join(root, 'build', 'Debug', 'robust_shm_native.node')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `robust-shm: the native addon is not built (looked for ${candidates.join(', ')}). ` +
        'Run `npm install` (it runs node-gyp through binding.gyp; needs python3, make and g++).',
    );
  }
  return createRequire(import.meta.url)(found) as NativeBinding;
}

let cached: NativeBinding | undefined;

/** The native binding, loaded on first use so threads-only users never need it. */
export function native(): NativeBinding {
  cached ??= load();
  return cached;
}
