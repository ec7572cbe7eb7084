// The calling thread's kernel robust-futex list, shared with glibc.
//
// Linux walks a thread's robust list when the thread exits, however it exits
// (SIGKILL, worker.terminate(), process.exit()): every 32-bit word on the list
// whose low 30 bits still hold the thread's TID gets FUTEX_OWNER_DIED set (the
// TID cleared), and one waiter is woken if FUTEX_WAITERS was set. So a waiter
// learns of an owner's death from the kernel within microseconds instead of by
// polling /proc.
//
// set_robust_list(2) keeps one head per thread, and glibc registers one for
// every thread it creates. We never replace it (that would make every glibc
// PTHREAD_MUTEX_ROBUST mutex locked later on this thread unrobust): our nodes
// are linked into glibc's own list, in glibc's node format (pthread_mutex_t's
// __list, x86-64; checked against glibc at load by the native layer):
//
//   node + 0    32-bit robust-futex word: TID | FUTEX_WAITERS | FUTEX_OWNER_DIED
//   node + 8    ROBUST_NODE_TAG (marks the node as robust-shm's; a glibc mutex
//               has its __owner TID there, which is never this value)
//   node + 24   __prev: the previous list element (a node's +32, or the head)
//   node + 32   __next: the next list element; the kernel's list runs through
//               these, and the head's futex_offset (-32) leads back to the word
//   bytes 4..7 and 12..23 belong to the structure that embeds the node.
//
// API for any robust-futex word at a byte offset of a SharedArrayBuffer:
//   const node = robustNode(buffer, byteOffset)   // null without the native addon
//   const list = threadRobustList()               // this thread's list, or null
//   list.pending(node); <CAS the word to your TID>; list.link(node); list.clearPending();
//   ... own it ...
//   list.pending(node); list.unlink(node); <release the word>; list.clearPending();
// pending() sets list_op_pending, which covers a death between changing the
// word and (un)linking it: the kernel looks at that word too.
//
// Pointers are held in JS as doubles whose bit pattern is the address (an
// x86-64 user address is < 2^47: a denormal double, never NaN), so every
// pointer load and store is ONE 8-byte Float64Array access: no BigInt, and
// never a torn pointer the kernel could follow if we die mid-store.
import { native } from '../native/index.js';

export const ROBUST_NODE_BYTES = 40;
export const ROBUST_NODE_WORD = 0;
export const ROBUST_NODE_TAG_OFFSET = 8;
export const ROBUST_NODE_PREV = 24;
export const ROBUST_NODE_NEXT = 32;
/** The head's futex_offset: word address - list element address (glibc's, -32 on x86-64). */
export const ROBUST_FUTEX_OFFSET = -32;
/** 'RSHM': robust-shm's node tag at node + 8. */
export const ROBUST_NODE_TAG = 0x4d485352;
export const FUTEX_TID_MASK = 0x3fff_ffff;
/** Set by waiters before they sleep: the unlocker (or the kernel, at the owner's death) must wake one. */
export const FUTEX_WAITERS = 0x8000_0000 | 0;
/** Set by the kernel when the owner exits with the word on its robust list (the TID is cleared). */
export const FUTEX_OWNER_DIED = 0x4000_0000;

const scratch = new Float64Array(1);
const scratch32 = new Uint32Array(scratch.buffer);

/** The double whose bit pattern is `address`. */
function pointerOf(address: number): number {
  scratch32[0] = address % 0x1_0000_0000;
  scratch32[1] = Math.floor(address / 0x1_0000_0000);
  return scratch[0]!;
}

function addressOfPointer(pointer: number): number {
  scratch[0] = pointer;
  return scratch32[0]! + scratch32[1]! * 0x1_0000_0000;
}

/** One robust-futex word's list node, as this process sees it. */
export class RobustNode {
  readonly buffer: SharedArrayBuffer;
  readonly byteOffset: number;
  /** Int32Array over the whole buffer; `word` is the futex word's index in it. */
  readonly i32: Int32Array;
  readonly word: number;
  /** Float64Array over the whole buffer, and the indices of __prev and __next in it. */
  readonly f64: Float64Array;
  readonly prevIndex: number;
  readonly nextIndex: number;
  /** The list element (node + 32) as a pointer double. */
  readonly pointer: number;

  constructor(buffer: SharedArrayBuffer, byteOffset: number, address: number, i32?: Int32Array, f64?: Float64Array) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.i32 = i32 ?? new Int32Array(buffer, 0, buffer.byteLength >> 2);
    this.word = byteOffset >> 2;
    this.f64 = f64 ?? new Float64Array(buffer, 0, buffer.byteLength >> 3);
    this.prevIndex = (byteOffset + ROBUST_NODE_PREV) >> 3;
    this.nextIndex = (byteOffset + ROBUST_NODE_NEXT) >> 3;
    this.pointer = pointerOf(address + ROBUST_NODE_NEXT);
  }
}

/** Write a fresh node (free word, tag, unlinked) at byteOffset. Not for a node someone may hold. */
export function initRobustNode(buffer: SharedArrayBuffer, byteOffset: number): void {
  checkNodePlacement(buffer, byteOffset);
  const i32 = new Int32Array(buffer, byteOffset, ROBUST_NODE_BYTES / 4);
  Atomics.store(i32, ROBUST_NODE_WORD / 4, 0);
  Atomics.store(i32, ROBUST_NODE_TAG_OFFSET / 4, ROBUST_NODE_TAG);
  new Float64Array(buffer, byteOffset + ROBUST_NODE_PREV, 2).fill(0);
}

/**
 * The node at byteOffset (8-byte aligned, ROBUST_NODE_BYTES inside the
 * buffer), or null when the native addon is unavailable (no robust list: only
 * /proc polling can then tell that an owner died). Pass views over the whole
 * buffer to share them.
 */
export function robustNode(buffer: SharedArrayBuffer, byteOffset: number, views?: { i32: Int32Array; f64: Float64Array }): RobustNode | null {
  checkNodePlacement(buffer, byteOffset);
  let address: number;
  try {
    address = native().addressOf(buffer, byteOffset);
  } catch {
    return null;
  }
  return new RobustNode(buffer, byteOffset, address, views?.i32, views?.f64);
}

function checkNodePlacement(buffer: SharedArrayBuffer, byteOffset: number): void {
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0 || byteOffset + ROBUST_NODE_BYTES > buffer.byteLength) {
    throw new RangeError(`a robust-list node needs 8-byte alignment and ${ROBUST_NODE_BYTES} bytes inside the buffer, got offset ${byteOffset}`);
  }
}

/**
 * The calling thread's robust list. Every method is a few plain 8-byte stores
 * when the neighbours are the head or robust-shm nodes this thread linked; a
 * glibc mutex as a neighbour is patched by the native layer (which first
 * checks that it is on this thread's list).
 */
/** Index of list_op_pending in ThreadRobustList.head (hot paths may store a node's pointer there directly). */
export const PENDING = 3;

export class ThreadRobustList {
  /**
   * The head, as 8-byte slots: [0] the head's __prev slot (glibc's
   * robust_prev), [1] list, [2] futex_offset, [3] list_op_pending. Only the
   * owning thread writes it; a hot path may set and clear [PENDING] itself
   * instead of calling pending()/clearPending().
   */
  readonly head: Float64Array;
  private readonly headPointer: number;
  /** True when the head is glibc's (the usual case); false when the thread had none and got ours. */
  readonly sharedWithGlibc: boolean;
  /**
   * Nodes this thread has linked and not yet unlinked (several handles may
   * name one node: matched by pointer), as a stack: `top` is the newest, the
   * older ones are in `below`. The common case, one lock held at a time,
   * then costs two field stores instead of an array push and pop.
   */
  private top: RobustNode | null = null;
  private readonly below: RobustNode[] = [];

  constructor() {
    const { head, address, shared } = native().robustListHead(ROBUST_FUTEX_OFFSET);
    this.head = new Float64Array(head);
    this.headPointer = pointerOf(address);
    this.sharedWithGlibc = shared;
  }

  /** Announce the node whose word we are about to take or release (list_op_pending). */
  pending(node: RobustNode): void {
    this.head[PENDING] = node.pointer;
  }

  clearPending(): void {
    this.head[PENDING] = 0;
  }

  /** Push a node whose word we now own to the front of the list (glibc's ENQUEUE_MUTEX). */
  link(node: RobustNode): void {
    const head = this.head;
    const first = head[1]!;
    // The old first element's __prev now names us (glibc reads it on its dequeue).
    if (first === this.headPointer) head[0] = node.pointer;
    else this.setPrev(first, node.pointer);
    node.f64[node.nextIndex] = first;
    node.f64[node.prevIndex] = this.headPointer;
    // Last: the kernel may walk the list from here on, and the node is complete.
    head[1] = node.pointer;
    if (this.top !== null) this.below.push(this.top);
    this.top = node;
  }

  /**
   * Take a node out of the list, wherever it is (glibc's DEQUEUE_MUTEX). The
   * node's own __prev/__next are left as they are: nothing reads them once
   * no list element points at the node (glibc clears them; that is tidiness).
   */
  unlink(node: RobustNode): void {
    const top = this.top;
    if (top === null) return;
    // -1: it is `top`; else its index in `below`.
    let at = -1;
    if (top !== node && top.pointer !== node.pointer) {
      const below = this.below;
      at = below.length - 1;
      while (at >= 0 && below[at]!.pointer !== node.pointer) at--;
      if (at < 0) return;
    }
    const next = node.f64[node.nextIndex]!;
    const prev = node.f64[node.prevIndex]!;
    if (next === this.headPointer) this.head[0] = prev;
    else this.setPrev(next, prev);
    if (prev === this.headPointer) this.head[1] = next;
    else this.setNext(prev, next);
    if (at < 0) this.top = this.below.length > 0 ? this.below.pop()! : null;
    else this.below.splice(at, 1);
  }

  /** How many nodes this thread has linked (glibc's own entries not counted). */
  get linkedCount(): number {
    return this.top === null ? 0 : 1 + this.below.length;
  }

  private find(pointer: number): RobustNode | undefined {
    const top = this.top;
    if (top === null) return undefined;
    if (top.pointer === pointer) return top;
    const below = this.below;
    for (let i = below.length - 1; i >= 0; i--) if (below[i]!.pointer === pointer) return below[i];
    return undefined;
  }

  private setPrev(element: number, value: number): void {
    const node = this.find(element);
    if (node) node.f64[node.prevIndex] = value;
    else native().robustListPatch(addressOfPointer(element), 1, addressOfPointer(value));
  }

  private setNext(element: number, value: number): void {
    const node = this.find(element);
    if (node) node.f64[node.nextIndex] = value;
    else native().robustListPatch(addressOfPointer(element), 0, addressOfPointer(value));
  }
}

const KEY = Symbol.for('robust-shm.threadRobustList.v2');
const FALLBACK_KEY = Symbol.for('robust-shm.robustListFallback.v1');

/**
 * How a thread learns that a lock owner died.
 * - 'robust-list': robust-shm's words are on the threads' kernel robust lists. When an owner thread
 *   exits, however it exits, the kernel marks its words OWNER_DIED and wakes a waiter.
 * - 'fallback': the kernel refused the robust-list syscalls (qemu-user answers set_robust_list and
 *   get_robust_list with ENOSYS; seccomp sandboxes may refuse them with ENOSYS or EPERM), or the
 *   native addon is not loaded. Nothing is linked. A blocked waiter checks the owner recorded in the
 *   lock word (its TID, then its /proc start time) once per bounded wait slice
 *   (`livenessIntervalMs`), so an owner's death is still reported as 'abandoned', after up to one
 *   slice instead of at once. It is the same check robust-shm always uses for an owner that is not
 *   on a robust list, so the outcomes are the same; only the detection latency differs.
 */
export type DeathDetection = 'robust-list' | 'fallback';

/** Which DeathDetection serves the calling thread, and why it is the fallback when it is. */
export interface DeathDetectionReport {
  /** See DeathDetection. */
  path: DeathDetection;
  /** Why the fallback serves (e.g. `get_robust_list failed: ENOSYS (Function not implemented)`); null on the robust list. */
  reason: string | null;
}

// The errors of a kernel (or sandbox) that refuses the robust-list syscalls. Anything else the
// native layer reports (a glibc head laid out unlike glibc's, a RangeError) is a bug worth seeing.
const REFUSED = new Set(['ENOSYS', 'EPERM', 'EACCES']);

/**
 * This thread's list, or null when robust-shm runs its fallback (see DeathDetection): the native
 * addon is unavailable, or the kernel refuses the robust-list syscalls. Kept on globalThis (one per
 * isolate, i.e. per thread) so that two copies of this module loaded in one thread still share one
 * mirror of the list.
 */
export function threadRobustList(): ThreadRobustList | null {
  const holder = globalThis as { [KEY]?: ThreadRobustList | null; [FALLBACK_KEY]?: string };
  if (holder[KEY] === undefined) {
    try {
      holder[KEY] = new ThreadRobustList();
    } catch (error) {
      // A head we cannot share safely is an error worth seeing, not a silent downgrade.
      if (error instanceof RangeError) throw error;
      const { code, syscall } = error as { code?: unknown; syscall?: unknown };
      const refused = (syscall === 'get_robust_list' || syscall === 'set_robust_list') && REFUSED.has(String(code));
      if (syscall !== undefined && !refused) throw error;
      holder[KEY] = null;
      holder[FALLBACK_KEY] = (error as Error).message;
    }
  }
  return holder[KEY];
}

/** How the calling thread learns of a lock owner's death (see DeathDetection); asks the kernel on first use. */
export function deathDetection(): DeathDetectionReport {
  const list = threadRobustList();
  if (list) return { path: 'robust-list', reason: null };
  return { path: 'fallback', reason: (globalThis as { [FALLBACK_KEY]?: string })[FALLBACK_KEY] ?? null };
}
