// The lock lab driven by --script --json: every key's action, with the events
// it must cause. Default participants: #1-#3 pool threads, #4-#6 processes,
// #7 a plain worker thread.
import { existsSync } from 'node:fs';
import { openRegion } from '../src/shm/region.js';
import { Ledger } from '../src/workers/ledger.js';
import { describe, expect, it } from 'vitest';
import { pidRunning, processPids, useLabRunner, type LabEventLine } from './fixtures/lab-run.js';

const lab = useLabRunner();

function only(events: LabEventLine[], kind: string, participant?: number): LabEventLine[] {
  return events.filter((e) => e.event === kind && (participant === undefined || e.participant === participant));
}

function expectCleanEnd(run: Awaited<ReturnType<typeof lab.run>>): void {
  expect(run.code, run.stderr).toBe(0);
  expect(run.summary?.['ok']).toBe(true);
  expect(run.summary?.['invariantHeld']).toBe(true);
  expect(run.summary?.['hangs']).toBe(0);
  expect(only(run.events, 'died')).toEqual([]);
  const final = only(run.events, 'final-check')[0];
  expect(final?.['holds']).toBe(true);
  // quit reaped every process it started, and removed the region and its lock
  for (const pid of processPids(run.events)) expect(pidRunning(pid), `pid ${pid}`).toBe(false);
  expect(existsSync(run.region)).toBe(false);
  expect(existsSync(`${run.region}.lock`)).toBe(false);
}

describe('lock lab --script', () => {
  it('SIGINT to the whole process group (Ctrl-C without raw mode): the lab quits and reaps its processes, none of them dies of it mid-transfer', async () => {
    const run = await lab.run(['--json', '--processes', '3', '--script', 'ready; wait 120s; quit'], async (child, stdout, region) => {
      // Every participant process started, and money moves: some transfers are under way.
      const deadline = Date.now() + 60_000;
      while ((stdout().match(/"kindOf":"process"/g) ?? []).length < 3) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the lab's processes did not start: ${stdout()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const mapped = await openRegion(region);
      try {
        const ledger = Ledger.at(mapped.buffer, mapped.find('ledger:lab')!);
        while (ledger.stats().txCount < 200) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error('no transfers');
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        mapped.close();
      }
      process.kill(-child.pid!, 'SIGINT');
    });
    expect(run.code, run.stderr).toBe(130);
    expect(only(run.events, 'died')).toEqual([]);
    expect(only(run.events, 'abandoned')).toEqual([]);
    const quit = only(run.events, 'quit')[0];
    expect(quit?.['text']).toMatch(/quit: \d+ participants reaped \(0 killed\), region removed/);
    expect(only(run.events, 'final-check')[0]?.['holds']).toBe(true);
    for (const pid of processPids(run.events)) expect(pidRunning(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(run.region)).toBe(false);
  }, 120_000);


  it('p then k: a participant parked in its critical section and killed there is seen abandoned and repaired (rolled back); k on each kind; r respawns', async () => {
    const run = await lab.run(['--json', '--script', 'ready; park 2; kill 2; park 3; unpark 3; kill 4; kill 7; kill 4; respawn; ready; quit']);
    expectCleanEnd(run);
    const e = run.events;

    // p + k on a pool thread: AbortSignal, while parked and holding the mutex
    const parked = only(e, 'parked', 2)[0]!;
    expect(parked['where']).toBe('ledger');
    const killed2 = only(e, 'killed', 2)[0]!;
    expect(killed2).toMatchObject({ how: 'AbortSignal', wasParked: true, parkedAt: 'ledger', heldMutex: true });
    // the next owner got WAIT_ABANDONED from exactly that thread, and repaired the half-done transfer
    const abandoned = only(e, 'abandoned').filter((a) => a['prevTid'] === parked['tid']);
    expect(abandoned).toHaveLength(1);
    const repaired = only(e, 'repaired', abandoned[0]!.participant);
    expect(repaired.length).toBeGreaterThanOrEqual(1);
    expect(repaired[0]).toMatchObject({ rolled: 'back', invariantHeld: true, sum: 80_000 });
    expect(e.indexOf(killed2)).toBeLessThan(e.indexOf(abandoned[0]!));

    // p + u: released, it finishes; nobody ever sees it dead
    expect(only(e, 'parked', 3)).toHaveLength(1);
    expect(only(e, 'unparked', 3)).toHaveLength(1);
    expect(only(e, 'abandoned').filter((a) => a['prevTid'] === only(e, 'parked', 3)[0]!['tid'])).toEqual([]);

    // k on a process (SIGKILL) and on a worker thread (terminate()); k on the dead is refused
    expect(only(e, 'killed', 4)[0]).toMatchObject({ how: 'SIGKILL' });
    expect(only(e, 'killed', 7)[0]).toMatchObject({ how: 'worker.terminate()' });
    expect(only(e, 'refused', 4)[0]?.text).toMatch(/already dead/);
    expect(run.summary?.['kills']).toBe(3);

    // r: the three dead come back, and make progress again
    expect(only(e, 'respawned').map((r) => r.participant).sort()).toEqual([2, 4, 7]);
    const quit = only(e, 'quit')[0]!;
    const views = quit['participants'] as { number: number; generation: number; ops: number }[];
    for (const n of [2, 4, 7]) expect(views.find((v) => v.number === n)).toMatchObject({ generation: 2, ops: expect.any(Number) });
    for (const v of views) expect(v.ops, `#${v.number}`).toBeGreaterThan(0);
  }, 60_000);

  it('a transferer killed mid-job (pool thread by AbortSignal, process by SIGKILL): its transfer job is taken again at once by another, reported "job N redelivered to #M", and its money moves once', async () => {
    const run = await lab.run(['--json', '--script', 'ready; park 2; kill 2; redelivered; park 5; kill 5; redelivered; quit']);
    expectCleanEnd(run);
    const e = run.events;
    for (const n of [2, 5]) {
      const killed = only(e, 'killed', n)[0]!;
      expect(killed).toMatchObject({ wasParked: true, parkedAt: 'ledger', heldMutex: true, heldJob: expect.any(Number) });
      const jobId = killed['heldJob'] as number;
      const back = only(e, 'job-redelivered').filter((r) => r['jobId'] === jobId);
      expect(back, `job ${jobId} of #${n}`).toHaveLength(1);
      const taker = back[0]!;
      // The dead consumer is named by the tid that was killed; the job's second delivery; its
      // transfer had been rolled back (parked between debit and credit), so the taker moves it.
      expect(taker).toMatchObject({ prevTid: killed['tid'], deliveries: 2, alreadyApplied: false });
      expect(taker.participant).not.toBe(n);
      expect(taker.text).toBe(`job ${jobId} redelivered to #${taker.participant} (tid ${killed['tid']} died), delivery 2`);
      expect(e.indexOf(killed)).toBeLessThan(e.indexOf(taker));
    }
    expect(run.summary).toMatchObject({ jobsAppliedTwice: 0, jobsDeadLettered: 0, queueFailed: null });
    expect(run.summary?.['jobsRedelivered']).toBeGreaterThanOrEqual(2);
    // Every job the lab enqueued was acked, or is still waiting in the queue: the count is checked by the soak; here at least the transfers ran off jobs.
    expect(run.summary?.['jobsAcked']).toBeGreaterThan(0);
  }, 60_000);

  it('s stops a process holding the mutex without it being taken for dead, s again continues it; s on a thread is refused; P parks in the heap and the kill poisons and recovers it; t/w/n add participants', async () => {
    const run = await lab.run([
      '--json',
      '--script',
      'ready; park 5; stop 5; wait 1500ms; cont 5; unpark 5; stop 1; park 4 heap; kill 4; add pool; add worker; add process; ready; quit',
    ]);
    expectCleanEnd(run);
    const e = run.events;

    const stopped = only(e, 'stopped', 5)[0]!;
    expect(stopped['heldMutex']).toBe(true);
    const continued = only(e, 'continued', 5)[0]!;
    // 1.5 s stopped while owning the mutex (others' liveness checks run every ms): no abandonment
    const between = e.slice(e.indexOf(stopped), e.indexOf(continued));
    expect(only(between, 'abandoned')).toEqual([]);
    expect(continued.t - stopped.t).toBeGreaterThanOrEqual(1400);
    expect(only(e, 'unparked', 5)).toHaveLength(1);
    expect(only(e, 'abandoned').filter((a) => a['prevPid'] === stopped['pid'] || a['prevTid'] === only(e, 'parked', 5)[0]!['tid'])).toEqual([]);

    expect(only(e, 'refused', 1)[0]?.text).toMatch(/thread.*SIGSTOP would stop the whole lab/);

    // P + k: the heap's lock is orphaned too; the next heap call fails with
    // ERROR_POSSIBLE_DEADLOCK and the participant runs heap recovery
    const heapParked = only(e, 'parked', 4)[0]!;
    expect(heapParked['where']).toBe('heap');
    expect(only(e, 'killed', 4)[0]).toMatchObject({ how: 'SIGKILL', parkedAt: 'heap', heldMutex: true });
    const abandoned = only(e, 'abandoned').find((a) => a['prevTid'] === heapParked['tid']);
    expect(abandoned).toBeDefined();
    expect(only(e, 'repaired', abandoned!.participant)[0]).toMatchObject({ invariantHeld: true });
    expect(only(e, 'heap-recovered').length).toBeGreaterThanOrEqual(1);
    expect(run.summary?.['heapRecoveries']).toBeGreaterThanOrEqual(1);

    // t / w / n: added participants #8-#10 of each kind, all making progress
    const added = only(e, 'added');
    expect(added.map((a) => [a.participant, a['kindOf']])).toEqual([
      [8, 'pool'],
      [9, 'worker'],
      [10, 'process'],
    ]);
    const views = only(e, 'quit')[0]!['participants'] as { number: number; ops: number }[];
    for (const n of [8, 9, 10]) expect(views.find((v) => v.number === n)!.ops).toBeGreaterThan(0);
  }, 60_000);

  it('c chaos: a fixed number of random kills, each victim respawned; chaos on/off and the rate', async () => {
    const run = await lab.run(['--json', '--script', 'ready; chaos 6 kills rate 6; chaos on 3; chaos off; rate 7; ready; quit']);
    expectCleanEnd(run);
    const e = run.events;
    const chaos = only(e, 'chaos');
    expect(chaos.map((c) => [c['on'], c['rate']])).toEqual([
      [true, 6],
      [false, 6],
      [true, 3],
      [false, 3],
      [false, 7],
    ]);
    const kills = only(e, 'killed').filter((k) => k.text.startsWith('chaos killed'));
    expect(kills.length).toBeGreaterThanOrEqual(6);
    // every chaos victim is respawned (the lab keeps its population)
    for (const k of kills) expect(only(e, 'respawned', k.participant).length).toBeGreaterThan(0);
    expect(only(e, 'respawned').length).toBeGreaterThanOrEqual(kills.length);
    for (const r of only(e, 'repaired')) expect(r['invariantHeld']).toBe(true);
  }, 90_000);

  it('auditors: #8 audits under the read lock; parked holding its read share and SIGKILLed, a writer reclaims the share; a killed writer is abandoned and repaired as before', async () => {
    const run = await lab.run(['--json', '--script', 'add auditor; ready; park 8; kill 8; wait 500ms; park 2; kill 2; respawn; ready; quit']);
    expectCleanEnd(run);
    const e = run.events;
    expect(only(e, 'added', 8)[0]).toMatchObject({ role: 'auditor', kindOf: 'process' });

    // p + k on the auditor: parked inside its read share, killed there
    const parked = only(e, 'parked', 8)[0]!;
    expect(parked).toMatchObject({ role: 'auditor', where: 'ledger' });
    expect(parked.text).toMatch(/holding a read share/);
    const killed = only(e, 'killed', 8)[0]!;
    expect(killed).toMatchObject({ how: 'SIGKILL', wasParked: true, heldReadShare: true, heldMutex: false, role: 'auditor' });
    // the next writer found the dead reader's slot and reclaimed its share; nothing was abandoned by it
    const reclaimed = only(e, 'share-reclaimed');
    expect(reclaimed.length).toBeGreaterThanOrEqual(1);
    expect(reclaimed[0]!.text).toMatch(/reader died, share reclaimed/);
    expect(reclaimed[0]).toMatchObject({ shares: 1 });
    expect(e.indexOf(killed)).toBeLessThan(e.indexOf(reclaimed[0]!));
    expect(only(e, 'abandoned').filter((a) => a['prevTid'] === parked['tid'])).toEqual([]);
    expect(run.summary).toMatchObject({ sharesReclaimed: 1, auditFailures: 0 });

    // killing a writer parked mid-transfer (it holds the write lock and the mutex) behaves as without auditors
    const writerParked = only(e, 'parked', 2)[0]!;
    expect(only(e, 'killed', 2)[0]).toMatchObject({ how: 'AbortSignal', wasParked: true, parkedAt: 'ledger', heldMutex: true, heldReadShare: false });
    const abandoned = only(e, 'abandoned').filter((a) => a['prevTid'] === writerParked['tid']);
    expect(abandoned).toHaveLength(1);
    expect(only(e, 'repaired', abandoned[0]!.participant)[0]).toMatchObject({ rolled: 'back', invariantHeld: true, sum: 80_000 });

    // both come back; the respawned auditor audits again (every audit found the invariant holding)
    expect(only(e, 'respawned').map((r) => r.participant).sort()).toEqual([2, 8]);
    expect(only(e, 'respawned', 8)[0]).toMatchObject({ role: 'auditor' });
    const views = only(e, 'quit')[0]!['participants'] as { number: number; generation: number; ops: number }[];
    expect(views.find((v) => v.number === 8)).toMatchObject({ generation: 2 });
    expect(views.find((v) => v.number === 8)!.ops).toBeGreaterThan(0);
  }, 60_000);

  it('auditors under chaos: two auditors read while transfers run and participants die at random; the invariant holds at every audit', async () => {
    const run = await lab.run(['--json', '--script', 'add auditor; add auditor worker; ready; chaos 8 kills rate 6; ready; quit']);
    expectCleanEnd(run);
    expect(run.summary).toMatchObject({ auditFailures: 0 });
    const views = only(run.events, 'quit')[0]!['participants'] as { number: number; ops: number }[];
    for (const n of [8, 9]) expect(views.find((v) => v.number === n)!.ops).toBeGreaterThan(0);
    for (const r of only(run.events, 'repaired')) expect(r['invariantHeld']).toBe(true);
  }, 90_000);

  it('rejects a bad script before starting anything, with the position of the mistake', async () => {
    const run = await lab.run(['--script', 'park 2; explode 3']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/command 2 'explode 3': unknown command 'explode'/);
    expect(run.events).toEqual([]);
    expect(existsSync(run.region)).toBe(false);
  }, 30_000);
});
