// The lab's public shapes: its options, the events it reports, the snapshot
// the screen draws, its counters and the result of a command.
import type { MutexSnapshot } from '../locks/types.js';
import type { HeapStats } from '../heap/shared-heap.js';
import type { ParticipantKind, ParticipantRole } from './participant-loop.js';

export interface LabOptions {
  regionPath: string;
  /** At start: piscina pool threads (one long task each), plain worker threads, child processes. */
  pool: number;
  workers: number;
  processes: number;
  /** Chaos kills per second. */
  chaosRate: number;
  gapMs: number;
  stepMs: number;
  /** A live, running participant without progress for this long (ms) while nobody is parked or stopped is a hang. */
  hangMs: number;
  seed: number;
}

export const DEFAULT_LAB_OPTIONS: Omit<LabOptions, 'regionPath'> = {
  pool: 3,
  workers: 1,
  processes: 3,
  chaosRate: 2,
  gapMs: 4,
  stepMs: 0.3,
  hangMs: 5000,
  seed: 1,
};

export type LabEventKind =
  | 'started'
  | 'killed'
  | 'parked'
  | 'unparked'
  | 'stopped'
  | 'continued'
  | 'added'
  | 'respawned'
  | 'died'
  | 'abandoned'
  | 'repaired'
  | 'share-reclaimed'
  | 'job-redelivered'
  | 'audit-failed'
  | 'heap-recovered'
  | 'heap-failed'
  | 'queue-failed'
  | 'hang'
  | 'chaos'
  | 'refused'
  | 'final-check'
  | 'quit';

export interface LabEvent {
  /** ms since the lab started. */
  t: number;
  kind: LabEventKind;
  /** 1-based participant number, when the event is about one. */
  participant?: number;
  text: string;
  [field: string]: unknown;
}

export type ParticipantStatus = 'starting' | 'waiting' | 'critical' | 'parked' | 'stopped' | 'dead' | 'running' | 'exited';

export interface ParticipantView {
  number: number;
  kind: ParticipantKind;
  /** 'auditor': reads the ledger under the read lock; 'transfer': moves money under the write lock and the mutex. */
  role: ParticipantRole;
  generation: number;
  tid: number;
  pid: number;
  status: ParticipantStatus;
  ops: number;
  hung: boolean;
  ownsMutex: boolean;
}

export type InvariantView = 'holds' | 'repaired' | 'mid-transfer' | 'broken';

export interface LabSnapshot {
  uptimeMs: number;
  regionPath: string;
  participants: ParticipantView[];
  mutex: MutexSnapshot;
  ownerNumber: number | null;
  invariant: InvariantView;
  sum: number;
  total: number;
  txCount: number;
  ledgerRepairs: number;
  heap: HeapStats;
  liveRecords: number;
  chaos: { on: boolean; rate: number; kills: number };
  counters: LabCounters;
  /** The transfer-job queue. */
  queue: QueueView;
}

/** A transfer job in progress, as the lab shows it. */
export interface QueueJobView {
  id: number;
  /** Its current delivery (1 = first). */
  deliveries: number;
  /** The participant number holding it (null: a thread that is no live participant, e.g. one just killed). */
  holder: number | null;
  tid: number;
  /** False while its dead holder's claim is not yet given back (the next take does that). */
  alive: boolean;
}

/** The lab's transfer-job queue at one moment. */
export interface QueueView {
  /** Jobs waiting to be taken. */
  waiting: number;
  /** Jobs taken and not yet acked, with their holders. */
  inFlight: QueueJobView[];
  enqueued: number;
  acked: number;
  /** Jobs given back because their consumer died. */
  redelivered: number;
  /** Ids of the jobs in the dead-letter list (redelivered maxDeliveries times). */
  deadLetters: number[];
  /** Dead letters the lab removed (it keeps the newest 32 on show, so they never fill the queue). */
  deadLettersCleared: number;
  capacity: number;
  /** Set when the queue threw (a corrupt region, say): the error, with its name. The lab stopped touching the queue then, and the figures above are its last look. */
  failed: string | null;
}

export interface LabCounters {
  kills: number;
  abandonedObserved: number;
  repairs: number;
  heapRecoveries: number;
  /** Dead readers' (auditors') shares that writers reclaimed. */
  sharesReclaimed: number;
  /** Audits that found the invariant broken under a read share (0 unless exclusion failed). */
  auditFailures: number;
  /** Transfer jobs a participant took after their consumer died ("job N redelivered to #M"). */
  jobsRedelivered: number;
  /** Of those, jobs whose money had already moved (death between commit and ack): acked without moving it again. */
  jobsAlreadyApplied: number;
  respawns: number;
  hangs: number;
  /** Every repair found the invariant holding (and the final check too, after quit). */
  invariantHeld: boolean;
  logLost: number;
}

export type ParkPlace = 'ledger' | 'heap';

export interface CommandResult {
  ok: boolean;
  message: string;
}
