// One contender of bench/contended.ts, in plain JavaScript on the compiled
// dist/ (as production code runs: no tsx, no loader). It runs as a child
// process (argv[2] = JSON) or a worker thread (workerData), and mirrors
// bench/baseline/contended.c line for line: per round, wait for the start
// word, then --ops times acquire / increment / note a hand-off / release, then
// stamp its start and finish (CLOCK_MONOTONIC ns, comparable across processes).
import { workerData } from 'node:worker_threads';
import { openRegion, RobustMutex } from '../../dist/index.js';
import { native } from '../../dist/native/index.js';

const data = workerData ?? JSON.parse(process.argv[2]);
const { path, me, rounds, ops, wordsOffset, timesOffset, spin } = data;
const region = await openRegion(path);
const mutex = RobustMutex.open(region, 'contended', spin === undefined ? {} : { spin });
// [0] round allowed to start, [1] contenders done (all rounds), [2] counter, [3] last holder, [4..5] hand-offs
const words = new Int32Array(region.buffer, wordsOffset, 8);
// [me] start ns, [2 + me] finish ns
const times = new Float64Array(region.buffer, timesOffset, 4);
const addon = native();
const now = () => Number(process.hrtime.bigint());

for (let r = 0; r <= rounds; r++) {
  let s;
  while ((s = Atomics.load(words, 0)) < r) addon.futexWait(region.buffer, wordsOffset, s, 1000);
  let handoffs = 0;
  times[me] = now();
  for (let i = 0; i < ops; i++) {
    mutex.acquire();
    words[2] += 1;
    if (words[3] !== me) {
      words[3] = me;
      handoffs++;
    }
    mutex.release();
  }
  words[4 + me] = handoffs;
  times[2 + me] = now();
  Atomics.add(words, 1, 1);
  addon.futexWake(region.buffer, wordsOffset + 4, 0x7fffffff);
}
region.close();
