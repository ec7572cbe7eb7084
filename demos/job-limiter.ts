// A cross-process job limiter: a 3-unit RobustSemaphore shared by 6 worker
// processes, each looping "take a unit, run a job, give it back". Holders are
// SIGKILLed at random in the middle of a job and respawned. A POSIX or
// Windows semaphore would lose a unit with every such death (3 kills and
// nothing runs any more); here the kernel marks the dead holder's unit, the
// next acquirer takes it back and is told, and the count never leaks.
import { rmSync } from 'node:fs';
import { fork, type ChildProcess } from 'node:child_process';
import { startDemo, intOption } from './lib/cli.js';
import { openRegion } from '../src/shm/region.js';
import { RobustSemaphore } from '../src/locks/robust-semaphore.js';

const UNITS = 3;
const JOB_TABLE = { stop: 0, doubleOccupancy: 1, jobs: 2, occupants: 8 } as const;

const demo = startDemo({
  name: 'job-limiter',
  summary:
    `A ${UNITS}-unit RobustSemaphore limits 6 worker processes to ${UNITS} jobs at a time. Holders are SIGKILLed at random ` +
    'mid-job and respawned; each dead holder\'s unit comes back by itself (reported to the next acquirer), so no unit ever leaks.',
  options: {
    kills: { type: 'string', default: '15' },
    workers: { type: 'string', default: '6' },
  },
  descriptions: { kills: 'how many holders to kill', workers: 'worker processes' },
});
const KILLS = intOption('kills', demo.values.kills, 15, 1, 10_000);
const WORKERS = intOption('workers', demo.values.workers, 6, 2, 24);

const path = `/dev/shm/robust-shm-job-limiter-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const region = await openRegion(path, { size: 64 * 1024, create: true });
const sem = RobustSemaphore.open(region, 'jobs', { units: UNITS });
const table = new Int32Array(region.buffer, region.findOrCreate('job-table', 64 * 4).offset, 64);
const workers = new Map<number, ChildProcess>();
const errors: string[] = [];
let reportedReclaims = 0;
const deadHolderPids = new Set<number>();
const victims: number[] = [];

function start(slot: number): Promise<void> {
  const child = fork(new URL('./lib/job-worker.ts', import.meta.url), [JSON.stringify({ path, slot, units: UNITS })], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  workers.set(slot, child);
  child.on('message', (m: { type: string; error?: string; units?: number; deadHolders?: { pid: number }[] }) => {
    if (m.type === 'error') errors.push(m.error!);
    if (m.type === 'reclaimed') {
      reportedReclaims += m.units!;
      for (const h of m.deadHolders!) deadHolderPids.add(h.pid);
      demo.event('reclaimed', { by: child.pid, units: m.units, deadHolders: m.deadHolders }, `  worker ${child.pid} took back ${m.units} unit(s) of dead holder(s) ${m.deadHolders!.map((h) => h.pid).join(', ')}`);
    }
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code, signal) => reject(new Error(`worker ${slot} exited (${code ?? signal}) before it was ready`)));
  });
}

const gone = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r())));
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
let kills = 0;
let killedWhileHolding = 0;
let balanceViolations = 0;
let maxLiveHolders = 0;
try {
  await Promise.all(Array.from({ length: WORKERS }, (_, slot) => start(slot)));
  demo.say(`${WORKERS} workers share ${UNITS} units; killing ${KILLS} holders at random ...`);
  while (kills < KILLS) {
    const jobsBefore = Atomics.load(table, JOB_TABLE.jobs);
    while (Atomics.load(table, JOB_TABLE.jobs) < jobsBefore + 10) await tick();
    const snapshot = sem.inspect();
    maxLiveHolders = Math.max(maxLiveHolders, snapshot.holders.filter((h) => h.alive).length);
    // A holder right now (its pid is on a unit).
    const holders = [...workers].filter(([, c]) => snapshot.holders.some((h) => h.pid === c.pid));
    if (holders.length === 0) continue;
    const [slot, victim] = holders[Math.floor(Math.random() * holders.length)]!;
    victim.kill('SIGKILL');
    await gone(victim);
    kills++;
    victims.push(victim.pid!);
    // Its unit comes back by itself: the waiting workers take it back.
    const deadline = performance.now() + 10_000;
    while (sem.inspect().holders.some((h) => !h.alive)) {
      if (performance.now() > deadline) throw new Error(`the unit of dead worker ${victim.pid} never came back`);
      await tick();
    }
    const after = sem.inspect();
    const balanced = after.free + after.holders.filter((h) => h.alive).length === UNITS;
    if (!balanced) balanceViolations++;
    demo.event('killed', { pid: victim.pid, free: after.free, liveHolders: after.holders.length, unitsReclaimed: after.unitsReclaimed, balanced },
      `kill ${kills}: worker ${victim.pid} SIGKILLed holding a unit; now ${after.free} free + ${after.holders.length} live holders = ${after.free + after.holders.length}`);
    await start(slot);
  }
} finally {
  Atomics.store(table, JOB_TABLE.stop, 1);
  await Promise.all([...workers.values()].map(gone));
  for (const c of workers.values()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
const end = sem.inspect();
// A victim held a unit when it died exactly when an acquirer reported taking its unit back.
killedWhileHolding = victims.filter((pid) => deadHolderPids.has(pid)).length;
rmSync(path, { force: true });
rmSync(`${path}.lock`, { force: true, recursive: true });
const unitSharedByTwoLiveWorkers = Atomics.load(table, JOB_TABLE.doubleOccupancy);
const unitsLeaked = UNITS - end.free;
const ok = errors.length === 0 && unitsLeaked === 0 && balanceViolations === 0 && unitSharedByTwoLiveWorkers === 0 && maxLiveHolders <= UNITS && end.unitsReclaimed >= killedWhileHolding && kills === KILLS;
demo.finish(
  ok,
  { units: UNITS, workers: WORKERS, kills, killedWhileHolding, unitsReclaimed: end.unitsReclaimed, reportedToAcquirers: reportedReclaims, unitsLeaked, balanceViolations, unitSharedByTwoLiveWorkers, maxLiveHolders, jobsDone: Atomics.load(table, JOB_TABLE.jobs), errors },
  `job-limiter: ${ok ? 'OK' : 'FAILED'}: ${kills} holders killed, ${end.unitsReclaimed} units came back, ${unitsLeaked} leaked; ${unitSharedByTwoLiveWorkers} units ever shared by two live workers; ${Atomics.load(table, JOB_TABLE.jobs)} jobs done`,
);
