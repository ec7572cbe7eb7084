// Parent side of demos/lib/mapped-writer.ts: start it, talk to it, kill it, reap it.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { forkTs } from '../../tools/ts-spawn.js';

export type WriterRequest =
  /** With `object` (region mode) the pattern goes into that named object and `offset` is ignored. */
  | { op: 'write'; offset: number; length: number; seed: number; object?: string }
  | { op: 'read'; offset: number; length: number; seed: number }
  | { op: 'touch'; offset: number; length: number }
  | { op: 'exit' };

export type WriterReply =
  | { op: 'ready'; pid: number }
  | { op: 'written'; offset: number; length: number }
  | { op: 'checked'; mismatches: number }
  | { op: 'touched'; sum: number }
  | { op: 'error'; message: string };

export const mappedWriterUrl = new URL('./mapped-writer.ts', import.meta.url);

export interface MappedWriter {
  child: ChildProcess;
  pid: number;
  /** Send a request and wait for its one reply. */
  request(message: WriterRequest): Promise<WriterReply>;
  /** SIGKILL and wait until it is reaped; resolves with the signal that ended it. */
  kill(): Promise<NodeJS.Signals | null>;
  /** Ask it to process.exit(0) (no msync, no cleanup) and wait for it. */
  exit(): Promise<number | null>;
}

function exited(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve([child.exitCode, child.signalCode]);
  return once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * Start a child that maps `path` (size bytes) MAP_SHARED, as a plain file or as
 * a region it creates with openRegion; resolves when its view is mapped.
 */
export async function startMappedWriter(path: string, size: number, kind: 'file' | 'region' = 'file'): Promise<MappedWriter> {
  const child = forkTs(mappedWriterUrl, [path, String(size), kind], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const replies: WriterReply[] = [];
  const waiting: Array<(reply: WriterReply) => void> = [];
  child.on('message', (m) => {
    const next = waiting.shift();
    if (next) next(m as WriterReply);
    else replies.push(m as WriterReply);
  });
  const nextReply = () =>
    new Promise<WriterReply>((resolve, reject) => {
      const queued = replies.shift();
      if (queued) return resolve(queued);
      const onExit = (code: number | null, signal: string | null) => reject(new Error(`mapped-writer ${child.pid} exited (${code ?? signal}) before replying`));
      child.once('exit', onExit);
      waiting.push((reply) => {
        child.off('exit', onExit);
        resolve(reply);
      });
    });
  const ready = await nextReply().catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  if (ready.op !== 'ready') {
    child.kill('SIGKILL');
    throw new Error(`mapped-writer: expected ready, got ${JSON.stringify(ready)}`);
  }
  return {
    child,
    pid: ready.pid,
    request(message) {
      const reply = nextReply();
      child.send(message);
      return reply;
    },
    async kill() {
      const done = exited(child);
      child.kill('SIGKILL');
      return (await done)[1];
    },
    async exit() {
      const done = exited(child);
      child.send({ op: 'exit' } satisfies WriterRequest);
      return (await done)[0];
    },
  };
}
