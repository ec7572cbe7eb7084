// The intent journal: a dozen Int32 words in the heap header that say which
// operation is in flight and which size word it is about to change, so that
// recover() can finish or undo an operation whose thread or process died
// inside the heap lock.
//
// Why one or two slots are enough: every structural change of the heap is a
// single store of one block's size word (heap-blocks.ts writes any new header
// inside free space first, where it is inert, and then flips the one word that
// makes it part of the chain). A slot records (block, word before, word
// after) just before that store. Everything else an operation touches (free
// lists, bitmap, prev sizes, counters) is derived and rebuilt by recover().
//
// Policy, per operation:
//   ALLOC            roll BACK: the caller never received the block.
//   FREE             roll FORWARD: the caller asked for the block to go, and
//                    its own bookkeeping already forgot it.
//   REALLOC_IN_PLACE FORWARD once the size word flipped, else BACK (the
//                    payload up to the smaller size is untouched either way).
//   REALLOC_MOVE     BACK (free the new block, keep the old) until phase
//                    COPIED; from then FORWARD (the old block is freed).
// The journal words are written with plain stores and the size word with
// Atomics.store (a full fence), so whoever reads the size word changed also
// reads the slot that describes the change. Beginning and ending an intent
// need no fence of their own: the next fence (the committing store, or the
// heap lock's release) publishes them, and a recoverer only reads the journal
// after taking the lock with a compare-and-swap. A thread that dies has no
// stores left in flight: the kernel drained them when it stopped running.
import { B, BUSY, H } from './heap-layout.js';

export const JournalOp = {
  NONE: 0,
  ALLOC: 1,
  FREE: 2,
  REALLOC_IN_PLACE: 3,
  REALLOC_MOVE: 4,
} as const;
export type JournalOpCode = (typeof JournalOp)[keyof typeof JournalOp];

export const JOURNAL_OP_NAMES = ['none', 'alloc', 'free', 'realloc-in-place', 'realloc-move'] as const;
export type JournalOpName = (typeof JOURNAL_OP_NAMES)[number];

/** Word indices of the journal, relative to the heap's first word. */
export const J = {
  op: H.journal + 0,
  phase: H.journal + 1,
  aBlock: H.journal + 2,
  aOld: H.journal + 3,
  aNew: H.journal + 4,
  bBlock: H.journal + 5,
  bOld: H.journal + 6,
  bNew: H.journal + 7,
  /** The requested size the operation asks for (alloc/realloc). */
  arg: H.journal + 8,
  /** The block's requested size before a realloc in place. */
  oldRequested: H.journal + 9,
  /** Completed intents (diagnostic). */
  sequence: H.journal + 10,
} as const;

/** REALLOC_MOVE: the contents are in the new block; from here the move rolls forward. */
export const PHASE_COPIED = 2;

export type JournalSlot = 'a' | 'b';

export function beginIntent(h: Int32Array, op: JournalOpCode, arg: number): void {
  h[J.aBlock] = 0;
  h[J.bBlock] = 0;
  h[J.phase] = 0;
  h[J.arg] = arg;
  h[J.op] = op;
}

/** Record the size-word change about to be made. Call right before the Atomics.store that makes it. */
export function recordChange(h: Int32Array, slot: JournalSlot, block: number, before: number, after: number): void {
  if (slot === 'a') {
    h[J.aOld] = before;
    h[J.aNew] = after;
    h[J.aBlock] = block;
  } else {
    h[J.bOld] = before;
    h[J.bNew] = after;
    h[J.bBlock] = block;
  }
}

export function setPhase(h: Int32Array, phase: number): void {
  Atomics.store(h, J.phase, phase);
}

export function endIntent(h: Int32Array): void {
  h[J.op] = JournalOp.NONE;
  h[J.sequence] = (h[J.sequence]! + 1) | 0;
}

export function pendingOp(h: Int32Array): JournalOpName {
  return JOURNAL_OP_NAMES[Atomics.load(h, J.op)] ?? 'none';
}

export interface JournalReplay {
  /** The operation that was in flight when its owner died ('none': it had finished, or not begun). */
  op: JournalOpName;
  /** 'back': undone; 'forward': completed; 'none': there was nothing to do. */
  rolled: 'back' | 'forward' | 'none';
  /** The block (heap-relative) whose size word was repaired, if any. */
  block: number;
}

/**
 * Undo or finish the interrupted operation's one size-word change. Leaves the
 * derived structures alone: the caller rebuilds them from a walk afterwards.
 * `inBounds` rejects a journal that points outside the block area (a journal
 * scribbled over by a stray write must not make recovery scribble further).
 */
export function replayJournal(h: Int32Array, inBounds: (block: number) => boolean): JournalReplay {
  const opCode = Atomics.load(h, J.op);
  const op = JOURNAL_OP_NAMES[opCode] ?? 'none';
  const result: JournalReplay = { op, rolled: 'none', block: 0 };
  const undo = (blockAt: number, oldAt: number, newAt: number): boolean => {
    const block = h[blockAt]!;
    if (block === 0 || !inBounds(block)) return false;
    const w = (block >> 2) + B.sizeFlags;
    if (Atomics.load(h, w) !== h[newAt]) return false;
    Atomics.store(h, w, h[oldAt]!);
    result.block = block;
    return true;
  };
  const redo = (blockAt: number, oldAt: number, newAt: number): boolean => {
    const block = h[blockAt]!;
    if (block === 0 || !inBounds(block)) return false;
    const w = (block >> 2) + B.sizeFlags;
    if (Atomics.load(h, w) !== h[oldAt]) return false;
    Atomics.store(h, w, h[newAt]!);
    result.block = block;
    return true;
  };
  switch (opCode) {
    case JournalOp.ALLOC:
      if (undo(J.aBlock, J.aOld, J.aNew)) result.rolled = 'back';
      break;
    case JournalOp.FREE:
      // A free that already coalesced its block into a neighbour left a word
      // without BUSY at the slot: redo() sees it differs from the old word and
      // leaves it. Either way the block ends up free.
      redo(J.aBlock, J.aOld, J.aNew);
      result.rolled = 'forward';
      result.block = h[J.aBlock]!;
      break;
    case JournalOp.REALLOC_IN_PLACE: {
      const block = h[J.aBlock]!;
      if (block === 0 || !inBounds(block)) break;
      const w = block >> 2;
      if (Atomics.load(h, w + B.sizeFlags) === h[J.aNew] && h[J.aNew] !== h[J.aOld]) {
        h[w + B.requested] = h[J.arg]!;
        result.rolled = 'forward';
      } else {
        h[w + B.requested] = h[J.oldRequested]!;
        result.rolled = 'back';
      }
      result.block = block;
      break;
    }
    case JournalOp.REALLOC_MOVE:
      if (Atomics.load(h, J.phase) >= PHASE_COPIED) {
        redo(J.bBlock, J.bOld, J.bNew);
        const moved = h[J.aBlock]!;
        if (moved !== 0 && inBounds(moved) && (h[(moved >> 2) + B.sizeFlags]! & BUSY) !== 0) {
          h[(moved >> 2) + B.requested] = h[J.arg]!;
        }
        result.rolled = 'forward';
        result.block = h[J.bBlock]!;
      } else {
        undo(J.aBlock, J.aOld, J.aNew);
        result.rolled = 'back';
      }
      break;
    default:
      break;
  }
  Atomics.store(h, J.op, JournalOp.NONE);
  return result;
}
