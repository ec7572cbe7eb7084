// 8 readers and 2 writers, worker threads and child processes, looping on one
// RobustRwLock while random participants are killed (SIGKILL / terminate())
// and respawned: writers inside never exceed one, readers are never inside
// with a writer (the participants check each other in a shared table), and
// nobody hangs (every loop keeps finishing critical sections and returns when stopped).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { useResources } from './helpers/resources.js';
import { bundleParticipant, processParticipant, rwWorld, threadParticipant, until, type Bundle, type RwParticipant, type RwWorld } from './fixtures/rwlock-setup.js';
import { ENTRY_INTS, T, type RwReply } from './fixtures/rwlock-table.js';

const KILLS = Number(process.env['RWLOCK_CHAOS_KILLS'] ?? 40);

describe('robust rwlock under random kills', () => {
  const res = useResources();
  let bundle: Bundle;
  const workers = new Set<Worker>();
  beforeAll(async () => {
    bundle = await bundleParticipant();
  }, 60_000);
  afterAll(() => bundle?.dispose());
  afterEach(async () => {
    await Promise.all([...workers].map((w) => w.terminate()));
    workers.clear();
  });

  it(`8 readers + 2 writers across threads and processes, ${KILLS} random kills: exclusion holds, nobody hangs`, async () => {
    const w: RwWorld = await rwWorld(res);
    const roles = Array.from({ length: 10 }, (_, slot) => ({ slot, reader: slot < 8, kind: slot % 2 === 0 ? 'thread' : 'process' as const }));
    const members = new Map<number, { p: RwParticipant; loop: Promise<RwReply | null> }>();
    const progress = () => roles.reduce((sum, r) => sum + Atomics.load(w.table, 4 + r.slot * ENTRY_INTS + T.progress), 0);
    const start = async (slot: number) => {
      const role = roles[slot]!;
      const p = role.kind === 'thread'
        ? await threadParticipant(bundle, w.data(slot), w.region, (worker) => workers.add(worker))
        : await processParticipant(res, bundle, w.data(slot));
      // A killed participant's request rejects: null. A live one answers when stopped (or with an error on a timeout).
      const loop = p.request({ cmd: 'loop', readRatio: role.reader ? 1 : 0, timeoutMs: 20_000, holdMs: role.reader ? 0 : 2 }).catch(() => null);
      members.set(slot, { p, loop });
    };
    await Promise.all(roles.map((r) => start(r.slot)));
    const errors: string[] = [];
    let kills = 0;
    try {
      while (kills < KILLS) {
        // Nobody hangs: the group keeps finishing critical sections between kills.
        const before = progress();
        await until(() => progress() >= before + 20, 20_000, `progress after ${kills} kills`);
        // Half the kills go to a writer (which spends most of its time inside), so some land mid-write.
        const slot = Math.random() < 0.5 ? 8 + Math.floor(Math.random() * 2) : Math.floor(Math.random() * roles.length);
        const member = members.get(slot)!;
        await member.p.kill();
        const answer = await member.loop;
        if (answer?.error) errors.push(answer.error);
        kills++;
        await start(slot);
      }
      const before = progress();
      await until(() => progress() >= before + 20, 20_000, 'progress after the last kill');
    } finally {
      Atomics.store(w.table, T.stop, 1);
    }
    for (const [, member] of members) {
      const answer = await member.loop;
      expect(answer, 'a live participant answers when stopped').not.toBeNull();
      if (answer?.error) errors.push(answer.error);
    }
    expect(errors).toEqual([]);
    expect(Atomics.load(w.table, T.violations)).toBe(0);
    // Whatever the kills left behind is taken back by the next writer.
    const last = w.rw.acquireWrite(10_000);
    expect(last.owned).toBe(true);
    if (last.abandoned) w.rw.markConsistent();
    w.rw.releaseWrite();
    const snapshot = w.rw.inspect();
    expect(snapshot).toMatchObject({ state: 'free', readers: [], waitingReaders: [] });
    let abandoned = 0;
    for (const r of roles) abandoned += Atomics.load(w.table, 4 + r.slot * ENTRY_INTS + T.abandoned);
    expect(snapshot.timesAbandoned + snapshot.sharesReclaimed).toBeGreaterThan(0); // deaths inside did happen
    console.log(`rwlock chaos: ${kills} kills, ${progress()} critical sections, ${snapshot.sharesReclaimed} reader shares reclaimed, ${snapshot.timesAbandoned} writer abandonments (${abandoned} seen by participants)`);
  }, 300_000);
});
