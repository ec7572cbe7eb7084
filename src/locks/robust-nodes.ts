// The robust-futex words of the reader-writer lock and the semaphore, seen as
// nodes of the calling thread's kernel robust list (glibc's node format:
// word, `__prev` at + 24, `__next` at + 32).
//
// Interim: until the general robust-list API (mutex v2) lands, no node is
// linked and waiters fall back to reading /proc between bounded sleeps, as the
// threads-only mode of the mutex does.

export interface RobustNode {
  /** Byte offset of the robust word in the lock's buffer. */
  readonly wordOffset: number;
}

export interface NodeList {
  /** list_op_pending = node: a death from here until clearPending() is the kernel's to report. */
  pending(node: RobustNode): void;
  clearPending(): void;
  link(node: RobustNode): void;
  unlink(node: RobustNode): void;
}

/** The calling thread's robust list for nodes in `buffer`, or null (no addon: /proc fallback). */
export function nodeList(_buffer: SharedArrayBuffer): NodeList | null {
  return null;
}

export function robustNode(_buffer: SharedArrayBuffer, wordOffset: number): RobustNode {
  return { wordOffset };
}
