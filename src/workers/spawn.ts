// Starting TypeScript worker threads and child processes the same way in
// library code, demos and tests (tsx, no build step).
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';

export const workerBootUrl = new URL('./boot.mjs', import.meta.url);

/** workerData for a worker started on boot.mjs: `entry` is the module to load, `data` what it sees as its own data. */
export function bootWorkerData(entry: URL | string, data?: unknown): { robustShmEntry: string; data: unknown } {
  return { robustShmEntry: String(entry), data };
}

/** A worker thread running the TypeScript module `entry`; it reads its own data as `workerData.data`. */
export function startTsWorker(entry: URL | string, data?: unknown, options: Omit<WorkerOptions, 'workerData'> = {}): Worker {
  return new Worker(workerBootUrl, { ...options, workerData: bootWorkerData(entry, data) });
}

/** A child process running the TypeScript module `entry` through tsx, with an IPC channel. */
export function forkTs(entry: URL | string, args: string[] = [], options: ForkOptions = {}): ChildProcess {
  const path = entry instanceof URL ? entry : new URL(entry);
  return fork(path, args, { ...options, execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])] });
}
