// Demo for seed 002 (the HeapFree reference page): what misuse of a heap does.
//   1. A double free in the default checked mode: ERROR_INVALID_PARAMETER, heap intact.
//   2. The same double free in unchecked mode, thread cache off: the free
//      list now holds the block twice, and the next two allocations return the
//      same block ("resulting in subsequent calls to HeapAlloc returning the
//      same pointer twice"). 2b: with the cache on (the default) a block still
//      in the cache is freed once; shown, not promised.
//   3. HEAP_NO_SERIALIZE from several worker threads at once: the heap is
//      corrupted, and validate() names the damage. A control run of the same
//      workers with the lock leaves a valid heap.
import type { Worker } from 'node:worker_threads';
import { intOption, startDemo } from './lib/cli.js';
import type { HammerData } from './lib/heap-hammer.js';
import { SharedHeap } from '../src/heap/shared-heap.js';
import { startTsWorker } from '../tools/ts-spawn.js';

const HEAP_AT = 64;
const HEAP_BYTES = 64 * 1024;

const hammerUrl = new URL('./lib/heap-hammer.ts', import.meta.url);

await main();

async function main(): Promise<void> {
  const demo = startDemo({
    name: 'heap-misuse',
    summary:
      'Misuse of a Win32-style shared heap: a double free in checked mode (ERROR_INVALID_PARAMETER, heap intact), the same ' +
      'double free in unchecked mode with the thread cache off (two later allocations return the same block; with the cache on, ' +
      'a block still cached is freed once), and HEAP_NO_SERIALIZE used by several ' +
      'worker threads at once (the heap is corrupted and validate() finds it; with the lock, the same workers leave it valid).',
    options: {
      workers: { type: 'string', default: '3' },
      iterations: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '20' },
    },
    descriptions: {
      workers: 'worker threads using the heap at once with NO_SERIALIZE',
      iterations: 'alloc/free steps per worker per round',
      rounds: 'most rounds to run before giving up on finding corruption',
    },
  });
  const workers = intOption('workers', demo.values.workers, 3, 2, 16);
  const iterations = intOption('iterations', demo.values.iterations, 20_000, 100, 10_000_000);
  const maxRounds = intOption('rounds', demo.values.rounds, 20, 1, 1000);

  // 1. Checked mode.
  demo.say('1. Double free, checked mode (the default):');
  const checked = SharedHeap.initialize(new SharedArrayBuffer(HEAP_AT + HEAP_BYTES), HEAP_AT, HEAP_BYTES);
  const x = checked.alloc(64);
  checked.free(x);
  const secondFree = checked.free(x);
  const checkedValid = checked.validate().valid;
  const doubleFreeDetected = !secondFree && checked.lastError?.code === 'ERROR_INVALID_PARAMETER' && checkedValid;
  demo.event('checked-double-free', { offset: x, secondFreeReturned: secondFree, lastError: checked.lastError?.code, errno: checked.lastErrorCode, heapValid: checkedValid },
    `   free(${x}) twice: the second returns ${secondFree}, GetLastError = ${checked.lastError?.code} (${checked.lastErrorCode}): "${checked.lastError?.message}"; validate(): ${checkedValid ? 'valid' : 'INVALID'}`);

  // 2. Unchecked mode, on the lock-per-operation path: the thread cache (on by
  // default) would take the second free of a block it holds back out of the
  // cache and free it once (part 2b), hiding what HeapFree's page warns of.
  demo.say('2. Double free, unchecked mode (checked: false, threadCache: 0):');
  const unchecked = SharedHeap.initialize(new SharedArrayBuffer(HEAP_AT + HEAP_BYTES), HEAP_AT, HEAP_BYTES, { checked: false, threadCache: 0 });
  const y = unchecked.alloc(64);
  unchecked.free(y);
  const again = unchecked.free(y);
  const problems = unchecked.validate().problems;
  const first = unchecked.alloc(64);
  const second = unchecked.alloc(64);
  const sameBlockTwiceUnchecked = first === second && first !== 0;
  unchecked.view(first).fill(0x11);
  const seenThroughSecond = unchecked.view(second)[0];
  demo.event('unchecked-double-free', { offset: y, secondFreeReturned: again, validateProblems: problems, first, second, sameBlock: sameBlockTwiceUnchecked },
    `   free(${y}) twice: both "succeed"; validate(): ${problems[0] ?? 'valid'}\n` +
    `   the next two alloc(64) return ${first} and ${second}: ${sameBlockTwiceUnchecked ? 'THE SAME BLOCK' : 'different blocks'}` +
    ` (0x11 written through the first reads back as 0x${(seenThroughSecond ?? 0).toString(16)} through the second)`);

  // 2b. The same with the thread cache on (the default): not a guarantee, just what happens to a block still in the cache.
  demo.say('2b. The same double free, unchecked, with the thread cache on (the default):');
  const cachedHeap = SharedHeap.initialize(new SharedArrayBuffer(HEAP_AT + HEAP_BYTES), HEAP_AT, HEAP_BYTES, { checked: false });
  const z = cachedHeap.alloc(64);
  cachedHeap.free(z);
  const againCached = cachedHeap.free(z);
  const cachedPair = [cachedHeap.alloc(64), cachedHeap.alloc(64)];
  const cacheAbsorbedDoubleFree = cachedPair[0] !== cachedPair[1] && cachedHeap.validate().valid;
  demo.event('unchecked-double-free-cached', { offset: z, secondFreeReturned: againCached, first: cachedPair[0], second: cachedPair[1], absorbed: cacheAbsorbedDoubleFree },
    cacheAbsorbedDoubleFree
      ? `   free(${z}) twice: the first puts the block in this thread's cache, the second finds it there and frees it once through the lock;` +
          ` the next two alloc(64) return ${cachedPair[0]} and ${cachedPair[1]}: different blocks, heap valid (luck of where the block was, not a check: use the checked mode)`
      : `   free(${z}) twice: the next two alloc(64) return ${cachedPair[0]} and ${cachedPair[1]}: THE SAME BLOCK or an invalid heap, as with the cache off`);

  // 3. NO_SERIALIZE from several workers.
  demo.say(`3. HEAP_NO_SERIALIZE from ${workers} worker threads at once (rounds of ${iterations} alloc/free each):`);
  const corrupt = await runHammer(workers, iterations, maxRounds, false);
  demo.event('no-serialize', { ...corrupt },
    `   ${corrupt.valid ? `no corruption found in ${corrupt.rounds} rounds` : `after round ${corrupt.rounds}, validate() finds: ${corrupt.problems.slice(0, 3).join('; ')}`}` +
    (corrupt.hung ? ' (a worker was caught in a cycle of a corrupted list and had to be terminated)' : ''));
  const control = await runHammer(workers, iterations, 1, true);
  demo.event('control-with-lock', { ...control }, `   control, the same workers WITH the lock: validate() ${control.valid ? 'passes' : `FAILS: ${control.problems[0]}`}`);
  const noSerializeCorruptionFound = !corrupt.valid;

  demo.finish(doubleFreeDetected && sameBlockTwiceUnchecked && noSerializeCorruptionFound && control.valid, {
    doubleFreeDetected,
    sameBlockTwiceUnchecked,
    cacheAbsorbedDoubleFree,
    noSerializeCorruptionFound,
    controlWithLockValid: control.valid,
    noSerializeRounds: corrupt.rounds,
  });
}

interface HammerOutcome {
  valid: boolean;
  problems: string[];
  rounds: number;
  hung: boolean;
}

/** Rounds of concurrent alloc/free until validate() fails (or maxRounds). */
async function runHammer(count: number, iterations: number, maxRounds: number, serialize: boolean): Promise<HammerOutcome> {
  const buffer = new SharedArrayBuffer(HEAP_AT + HEAP_BYTES);
  const control = new Int32Array(buffer); // word 0: the round number the workers wait for
  const heap = SharedHeap.initialize(buffer, HEAP_AT, HEAP_BYTES);
  const workers: Worker[] = [];
  const done: number[] = new Array<number>(count).fill(0);
  let wake: (() => void) | undefined;
  for (let i = 0; i < count; i++) {
    const worker = startTsWorker(hammerUrl, { buffer, heapOffset: HEAP_AT, goIndex: 0, iterations, seed: 0x9e3779b9 * (i + 1), serialize } satisfies HammerData);
    worker.on('message', ({ round }: { round: number }) => {
      done[i] = round;
      wake?.();
    });
    worker.on('error', () => wake?.());
    workers.push(worker);
  }
  let outcome: HammerOutcome = { valid: true, problems: [], rounds: 0, hung: false };
  try {
    for (let round = 1; round <= maxRounds; round++) {
      const finished = new Promise<void>((resolve) => {
        // A worker looping in a corrupted (cyclic) free list never finishes its round.
        const deadline = setTimeout(resolve, 5_000);
        wake = () => {
          if (done.every((r) => r === round)) {
            clearTimeout(deadline);
            resolve();
          }
        };
      });
      Atomics.store(control, 0, round);
      Atomics.notify(control, 0);
      await finished;
      const hung = !done.every((r) => r === round);
      if (hung) await Promise.all(workers.map((w) => w.terminate()));
      const result = heap.validate();
      outcome = { valid: result.valid, problems: result.problems, rounds: round, hung };
      if (!result.valid || hung) break;
    }
  } finally {
    Atomics.store(control, 0, -1);
    Atomics.notify(control, 0);
    await Promise.all(workers.map((w) => w.terminate()));
  }
  return outcome;
}
