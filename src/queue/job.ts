// A job as a consumer holds it: a copy of its payload and the claim on its
// slot, which only ack() or release() (or the consumer thread's death) ends.

/** The consumer thread that died holding a job (`Job.previousOwner`). */
export interface DeadConsumer {
  /** OS thread id of the consumer that died with the job. */
  tid: number;
  /** Its process id. */
  pid: number;
}

/** What a Job needs from its queue (RobustQueue implements it). */
export interface JobHolder {
  /** @internal */
  ackJob(slot: number, id: number): void;
  /** @internal */
  releaseJob(slot: number, id: number): void;
}

const decoder = new TextDecoder();

/**
 * A job taken from a RobustQueue. The calling thread holds it until ack()
 * (done: the slot is freed) or release() (put it back for another delivery);
 * if the thread dies first, by any means, the job goes back to the queue at
 * once with `deliveries` counted.
 */
export class Job {
  /** The payload, copied out of the queue (yours to keep). */
  readonly data: Uint8Array;
  /** The job's id: unique in its queue, increasing in enqueue order. */
  readonly id: number;
  /** How many times it has been taken, this time included (1 on first delivery). */
  readonly deliveries: number;
  /** The consumer that died holding it, when the last delivery ended in a death. */
  readonly previousOwner: DeadConsumer | undefined;
  private readonly holder: JobHolder;
  private readonly slot: number;
  private settled = false;

  /** @internal */
  constructor(holder: JobHolder, slot: number, id: number, deliveries: number, data: Uint8Array, previousOwner: DeadConsumer | undefined) {
    this.holder = holder;
    this.slot = slot;
    this.id = id;
    this.deliveries = deliveries;
    this.data = data;
    this.previousOwner = previousOwner;
  }

  /** True when this is not the job's first delivery (a consumer died with it or released it). */
  get redelivered(): boolean {
    return this.deliveries > 1;
  }

  /** The payload decoded as UTF-8. */
  text(): string {
    return decoder.decode(this.data);
  }

  /** True once ack() or release() returned. */
  get done(): boolean {
    return this.settled;
  }

  /**
   * The job is done: free its slot. Throws JobNotHeldError (ERROR_NOT_OWNER)
   * when the calling thread no longer holds it, and LeaseExpiredError
   * (ERR_LEASE_EXPIRED) when the queue has a lease that ran out and the job
   * went to another consumer too.
   */
  ack(): void {
    try {
      this.holder.ackJob(this.slot, this.id);
    } catch (error) {
      // The lease ran out: the slot was freed all the same, there is nothing left to release.
      if ((error as { code?: unknown }).code === 'ERR_LEASE_EXPIRED') this.settled = true;
      throw error;
    }
    this.settled = true;
  }

  /**
   * Put the job back at the end of the queue for another delivery (counted:
   * at maxDeliveries it moves to the dead-letter list instead).
   */
  release(): void {
    this.holder.releaseJob(this.slot, this.id);
    this.settled = true;
  }
}
