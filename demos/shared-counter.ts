// N child processes and M worker threads each add 1 to one word of a mapped
// region `adds` times with Atomics.add: the total is exact, because the
// atomics of every thread of every process act on the same physical memory.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDemo, intOption, usageError } from './lib/cli.js';
import { openRegion } from '../src/shm/region.js';
import { native } from '../src/native/index.js';
import { Fleet } from '../src/workers/fleet.js';
import { startTsWorker, tsFork } from '../tools/ts-spawn.js';
import type { Worker } from 'node:worker_threads';

const demo = startDemo({
  name: 'shared-counter',
  summary: 'N child processes and M worker threads each Atomics.add 1 to one word of a memory-mapped region `adds` times; the total must be exact.',
  options: { processes: { type: 'string' }, threads: { type: 'string' }, adds: { type: 'string' } },
  descriptions: { processes: 'child processes', threads: 'worker threads', adds: 'additions per participant' },
});
const processes = intOption('processes', demo.values.processes, 2, 0, 64);
const threads = intOption('threads', demo.values.threads, 2, 0, 64);
const adds = intOption('adds', demo.values.adds, 1_000_000, 0, 100_000_000);
if (processes + threads === 0) {
  usageError('need at least one process or thread');
}

const path = join('/dev/shm', `robust-shm-shared-counter-${process.pid}`);
const region = await openRegion(path, { size: 64 * 1024, create: true });
const { offset: counterOffset } = region.findOrCreate('counter', 8);
const { offset: startOffset } = region.findOrCreate('start', 8);
const words = new Int32Array(region.buffer);
const entry = new URL('./lib/shared-counter-adder.ts', import.meta.url);
const data = { path, counterOffset, startOffset, adds };

let fleet: Fleet | undefined;
const workers: Worker[] = [];
let total = 0;
const expected = (processes + threads) * adds;
let ms = 0;
try {
  const workerDone: Promise<unknown>[] = [];
  const workerReady: Promise<unknown>[] = [];
  for (let i = 0; i < threads; i++) {
    const worker = startTsWorker(entry, data);
    workers.push(worker);
    const messages = (type: string) =>
      new Promise((resolve, reject) => {
        worker.on('message', (m: { type: string }) => m.type === type && resolve(m));
        worker.once('error', reject);
      });
    workerReady.push(messages('ready'));
    workerDone.push(messages('done'));
  }
  fleet = processes > 0 ? await Fleet.start(entry, processes, { args: () => [JSON.stringify(data)], fork: tsFork }) : undefined;
  await Promise.all(workerReady);
  const processDone = (fleet?.members ?? []).map((m) => new Promise((resolve) => m.child.on('message', (msg: { type: string }) => msg.type === 'done' && resolve(msg))));
  demo.event('start', { processes, threads, adds }, `${processes} processes + ${threads} threads, ${adds} adds each`);
  const started = performance.now();
  Atomics.store(words, startOffset / 4, 1);
  native().futexWake(region.buffer, startOffset, 0x7fffffff);
  Atomics.notify(words, startOffset / 4);
  await Promise.all([...workerDone, ...processDone]);
  ms = performance.now() - started;
  total = Atomics.load(words, counterOffset / 4);
} finally {
  await Promise.all(workers.map((w) => w.terminate()));
  await fleet?.killAll();
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
}
demo.finish(total === expected, { expected, total, processes, threads, ms: Math.round(ms) }, `shared-counter: total ${total}, expected ${expected} (${processes} processes + ${threads} threads) in ${Math.round(ms)} ms: ${total === expected ? 'exact' : 'WRONG'}`);
