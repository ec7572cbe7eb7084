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
  | 'audit-failed'
  | 'heap-recovered'
  | 'heap-failed'
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
