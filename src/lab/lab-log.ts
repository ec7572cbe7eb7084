// The lab's shared-memory event log: what participants saw inside the
// critical section (abandoned, repaired, heap recovered, a transfer job
// redelivered to them after its consumer died), read by the
// controller at its own pace.
//
// Why shared memory and not IPC/postMessage: a participant can be killed a
// microsecond after it repaired the ledger; a message still in its outgoing
// pipe dies with it, an entry already in the mapped file does not. Entries are
// appended only while the ledger mutex is held, so there is exactly one
// writer at a time; the count word is published last, so a writer killed
// halfway leaves no half-written entry visible (the next owner simply
// overwrites that slot).
//
// Layout (Int32): word 0 = entries ever appended; entries of ENTRY_WORDS from word 16.
// The region places named objects 8-byte aligned, so each entry's time is a Float64.
import type { NamedObjectHost } from '../locks/types.js';
import { RobustShmError } from '../errors.js';

export const LOG_CAPACITY = 256;
const ENTRY_WORDS = 16;
const FIRST = 16;
const MAGIC = 0x4c4f4721; // 'LOG!'
const W_COUNT = 0;
const W_MAGIC = 1;
/** The entry's time, a Float64 over words 12-13 (entries start 8-byte aligned: FIRST and ENTRY_WORDS are even). */
const AT_WORD = 12;
const W_ALREADY_APPLIED = 11;

export const LogKind = { abandoned: 1, repaired: 2, heapRecovered: 3, heapFailed: 4, sharesReclaimed: 5, jobRedelivered: 6 } as const;
export type LogKindName = keyof typeof LogKind;
const KIND_NAMES: Record<number, LogKindName> = { 1: 'abandoned', 2: 'repaired', 3: 'heapRecovered', 4: 'heapFailed', 5: 'sharesReclaimed', 6: 'jobRedelivered' };

export const ROLLED_CODES = { none: 0, back: 1, forward: 2 } as const;
const ROLLED_NAMES = ['none', 'back', 'forward'] as const;

export interface LogEntry {
  seq: number;
  kind: LogKindName;
  /** Participant slot that wrote it, and its generation. */
  slot: number;
  generation: number;
  tid: number;
  pid: number;
  /** abandoned: the dead owner; jobRedelivered: the consumer that died holding the job. */
  prevTid: number;
  prevPid: number;
  /** repaired: how; heapRecovered: the heap journal's roll. */
  rolled: 'none' | 'back' | 'forward';
  /** repaired: the ledger sum after repair, and whether the invariant held; sharesReclaimed: how many dead readers' shares; jobRedelivered: the job's deliveries. */
  sum: number;
  invariantHeld: boolean;
  /** repaired: the transaction rolled; jobRedelivered: the job's id. */
  txId: number;
  /** jobRedelivered: the job's money had moved already (the consumer died after the commit, before its ack): not moved again. */
  alreadyApplied: boolean;
  /** When it was appended: ms since the epoch, sub-millisecond (performance.timeOrigin + performance.now(), comparable across processes). */
  at: number;
}

/** An entry to append: `at` defaults to now (a jobRedelivered entry gives the moment of its take), `alreadyApplied` to false. */
export type LogEntryInput = Omit<LogEntry, 'seq' | 'at' | 'alreadyApplied'> & { at?: number; alreadyApplied?: boolean };

/** A clock that threads and processes share: wall-clock origin + monotonic offset, in ms with sub-ms digits. */
export function sharedClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export class LabLog {
  static readonly BYTES = (FIRST + LOG_CAPACITY * ENTRY_WORDS) * 4;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;

  private constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.i32 = new Int32Array(buffer, byteOffset, LabLog.BYTES / 4);
    this.f64 = new Float64Array(buffer, byteOffset, LabLog.BYTES / 8);
    if (Atomics.load(this.i32, W_MAGIC) !== MAGIC) throw new RobustShmError('ERR_LAB_LOG_LAYOUT', `no lab log at byte offset ${byteOffset}`);
  }

  static open(region: NamedObjectHost, name: string): LabLog {
    const { offset } = region.findOrCreate(`log:${name}`, LabLog.BYTES, (o) => {
      Atomics.store(new Int32Array(region.buffer, o, 2), W_MAGIC, MAGIC);
    });
    return new LabLog(region.buffer, offset);
  }

  /** Append (caller holds the ledger mutex). */
  append(e: LogEntryInput): void {
    const count = Atomics.load(this.i32, W_COUNT);
    const base = FIRST + (count % LOG_CAPACITY) * ENTRY_WORDS;
    const i = this.i32;
    i[base] = LogKind[e.kind];
    i[base + 1] = e.slot;
    i[base + 2] = e.generation;
    i[base + 3] = e.tid;
    i[base + 4] = e.pid;
    i[base + 5] = e.prevTid;
    i[base + 6] = e.prevPid;
    i[base + 7] = ROLLED_CODES[e.rolled];
    i[base + 8] = e.sum;
    i[base + 9] = e.invariantHeld ? 1 : 0;
    i[base + 10] = e.txId;
    i[base + W_ALREADY_APPLIED] = e.alreadyApplied ? 1 : 0;
    this.f64[(base + AT_WORD) / 2] = e.at ?? sharedClockMs();
    Atomics.store(i, W_COUNT, count + 1); // publish last
  }

  get count(): number {
    return Atomics.load(this.i32, W_COUNT);
  }

  /**
   * Entries with seq >= from (at most the last LOG_CAPACITY). `lost` counts
   * entries overwritten before this reader got to them.
   */
  readSince(from: number): { entries: LogEntry[]; next: number; lost: number } {
    const count = this.count;
    const start = Math.max(from, count - LOG_CAPACITY);
    const entries: LogEntry[] = [];
    const i = this.i32;
    for (let seq = start; seq < count; seq++) {
      const base = FIRST + (seq % LOG_CAPACITY) * ENTRY_WORDS;
      entries.push({
        seq,
        kind: KIND_NAMES[i[base]!] ?? 'repaired',
        slot: i[base + 1]!,
        generation: i[base + 2]!,
        tid: i[base + 3]!,
        pid: i[base + 4]!,
        prevTid: i[base + 5]!,
        prevPid: i[base + 6]!,
        rolled: ROLLED_NAMES[i[base + 7]!] ?? 'none',
        sum: i[base + 8]!,
        invariantHeld: i[base + 9] === 1,
        txId: i[base + 10]!,
        alreadyApplied: i[base + W_ALREADY_APPLIED] === 1,
        at: this.f64[(base + AT_WORD) / 2]!,
      });
    }
    return { entries, next: count, lost: start - from };
  }
}
