// A worker process of demos/job-limiter.ts: argv[2] = { path, slot }.
// Loops: take a unit of the 3-unit semaphore, run a "job" (a few ms asleep),
// give the unit back. During the job the unit's occupant word holds its pid;
// finding a live other worker there would mean two jobs on one unit, i.e.
// more jobs at once than units.
import { openRegion } from '../../src/shm/region.js';
import { RobustSemaphore } from '../../src/locks/robust-semaphore.js';
import { readThreadStat } from '../../src/locks/owner.js';

const JOB_TABLE = { stop: 0, doubleOccupancy: 1, jobs: 2, occupants: 8 } as const; // the same words as demos/job-limiter.ts

const { path, slot, units } = JSON.parse(process.argv[2] ?? '{}') as { path: string; slot: number; units: number };
const region = await openRegion(path);
const sem = RobustSemaphore.open(region, 'jobs', { units });
const table = new Int32Array(region.buffer, region.findOrCreate('job-table', 64 * 4).offset, 64);
const nap = new Int32Array(new SharedArrayBuffer(4));

/** A SIGKILLed worker is dead from the moment it is exiting (the kernel frees its unit then), zombie or not. */
function alive(pid: number): boolean {
  const stat = readThreadStat(pid);
  const PF_EXITING = 0x4;
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X' && (stat.flags & PF_EXITING) === 0;
}

process.send!({ type: 'ready', pid: process.pid });
// The loop never yields to the event loop, so `process.connected` would never turn false:
// a dead parent shows as a new parent pid (the live getppid()).
const parent = process.ppid;
while (Atomics.load(table, JOB_TABLE.stop) === 0 && process.ppid === parent) {
  const r = sem.acquire(10_000);
  if (!r.owned) {
    process.send!({ type: 'error', error: `acquire: ${r.status}` });
    break;
  }
  if (r.unitsReclaimed > 0) process.send!({ type: 'reclaimed', units: r.unitsReclaimed, deadHolders: r.deadHolders });
  // The unit's occupant word: taking it from a LIVE other worker would mean two jobs on one unit.
  const occupant = JOB_TABLE.occupants + r.unit;
  const before = Atomics.exchange(table, occupant, process.pid);
  if (before !== 0 && alive(before)) Atomics.add(table, JOB_TABLE.doubleOccupancy, 1);
  Atomics.wait(nap, 0, 0, 2 + Math.random() * 6); // the job
  Atomics.compareExchange(table, occupant, process.pid, 0);
  Atomics.add(table, JOB_TABLE.jobs, 1);
  sem.release();
}
process.exit(0);
