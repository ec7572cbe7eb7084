// Is a process still running? From /proc: a zombie waiting for its reaper is
// dead (it runs nothing and holds no lock), and so is a pid that is gone.
import { readFileSync } from 'node:fs';
import { readThreadStat } from '../../src/locks/owner.js';

export function processRunning(pid: number): boolean {
  return runningStat(pid) !== null;
}

/** The /proc stat of a task that runs (not a zombie, not gone), or null. */
function runningStat(pid: number): ReturnType<typeof readThreadStat> {
  if (!(pid > 0)) return null;
  try {
    const stat = readThreadStat(pid);
    return stat !== null && stat.state !== 'Z' && stat.state !== 'X' ? stat : null;
  } catch {
    return null;
  }
}

/**
 * A process a run started, named by pid and start time. A pid alone may name
 * a later process or thread by the time the run ends: pid_max can be 32,768
 * (it is on the development VM) and a 10,000-kill soak creates tens of
 * thousands of threads, so a 10,000-kill run counted one pid, reused by then,
 * as a process left running.
 */
export interface StartedProcess {
  pid: number;
  /** Start time in clock ticks (low 32 bits), or null if it was already gone when recorded. */
  startTime: number | null;
}

/** Record a process just started (read its start time from /proc now). */
export function startedProcess(pid: number): StartedProcess {
  return { pid, startTime: runningStat(pid)?.startTime ?? null };
}

/** Is this very process (same pid, same start time) still running? */
export function startedProcessRunning(p: StartedProcess): boolean {
  return p.startTime !== null && runningStat(p.pid)?.startTime === p.startTime;
}

/** For a hang report: a thread's scheduler state and where in the kernel it sleeps. */
export function threadState(pid: number, tid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    let wchan = '';
    try {
      wchan = readFileSync(`/proc/${pid}/task/${tid}/wchan`, 'latin1');
    } catch {
      // not readable here
    }
    return `${name} state ${state}${wchan ? ` wchan ${wchan}` : ''}`;
  } catch {
    return 'gone';
  }
}
