// 1,000 acquire / kill / recover cycles mixing threads and processes. In every
// cycle a fresh victim (a worker thread or a child process) enters the
// critical section, parks there, and is really killed (worker.terminate() or
// SIGKILL); then a recoverer — this thread, a long-lived worker or a
// long-lived child, sometimes already blocked waiting when the victim dies —
// must get "abandoned", repair the protected counters and mark them
// consistent. Checked every cycle: exactly one abandonment more, the counter
// invariant (entered === left) restored, and never two owners (the owner-tid
// word is claimed by compare-and-swap inside the critical section; a failed
// claim is counted as a violation in shared memory).
//
// Victims run the participant fixture bundled by esbuild (same RobustMutex
// source, no tsx start-up), and the next victim is started while the current
// cycle runs: that is what makes 1,000 real deaths fit in about a minute.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { currentThreadIdentity } from '../src/locks/owner.js';
import { useResources } from './helpers/resources.js';
import { bundledProcess, bundledThread, bundleParticipant, mutexWorld, processParticipant, threadParticipant, type Bundle, type Participant } from './fixtures/mutex-setup.js';

const CYCLES = 1000;
/** Every PROCESS_EVERY-th victim is a child process, the others worker threads. */
const PROCESS_EVERY = 5;

describe('robust mutex under repeated owner death', () => {
  const res = useResources();
  const workers = new Set<Worker>();
  let bundle: Bundle;

  beforeAll(async () => {
    bundle = await bundleParticipant();
  });
  afterAll(() => bundle?.dispose());
  afterEach(async () => {
    await Promise.all([...workers].map((w) => w.terminate()));
    workers.clear();
  });

  it(`${CYCLES} cycles: the owner is killed inside the critical section, the next owner recovers, never two owners`, async () => {
    const w = await mutexWorld(res);
    const me = currentThreadIdentity();
    const recoverers: Participant[] = [
      await processParticipant(res, w.data(1)),
      await threadParticipant(res, w.data(2), w.region),
    ];
    const startVictim = (i: number): Promise<Participant> =>
      i % PROCESS_EVERY === 0
        ? bundledProcess(res, bundle, w.data(0))
        : bundledThread(bundle, { ...w.data(0), buffer: w.region.buffer }, (worker) => workers.add(worker));

    let processKills = 0;
    let threadKills = 0;
    let next = startVictim(0);
    const started = performance.now();
    for (let i = 0; i < CYCLES; i++) {
      const victim = await next;
      if (i + 1 < CYCLES) next = startVictim(i + 1);
      const abandonedBefore = w.mutex.inspect().timesAbandoned;

      w.lot.request(0);
      void victim.request({ cmd: 'cs' }).catch(() => {}); // never answers: it dies inside
      const parked = await w.lot.waitUntilParkedAsync(0, { timeoutMs: 20_000 });
      expect(parked.tid).toBe(victim.tid);
      expect(w.words[2]).toBe(victim.tid); // the victim is inside

      // Recoverer: 0 = this thread, 1 = long-lived process, 2 = long-lived thread.
      const who = i % 3;
      const waiting = who === 0 ? undefined : recoverers[who - 1]!.request({ cmd: 'cs', timeoutMs: 30_000 });
      await victim.kill();
      if (victim.kind === 'process') processKills++;
      else threadKills++;

      if (waiting) {
        const reply = await waiting;
        expect(reply.status, `cycle ${i}: ${JSON.stringify(reply)}`).toBe('abandoned');
      } else {
        const result = w.mutex.acquire(30_000);
        expect(result.status, `cycle ${i}`).toBe('abandoned');
        // The same repair the fixture does, then a critical section of our own.
        expect(w.words[2]).toBe(victim.tid);
        Atomics.store(w.words, 1, Atomics.load(w.words, 0));
        Atomics.store(w.words, 2, 0);
        Atomics.add(w.words, 4, 1);
        expect(Atomics.compareExchange(w.words, 2, 0, me.tid)).toBe(0);
        Atomics.add(w.words, 0, 1);
        Atomics.add(w.words, 1, 1);
        expect(Atomics.compareExchange(w.words, 2, me.tid, 0)).toBe(me.tid);
        w.mutex.markConsistent();
        w.mutex.release();
      }
      // Checked every cycle.
      expect(w.mutex.inspect().timesAbandoned).toBe(abandonedBefore + 1);
      expect(w.words[3], `violations after cycle ${i}`).toBe(0);
      expect(w.words[0]).toBe(w.words[1]);
      expect(w.words[2]).toBe(0);
      expect(w.mutex.inspect().state).toBe('free');
    }
    const seconds = (performance.now() - started) / 1000;
    expect(w.words[4]).toBe(CYCLES);
    expect(processKills + threadKills).toBe(CYCLES);
    expect(processKills).toBe(CYCLES / PROCESS_EVERY);
    console.log(`${CYCLES} cycles in ${seconds.toFixed(1)} s: ${processKills} process kills (SIGKILL), ${threadKills} thread kills (terminate)`);
  }, 600_000);
});
