// The controller's record of one participant slot (the live participant of
// the slot is `handle`, its incarnation `generation`), and the questions about
// it that are answered from shared memory: its board row, and where it is
// parked.
import type { BoardRow } from './board.js';
import type { LabObjects } from './lab-objects.js';
import type { ParkPlace } from './lab-types.js';
import type { ParticipantKind, ParticipantRole } from './participant-loop.js';
import type { ExitInfo, ParticipantHandle } from './participants.js';

export class Participant {
  handle: ParticipantHandle | undefined;
  generation = 0;
  stopped = false;
  dying = false;
  /**
   * A kill() of this incarnation has not returned yet. Its exit can be seen
   * (dying cleared) before then: a pool thread's kill also waits for the OS
   * thread to vanish. Whoever issued the kill respawns it, if anyone does.
   */
  killing = false;
  exit: ExitInfo | undefined;
  lastOps = -1;
  /** Audit failures of this generation already reported (an auditor's board row counts them). */
  auditFailures = 0;
  lastProgressAt = 0;
  hung = false;
  constructor(
    readonly slot: number,
    readonly kind: ParticipantKind,
    readonly role: ParticipantRole = 'transfer',
  ) {}
  get number(): number {
    return this.slot + 1;
  }
  get alive(): boolean {
    return this.handle?.alive === true;
  }
}

/** The participant's row on the board (what its loop last published). */
export function boardRow(objects: LabObjects, p: Participant): BoardRow {
  return objects.board.read(p.slot);
}

/** Where participant p is parked right now (a dead parker's stale PARKED does not count: the tid must be its own). */
export function parkedWhere(objects: LabObjects, p: Participant, row: BoardRow): ParkPlace | null {
  if (row.tid === 0) return null;
  if (objects.lot.parked(p.slot)?.tid === row.tid) return 'ledger';
  if (objects.heapLot.parked(p.slot)?.tid === row.tid) return 'heap';
  return null;
}
