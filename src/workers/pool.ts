// A piscina pool whose tasks run critical sections on shared memory.
//
// Every worker thread of the pool gets the same SharedArrayBuffer (a region's
// buffer: a mapped file or plain shared memory) through workerData, so a task
// only carries its parameters. A task can be aborted through an AbortSignal:
// piscina then terminates the worker thread — a real thread death, also when
// the task is inside a critical section, which is exactly how a robust
// mutex's owner gets killed in the pool-abort demo.
//
// Node 20 workers cannot load .ts by themselves: the pool starts them on
// spawn.ts's boot file, which registers tsx and re-exports the task module's
// default export as piscina's handler.
import { Piscina } from 'piscina';
import { bootWorkerData, workerBootUrl } from './spawn.js';

export interface CriticalSectionPoolOptions<Shared> {
  /** The task module: its default export `(task) => result` runs in a worker and reads `workerData.data` (= shared). */
  taskModule: URL;
  /** What every worker sees as `workerData.data` (put the SharedArrayBuffer and object offsets here). */
  shared: Shared;
  /** Default 2 (the machines have 2 cores). */
  maxThreads?: number;
  minThreads?: number;
}

export class CriticalSectionPool<Task, Result, Shared = unknown> {
  private readonly piscina: Piscina;

  constructor(options: CriticalSectionPoolOptions<Shared>) {
    const maxThreads = options.maxThreads ?? 2;
    this.piscina = new Piscina({
      filename: workerBootUrl.href,
      workerData: bootWorkerData(options.taskModule, options.shared),
      maxThreads,
      minThreads: Math.min(options.minThreads ?? 1, maxThreads),
      // A worker that piscina replaces after an abort must start fresh, never be kept idle for ever.
      idleTimeout: 1_000,
    });
  }

  /**
   * Run one task. With `signal`, aborting terminates the worker thread running
   * it (even mid critical section) and rejects with piscina's AbortError.
   */
  run(task: Task, options: { signal?: AbortSignal } = {}): Promise<Result> {
    return this.piscina.run(task, options.signal ? { signal: options.signal } : {}) as Promise<Result>;
  }

  /** Worker threads currently alive. */
  get threads(): number {
    return this.piscina.threads.length;
  }

  /** Terminate every worker; pending tasks are rejected. */
  async destroy(): Promise<void> {
    await this.piscina.destroy();
  }
}

/** True for the rejection piscina gives a task whose signal was aborted. */
export function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}
