// Waiting for one answer from a child process or a worker thread: its next
// message that matches, unless it exits first. A channel carries one
// 'message' and one 'exit' listener however many answers are awaited on it
// (a test or a lab may have dozens of requests outstanding on one worker;
// a listener each tripped Node's leak warning at eleven), and both are
// removed once nothing is awaited.
import type { EventEmitter } from 'node:events';

export interface AwaitedMessage<T> {
  answer: Promise<T>;
  /** Stop waiting and reject `answer` with `error` (e.g. the send that was to cause the answer failed). */
  fail(error: Error): void;
}

interface Awaiting {
  /** Offered every message; settles the answer when it matches. */
  message(message: unknown): void;
  exit(code: number | null, signal: NodeJS.Signals | null): void;
}

interface Channel {
  awaiting: Set<Awaiting>;
  detach(): void;
}

const channels = new WeakMap<EventEmitter, Channel>();

function channelOf(port: EventEmitter): Channel {
  const known = channels.get(port);
  if (known) return known;
  const awaiting = new Set<Awaiting>();
  // Copies: a settled waiter leaves the set while it is being walked.
  const onMessage = (message: unknown) => {
    for (const a of [...awaiting]) a.message(message);
  };
  const onExit = (code: number | null, signal?: NodeJS.Signals | null) => {
    for (const a of [...awaiting]) a.exit(code, signal ?? null);
  };
  const channel: Channel = {
    awaiting,
    detach() {
      port.off('message', onMessage);
      port.off('exit', onExit);
      channels.delete(port);
    },
  };
  port.on('message', onMessage);
  port.on('exit', onExit);
  channels.set(port, channel);
  return channel;
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
    const channel = channelOf(port);
    const done = () => {
      channel.awaiting.delete(awaiting);
      if (channel.awaiting.size === 0) channel.detach();
    };
    const awaiting: Awaiting = {
      message(message) {
        if (!match(message as T)) return;
        done();
        resolve(message as T);
      },
      exit(code, signal) {
        done();
        reject(exitError(code, signal));
      },
    };
    fail = (error) => {
      if (!channel.awaiting.has(awaiting)) return;
      done();
      reject(error);
    };
    channel.awaiting.add(awaiting);
  });
  return { answer, fail };
}
