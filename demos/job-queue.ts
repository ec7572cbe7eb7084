// A RobustQueue in a region file: 2 producers (a thread and a process) and 4
// consumers (2 threads, 2 processes) run the jobs while consumers are killed
// at random mid-job (SIGKILL for processes, worker.terminate() for threads)
// and respawned. Each dead consumer's job comes back at once to another
// consumer (deliveries + 1); the summary counts jobs enqueued, acked,
// redelivered and dead-lettered, the lost (must be 0) and the acked twice
// (must be 0), and the redelivery latency from the kill to the retake.
import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:worker_threads';
import { startDemo, intOption } from './lib/cli.js';
import { ProgressReporter } from './lib/progress.js';
import { openRegion } from '../src/shm/region.js';
import { RobustQueue } from '../src/queue/robust-queue.js';
import { forkTs, startTsWorker } from '../tools/ts-spawn.js';
import { parentDeathEnv } from '../src/workers/parent-death.js';
import { CONSUMER, CONTROL, ROW, ROW_INTS, monotonicMs, type JobQueueParticipantData } from './lib/job-queue-table.js';
import { percentile } from '../bench/lib/stats.js';

const demo = startDemo({
  name: 'job-queue',
  summary:
    'A RobustQueue shared by 2 producers and 4 consumers (threads and processes). Consumers are killed at random mid-job ' +
    '(SIGKILL, worker.terminate()) and respawned; each dead consumer\'s job comes back at once, so no job is lost and none is acked twice.',
  options: {
    jobs: { type: 'string', default: '10000' },
    kills: { type: 'string', default: '40' },
    'work-ms': { type: 'string', default: '1' },
    'payload-bytes': { type: 'string', default: '100' },
  },
  descriptions: { jobs: 'jobs to run', kills: 'consumers to kill mid-job (at most jobs / 20)', 'work-ms': 'longest work per job (ms)', 'payload-bytes': 'bytes per job' },
});
const JOBS = intOption('jobs', demo.values.jobs, 10_000, 10, 1_000_000);
const KILLS_ASKED = intOption('kills', demo.values.kills, 40, 0, 10_000);
const KILLS = Math.min(KILLS_ASKED, Math.floor(JOBS / 20));
const WORK_MS = intOption('work-ms', demo.values['work-ms'], 1, 0, 1000);
const PAYLOAD = intOption('payload-bytes', demo.values['payload-bytes'], 100, 16, 65_536);

const CONSUMERS = [
  { slot: 2, kind: 'thread' },
  { slot: 3, kind: 'process' },
  { slot: 4, kind: 'thread' },
  { slot: 5, kind: 'process' },
] as const;
const participantUrl = new URL('./lib/job-queue-participant.ts', import.meta.url);

const path = `/dev/shm/robust-shm-job-queue-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const removeRegion = (): void => {
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
};
// Also when the demo dies of an error (its stdout closed early, say): no region is left in /dev/shm.
process.on('exit', removeRegion);
const region = await openRegion(path, { size: 4 * 1024 * 1024 + JOBS * 12, create: true });
const queue = RobustQueue.open(region, 'jobs', { capacity: 256, maxJobBytes: PAYLOAD });
const control = new Int32Array(region.buffer, region.findOrCreate('control', (CONTROL.rows + 64 * ROW_INTS) * 4).offset, CONTROL.rows + 64 * ROW_INTS);
const acksOffset = region.findOrCreate('acks', (JOBS + 1) * 4).offset;
const retakeOffset = region.findOrCreate('retakes', (JOBS + 1) * 8).offset;
const acks = new Int32Array(region.buffer, acksOffset, JOBS + 1);
const retake = new Float64Array(region.buffer, retakeOffset, JOBS + 1);
const killedAt = new Float64Array(JOBS + 1);

type Running = ({ kind: 'thread'; worker: Worker } | { kind: 'process'; child: ChildProcess }) & { exited: Promise<unknown>; killed: boolean };
const running = new Map<number, Running>();
/**
 * A participant that ended without being killed, while the run went on: the
 * run stops and fails with it. Waiting on would hang (no kill is made until
 * every consumer is up, and while one is due the others hold their jobs).
 */
let diedOnItsOwn: string | null = null;
function watchExit(slot: number, role: 'producer' | 'consumer', r: Running): void {
  void r.exited.then((code) => {
    const signal = r.kind === 'process' ? r.child.signalCode : null;
    // A producer ends, exit code 0, once it has enqueued its share.
    if (r.killed || Atomics.load(control, CONTROL.stop) !== 0 || (role === 'producer' && code === 0 && signal === null)) return;
    diedOnItsOwn ??= `${role} ${slot} (${r.kind}) ended on its own: ${signal ? `killed by ${signal}` : `exit code ${String(code)}`}`;
  });
}

function data(slot: number, role: 'producer' | 'consumer', extra: Partial<JobQueueParticipantData> = {}): JobQueueParticipantData {
  return { path, role, slot, queueOffset: queue.byteOffset, controlOffset: control.byteOffset, acksOffset, retakeOffset, jobs: JOBS, payloadBytes: PAYLOAD, workMs: WORK_MS, ...extra };
}

function start(slot: number, kind: 'thread' | 'process', d: JobQueueParticipantData): void {
  Atomics.store(control, CONTROL.rows + slot * ROW_INTS + ROW.ready, 0);
  Atomics.store(control, CONTROL.rows + slot * ROW_INTS + ROW.state, CONSUMER.IDLE);
  if (kind === 'thread') {
    const worker = startTsWorker(participantUrl, { ...d, path: undefined, buffer: region.buffer });
    worker.on('error', (error) => demo.event('error', { slot, error: String(error) }, `participant ${slot}: ${String(error)}`));
    const r: Running = { kind, worker, killed: false, exited: new Promise((resolve) => worker.once('exit', resolve)) };
    running.set(slot, r);
    watchExit(slot, d.role, r);
  } else {
    const child = forkTs(participantUrl, [JSON.stringify(d)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...parentDeathEnv() } });
    const r: Running = { kind, child, killed: false, exited: new Promise((resolve) => child.once('exit', resolve)) };
    running.set(slot, r);
    watchExit(slot, d.role, r);
  }
}

const tick = (ms = 2): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const row = (slot: number, field: number): number => Atomics.load(control, CONTROL.rows + slot * ROW_INTS + field);

let kills = 0;
const victims: { slot: number; kind: string; job: number }[] = [];
const started = performance.now();
const progress = new ProgressReporter('job-queue', 'jobs');
// The kills are planned over the first three quarters of the jobs: kill k (from 0) is due once
// mark(k) jobs are acked. The last quarter (at least 5 jobs a kill, as KILLS <= JOBS / 20) is room
// for kills that come late, so every planned kill is made while jobs remain.
const every = (KILLS === 0 ? JOBS : Math.floor((JOBS * 3) / 4)) / (KILLS + 1);
const mark = (k: number): number => Math.floor(every * (k + 1));
// Production runs this many jobs past the next kill's mark (so consumers are mid-job when it is
// reached), and no further: a kill made late moves the run on by no more than this.
const AHEAD = Math.max(4, Math.min(64, Math.floor(every / 2)));
try {
  const pace = (): void => {
    const budget = kills >= KILLS ? JOBS : Math.max(Atomics.load(control, CONTROL.budget), Math.min(JOBS, mark(kills) + AHEAD));
    Atomics.store(control, CONTROL.budget, budget);
    Atomics.notify(control, CONTROL.budget);
  };
  // No job before every consumer is up (the budget stays 0): the first ones to start would run past the first marks.
  let paced = false;
  start(0, 'thread', data(0, 'producer'));
  start(1, 'process', data(1, 'producer'));
  for (const c of CONSUMERS) start(c.slot, c.kind, data(c.slot, 'consumer'));
  demo.say(`2 producers and ${CONSUMERS.length} consumers run ${JOBS} jobs; killing ${KILLS} consumers mid-job${KILLS < KILLS_ASKED ? ` (--kills ${KILLS_ASKED} is more than jobs / 20)` : ''} ...`);
  // One kill whenever another `every` jobs are acked
  // (production waits for the kill, so a respawning consumer's start-up cannot let the run outpace the kills).
  const deadline = performance.now() + 30 * 60_000;
  for (;;) {
    const seen = queue.inspect();
    progress.update(seen.acked + seen.deadLettered, JOBS, performance.now() - started);
    if (seen.acked + seen.deadLettered >= JOBS || diedOnItsOwn !== null) break;
    if (performance.now() > deadline) throw new Error(`not done after 30 minutes: ${JSON.stringify(seen)}`);
    // Only while every consumer is up: the latency measured is the queue's, not a respawn's start-up.
    const allUp = CONSUMERS.every((c) => row(c.slot, ROW.ready) === 1);
    if (!paced) {
      if (allUp) {
        paced = true;
        pace();
      }
      await tick();
      continue;
    }
    // Everything allowed so far is done and no kill came of it (consumers were starting, or done before the kill was due): allow a few more jobs.
    if (kills < KILLS && allUp && seen.ready === 0 && seen.taken.length === 0 && seen.acked + seen.deadLettered >= Atomics.load(control, CONTROL.budget)) {
      Atomics.store(control, CONTROL.budget, Math.min(JOBS, Atomics.load(control, CONTROL.budget) + Math.min(16, AHEAD)));
    }
    if (kills < KILLS && allUp && seen.acked >= mark(kills)) {
      // Due: consumers done with their work stay mid-job until one is doomed (demos/lib/job-queue-participant.ts).
      Atomics.store(control, CONTROL.due, 1);
      const candidates = CONSUMERS.filter((c) => row(c.slot, ROW.state) === CONSUMER.WORKING);
      const victim = candidates[Math.floor(Math.random() * candidates.length)];
      const at = victim ? CONTROL.rows + victim.slot * ROW_INTS : -1;
      if (victim && Atomics.compareExchange(control, at + ROW.state, CONSUMER.WORKING, CONSUMER.DOOMED) === CONSUMER.WORKING) {
        const job = Atomics.load(control, at + ROW.job);
        Atomics.store(control, CONTROL.due, 0);
        Atomics.notify(control, CONTROL.due);
        const r = running.get(victim.slot)!;
        r.killed = true;
        killedAt[job] = monotonicMs();
        if (r.kind === 'process') r.child.kill('SIGKILL');
        else void r.worker.terminate();
        await r.exited;
        kills++;
        victims.push({ slot: victim.slot, kind: victim.kind, job });
        demo.event('killed', { consumer: victim.slot, kind: victim.kind, job }, `kill ${kills} of ${KILLS}: consumer ${victim.slot} (${victim.kind}) ${victim.kind === 'process' ? 'SIGKILLed' : 'terminated'} holding job ${job}`);
        start(victim.slot, victim.kind, data(victim.slot, 'consumer'));
        pace();
        continue;
      }
    }
    await tick();
  }
} finally {
  progress.done();
  Atomics.store(control, CONTROL.stop, 1);
  const ends = [...running.values()].map((r) => Promise.race([r.exited, tick(5_000)]));
  await Promise.all(ends);
  for (const r of running.values()) {
    if (r.kind === 'process' && r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    if (r.kind === 'thread') await r.worker.terminate();
  }
}
const elapsedMs = performance.now() - started;
const end = queue.inspect();
const dead = new Set(queue.deadLetters().map((d) => d.id));
let acked = 0;
let ackedTwice = 0;
let lost = 0;
for (let id = 1; id <= JOBS; id++) {
  const n = Atomics.load(acks, id);
  if (n >= 1) acked++;
  if (n > 1) ackedTwice++;
  if (n === 0 && !dead.has(id) && id <= end.enqueued) lost++;
}
// A run stopped early leaves jobs in the queue (waiting or held): those are not lost. (A finished run has none.)
lost = Math.max(0, lost - end.ready - end.taken.length);
const latencies: number[] = [];
const byKind: Record<string, number[]> = { thread: [], process: [] };
for (const v of victims) {
  if (retake[v.job]! > 0) {
    latencies.push(retake[v.job]! - killedAt[v.job]!);
    byKind[v.kind]!.push(retake[v.job]! - killedAt[v.job]!);
  }
}
latencies.sort((a, b) => a - b);
// A terminated thread's claim is released when the OS thread exits, after Node tore its environment down; a SIGKILLed process's at once.
const medianOf = (xs: number[]): number | null => (xs.length ? percentile(xs, 0.5) : null);
removeRegion();
const redeliveryMsMedian = latencies.length ? percentile(latencies, 0.5) : null;
const redeliveryMsP90 = latencies.length ? percentile(latencies, 0.9) : null;
// What went wrong, if anything: the summary line says it, and it is why the run FAILED.
const problems: string[] = diedOnItsOwn !== null ? [diedOnItsOwn] : [];
if (lost > 0) problems.push(`${lost} lost`);
if (ackedTwice > 0) problems.push(`${ackedTwice} acked twice`);
if (end.enqueued !== JOBS) problems.push(`${end.enqueued} of ${JOBS} jobs enqueued`);
if (acked + dead.size !== JOBS) problems.push(`${acked + dead.size} of ${JOBS} jobs acked or dead-lettered`);
if (kills !== KILLS) problems.push(`made ${kills} of ${KILLS} kills`);
if (end.redelivered < kills) problems.push(`${end.redelivered} redelivered after ${kills} kills`);
const ok = problems.length === 0;
demo.finish(
  ok,
  {
    jobs: JOBS,
    enqueued: end.enqueued,
    acked,
    redelivered: end.redelivered,
    deadLettered: dead.size,
    lost,
    ackedTwice,
    kills,
    plannedKills: KILLS,
    killedThreads: victims.filter((v) => v.kind === 'thread').length,
    killedProcesses: victims.filter((v) => v.kind === 'process').length,
    redeliveryMsMedian,
    redeliveryMsP90,
    redeliveriesTimed: latencies.length,
    redeliveryMsMedianSigkilledProcess: medianOf(byKind['process']!),
    redeliveryMsMedianTerminatedThread: medianOf(byKind['thread']!),
    elapsedMs: Math.round(elapsedMs),
    problems,
  },
  `job-queue: ${ok ? 'OK' : `FAILED (${problems.join('; ')})`}: ${end.enqueued} enqueued, ${acked} acked, ${end.redelivered} redelivered, ${dead.size} dead-lettered, ${lost} lost, ${ackedTwice} acked twice; ` +
    `${kills} of ${KILLS} planned consumers killed mid-job; kill -> retake median ${redeliveryMsMedian?.toFixed(2) ?? '-'} ms, p90 ${redeliveryMsP90?.toFixed(2) ?? '-'} ms; ${(elapsedMs / 1000).toFixed(1)} s`,
);
