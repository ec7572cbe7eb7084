// Starting and killing lab participants, the three ways the issue asks for:
//   pool    a piscina pool task on its own pool thread; killed by aborting the
//           task's AbortSignal (piscina then terminate()s that thread).
//   worker  a plain worker_threads Worker; killed with worker.terminate().
//   process a child process; killed with SIGKILL, paused with SIGSTOP/SIGCONT
//           (a stopped owner is alive, not abandoned); it dies with the
//           lab, even a SIGKILLed lab (parent-death.ts).
//
// All three start on the compiled participant entries (compiledSibling): a
// respawn is a plain `node participant-process.js` / `new Worker(...)`.
//
// Why both pool tasks and plain workers: piscina runs one task per pool
// thread and only exposes killing through the task's AbortSignal, never the
// Worker object; a plain Worker shows the terminate() path directly. Both
// end the OS thread for real (its /proc/self/task/<tid> disappears), so the
// robust mutex sees a genuinely dead owner either way.
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { Piscina } from 'piscina';
import { compiledSibling } from '../workers/compiled-entry.js';
import { parentDeathEnv } from '../workers/parent-death.js';
import type { ParticipantConfig, ParticipantKind } from './participant-loop.js';

export type ExitHow = 'killed' | 'exited' | 'crashed';

export interface ExitInfo {
  how: ExitHow;
  detail: string;
}

export interface ParticipantHandle {
  readonly kind: ParticipantKind;
  readonly config: ParticipantConfig;
  /** The OS process id of a process participant (threads: the lab's own pid). */
  readonly pid: number;
  /** Resolves once the participant is gone, whatever the reason. */
  readonly exited: Promise<ExitInfo>;
  readonly alive: boolean;
  /** Kill it the kind's way; resolves when it is gone. `tid` (from the board) lets a task kill wait for its thread to vanish. */
  kill(tid: number): Promise<void>;
  /** SIGSTOP / SIGCONT (processes only). */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void;
}

/** How the controller reaches a killed thread's /proc entry: the thread is gone when this is false. */
function threadExists(tid: number): boolean {
  return tid > 0 && existsSync(`/proc/self/task/${tid}`);
}

export class ParticipantLauncher {
  private pool: Piscina | undefined;
  private readonly threadEntry = compiledSibling(import.meta.url, 'participant-thread');
  private readonly processEntry = compiledSibling(import.meta.url, 'participant-process');

  constructor(
    private readonly regionPath: string,
    private readonly buffer: SharedArrayBuffer,
  ) {}

  start(kind: ParticipantKind, config: ParticipantConfig): ParticipantHandle {
    if (kind === 'process') return this.startProcess(config);
    if (kind === 'worker') return this.startWorker(config);
    return this.startPoolTask(config);
  }

  private startProcess(config: ParticipantConfig): ParticipantHandle {
    const args = [this.regionPath, JSON.stringify(config)];
    const stdio: ('ignore' | 'pipe' | 'ipc')[] = ['ignore', 'ignore', 'pipe', 'ipc'];
    // The child ties itself to us (PR_SET_PDEATHSIG, participant-process.ts):
    // a lab that is SIGKILLed leaves no participant behind, stopped or parked
    // ones included. The lab forks from its main thread, which lives as long
    // as the lab's process (the signal follows the forking thread).
    // execArgv: [] so that a lab started through tsx does not pass its loader on to plain JS.
    const child = fork(this.processEntry, args, { stdio, execArgv: [], env: { ...process.env, ...parentDeathEnv() } });
    let tail = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      tail = (tail + chunk).slice(-4000);
    });
    let alive = true;
    let killedByUs = false;
    const exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        alive = false;
        if (killedByUs && signal === 'SIGKILL') resolve({ how: 'killed', detail: 'SIGKILL' });
        else if (code === 0) resolve({ how: 'exited', detail: 'exited normally' });
        else resolve({ how: 'crashed', detail: signal ? `killed by ${signal}` : `exit code ${code}${lastLine(tail)}` });
      });
    });
    return {
      kind: 'process',
      config,
      pid: child.pid ?? 0,
      exited,
      get alive() {
        return alive;
      },
      async kill() {
        if (!alive) return;
        killedByUs = true;
        // SIGKILL also ends a stopped process: no SIGCONT needed.
        child.kill('SIGKILL');
        await exited;
      },
      signal(signal) {
        if (alive) child.kill(signal);
      },
    };
  }

  private startWorker(config: ParticipantConfig): ParticipantHandle {
    const data = { buffer: this.buffer, autostart: config };
    const worker = new Worker(this.threadEntry, { workerData: { data } });
    let alive = true;
    let killedByUs = false;
    let error: Error | undefined;
    worker.on('error', (e) => {
      error = e;
    });
    const exited = new Promise<ExitInfo>((resolve) => {
      worker.once('exit', (code) => {
        alive = false;
        if (killedByUs) resolve({ how: 'killed', detail: 'worker.terminate()' });
        else if (code === 0) resolve({ how: 'exited', detail: 'exited normally' });
        else resolve({ how: 'crashed', detail: error ? error.message : `exit code ${code}` });
      });
    });
    return {
      kind: 'worker',
      config,
      pid: process.pid,
      exited,
      get alive() {
        return alive;
      },
      async kill() {
        if (!alive) return;
        killedByUs = true;
        await worker.terminate();
        await exited;
      },
      signal() {
        throw new Error('a thread cannot be stopped on its own');
      },
    };
  }

  private startPoolTask(config: ParticipantConfig): ParticipantHandle {
    this.pool ??= new Piscina({
      filename: this.threadEntry.href,
      workerData: { data: { buffer: this.buffer } },
      minThreads: 0,
      maxThreads: 32,
      idleTimeout: 1000,
    });
    const controller = new AbortController();
    let alive = true;
    let killedByUs = false;
    const exited = this.pool.run(config, { signal: controller.signal }).then(
      (end: unknown): ExitInfo => ({ how: end === 'exit-requested' ? 'exited' : 'crashed', detail: String(end) }),
      (error: unknown): ExitInfo =>
        killedByUs ? { how: 'killed', detail: 'AbortSignal' } : { how: 'crashed', detail: (error as Error)?.message ?? String(error) },
    );
    const done = exited.then((info) => {
      alive = false;
      return info;
    });
    return {
      kind: 'pool',
      config,
      pid: process.pid,
      exited: done,
      get alive() {
        return alive;
      },
      async kill(tid: number) {
        if (!alive) return;
        killedByUs = true;
        controller.abort(new Error('killed by the lock lab'));
        await done;
        // piscina rejects the task first and terminate()s its thread right
        // after: wait until the OS thread is really gone (bounded, a safety net).
        const deadline = performance.now() + 5000;
        while (threadExists(tid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 2));
      },
      signal() {
        throw new Error('a thread cannot be stopped on its own');
      },
    };
  }

  /** Destroy the pool (its threads end). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await pool.destroy();
  }
}

/** What a crashed process said: its error line (Node ends an uncaught error's report with its own version line), else its last line. */
function lastLine(text: string): string {
  const lines = text.trim().split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^Node\.js v\d/.test(l));
  const line = [...lines].reverse().find((l) => /^[A-Za-z]*Error\b|^\w+Error:|Error \[/.test(l)) ?? lines.at(-1);
  return line ? `: ${line.slice(0, 160)}` : '';
}
