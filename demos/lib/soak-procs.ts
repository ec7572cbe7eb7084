// Is a process still running? From /proc: a zombie waiting for its reaper is
// dead (it runs nothing and holds no lock), and so is a pid that is gone.
import { readFileSync } from 'node:fs';
import { readThreadStat } from '../../src/locks/owner.js';

export function processRunning(pid: number): boolean {
  if (!(pid > 0)) return false;
  try {
    const state = readThreadStat(pid)?.state;
    return state !== undefined && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
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
