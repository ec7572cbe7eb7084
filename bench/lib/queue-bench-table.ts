// The shared table of bench/queue.ts and its participants (in the bench's
// region file; BullMQ participants map it too, only to report to the bench).

/** Int32 indices. */
export const T = {
  /** Jobs consumed (acked / completed) in the throughput phase. */
  consumed: 0,
  stop: 1,
  /** A holder took its job: the job number (ours: id; BullMQ: data.n). */
  holderTook: 2,
  /** The retaker is armed (about to wait for a job) and waiting: 1 armed, 2 waiting. */
  retaker: 3,
  /** Deliveries of the blocked job to someone else while its consumer was blocked (ours, BullMQ). */
  oursDouble: 4,
  bullDouble: 5,
  /** A blocker took its job (1) and finished blocking (2) (ours, BullMQ). */
  oursBlocker: 6,
  bullBlocker: 7,
  /** Participants up. */
  ready: 8,
  never: 9,
  /** BullMQ blocker's job completion failed after the block (its lock was gone). */
  bullBlockerLostLock: 10,
} as const;
export const T_INTS = 64;
/** Float64 index (of the table viewed as Float64Array) of the retake time of round r: RETAKE_F64 + r. */
export const RETAKE_F64 = 32;
export const MAX_ROUNDS = 200;
export const TABLE_BYTES = (RETAKE_F64 + MAX_ROUNDS) * 8;

export type QueueBenchRole =
  | 'ours-consumer'
  | 'ours-holder'
  | 'ours-retaker'
  | 'ours-blocker'
  | 'ours-blocked-watcher'
  | 'bull-consumer'
  | 'bull-holder'
  | 'bull-retaker'
  | 'bull-blocker'
  | 'bull-blocked-watcher';

export interface QueueBenchData {
  role: QueueBenchRole;
  path: string;
  queueOffset: number;
  tableOffset: number;
  redisPort?: number;
  bullQueue?: string;
  /** BullMQ lockDuration / stalledInterval (ms); undefined = BullMQ's defaults. */
  lockMs?: number;
  blockMs?: number;
}

/** CLOCK_MONOTONIC in ms: comparable across processes of one host. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
