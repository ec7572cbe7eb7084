// What the lab page draws, as one JSON-able object: the controller's snapshot
// plus the facts the terminal screen leaves out (the rwlock's writer, readers
// and reclaimed shares, which lock each participant holds or waits for),
// every tid mapped to its participant number.
import type { LabController, LabSnapshot, ParticipantView } from '../controller.js';
import type { RwLockSnapshot } from '../../locks/robust-rwlock.js';

/** A lock a participant holds or waits for, in words. */
export type LockName = 'mutex' | 'rwlock write' | 'rwlock read';

/** One participant card. */
export interface PageParticipant extends ParticipantView {
  holds: LockName[];
  waitsFor: LockName | null;
}

/** A thread in a lock's list, with its participant number when it is one of ours. */
export interface PageHolder {
  number: number | null;
  tid: number;
  alive: boolean | null;
}

/** The lab page's picture of the lab at one moment. */
export interface PageView {
  uptimeS: number;
  regionPath: string;
  participants: PageParticipant[];
  mutex: { state: string; owner: PageHolder | null; depth: number; waiters: number; waitersExact: boolean; timesAbandoned: number; policy: string };
  rwlock: { state: string; writer: PageHolder | null; readers: PageHolder[]; waitingWriters: number; waitingReaders: number; sharesReclaimed: number; timesAbandoned: number };
  /** The lab has no semaphore today; the panel says so instead of showing nothing. */
  semaphore: null;
  heap: LabSnapshot['heap'] & { state: 'poisoned' | 'recovered' | 'never poisoned'; liveRecords: number };
  ledger: { sum: number; total: number; invariant: LabSnapshot['invariant']; txCount: number; repairs: number };
  chaos: LabSnapshot['chaos'];
  counters: LabSnapshot['counters'];
  /** The transfer-job queue: waiting, in flight with holders, redelivered, dead letters. */
  queue: LabSnapshot['queue'];
}

/** Build the page's view of `lab` now. */
export function pageView(lab: LabController): PageView {
  const s = lab.snapshot();
  const rw: RwLockSnapshot = lab.objects.rw.inspect();
  const byTid = new Map<number, number>();
  for (const p of s.participants) if (p.tid !== 0 && p.status !== 'dead' && p.status !== 'exited') byTid.set(p.tid, p.number);
  const holder = (tid: number, alive: boolean | null): PageHolder => ({ number: byTid.get(tid) ?? null, tid, alive });
  const readerTids = new Set(rw.readers.map((r) => r.tid));
  const participants = s.participants.map((p): PageParticipant => {
    const holds: LockName[] = [];
    const live = p.status !== 'dead' && p.status !== 'exited' && p.tid !== 0;
    if (live && rw.writer?.tid === p.tid) holds.push('rwlock write');
    if (live && readerTids.has(p.tid)) holds.push('rwlock read');
    if (p.ownsMutex) holds.push('mutex');
    let waitsFor: LockName | null = null;
    if (p.status === 'waiting') waitsFor = p.role === 'auditor' ? 'rwlock read' : holds.includes('rwlock write') ? 'mutex' : 'rwlock write';
    return { ...p, holds, waitsFor };
  });
  const m = s.mutex;
  return {
    uptimeS: Math.floor(s.uptimeMs / 1000),
    regionPath: s.regionPath,
    participants,
    mutex: {
      state: m.state,
      owner: m.owner ? { number: s.ownerNumber, tid: m.owner.tid, alive: m.ownerAlive } : null,
      depth: m.depth,
      waiters: m.waiters,
      waitersExact: m.waitersExact,
      timesAbandoned: m.timesAbandoned,
      policy: m.policy,
    },
    rwlock: {
      state: rw.state,
      writer: rw.writer ? holder(rw.writer.tid, rw.writer.alive) : null,
      readers: rw.readers.map((r) => holder(r.tid, r.alive)),
      waitingWriters: rw.waitingWriters,
      waitingReaders: rw.waitingReaders.length,
      sharesReclaimed: rw.sharesReclaimed,
      timesAbandoned: rw.timesAbandoned,
    },
    semaphore: null,
    heap: { ...s.heap, state: s.heap.poisoned ? 'poisoned' : s.heap.recoveries > 0 ? 'recovered' : 'never poisoned', liveRecords: s.liveRecords },
    ledger: { sum: s.sum, total: s.total, invariant: s.invariant, txCount: s.txCount, repairs: s.ledgerRepairs },
    chaos: s.chaos,
    counters: s.counters,
    queue: s.queue,
  };
}
