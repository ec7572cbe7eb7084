// Typed loader for the thin native layer (src/native/*.cc, binding.gyp).
// Everything here is a syscall wrapper; policy lives in the modules that call it.
//
// Where the binary comes from, first match wins (node-gyp-build's order):
//   <package root>/build/Release/*.node   a local build (a checkout's `npm install`,
//                                        or the install-time fallback compile)
//   <package root>/build/Debug/*.node
//   <package root>/prebuilds/<platform>-<arch>/robust-shm.abi<N>.glibc.node
//                                        the prebuilt binaries `npm pack` puts in the
//                                        tarball (tools/prebuild-all.mjs): linux x64 and
//                                        arm64, ABI 115/127/137/147 (Node 20/22/24/26)
// The package root is two levels above this module, both for dist/native/index.js
// (installed package) and src/native/index.ts (checkout).
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { NativeUnavailableError } from '../errors.js';

/** What `futexWait` reports: woken, the word did not hold `expected`, timed out, or interrupted by a signal. */
export type FutexWaitResult = 'ok' | 'not-equal' | 'timed-out' | 'interrupted';
/** madvise(2) advice the addon accepts: MADV_DONTNEED, MADV_PAGEOUT, MADV_COLD, MADV_WILLNEED. */
export type Advice = 'dontneed' | 'pageout' | 'cold' | 'willneed';
/** See waiterCancel(). */
export type WaiterCancelResult = 'pending' | 'fired' | 'gone';
export interface WaiterStats {
  /** Waits of the calling environment (thread) not yet delivered or cancelled. */
  environment: number;
  /** Waits registered with the waiter threads, whole process. */
  process: number;
  /** Native waiter threads started in this process (each sleeps on up to 127 words). */
  threads: number;
  /** Distinct (word, expected value) pairs slept on. */
  words: number;
}

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
  /** posix_fallocate(fd, 0, length): reserve the file's blocks (extending it); throws with code ENOSPC when they do not fit. */
  reserveFileSpace(fd: number, length: number): void;
  /**
   * The calling thread's kernel robust-list head (glibc's when it has one,
   * checked against glibc's node layout; else one registered for it). `head`
   * views 32 bytes from head - 8: the head's __prev slot, list, futex_offset,
   * list_op_pending. futexOffset must be -32. Also registers (once per thread)
   * the environment cleanup hook that marks the thread's robust-shm words
   * OWNER_DIED when its environment is torn down.
   */
  robustListHead(futexOffset: number): { head: ArrayBuffer; address: number; shared: boolean };
  /**
   * Write a pointer into the __next (slot 0) or __prev (slot 1) of a list
   * element that is not one of ours (a glibc mutex), after checking it is on
   * the calling thread's list.
   */
  robustListPatch(element: number, slot: 0 | 1, value: number): void;
  /** Whether futex_waitv(2) works here (error: the errno name when not). */
  waiterAvailable(): { available: boolean; error: string };
  /**
   * This environment's delivery point for waiterAdd(): `callback` runs on the
   * event loop with the ids of waits that ended (woken, or the word changed).
   * Once per environment; a second call replaces the callback.
   */
  waiterStart(callback: (ids: number[]) => void): void;
  /**
   * One-shot wait, served by the process's futex_waitv waiter threads, until the
   * 32-bit word at byteOffset is futex-woken or no longer holds `expected`.
   * The event loop is kept alive while any wait is pending.
   */
  waiterAdd(sab: SharedArrayBuffer, byteOffset: number, expected: number): number;
  /**
   * Withdraw a wait: 'pending' it was still waiting; 'fired' it had already
   * taken a wake (or seen a change) that was not yet delivered, and will not
   * be; 'gone' it was unknown or already delivered.
   */
  waiterCancel(id: number): WaiterCancelResult;
  waiterStats(): WaiterStats;
  /** prctl(PR_SET_PDEATHSIG, signal): `signal` arrives when the thread that forked this process exits. 0 clears it. */
  setParentDeathSignal(signal: number): void;
  /** getppid(2): who is the parent right now (after a reparenting: the reaper). */
  getppid(): number;
}

// Every function the TypeScript side calls. A binary that lacks one is a build
// of older sources (node-gyp-build prefers an existing build/Release to the
// prebuilt binary, and `npm install` in a checkout keeps it): refusing it at
// load beats a TypeError deep inside a lock, or a caller quietly falling back
// to a weaker mechanism. The mapped type makes a new member of NativeBinding a
// compile error until it is listed here.
const REQUIRED: { readonly [K in keyof NativeBinding]: true } = {
  mapFd: true,
  mapAnonymous: true,
  msync: true,
  madvise: true,
  mincore: true,
  addressOf: true,
  futexWait: true,
  futexWake: true,
  gettid: true,
  pageSize: true,
  reserveFileSpace: true,
  robustListHead: true,
  robustListPatch: true,
  waiterAvailable: true,
  waiterStart: true,
  waiterAdd: true,
  waiterCancel: true,
  waiterStats: true,
  setParentDeathSignal: true,
  getppid: true,
};

/** The names `binding` lacks among those the TypeScript side calls. */
export function missingNativeFunctions(binding: unknown): string[] {
  const exports = (typeof binding === 'object' && binding !== null ? binding : {}) as Record<string, unknown>;
  return Object.keys(REQUIRED).filter((name) => typeof exports[name] !== 'function');
}

interface NodeGypBuild {
  (dir: string): unknown;
  /** The path of the binary that matches this platform and ABI; throws when none does. */
  path(dir: string): string;
}

const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The files node-gyp-build would consider, for the error message. */
function candidates(): string[] {
  const seen: string[] = [];
  for (const dir of ['build/Release', 'build/Debug', `prebuilds/${process.platform}-${process.arch}`]) {
    const full = join(packageRoot, dir);
    let files: string[] = [];
    try {
      files = readdirSync(full).filter((f) => f.endsWith('.node'));
    } catch {
      /* missing directory */
    }
    seen.push(files.length ? `${full}: ${files.join(', ')}` : `${full}: ${existsSync(full) ? 'no .node file' : 'missing'}`);
  }
  return seen;
}

function load(): NativeBinding {
  // Threads-only users (and the tests of that mode) can run without the addon.
  if (process.env['ROBUST_SHM_NO_NATIVE'] === '1') throw new NativeUnavailableError('it is disabled (ROBUST_SHM_NO_NATIVE=1)', []);
  const require = createRequire(import.meta.url);
  let nodeGypBuild: NodeGypBuild;
  try {
    nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
  } catch (error) {
    throw new NativeUnavailableError('its loader (the node-gyp-build package) could not be loaded', [String(error)], { cause: error });
  }
  const want = `platform=${process.platform} arch=${process.arch} abi=${process.versions.modules} (Node ${process.versions.node})`;
  // An explicit binary (bench/run.ts --node builds one per Node ABI outside the
  // checkout): node-gyp-build would take build/Release, built for the machine's Node.
  const explicit = process.env['ROBUST_SHM_NATIVE_BINARY'];
  let file: string;
  try {
    file = explicit ? explicit : nodeGypBuild.path(packageRoot);
  } catch (error) {
    throw new NativeUnavailableError(`no local build and no prebuilt binary for ${want}`, candidates(), { cause: error });
  }
  let binding: unknown;
  try {
    binding = require(file);
  } catch (error) {
    // e.g. a build for another Node ABI left in build/Release, or a missing system library.
    throw new NativeUnavailableError(`${file} did not load for ${want}`, [`${file}: ${(error as Error).message}`, ...candidates()], { cause: error });
  }
  const missing = missingNativeFunctions(binding);
  if (missing.length > 0) {
    throw new NativeUnavailableError(
      `${file} is a build of older sources (it lacks ${missing.join(', ')}); in a checkout, run \`npm run rebuild:native\``,
      [`${file}: lacks ${missing.join(', ')}`, ...candidates()],
    );
  }
  return binding as NativeBinding;
}

let cached: NativeBinding | undefined;
let failure: NativeUnavailableError | undefined;

/**
 * The native binding, loaded on first use so threads-only users never need it.
 * Throws NativeUnavailableError (the same one on every later call: callers
 * probe it to choose a wait mechanism, and a failed load is not retried).
 */
export function native(): NativeBinding {
  if (cached) return cached;
  if (failure) throw failure;
  try {
    cached = load();
  } catch (error) {
    failure = error as NativeUnavailableError;
    throw error;
  }
  return cached;
}
