// Children that die with their parent, even when the parent is SIGKILLed and
// even when the child is SIGSTOPped or blocked (parked) at that moment.
//
// The parent puts its pid in the child's environment (parentDeathEnv()); the
// child, first thing, calls dieWithParent():
//
// 1. prctl(PR_SET_PDEATHSIG, SIGKILL) through the addon. The kernel then sends
//    SIGKILL when the parent goes, and SIGKILL also ends a stopped process or
//    one blocked in a futex wait: no code of the child has to run.
// 2. The race: the parent may have died between fork and the prctl, when
//    there was nobody to signal yet. After the prctl the child compares
//    getppid() with the pid it was given; a mismatch means it was already
//    reparented (to init or a subreaper), so it kills itself.
//
// Which thread forks matters. PR_SET_PDEATHSIG fires when the *thread* that
// forked the child exits, not when its process does (prctl(2)). Node forks in
// the thread that calls child_process.fork()/spawn() (libuv's uv_spawn runs
// fork in the caller), so a child forked from the main thread dies exactly
// when the parent process does (Node's main thread lives as long as its
// process), which is how the lab and Fleet are used. A child forked from a
// worker thread dies when that worker ends, which is also when the worker's
// own 'exit' cleanup (Fleet's hook) would have killed it: children belong to
// the thread that started them. Worker threads need none of this: they end
// with their process.
//
// Without the addon (not built, or ROBUST_SHM_NO_NATIVE=1) the fallback is a
// watcher thread that polls getppid (process.ppid, read live) every 100 ms
// and SIGKILLs its own process when the parent is gone. A thread keeps
// watching while the main thread is blocked (parked), but nothing of a
// SIGSTOPped process runs: such a child only dies once someone continues it.
// That is the fallback's known limit; the prctl has none.
import { Worker } from 'node:worker_threads';
import { native } from '../native/index.js';

/** The environment variable that carries the expected parent pid to the child. */
export const PARENT_PID_ENV = 'ROBUST_SHM_PARENT_PID';

export type ParentDeathMode = 'pdeathsig' | 'ppid-watch' | 'none';

const SIGKILL = 9;
// A global, not a module variable: the preload runs the compiled module while
// code started through a loader (tsx, a bundler) may hold another instance.
const ARMED_MODE = Symbol.for('robust-shm.parent-death-mode');

/** How dieWithParent() tied this process to its parent ('none' when it has not run or had no parent to tie to). */
export function armedParentDeathMode(): ParentDeathMode {
  return ((globalThis as Record<symbol, unknown>)[ARMED_MODE] as ParentDeathMode | undefined) ?? 'none';
}
const WATCH_INTERVAL_MS = 100;

/** What to add to a child's environment so that its dieWithParent() ties it to this process. */
export function parentDeathEnv(): Record<string, string> {
  return { [PARENT_PID_ENV]: String(process.pid) };
}

/**
 * Tie this process to the parent named in its environment: it is SIGKILLed
 * when that parent dies, and kills itself at once if the parent is already
 * gone. Returns how ('none' when the environment names no parent). The
 * variable is removed so that this process's own children do not inherit it.
 */
export function dieWithParent(expectedParentPid: number = Number(process.env[PARENT_PID_ENV])): ParentDeathMode {
  delete process.env[PARENT_PID_ENV];
  if (!Number.isInteger(expectedParentPid) || expectedParentPid <= 0) return 'none';
  let mode: ParentDeathMode;
  let ppid: () => number;
  try {
    const binding = native();
    binding.setParentDeathSignal(SIGKILL);
    ppid = () => binding.getppid();
    mode = 'pdeathsig';
  } catch {
    ppid = () => process.ppid;
    mode = 'ppid-watch';
  }
  // After the prctl: the parent may have died before it (nobody was there to signal us).
  if (ppid() !== expectedParentPid) process.kill(process.pid, 'SIGKILL');
  if (mode === 'ppid-watch') startPpidWatch(expectedParentPid);
  (globalThis as Record<symbol, unknown>)[ARMED_MODE] = mode;
  return mode;
}

function startPpidWatch(expectedParentPid: number): void {
  // A thread, so that a main thread blocked in a wait (a parked participant) is still watched.
  const source = `
    const { workerData } = require('node:worker_threads');
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (;;) {
      if (process.ppid !== workerData.parent) process.kill(process.pid, 'SIGKILL');
      Atomics.wait(nap, 0, 0, workerData.intervalMs);
    }`;
  const watcher = new Worker(source, { eval: true, workerData: { parent: expectedParentPid, intervalMs: WATCH_INTERVAL_MS } });
  // The watch never keeps the process alive by itself.
  watcher.unref();
}
