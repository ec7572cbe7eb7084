// The lab monitor: the event list and its listeners, the counters, the
// shared-memory log turned into events (abandonments, ledger repairs, heap
// recoveries, dead readers' shares reclaimed, transfer jobs redelivered), audit failures, hang detection (a live participant that stopped making
// progress), the ledger invariant as the screen shows it, and the final
// check after quit. It watches; the controller acts.
import type { MutexSnapshot } from '../locks/types.js';
import { PHASE_IDLE } from '../workers/ledger.js';
import { inLedgerCriticalSection } from '../workers/ledger-critical-section.js';
import type { LabObjects } from './lab-objects.js';
import type { LogEntry } from './lab-log.js';
import { boardRow, parkedWhere, type Participant } from './lab-participant.js';
import type { InvariantView, LabCounters, LabEvent, LabEventKind } from './lab-types.js';
import { HeapRecords } from './records.js';

export class LabMonitor {
  readonly events: LabEvent[] = [];
  readonly counters: LabCounters = { kills: 0, abandonedObserved: 0, repairs: 0, heapRecoveries: 0, sharesReclaimed: 0, auditFailures: 0, jobsRedelivered: 0, jobsAlreadyApplied: 0, respawns: 0, hangs: 0, invariantHeld: true, logLost: 0 };
  readonly started = performance.now();
  /** Something on screen may have changed since takeChanged() last said so. */
  changed = true;
  /** Transactions the ledger recorded, read after quit's final check. */
  finalTxCount: number | null = null;
  /** Job transfers the ledger committed, and jobs it was asked to commit a second time (must be 0), read by the final check. */
  finalJobs: { applied: number; appliedTwice: number } | null = null;
  private readonly listeners = new Set<(event: LabEvent) => void>();
  private logNext = 0;
  private lastRepairAt = -Infinity;
  /** The ledger's transaction records in the heap, for the final check's repair. */
  private readonly records: HeapRecords;

  constructor(
    private readonly objects: LabObjects,
    /** The controller's participant slots (the same array: the monitor reads it, never changes it). */
    private readonly participants: readonly (Participant | undefined)[],
    private readonly hangMs: number,
  ) {
    this.records = new HeapRecords(objects.heap, () => {});
  }

  onEvent(listener: (event: LabEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True (once) when something on screen may have changed since the last call. */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  emit(kind: LabEventKind, text: string, p?: Participant, fields: Record<string, unknown> = {}): void {
    const event: LabEvent = { t: Math.round(performance.now() - this.started), kind, text, ...fields };
    if (p) event.participant = p.number;
    this.events.push(event);
    if (this.events.length > 5000) this.events.splice(0, 1000);
    this.changed = true;
    for (const listener of this.listeners) listener(event);
  }

  // ---- the shared-memory log ----------------------------------------------------

  readLog(): void {
    const { entries, next, lost } = this.objects.log.readSince(this.logNext);
    this.logNext = next;
    if (lost > 0) this.counters.logLost += lost;
    for (const e of entries) this.logEvent(e);
  }

  private logEvent(e: LogEntry): void {
    const p = this.participants[e.slot];
    const who = `#${e.slot + 1}`;
    // When the participant wrote the entry (ms since the lab started, on the
    // shared clock): the event's own `t` is when the next tick read the log,
    // up to 50 ms later, too coarse for a detection latency.
    const sawAtMs = Math.round((e.at - (performance.timeOrigin + this.started)) * 10) / 10;
    switch (e.kind) {
      case 'abandoned':
        this.counters.abandonedObserved++;
        this.emit('abandoned', `${who} (tid ${e.tid}) got the mutex ABANDONED by dead tid ${e.prevTid}`, p, { tid: e.tid, prevTid: e.prevTid, prevPid: e.prevPid, sawAtMs });
        break;
      case 'repaired':
        this.counters.repairs++;
        this.lastRepairAt = performance.now();
        if (!e.invariantHeld) this.counters.invariantHeld = false;
        this.emit(
          'repaired',
          `${who} repaired the ledger: ${e.rolled === 'none' ? 'nothing in flight' : `tx ${e.txId} rolled ${e.rolled}`}; sum ${e.sum}, ${e.invariantHeld ? 'invariant holds' : 'INVARIANT BROKEN'}`,
          p,
          { tid: e.tid, rolled: e.rolled, txId: e.txId, sum: e.sum, invariantHeld: e.invariantHeld, sawAtMs },
        );
        break;
      case 'heapRecovered':
        this.counters.heapRecoveries++;
        this.emit('heap-recovered', `${who} heap: ERROR_POSSIBLE_DEADLOCK, ran recover(): rolled ${e.rolled}`, p, { rolled: e.rolled, sawAtMs });
        break;
      case 'sharesReclaimed':
        this.counters.sharesReclaimed += e.sum;
        this.emit('share-reclaimed', `${who} (tid ${e.tid}) writes: reader died, share reclaimed (${e.sum})`, p, { tid: e.tid, shares: e.sum, sawAtMs });
        break;
      case 'jobRedelivered':
        this.counters.jobsRedelivered++;
        if (e.alreadyApplied) this.counters.jobsAlreadyApplied++;
        // sawAtMs is the take: when the job came back to a live consumer.
        this.emit(
          'job-redelivered',
          `job ${e.txId} redelivered to ${who} (tid ${e.prevTid} died)${e.alreadyApplied ? ': moved already, acked only' : `, delivery ${e.sum}`}`,
          p,
          { jobId: e.txId, deliveries: e.sum, prevTid: e.prevTid, prevPid: e.prevPid, alreadyApplied: e.alreadyApplied, tid: e.tid, sawAtMs },
        );
        break;
      case 'heapFailed':
        this.emit('heap-failed', `${who}: heap recover() failed; records switched off`, p);
        break;
    }
  }

  // ---- progress -------------------------------------------------------------------

  /** `jobsGone`: the lab's queue failed, so its transferers wait for jobs that will not come; that is not a hang. */
  watchProgress(jobsGone = false): void {
    const now = performance.now();
    const blocked = this.participants.some((p) => p !== undefined && p.alive && (p.stopped || parkedWhere(this.objects, p, boardRow(this.objects, p)) !== null));
    for (const p of this.participants) {
      if (!p || !p.alive || p.dying) continue;
      const row = boardRow(this.objects, p);
      if (row.generation !== p.generation) continue;
      if (row.auditFailures > p.auditFailures) {
        this.counters.auditFailures += row.auditFailures - p.auditFailures;
        p.auditFailures = row.auditFailures;
        this.counters.invariantHeld = false;
        this.emit('audit-failed', `auditor #${p.number} found the ledger INVARIANT BROKEN under its read share`, p, { auditFailures: row.auditFailures });
      }
      if (row.ops !== p.lastOps) {
        if (p.lastOps !== -1 || row.ops > 0) this.changed = true;
        p.lastOps = row.ops;
        p.lastProgressAt = now;
        p.hung = false;
        continue;
      }
      // Waiting behind a stopped or parked holder is not a hang; neither is being stopped or parked, nor a transferer's wait for jobs from a failed queue.
      if (blocked || p.stopped || (jobsGone && p.role === 'transfer')) {
        p.lastProgressAt = now;
        continue;
      }
      const limit = row.state === 'starting' ? Math.max(20_000, this.hangMs) : this.hangMs;
      if (!p.hung && now - p.lastProgressAt > limit) {
        p.hung = true;
        this.counters.hangs++;
        this.emit('hang', `#${p.number} made no progress for ${Math.round((now - p.lastProgressAt) / 1000)} s while ${row.state}`, p, { state: row.state });
      }
    }
  }

  /** After a SIGCONT: nobody's silence while something was stopped counts towards a hang. */
  restartProgressClocks(): void {
    const now = performance.now();
    for (const p of this.participants) if (p) p.lastProgressAt = now;
  }

  // ---- the ledger -------------------------------------------------------------------

  /** The invariant as the screen shows it ('repaired' for 3 s after a repair). */
  invariantView(m: MutexSnapshot, invariantHolds: boolean, ledgerPhase: number): InvariantView {
    if (ledgerPhase !== PHASE_IDLE) return m.state === 'owner-dead' ? 'broken' : 'mid-transfer';
    if (!invariantHolds) return 'broken';
    return performance.now() - this.lastRepairAt < 3000 ? 'repaired' : 'holds';
  }

  /** After quit: take the ledger mutex once more (repairing if the last kill orphaned it) and check the invariant. */
  finalCheck(): void {
    const { mutex, ledger } = this.objects;
    const section = inLedgerCriticalSection(
      mutex,
      ledger,
      (repair) => {
        if (repair) {
          this.counters.abandonedObserved++;
          this.counters.repairs++;
        }
        const inv = ledger.checkInvariant();
        const stats = ledger.stats();
        this.finalTxCount = stats.txCount;
        this.finalJobs = { applied: stats.jobsApplied, appliedTwice: stats.jobsAppliedTwice };
        if (!inv.holds) this.counters.invariantHeld = false;
        this.emit('final-check', `final check${repair ? ` (mutex abandoned, rolled ${repair.rolled})` : ''}: sum ${inv.sum} of ${inv.total}, invariant ${inv.holds ? 'holds' : 'BROKEN'}`, undefined, {
          sum: inv.sum,
          total: inv.total,
          holds: inv.holds,
          abandoned: repair !== null,
        });
      },
      { timeoutMs: 2000, records: this.records },
    );
    if (!section.owned) {
      this.counters.invariantHeld = false;
      this.emit('final-check', `final check: could not take the mutex (${section.status})`);
    }
  }
}
