// One participant of demos/job-queue.ts, as a worker thread or a child
// process (participantSide): a producer enqueues its share of the jobs; a
// consumer takes jobs, "works" on each (a short sleep), acks it and counts
// the ack in the shared ledger.
//
// Kills land mid-job and nowhere else: a consumer announces WORKING with the
// job's id; the demo dooms it by CAS WORKING -> DOOMED before it kills; the
// consumer moves WORKING -> ACKING before it acks, and one that finds itself
// doomed parks until it dies. So every kill is of a consumer holding a job it
// has not acked, and "acked twice" / "lost" are facts about the queue, not
// about where a SIGKILL happened to land. While a kill is due (CONTROL.due) a
// consumer done with its work stays WORKING instead of acking, so the demo
// finds one mid-job whenever a kill is due, however short the work.
import { RobustQueue } from '../../src/queue/robust-queue.js';
import { participantSide } from '../../src/workers/participant-side.js';
import { dieWithParent } from '../../src/workers/parent-death.js';

import { CONSUMER, CONTROL, ROW, ROW_INTS, monotonicMs, type JobQueueParticipantData } from './job-queue-table.js';

// A process participant dies with the demo, even when the demo is SIGKILLed (a thread ends with its process anyway).
dieWithParent();
const { data, buffer } = await participantSide<JobQueueParticipantData>();
const queue = RobustQueue.at(buffer, data.queueOffset);
const control = new Int32Array(buffer, data.controlOffset, CONTROL.rows + 64 * ROW_INTS);
const row = CONTROL.rows + data.slot * ROW_INTS;
const { currentThreadIdentity } = await import('../../src/locks/owner.js');
Atomics.store(control, row + ROW.tid, currentThreadIdentity().tid);
Atomics.store(control, row + ROW.ready, 1);

if (data.role === 'producer') {
  const filler = 'x'.repeat(data.payloadBytes);
  for (;;) {
    const ticket = Atomics.add(control, CONTROL.tickets, 1) + 1;
    if (ticket > data.jobs) break;
    // Paced by the demo (its notify does not cross processes: a short timed wait).
    while (ticket > Atomics.load(control, CONTROL.budget)) Atomics.wait(control, CONTROL.budget, Atomics.load(control, CONTROL.budget), 5);
    queue.enqueue(`${ticket}:${filler}`.slice(0, data.payloadBytes));
  }
  Atomics.store(control, row + ROW.done, 1);
} else {
  const acks = new Int32Array(buffer, data.acksOffset, data.jobs + 1);
  const retake = new Float64Array(buffer, data.retakeOffset, data.jobs + 1);
  while (Atomics.load(control, CONTROL.stop) === 0) {
    const job = queue.take({ timeoutMs: 100 });
    if (job === null) continue;
    if (job.redelivered && retake[job.id] === 0) retake[job.id] = monotonicMs();
    Atomics.store(control, row + ROW.job, job.id);
    Atomics.store(control, row + ROW.state, CONSUMER.WORKING);
    // The work: a sleep (terminable, so worker.terminate() ends it at once).
    Atomics.wait(control, row + ROW.never, 0, Math.random() * data.workMs);
    // A kill is due: stay mid-job until the demo has doomed one of the consumers (a short timed wait: its notify does not cross processes).
    while (Atomics.load(control, CONTROL.due) === 1 && Atomics.load(control, row + ROW.state) === CONSUMER.WORKING && Atomics.load(control, CONTROL.stop) === 0) {
      Atomics.wait(control, CONTROL.due, 1, 1);
    }
    if (Atomics.compareExchange(control, row + ROW.state, CONSUMER.WORKING, CONSUMER.ACKING) !== CONSUMER.WORKING) {
      // Doomed: the demo is about to kill us holding this job.
      for (;;) Atomics.wait(control, row + ROW.never, 0, 60_000);
    }
    job.ack();
    Atomics.add(acks, job.id, 1);
    Atomics.store(control, row + ROW.state, CONSUMER.IDLE);
  }
  Atomics.store(control, row + ROW.done, 1);
}
