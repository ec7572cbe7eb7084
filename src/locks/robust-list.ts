// The calling thread's kernel robust-futex list, kept from TypeScript.
//
// Linux walks a thread's robust list when the thread exits, however it exits
// (SIGKILL, worker.terminate(), process.exit()): every lock word on the list
// whose low 30 bits still hold the thread's TID gets FUTEX_OWNER_DIED set (the
// TID cleared), and one waiter is woken if FUTEX_WAITERS was set. Our lock
// word's low half has exactly that format, so a waiter learns of the death
// from the kernel within microseconds instead of by polling /proc.
//
// The list is singly linked through one 8-byte entry inside each mutex
// (`next`, an address valid in the owner's process only). list_op_pending
// covers the window in which we are between taking/releasing the word and
// linking/unlinking it, so a death there is handled too.
import { native } from '../native/index.js';
import { ROBUST_ENTRY_OFFSET } from './mutex-layout.js';

export interface RobustEntry {
  /** A BigInt64Array over the mutex's buffer, and the index of the entry word in it. */
  readonly words: BigInt64Array;
  readonly index: number;
  /** The entry's address in this process. */
  readonly address: bigint;
}

export class ThreadRobustList {
  // head[0] = list.next, head[1] = futex_offset, head[2] = list_op_pending
  private readonly head: BigInt64Array;
  private readonly headAddress: bigint;
  /**
   * Linked entries, a mirror of the kernel's list: the last element is
   * head.next. Every `next` value we store comes from here (cached BigInts):
   * stores of a BigInt are cheap, loads allocate one.
   */
  private readonly held: RobustEntry[] = [];

  constructor() {
    const { head, address } = native().robustListHead(-ROBUST_ENTRY_OFFSET);
    this.head = new BigInt64Array(head);
    this.headAddress = BigInt(address);
  }

  /** Announce the entry we are about to take or release (list_op_pending; one 8-byte store, never torn). */
  pending(entry: RobustEntry): void {
    this.head[2] = entry.address;
  }

  clearPending(): void {
    this.head[2] = 0n;
  }

  /** Push the entry of a mutex we now own: entry.next = head.next, then head.next = entry. */
  link(entry: RobustEntry): void {
    const top = this.held.length > 0 ? this.held[this.held.length - 1]!.address : this.headAddress;
    entry.words[entry.index] = top;
    this.head[0] = entry.address;
    this.held.push(entry);
  }

  /** Remove the entry of a mutex we are releasing (matched by address: several handles may share one mutex). */
  unlink(entry: RobustEntry): void {
    const held = this.held;
    let at = held.length - 1;
    while (at >= 0 && held[at]!.address !== entry.address) at--;
    if (at < 0) return;
    const below = at > 0 ? held[at - 1]!.address : this.headAddress;
    if (at === held.length - 1) {
      this.head[0] = below;
      held.pop();
    } else {
      const above = held[at + 1]!;
      above.words[above.index] = below;
      held.splice(at, 1);
    }
  }
}

const KEY = Symbol.for('robust-shm.threadRobustList');

/**
 * This thread's list, or null when the native addon is unavailable. Kept on
 * globalThis (one per isolate, i.e. per thread) so that two copies of this
 * module loaded in one thread still share the one list the kernel knows.
 */
export function threadRobustList(): ThreadRobustList | null {
  const holder = globalThis as { [KEY]?: ThreadRobustList | null };
  if (holder[KEY] === undefined) {
    try {
      holder[KEY] = new ThreadRobustList();
    } catch {
      holder[KEY] = null;
    }
  }
  return holder[KEY];
}

export function robustEntry(buffer: SharedArrayBuffer, words: BigInt64Array, mutexByteOffset: number): RobustEntry | null {
  try {
    const offset = mutexByteOffset + ROBUST_ENTRY_OFFSET;
    return { words, index: offset / 8, address: BigInt(native().addressOf(buffer, offset)) };
  } catch {
    return null;
  }
}
