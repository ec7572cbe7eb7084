// A piscina pool whose tasks run critical sections on shared memory.
//
// Every worker thread of the pool gets the same SharedArrayBuffer (a region's
// buffer: a mapped file or plain shared memory) through workerData, so a task
// only carries its parameters. A task can be aborted through an AbortSignal:
// piscina then terminates the worker thread — a real thread death, also when
// the task is inside a critical section, which is exactly how a robust
// mutex's owner gets killed in the pool-abort demo.
//
// The workers start on the task module itself: JavaScript, or whatever the
// worker threads of the running Node can load. Where each worker needs a
// loader registered first (TypeScript through tsx under Node 20, whose
// workers do not inherit `--import` hooks), `bootModule` names a module that
// registers it, loads `workerData.robustShmEntry` and re-exports its default.
import { Piscina } from 'piscina';

/** How a {@link CriticalSectionPool} starts its worker threads. */
export interface CriticalSectionPoolOptions<Shared> {
  /** The task module: its default export `(task) => result` runs in a worker and reads `workerData.data` (= shared). */
  taskModule: URL;
  /** What every worker sees as `workerData.data` (put the SharedArrayBuffer and object offsets here). */
  shared: Shared;
  /**
   * Start each worker on this module instead of `taskModule`: it must load the
   * module named by `workerData.robustShmEntry` (the task module's URL) and
   * re-export its default export. For runtimes that need a loader in every
   * worker, e.g. tsx under Node 20. Not needed for JavaScript task modules.
   */
  bootModule?: URL;
  /** Default 2 (the machines have 2 cores). */
  maxThreads?: number;
  /** Threads started at once and kept (default 1, at most maxThreads). */
  minThreads?: number;
}

/**
 * A piscina pool whose tasks run critical sections on shared memory. Aborting
 * a task's signal terminates its worker thread: a real thread death, also in
 * the middle of a critical section, which a robust mutex reports as abandoned.
 */
export class CriticalSectionPool<Task, Result, Shared = unknown> {
  private readonly piscina: Piscina;

  /** Starts `minThreads` workers (default 1) on the task module. */
  constructor(options: CriticalSectionPoolOptions<Shared>) {
    const maxThreads = options.maxThreads ?? 2;
    this.piscina = new Piscina({
      filename: (options.bootModule ?? options.taskModule).href,
      workerData: { robustShmEntry: options.taskModule.href, data: options.shared },
      maxThreads,
      minThreads: Math.min(options.minThreads ?? 1, maxThreads),
      // A worker that piscina replaces after an abort must start fresh, never be kept idle for ever.
      idleTimeout: 1_000,
      // With piscina's default atomics 'sync', a reply read synchronously can
      // beat postTask's microtask that clears the idle timer, which then
      // disarms the timer the reply armed: that worker would never retire
      // (piscina 5.3.2; docs/design.md).
      atomics: 'disabled',
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
