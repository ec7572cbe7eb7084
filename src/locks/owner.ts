// Owner identity and liveness: an OS thread id plus the thread's start time.
//
// A TID alone is not an identity: when a thread dies the kernel hands its TID
// to a new thread sooner or later, so a waiter that only checked "/proc/<tid>
// exists" could take a stranger for the owner and wait for ever. The start
// time (field 22 of /proc/<tid>/stat, clock ticks since boot) tells the two
// apart.
import { readFileSync, readlinkSync } from 'node:fs';
import type { OwnerIdentity } from './types.js';

/** PF_EXITING (include/linux/sched.h): set as soon as the thread enters do_exit. */
const PF_EXITING = 0x4;

export interface ThreadStat {
  /** Single-letter state: R, S, D, T (stopped), t, Z (zombie), X (dead), I... */
  state: string;
  /** Kernel task flags (field 9). */
  flags: number;
  /** Low 32 bits of the start time in clock ticks since boot (field 22). */
  startTime: number;
}

/** The stat of any thread on the machine (/proc/<tid>/task/<tid>/stat; hidden TIDs resolve too), or null when it is gone. */
export function readThreadStat(tid: number): ThreadStat | null {
  let text: string;
  try {
    // The task/ path, not /proc/<tid>/stat: qemu-user answers a process's reads of its own
    // /proc/<pid>/stat (and /proc/self/stat) with a stat it makes up, whose start time is not the
    // kernel's (one tick later, seen under qemu-aarch64 7.2), while other processes read the
    // kernel's; the owner then looked like a reused TID, i.e. dead, to everyone else. Both paths
    // give the same per-thread state, flags and start time on a plain kernel.
    text = readFileSync(`/proc/${tid}/task/${tid}/stat`, 'latin1');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw error;
  }
  // comm (field 2) may itself contain spaces and parentheses: fields resume after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const state = rest[0] ?? '?';
  const flags = Number(rest[9 - 3]);
  const startTime = Number(BigInt(rest[22 - 3] ?? '0') & 0xffff_ffffn);
  return { state, flags, startTime };
}

/** What ownerLiveness() found: only 'alive' can still release a lock. */
export type Liveness = 'alive' | 'gone' | 'zombie' | 'exiting' | 'reused';

/**
 * Whether the thread that took the lock can still release it.
 * - gone: no such TID any more (thread exited and was reaped).
 * - zombie: a killed process its parent has not reaped yet: still in /proc, but dead.
 * - exiting: SIGKILL delivered, the thread is tearing down (PF_EXITING) and will never run user code again.
 * - reused: the TID now belongs to a different thread (start time differs).
 * A stopped thread (SIGSTOP, state T) is alive: it may be continued and release the lock.
 */
export function ownerLiveness(owner: Pick<OwnerIdentity, 'tid' | 'startTime'>): Liveness {
  const stat = readThreadStat(owner.tid);
  if (stat === null) return 'gone';
  if (stat.startTime !== owner.startTime >>> 0) return 'reused';
  if (stat.state === 'Z' || stat.state === 'X' || stat.state === 'x') return 'zombie';
  if ((stat.flags & PF_EXITING) !== 0) return 'exiting';
  return 'alive';
}

/**
 * Liveness of a thread whose start time is not known (an owner that died, or
 * has not yet got to record it, between taking a lock word and writing its
 * start time): only "gone", "zombie" and "exiting" are certain deaths. A live
 * thread with that TID may be the owner, so it counts as alive.
 */
export function threadLiveness(tid: number): Liveness {
  const stat = readThreadStat(tid);
  if (stat === null) return 'gone';
  if (stat.state === 'Z' || stat.state === 'X' || stat.state === 'x') return 'zombie';
  if ((stat.flags & PF_EXITING) !== 0) return 'exiting';
  return 'alive';
}

/** ownerLiveness(owner) === 'alive'. */
export function ownerIsAlive(owner: Pick<OwnerIdentity, 'tid' | 'startTime'>): boolean {
  return ownerLiveness(owner) === 'alive';
}

/** The process a thread belongs to (Tgid), or 0 when it is gone. */
export function processOfThread(tid: number): number {
  try {
    const status = readFileSync(`/proc/${tid}/status`, 'latin1');
    const match = /^Tgid:\s+(\d+)/m.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

let self: OwnerIdentity | undefined;

/**
 * The calling OS thread's identity. Module state is per thread in Node (each
 * worker has its own module graph), so the cache is per thread. /proc/thread-self
 * gives the TID without the native addon, so threads-only users need no build.
 */
export function currentThreadIdentity(): OwnerIdentity {
  if (self === undefined) {
    const link = readlinkSync('/proc/thread-self'); // "<pid>/task/<tid>"
    const tid = Number(link.slice(link.lastIndexOf('/') + 1));
    const stat = readThreadStat(tid);
    if (stat === null) throw new Error(`cannot read /proc/${tid}/task/${tid}/stat for the current thread`);
    self = { tid, pid: process.pid, startTime: stat.startTime };
  }
  return self;
}
