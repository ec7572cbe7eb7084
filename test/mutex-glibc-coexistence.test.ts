// Coexistence with glibc's robust mutexes, for real: one OS thread holds a
// glibc PTHREAD_MUTEX_ROBUST process-shared mutex (a test-only addon built
// here with cc) and a RobustMutex at once, both linked in the one robust list
// the kernel knows for that thread. The thread dies by SIGKILL of its process,
// and separately by worker.terminate(); the next lockers must see EOWNERDEAD
// (pthread_mutex_timedlock) and 'abandoned'. The lock/unlock orders put our
// node before, after and between glibc's, and make each side unlink a node
// whose neighbours are the other's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { openRegion } from '../src/shm/region.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { native } from '../src/native/index.js';
import { threadRobustList } from '../src/locks/robust-list.js';
import { useResources } from './helpers/resources.js';
import { buildGlibcMutexAddon, type BuiltAddon } from './helpers/glibc-mutex-addon.js';
import type { CoexistenceData } from './fixtures/glibc-coexistence-participant.js';

const participantUrl = new URL('./fixtures/glibc-coexistence-participant.ts', import.meta.url);

interface Holding {
  type: 'holding';
  tid: number;
  pid: number;
  results: Array<string | number>;
  list: string[];
}

interface Case {
  name: string;
  steps: string[];
  /** The dying thread's robust list, head first, after the steps. */
  list: string[];
}

const cases: Case[] = [
  { name: 'ours before glibc\'s', steps: ['lock:G0', 'lock:M'], list: ['M', 'G0'] },
  { name: 'ours after glibc\'s', steps: ['lock:M', 'lock:G0'], list: ['G0', 'M'] },
  { name: 'ours between glibc\'s', steps: ['lock:G0', 'lock:M', 'lock:G1'], list: ['G1', 'M', 'G0'] },
  { name: 'ours unlinked from between glibc\'s (our slow path patches both)', steps: ['lock:G0', 'lock:M', 'lock:G1', 'unlock:M'], list: ['G1', 'G0'] },
  { name: 'ours unlinked from behind glibc\'s', steps: ['lock:M', 'lock:G0', 'unlock:M'], list: ['G0'] },
  { name: 'glibc unlinks a mutex between two of its own and ours', steps: ['lock:M', 'lock:G0', 'lock:G1', 'unlock:G0'], list: ['G1', 'M'] },
  { name: 'glibc unlinks the mutex in front of ours, ours re-linked', steps: ['lock:G0', 'lock:M', 'unlock:G0', 'unlock:M', 'lock:G1', 'lock:M'], list: ['M', 'G1'] },
];

describe('RobustMutex and glibc robust mutexes on one thread', () => {
  const res = useResources();
  let built: BuiltAddon;
  beforeAll(() => {
    built = buildGlibcMutexAddon();
  });
  afterAll(() => built?.dispose());

  async function world() {
    const path = res.path('glibc');
    const region = await openRegion(path, { size: 64 * 1024, create: true });
    const mutex = RobustMutex.open(region, 'm', { policy: 'posix' });
    const { offset } = region.findOrCreate('glibc-mutexes', 2 * 40);
    const glibcOffsets = [offset, offset + 40];
    for (const g of glibcOffsets) expect(built.addon.init(native().addressOf(region.buffer, g))).toBe(0);
    return { path, region, mutex, glibcOffsets };
  }

  for (const kind of ['SIGKILL of the process', 'worker.terminate()'] as const) {
    describe(kind, () => {
      for (const c of cases) {
        it(`${c.name}: ${c.steps.join(', ')}`, async () => {
          const w = await world();
          const data: CoexistenceData = { addonPath: built.path, mutexOffset: w.mutex.byteOffset, glibcOffsets: w.glibcOffsets, steps: c.steps };
          let holding: Holding;
          let kill: () => Promise<unknown>;
          if (kind === 'SIGKILL of the process') {
            const child = res.fork(participantUrl, [JSON.stringify({ ...data, path: w.path })]);
            [holding] = (await once(child, 'message')) as [Holding];
            kill = async () => {
              const exited = once(child, 'exit');
              child.kill('SIGKILL');
              await exited;
            };
          } else {
            const worker = res.worker(participantUrl, { ...data, buffer: w.region.buffer });
            [holding] = (await once(worker, 'message')) as [Holding];
            kill = () => worker.terminate();
          }
          expect(holding.list).toEqual(c.list);
          const held = new Set(c.list);
          await kill();

          // glibc's mutexes: EOWNERDEAD for each the dead thread held, plain 0 for the others.
          for (const [i, g] of w.glibcOffsets.entries()) {
            const at = native().addressOf(w.region.buffer, g);
            const rc = built.addon.timedLock(at, 10_000);
            expect(rc, `G${i}`).toBe(held.has(`G${i}`) ? 'EOWNERDEAD' : 0);
            if (rc === 'EOWNERDEAD') expect(built.addon.consistent(at)).toBe(0);
            expect(built.addon.unlock(at)).toBe(0);
          }
          // Ours: 'abandoned' when the dead thread held it.
          const result = w.mutex.acquire(10_000);
          expect(result.status).toBe(held.has('M') ? 'abandoned' : 'acquired');
          if (result.abandoned) w.mutex.markConsistent();
          w.mutex.release();
          expect(w.mutex.inspect().state).toBe('free');
          // This thread's list is back to what it was: nothing of ours left on it.
          expect(threadRobustList()!.linkedCount).toBe(0);
          w.region.close();
        }, 60_000);
      }
    });
  }

  it('this thread shares glibc\'s list: a glibc mutex locked after a RobustMutex was used is still robust', async () => {
    const w = await world();
    expect(threadRobustList()!.sharedWithGlibc).toBe(true);
    w.mutex.acquire();
    const at = native().addressOf(w.region.buffer, w.glibcOffsets[0]!);
    expect(built.addon.lock(at)).toBe(0);
    expect(built.addon.robustList().slice(0, 2)).toEqual([at + 32, native().addressOf(w.region.buffer, w.mutex.byteOffset) + 32]);
    w.mutex.release();
    expect(built.addon.robustList()[0]).toBe(at + 32);
    expect(built.addon.unlock(at)).toBe(0);
    w.region.close();
  });
});
