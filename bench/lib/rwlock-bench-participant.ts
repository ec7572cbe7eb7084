// A participant of bench/rwlock.ts (child process or worker thread, see
// src/workers/participant-side.ts). Roles:
//   reader  read-mostly throughput: after the start word, loop { acquireRead; sum
//           the 8 data words (they must all be equal: a torn read = broken lock);
//           releaseRead } until the stop word; add its count to the reads word.
//   writer  the same run's writer: { acquireWrite; bump the 8 words; releaseWrite;
//           busy gap of gapUs } until stop; add its count to the writes word.
//   holder  take a read share and keep it until killed (reader-death rounds).
//   uncontended  time read acquire+release alone (median of 10 slices).
//   entrant a thread that, on {cmd:'write'}, blocks in acquireWrite (on
//           {cmd:'writeAsync'}, awaits acquireWriteAsync) and answers with the
//           CLOCK_MONOTONIC time (process.hrtime) at which it got in.
import { RobustRwLock } from '../../src/locks/robust-rwlock.js';
import { participantSide } from '../../src/workers/participant-side.js';

export interface RwBenchData {
  path?: string;
  buffer?: SharedArrayBuffer;
  lockOffset: number;
  /** Int32 words: [0] start, [1] stop, [2] reads, [3] writes, [4] torn, [8..15] the data. */
  wordsOffset: number;
  role: 'reader' | 'writer' | 'holder' | 'entrant' | 'uncontended';
  iterations?: number;
  gapUs?: number;
}

const { data, buffer, send, onMessage } = await participantSide<RwBenchData>();
const rw = RobustRwLock.at(buffer, data.lockOffset);
const words = new Int32Array(buffer, data.wordsOffset, 16);
const nap = new Int32Array(new SharedArrayBuffer(4));

function waitForStart(): void {
  while (Atomics.load(words, 0) === 0) Atomics.wait(nap, 0, 0, 0.05);
}

if (data.role === 'reader') {
  send({ type: 'ready' });
  waitForStart();
  let reads = 0;
  let torn = 0;
  while (Atomics.load(words, 1) === 0) {
    rw.acquireRead();
    const first = words[8]!;
    for (let i = 9; i < 16; i++) if (words[i] !== first) torn++;
    rw.releaseRead();
    reads++;
  }
  Atomics.add(words, 2, reads);
  Atomics.add(words, 4, torn);
  send({ type: 'done', reads });
} else if (data.role === 'writer') {
  send({ type: 'ready' });
  waitForStart();
  let writes = 0;
  const gapMs = (data.gapUs ?? 20) / 1000;
  while (Atomics.load(words, 1) === 0) {
    rw.acquireWrite();
    for (let i = 8; i < 16; i++) words[i]! += 1;
    rw.releaseWrite();
    writes++;
    const until = performance.now() + gapMs;
    while (performance.now() < until) {}
  }
  Atomics.add(words, 3, writes);
  send({ type: 'done', writes });
} else if (data.role === 'uncontended') {
  // Bundled plain JS, as production code runs: read acquire+release, median of 10 slices.
  const n = Math.max(1000, Math.floor((data.iterations ?? 2_000_000) / 10));
  for (let i = 0; i < n; i++) { rw.acquireRead(); rw.releaseRead(); }
  const slices: number[] = [];
  for (let s = 0; s < 10; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) { rw.acquireRead(); rw.releaseRead(); }
    slices.push(Number(process.hrtime.bigint() - t0) / n);
  }
  slices.sort((a, b) => a - b);
  send({ type: 'uncontended', nsPerOp: (slices[4]! + slices[5]!) / 2, slices });
} else if (data.role === 'holder') {
  const r = rw.acquireRead(10_000);
  send({ type: 'holding', status: r.status });
  setInterval(() => {}, 1 << 30);
} else {
  onMessage(async (m) => {
    const { cmd } = m as { cmd: string };
    if (cmd !== 'write' && cmd !== 'writeAsync') return;
    const r = cmd === 'write' ? rw.acquireWrite(30_000) : await rw.acquireWriteAsync({ timeoutMs: 30_000 });
    const enteredAt = process.hrtime.bigint().toString();
    if (r.owned) rw.releaseWrite();
    send({ type: 'wrote', status: r.status, sharesReclaimed: r.owned ? r.sharesReclaimed : 0, enteredAt });
  });
  send({ type: 'ready' });
}
