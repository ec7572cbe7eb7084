// The lab's job producer: the controller's own loop keeps the transfer-job
// queue topped up (every tick), so the participants always find work and the
// kill menu stays what it was (the producer is the lab itself, which nothing
// in the lab kills; a producer's death mid-enqueue is the queue's own tests'
// and the job-queue demo's subject).
import type { RobustQueue } from '../queue/robust-queue.js';
import { randomStream } from './participant-loop.js';
import { encodeTransferJob } from './transfer-job.js';

/** Jobs the producer keeps waiting in the queue: enough for every participant between two ticks. */
export const LAB_JOBS_WAITING = 64;
/**
 * Dead letters the lab keeps on show; older ones are removed (and counted).
 * Each holds a slot for good: under chaos a long run would otherwise fill the
 * queue with them (a 300-kill soak dead-letters about 40 jobs) and starve it.
 */
export const LAB_DEAD_LETTERS_KEPT = 32;

/** Tops the lab's queue up with random transfer jobs. */
export class LabJobProducer {
  private readonly random: () => number;
  /** Jobs this producer enqueued. */
  enqueued = 0;
  /** Dead letters removed to keep the queue from filling with them (see LAB_DEAD_LETTERS_KEPT). */
  deadLettersCleared = 0;

  constructor(
    private readonly queue: RobustQueue,
    private readonly accounts: number,
    seed: number,
  ) {
    this.random = randomStream(seed * 2246822519 + 1);
  }

  /**
   * Remove the oldest dead letters beyond LAB_DEAD_LETTERS_KEPT, then enqueue
   * jobs until the ready count reaches LAB_JOBS_WAITING or the queue is full;
   * returns how many it enqueued. `queue` is the queue's inspect() now.
   */
  feed(queue: { ready: number; deadLetters: readonly number[] }): number {
    const surplus = queue.deadLetters.length - LAB_DEAD_LETTERS_KEPT;
    if (surplus > 0) this.deadLettersCleared += this.queue.removeDeadLetters(queue.deadLetters.slice(0, surplus));
    let added = 0;
    for (let n = queue.ready; n < LAB_JOBS_WAITING; n++) {
      const from = this.random() % this.accounts;
      let to = this.random() % (this.accounts - 1);
      if (to >= from) to++;
      const amount = 1 + (this.random() % 100);
      if (this.queue.tryEnqueue(encodeTransferJob({ from, to, amount })) === 'full') break;
      // Counted one by one: a throw from the next enqueue (a corrupt queue) must not lose these from the count.
      added++;
      this.enqueued++;
    }
    return added;
  }
}
