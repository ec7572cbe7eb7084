// Waiting for one answer from a child process or a worker thread: its next
// message that matches, unless it exits first. Both listeners are removed
// whichever way it ends, so a long-lived channel does not collect them.
import type { EventEmitter } from 'node:events';

export interface AwaitedMessage<T> {
  answer: Promise<T>;
  /** Stop waiting and reject `answer` with `error` (e.g. the send that was to cause the answer failed). */
  fail(error: Error): void;
}

/**
 * The next message from `port` for which `match` is true. If the port exits
 * first, `answer` rejects with `exitError(code, signal)` (signal: child
 * processes only).
 */
export function awaitMessage<T>(
  /** A ChildProcess or a Worker. */
  port: EventEmitter,
  match: (message: T) => boolean,
  exitError: (code: number | null, signal: NodeJS.Signals | null) => Error,
): AwaitedMessage<T> {
  let fail: (error: Error) => void = () => {};
  const answer = new Promise<T>((resolve, reject) => {
    const onMessage = (message: unknown) => {
      if (!match(message as T)) return;
      cleanup();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal?: NodeJS.Signals | null) => {
      cleanup();
      reject(exitError(code, signal ?? null));
    };
    const cleanup = () => {
      port.off('message', onMessage);
      port.off('exit', onExit);
    };
    fail = (error) => {
      cleanup();
      reject(error);
    };
    port.on('message', onMessage);
    port.once('exit', onExit);
  });
  return { answer, fail };
}
