// Everything a test starts or creates is registered here and reaped in
// afterEach, also when the test fails: children are SIGKILLed (and SIGCONTed
// first, so a stopped one can die) and awaited, workers terminated, temp files removed.
import { afterEach } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:worker_threads';
import { forkTs, startTsWorker } from '../../tools/ts-spawn.js';
import { awaitMessage } from '../../src/workers/await-message.js';

export interface TestResources {
  /** Fork a TypeScript fixture (tracked). */
  fork(entry: URL, args?: string[]): ChildProcess;
  /** Start a TypeScript fixture in a worker thread (tracked). */
  worker(entry: URL, data?: unknown): Worker;
  /** A unique path under /dev/shm (or the temp dir), removed after the test with its `.lock`. */
  path(label: string): string;
  track(child: ChildProcess): ChildProcess;
}

let counter = 0;

export function useResources(): TestResources {
  const children = new Set<ChildProcess>();
  const workers = new Set<Worker>();
  const paths = new Set<string>();
  afterEach(async () => {
    const exits: Promise<unknown>[] = [];
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        exits.push(new Promise((resolve) => child.once('exit', resolve)));
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
    }
    for (const worker of workers) exits.push(worker.terminate());
    await Promise.all(exits);
    children.clear();
    workers.clear();
    for (const path of paths) {
      rmSync(path, { force: true, recursive: true });
      rmSync(`${path}.lock`, { force: true, recursive: true });
    }
    paths.clear();
  });
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const resources: TestResources = {
    track(child) {
      children.add(child);
      return child;
    },
    fork(entry, args = []) {
      return resources.track(forkTs(entry, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    },
    worker(entry, data) {
      const worker = startTsWorker(entry, data);
      workers.add(worker);
      return worker;
    },
    path(label) {
      const path = join(base, `robust-shm-test-${process.pid}-${++counter}-${label}`);
      paths.add(path);
      return path;
    },
  };
  return resources;
}

/** The next IPC message from a child that satisfies `match`; rejects if the child exits first. */
export function nextMessage<T = Record<string, unknown>>(child: ChildProcess, match: (m: T) => boolean = () => true): Promise<T> {
  return awaitMessage(child, match, (code, signal) => new Error(`child ${child.pid} exited (code ${code}, signal ${signal}) before sending the expected message`)).answer;
}

/** Resolves with the exit code/signal once the child has been reaped. */
export function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}
