// Demo for seed 000, "Why did HeapFree fail with ERROR_POSSIBLE_DEADLOCK?",
// for real, with a heap shared through a memory-mapped file:
//
//   1. A process (role "exiting") starts worker threads that allocate and free
//      on the shared heap. One of them is parked inside the heap lock, in the
//      middle of a free, when the main thread calls process.exit().
//   2. Exiting terminates the workers; the process's 'exit' handler then does
//      "cleanup": it frees its blocks. The free fails at once with
//      ERROR_POSSIBLE_DEADLOCK (1131): the heap lock's owner is gone. So does
//      an allocation. The advice of the article: do not clean up at exit.
//   3. A NEW process (role "recover") opens the same file, runs recover() (the
//      interrupted free is rolled forward from the heap's intent journal) and
//      validate().
//
// Node's order of events differs from Windows' in one respect, and the demo
// says so: ExitProcess terminates the other threads BEFORE DLL_PROCESS_DETACH
// runs, but Node's process.exit() runs the 'exit' listeners first and stops
// the workers after them. The exiting process therefore registers, as its
// first 'exit' listener, the step ExitProcess does: worker.terminate() for
// every worker (their threads end within milliseconds, even while this thread
// is busy), and the cleanup listener runs after it.
import { isMainThread, parentPort, workerData, type Worker } from 'node:worker_threads';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { intOption, startDemo, usageError } from './lib/cli.js';
import { openRegion } from '../src/shm/region.js';
import { SharedHeap } from '../src/heap/shared-heap.js';
import { withTestHooks } from '../src/test-hooks.js';
import { ParkingLot } from '../src/workers/park.js';
import { forkTs, startTsWorker } from '../tools/ts-spawn.js';
import { native } from '../src/native/index.js';

const REGION_BYTES = 2 * 1024 * 1024;
const HEAP_BYTES = 1024 * 1024;

interface WorkerData {
  path: string;
  slot: number;
  seed: number;
}

interface ExitResult {
  pid: number;
  parkedTid: number;
  workersAliveAtExitHandler: number;
  workersGoneBeforeFree: boolean;
  freeReturned: boolean;
  freeAtExitError: string | null;
  freeErrno: number;
  freeMessage: string | null;
  freeMs: number;
  allocAtExitError: string | null;
  blocksLeftAllocated: number;
}

interface RecoverResult {
  pid: number;
  poisonedBefore: boolean;
  interruptedOp: string;
  rolled: string;
  valid: boolean;
  problems: string[];
  stats: ReturnType<SharedHeap['stats']>;
  allocWorksAgain: boolean;
}

if (!isMainThread) await heapWorker(workerData.data as WorkerData);
else await main();

async function main(): Promise<void> {
  const demo = startDemo({
    name: 'heap-at-exit',
    summary:
      'Seed 000 for real: worker threads allocate and free on a heap shared through a mapped file; one is inside the heap lock ' +
      'when the main thread calls process.exit(). The workers are terminated, and the exit handler\'s free fails with ' +
      'ERROR_POSSIBLE_DEADLOCK instead of hanging. Advice: skip cleanup at exit. A new process then runs recover() and validate().',
    options: {
      workers: { type: 'string', default: '3' },
      role: { type: 'string' },
      path: { type: 'string' },
      result: { type: 'string' },
    },
    descriptions: {
      workers: 'worker threads using the heap in the exiting process',
      role: "internal: 'exiting' or 'recover' (the demo starts these processes itself)",
      path: 'internal: the region file',
      result: 'internal: where the role writes its JSON result',
    },
  });
  const role = demo.values.role;
  if (role !== undefined && (demo.values.path === undefined || demo.values.result === undefined)) {
    usageError('--role needs --path and --result (the demo passes them to the processes it starts)');
  }
  if (role === 'exiting') return exitingProcess(demo.values.path!, demo.values.result!, intOption('workers', demo.values.workers, 3, 1, 16));
  if (role === 'recover') return recoverProcess(demo.values.path!, demo.values.result!);
  if (role !== undefined) {
    usageError(`unknown --role '${role}'`);
  }
  const workers = intOption('workers', demo.values.workers, 3, 1, 16);

  const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'heap-at-exit-'));
  try {
    const path = join(work, 'region.bin');
    const region = await openRegion(path, { size: REGION_BYTES, create: true });
    SharedHeap.open(region, 'heap', HEAP_BYTES);
    ParkingLot.open(region, 'lot', 1);
    region.close();
    demo.say(`Heap of ${HEAP_BYTES} bytes in ${path}.`);

    demo.say(`1-2. A process with ${workers} heap-using worker threads exits while one of them is inside the heap lock:`);
    const exitResultPath = join(work, 'exiting.json');
    await runRole('exiting', path, exitResultPath, workers);
    const exiting = JSON.parse(readFileSync(exitResultPath, 'utf8')) as ExitResult;
    demo.event('exit-handler', { ...exiting },
      `   process ${exiting.pid}: worker thread ${exiting.parkedTid} was parked inside a HeapFree when the main thread called process.exit()\n` +
      `   'exit' listener 1 (what ExitProcess does first): terminate() the ${exiting.workersAliveAtExitHandler} workers still running\n` +
      `     (a thread ends asynchronously: the parked one was ${exiting.workersGoneBeforeFree ? 'already gone' : 'still ending'} when the cleanup began; its death is what free() detects)\n` +
      `   'exit' listener 2 (cleanup): free() returned ${exiting.freeReturned} after ${exiting.freeMs.toFixed(1)} ms, GetLastError = ${exiting.freeAtExitError} (${exiting.freeErrno})\n` +
      `     "${exiting.freeMessage}"\n` +
      `   and alloc() at exit fails the same way: ${exiting.allocAtExitError}`);
    demo.event('advice', { blocksLeftAllocated: exiting.blocksLeftAllocated },
      `   The article's advice: when the process is exiting, do not clean up. A private heap goes away with the address space;\n` +
      `   a SHARED heap outlives the process, and its survivors must repair it: ${exiting.blocksLeftAllocated} blocks of the dead process stay allocated (the\n` +
      `   application's to reclaim), but the heap's own structure is made whole again by recover().`);

    demo.say('3. A new process opens the same file and repairs the heap:');
    const recoverResultPath = join(work, 'recover.json');
    await runRole('recover', path, recoverResultPath, workers);
    const recovered = JSON.parse(readFileSync(recoverResultPath, 'utf8')) as RecoverResult;
    demo.event('recovered', { ...recovered },
      `   process ${recovered.pid}: heap poisoned before: ${recovered.poisonedBefore}; recover() found an interrupted ${recovered.interruptedOp} and rolled it ${recovered.rolled};\n` +
      `   validate(): ${recovered.valid ? 'valid' : `INVALID: ${recovered.problems.join('; ')}`}; ${recovered.stats.busyBlocks} busy, ${recovered.stats.freeBlocks} free blocks; alloc works again: ${recovered.allocWorksAgain}`);
    const recoveredAndValid = recovered.valid && recovered.poisonedBefore && recovered.allocWorksAgain;
    demo.finish(exiting.freeAtExitError === 'ERROR_POSSIBLE_DEADLOCK' && recoveredAndValid, {
      freeAtExitError: exiting.freeAtExitError,
      recoveredAndValid,
      freeAtExitMs: Number(exiting.freeMs.toFixed(2)),
      rolled: recovered.rolled,
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Run this script in a new process in `role`; resolves when it has exited. */
function runRole(role: 'exiting' | 'recover', path: string, result: string, workers: number): Promise<void> {
  const child = forkTs(new URL(import.meta.url), ['--role', role, '--path', path, '--result', result, '--workers', String(workers)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    // A safety net only: every step inside the roles waits on events, not time.
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`the ${role} process ended with ${signal ?? `code ${code}`}`));
    });
  });
}

// ---- role "exiting" ---------------------------------------------------------------------

async function exitingProcess(path: string, resultPath: string, workerCount: number): Promise<void> {
  const region = await openRegion(path);
  const heap = SharedHeap.open(region, 'heap', HEAP_BYTES);
  const lot = ParkingLot.open(region, 'lot', 1);
  // The main thread's own blocks: what a well-meaning exit handler would free.
  const mine = Array.from({ length: 16 }, (_, i) => heap.alloc(32 + i * 40));
  const workers: Worker[] = [];
  const ready: Promise<number>[] = [];
  for (let i = 0; i < workerCount; i++) {
    const worker = startTsWorker(new URL(import.meta.url), { path, slot: i === 0 ? 0 : -1, seed: 12345 + i } satisfies WorkerData);
    workers.push(worker);
    ready.push(new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }));
  }
  const tids = await Promise.all(ready);
  lot.request(0);
  const parked = await lot.waitUntilParkedAsync(0, { timeoutMs: 30_000 });

  // Listener 1: what ExitProcess does before DLL_PROCESS_DETACH (Node runs
  // 'exit' listeners first and stops workers only afterwards).
  let aliveAtExit = 0;
  let goneBeforeFree = false;
  process.on('exit', () => {
    aliveAtExit = tids.filter((tid) => existsSync(`/proc/self/task/${tid}`)).length;
    for (const worker of workers) void worker.terminate();
  });
  // Listener 2: the cleanup the article advises against.
  process.on('exit', () => {
    goneBeforeFree = !existsSync(`/proc/self/task/${parked.tid}`);
    const started = performance.now();
    const freed = heap.free(mine[0]!);
    const freeMs = performance.now() - started;
    const freeError = heap.lastError;
    const allocated = heap.alloc(64);
    const allocError = allocated === 0 ? heap.lastError : null;
    const result: ExitResult = {
      pid: process.pid,
      parkedTid: parked.tid,
      workersAliveAtExitHandler: aliveAtExit,
      workersGoneBeforeFree: goneBeforeFree,
      freeReturned: freed,
      freeAtExitError: freeError?.code ?? null,
      freeErrno: freeError?.errno ?? 0,
      freeMessage: freeError?.message ?? null,
      freeMs,
      allocAtExitError: allocError?.code ?? null,
      blocksLeftAllocated: mine.length,
    };
    writeFileSync(resultPath, JSON.stringify(result));
    process.exitCode = 0;
  });
  process.exit(0);
}

// ---- role "recover" ---------------------------------------------------------------------

async function recoverProcess(path: string, resultPath: string): Promise<void> {
  const region = await openRegion(path);
  const heap = SharedHeap.open(region, 'heap', HEAP_BYTES);
  const poisonedBefore = heap.poisoned;
  const report = heap.recover();
  const validation = heap.validate();
  const probe = heap.alloc(100);
  const allocWorksAgain = probe !== 0 && heap.free(probe);
  const result: RecoverResult = {
    pid: process.pid,
    poisonedBefore,
    interruptedOp: report.interruptedOp,
    rolled: report.rolled,
    valid: validation.valid && heap.validate().valid,
    problems: validation.problems,
    stats: heap.stats(),
    allocWorksAgain,
  };
  writeFileSync(resultPath, JSON.stringify(result));
  region.close();
}

// ---- worker threads of the exiting process ----------------------------------------------

/** Allocate and free for ever; slot 0 parks inside the heap lock, mid-free, when asked. */
async function heapWorker(data: WorkerData): Promise<void> {
  const region = await openRegion(data.path);
  const lot = ParkingLot.open(region, 'lot', 1);
  const heap = SharedHeap.open(
    region,
    'heap',
    HEAP_BYTES,
    withTestHooks(
      {},
      {
        onInsideHeapLock: (point) => {
          if (data.slot === 0 && point === 'free:committed') lot.parkIfRequested(0);
        },
      },
    ),
  );
  parentPort!.postMessage(native().gettid());
  let x = data.seed;
  const rand = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 8;
  const held: number[] = [];
  for (;;) {
    if (held.length < 32 || (held.length < 256 && (rand() & 1) === 0)) {
      const o = heap.alloc(16 + (rand() % 2000));
      if (o === 0) return; // poisoned or full: nothing more to do here
      held.push(o);
    } else if (!heap.free(held.splice(rand() % held.length, 1)[0]!)) {
      return;
    }
  }
}
