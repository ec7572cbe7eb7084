// A fleet of child processes: fork, ready handshake over IPC,
// commands, signals (SIGKILL / SIGSTOP / SIGCONT), reaping, and killAll()
// that leaves nothing running.
//
// Children speak a small protocol: after start-up each sends one message
// `{ type: 'ready', ... }` (anything else it wants the parent to know, e.g. its
// tid); later messages are answers the caller matches itself (request()).
//
// Reaping is explicit: a killed child stays a zombie until Node's 'exit'
// event for it has fired, which is exactly what the zombie hard case needs
// (kill, look, reap later). killAll() and a process 'exit' hook make sure no
// child outlives a parent that ends normally; a parent that is SIGKILLed runs
// no hook, so every child also gets the compiled die-with-parent module
// preloaded, which ties it to the forking thread with PR_SET_PDEATHSIG
// (parent-death.ts).
import type { ChildProcess, ForkOptions } from 'node:child_process';
import { RobustShmError } from '../errors.js';
import { fork as forkChild } from 'node:child_process';
import { awaitMessage } from './await-message.js';
import { parentDeathEnv } from './parent-death.js';
import { compiledSibling } from './compiled-entry.js';

/** How a child ended (its 'exit' event). */
export interface ExitStatus {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  /** The signal that ended it (e.g. 'SIGKILL'), or null. */
  signal: NodeJS.Signals | null;
}

/** A child died or timed out before its ready handshake. */
export class FleetStartError extends RobustShmError {
  constructor(message: string) {
    super('ERR_FLEET_START', message);
  }
}

/** One started child of a fleet. */
export interface FleetMember<Ready = Record<string, unknown>> {
  /** Its position in the fleet. */
  readonly index: number;
  /** The child process (IPC channel included). */
  readonly child: ChildProcess;
  /** Its process id. */
  readonly pid: number;
  /** The child's ready message. */
  readonly ready: Ready;
  /** Resolves once the child is reaped (its 'exit' event fired). */
  readonly exit: Promise<ExitStatus>;
}

/** Options of Fleet.start. */
export interface FleetOptions {
  /** Extra argv for child i (e.g. a JSON description of the region). */
  args?: (index: number) => string[];
  /** Safety net for the handshake (default 30 s: a slow start on a loaded machine). */
  readyTimeoutMs?: number;
  /** Passed to child_process.fork (stdio defaults to ['ignore', 'inherit', 'inherit', 'ipc']); `execArgv` can bring a loader. */
  fork?: ForkOptions;
}

// Every child any fleet started and that is not yet reaped: the 'exit' hook
// SIGKILLs them if the parent ends without killAll() (a failed test, Ctrl-C).
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
    }
  });
}

/**
 * Fork one child on `entry` (a JavaScript module, or give `fork.execArgv` a
 * loader) and wait for its `{ type: 'ready' }` message; a child that exits or
 * stays silent past `readyTimeoutMs` is killed, reaped, and rejects with FleetStartError.
 */
export async function forkReady<Ready = Record<string, unknown>>(
  entry: URL,
  args: string[] = [],
  options: { readyTimeoutMs?: number; fork?: ForkOptions; index?: number } = {},
): Promise<FleetMember<Ready>> {
  installExitHook();
  // A plain fork: the entry is JavaScript, or options.fork.execArgv brings its loader (e.g. ['--import', 'tsx']).
  // The compiled die-with-parent module is preloaded first: it needs no loader.
  const fork = options.fork ?? {};
  const child = forkChild(entry, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...fork,
    env: { ...(fork.env ?? process.env), ...parentDeathEnv() },
    execArgv: ['--import', compiledSibling(import.meta.url, 'die-with-parent').href, ...(fork.execArgv ?? [])],
  });
  live.add(child);
  const exit = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = await Promise.race([
      new Promise<Ready>((resolve) => {
        const onMessage = (message: unknown) => {
          if ((message as { type?: unknown } | null)?.type !== 'ready') return;
          child.off('message', onMessage);
          resolve(message as Ready);
        };
        child.on('message', onMessage);
      }),
      exit.then((status) => {
        throw new FleetStartError(`child ${child.pid} exited (code ${status.code}, signal ${status.signal}) before it was ready`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new FleetStartError(`child ${child.pid} was not ready within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { index: options.index ?? 0, child, pid: child.pid!, ready, exit };
  } catch (error) {
    await killAndReap(child, exit);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function killAndReap(child: ChildProcess, exit: Promise<ExitStatus>): Promise<ExitStatus> {
  if (child.exitCode === null && child.signalCode === null) {
    // A stopped child cannot die until continued.
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  return exit;
}

/**
 * Child processes started on one entry module, each past its ready handshake:
 * talk to them, stop/continue/kill them, reap them; killAll() (and an 'exit'
 * hook, if the parent ends first) leaves nothing running.
 */
export class Fleet<Ready = Record<string, unknown>> {
  /** Every child, by index. */
  readonly members: FleetMember<Ready>[];

  private constructor(members: FleetMember<Ready>[]) {
    this.members = members;
  }

  /** Fork `count` children of `entry` (concurrently) and wait until all are ready. */
  static async start<Ready = Record<string, unknown>>(entry: URL, count: number, options: FleetOptions = {}): Promise<Fleet<Ready>> {
    const started = await Promise.allSettled(
      Array.from({ length: count }, (_, index) => {
        const o: { readyTimeoutMs?: number; fork?: ForkOptions; index: number } = { index };
        if (options.readyTimeoutMs !== undefined) o.readyTimeoutMs = options.readyTimeoutMs;
        if (options.fork !== undefined) o.fork = options.fork;
        return forkReady<Ready>(entry, options.args?.(index) ?? [], o);
      }),
    );
    const members = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(members.map((m) => killAndReap(m.child, m.exit)));
      throw failed.reason;
    }
    return new Fleet(members);
  }

  /** How many children. */
  get size(): number {
    return this.members.length;
  }

  /** Child `index` (RangeError when there is none). */
  member(index: number): FleetMember<Ready> {
    const m = this.members[index];
    if (!m) throw new RangeError(`no fleet member ${index} (fleet of ${this.members.length})`);
    return m;
  }

  /** Send child `index` a message over its IPC channel. */
  send(index: number, message: unknown): void {
    this.member(index).child.send(message as never);
  }

  /** Send a message and resolve with the child's next message that `match`es; rejects if the child exits first. */
  request<T = Record<string, unknown>>(index: number, message: unknown, match: (reply: T) => boolean = () => true): Promise<T> {
    const { child } = this.member(index);
    if (!this.isRunning(index) || !child.connected) {
      return Promise.reject(new RobustShmError('ERR_FLEET_CHILD_EXITED', `child ${child.pid} is not running`));
    }
    const { answer, fail } = awaitMessage<T>(
      child,
      match,
      (code, signal) => new RobustShmError('ERR_FLEET_CHILD_EXITED', `child ${child.pid} exited (code ${code}, signal ${signal}) before answering`),
    );
    // The callback reports a send on a channel that closed meanwhile (the child died).
    child.send(message as never, (error: Error | null) => {
      if (error) fail(error);
    });
    return answer;
  }

  /** Send a signal (default SIGKILL). Does not wait: reap() does. */
  kill(index: number, signal: NodeJS.Signals = 'SIGKILL'): void {
    this.member(index).child.kill(signal);
  }

  /** SIGSTOP child `index` (a stopped lock owner is alive: nobody takes its lock). */
  stop(index: number): void {
    this.kill(index, 'SIGSTOP');
  }

  /** SIGCONT child `index`. */
  cont(index: number): void {
    this.kill(index, 'SIGCONT');
  }

  /** Child `index` has not exited (a stopped child is running). */
  isRunning(index: number): boolean {
    const { child } = this.member(index);
    return child.exitCode === null && child.signalCode === null;
  }

  /** Wait until child `index` has exited and been reaped. */
  reap(index: number): Promise<ExitStatus> {
    return this.member(index).exit;
  }

  /** SIGCONT + SIGKILL every child still running and wait until every one is reaped. */
  async killAll(): Promise<ExitStatus[]> {
    return Promise.all(this.members.map((m) => killAndReap(m.child, m.exit)));
  }
}
