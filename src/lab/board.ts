// The participant board: one row of shared Int32 words per participant slot,
// written only by the participant in that slot (so no lock is needed), read
// by the controller to draw the screen and to notice a participant that
// stopped making progress.
import type { NamedObjectHost } from '../locks/types.js';
import { RobustShmError } from '../errors.js';

export const MAX_PARTICIPANTS = 16;
const ROW_WORDS = 8;
const FIRST = 8;
const MAGIC = 0x42524421; // 'BRD!'
const R = { generation: 0, state: 1, ops: 2, tid: 3, pid: 4, exit: 5, auditFailures: 6 } as const;

/** What a participant is doing, as it last wrote. (Parked comes from the ParkingLot; dead/stopped from the controller.) */
export const BoardState = { empty: 0, starting: 1, waiting: 2, critical: 3, outside: 4, exited: 5 } as const;
export type BoardStateName = keyof typeof BoardState;
const NAMES: BoardStateName[] = ['empty', 'starting', 'waiting', 'critical', 'outside', 'exited'];

export interface BoardRow {
  generation: number;
  state: BoardStateName;
  ops: number;
  tid: number;
  pid: number;
  /** An auditor's audits that found the ledger invariant broken under its read share (never, unless exclusion fails). */
  auditFailures: number;
}

export class ParticipantBoard {
  static readonly BYTES = (FIRST + MAX_PARTICIPANTS * ROW_WORDS) * 4;
  private readonly i32: Int32Array;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.i32 = new Int32Array(buffer, byteOffset, ParticipantBoard.BYTES / 4);
    if (Atomics.load(this.i32, 0) !== MAGIC) throw new RobustShmError('ERR_LAB_BOARD_LAYOUT', `no participant board at byte offset ${byteOffset}`);
  }

  static open(region: NamedObjectHost, name: string): ParticipantBoard {
    const { offset } = region.findOrCreate(`board:${name}`, ParticipantBoard.BYTES, (o) => {
      Atomics.store(new Int32Array(region.buffer, o, 1), 0, MAGIC);
    });
    return new ParticipantBoard(region.buffer, offset);
  }

  private row(slot: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= MAX_PARTICIPANTS) throw new RangeError(`participant slot must be 0..${MAX_PARTICIPANTS - 1}`);
    return FIRST + slot * ROW_WORDS;
  }

  // ---- controller ----
  /** Before starting a participant in `slot`: a fresh row for this generation. */
  reset(slot: number, generation: number): void {
    const r = this.row(slot);
    for (const k of [R.ops, R.tid, R.pid, R.exit, R.auditFailures]) Atomics.store(this.i32, r + k, 0);
    Atomics.store(this.i32, r + R.state, BoardState.starting);
    Atomics.store(this.i32, r + R.generation, generation);
  }

  /** Ask the participant to leave its loop at the next turn, outside the critical section. */
  requestExit(slot: number): void {
    Atomics.store(this.i32, this.row(slot) + R.exit, 1);
  }

  read(slot: number): BoardRow {
    const r = this.row(slot);
    const i = this.i32;
    return {
      generation: Atomics.load(i, r + R.generation),
      state: NAMES[Atomics.load(i, r + R.state)] ?? 'empty',
      ops: Atomics.load(i, r + R.ops),
      tid: Atomics.load(i, r + R.tid),
      pid: Atomics.load(i, r + R.pid),
      auditFailures: Atomics.load(i, r + R.auditFailures),
    };
  }

  // ---- participant ----
  hello(slot: number, tid: number, pid: number): void {
    const r = this.row(slot);
    Atomics.store(this.i32, r + R.tid, tid);
    Atomics.store(this.i32, r + R.pid, pid);
  }

  setState(slot: number, state: BoardStateName): void {
    Atomics.store(this.i32, this.row(slot) + R.state, BoardState[state]);
  }

  countOp(slot: number): void {
    Atomics.add(this.i32, this.row(slot) + R.ops, 1);
  }

  countAuditFailure(slot: number): void {
    Atomics.add(this.i32, this.row(slot) + R.auditFailures, 1);
  }

  exitRequested(slot: number): boolean {
    return Atomics.load(this.i32, this.row(slot) + R.exit) !== 0;
  }
}
