// The shared control table of demos/job-queue.ts and its participants.
import type { ParticipantMemory } from '../../src/workers/participant-side.js';

export const CONSUMER = { IDLE: 0, WORKING: 1, DOOMED: 2, ACKING: 3 } as const;
/** Int32 fields of a participant's row in the control table. */
export const ROW = { state: 0, job: 1, tid: 2, ready: 3, never: 4, done: 5 } as const;
export const ROW_INTS = 8;
/**
 * Int32 words of the control table before the rows: stop; tickets (producers
 * take job numbers from it); budget (producers enqueue job numbers up to it:
 * the demo paces production so the kills spread over the run); due (1 while a
 * kill is due: a consumer done with its job's work stays WORKING, its job not
 * acked, until the demo has doomed one of them, so each kill is made when due).
 */
export const CONTROL = { stop: 0, tickets: 1, budget: 2, due: 3, rows: 8 } as const;

export interface JobQueueParticipantData extends ParticipantMemory {
  role: 'producer' | 'consumer';
  slot: number;
  queueOffset: number;
  controlOffset: number;
  /** Int32 per job id: acks counted. */
  acksOffset: number;
  /** Float64 per job id: when (ms, CLOCK_MONOTONIC) a redelivered job was taken again (first retake only). */
  retakeOffset: number;
  jobs: number;
  payloadBytes: number;
  /** Consumer: how long each job's work takes at most (ms). */
  workMs: number;
}

export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

