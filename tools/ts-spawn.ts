// Dev only (tests, demos, benches of this repo; never in the package):
// starting TypeScript worker threads and child processes through tsx, no
// build step. The library itself starts only compiled JavaScript; these are
// the repo's way to start its own .ts fixtures and demo parts.
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';

/** A worker entry that registers tsx, then loads `workerData.robustShmEntry` (CriticalSectionPool's `bootModule`). */
export const tsWorkerBoot = new URL('./ts-boot.mjs', import.meta.url);

/** workerData for a worker started on tsWorkerBoot: `entry` is the module to load, `data` what it sees as its own data. */
export function bootWorkerData(entry: URL | string, data?: unknown): { robustShmEntry: string; data: unknown } {
  return { robustShmEntry: String(entry), data };
}

/** A worker thread running the TypeScript module `entry`; it reads its own data as `workerData.data`. */
export function startTsWorker(entry: URL | string, data?: unknown, options: Omit<WorkerOptions, 'workerData'> = {}): Worker {
  return new Worker(tsWorkerBoot, { ...options, workerData: bootWorkerData(entry, data) });
}

/** Fork options that run a TypeScript child through tsx (for Fleet.start / forkReady's `fork`). */
export const tsFork: ForkOptions = { execArgv: ['--import', 'tsx'] };

/** A child process running the TypeScript module `entry` through tsx, with an IPC channel. */
export function forkTs(entry: URL | string, args: string[] = [], options: ForkOptions = {}): ChildProcess {
  const path = entry instanceof URL ? entry : new URL(entry);
  return fork(path, args, { ...options, execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])] });
}
