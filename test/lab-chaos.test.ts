// Chaos: at least 200 real kills (SIGKILL, worker.terminate(), piscina
// AbortSignal) of lab participants, many of them inside the critical
// section or inside a heap operation. After every repair the ledger's
// invariant must hold, no participant may hang, and nothing may be left
// running afterwards.
import { describe, expect, it } from 'vitest';
import { pidRunning, processPids, useLabRunner } from './fixtures/lab-run.js';

const lab = useLabRunner();

describe('lock lab chaos', () => {
  it('200+ kills mixing pool threads, worker threads and processes: every repair keeps the invariant, no hangs, all reaped', async () => {
    const run = await lab.run(['--json', '--script', 'ready; chaos 200 kills rate 10; ready; quit']);
    expect(run.code, run.stderr).toBe(0);
    const e = run.events;
    const kills = e.filter((x) => x.event === 'killed');
    expect(kills.length).toBeGreaterThanOrEqual(200);
    expect(run.summary?.['kills']).toBe(kills.length);
    // all three kinds of death, in real numbers
    const byHow = new Map<string, number>();
    for (const k of kills) byHow.set(k['how'] as string, (byHow.get(k['how'] as string) ?? 0) + 1);
    expect(byHow.get('SIGKILL') ?? 0).toBeGreaterThanOrEqual(20);
    expect(byHow.get('AbortSignal') ?? 0).toBeGreaterThanOrEqual(20);
    expect(byHow.get('worker.terminate()') ?? 0).toBeGreaterThanOrEqual(5);
    // many deaths really orphaned the mutex, and each abandonment was repaired
    const abandoned = e.filter((x) => x.event === 'abandoned');
    const repaired = e.filter((x) => x.event === 'repaired');
    expect(abandoned.length).toBeGreaterThanOrEqual(20);
    // The log is written under the mutex, so it is in ownership order: after
    // "X got it abandoned" comes "X repaired", or (X itself killed before
    // repairing) "Y got it abandoned by dead X".
    const recovery = e.filter((x) => x.event === 'abandoned' || x.event === 'repaired');
    recovery.forEach((x, i) => {
      if (x.event !== 'abandoned') return;
      const next = recovery[i + 1];
      expect(next, `nothing after ${x.text}`).toBeDefined();
      if (next!.event === 'repaired') expect(next!['tid']).toBe(x['tid']);
      else expect(next!['prevTid']).toBe(x['tid']);
    });
    expect(repaired.length).toBeGreaterThanOrEqual(20);
    for (const r of repaired) expect(r, JSON.stringify(r)).toMatchObject({ invariantHeld: true, sum: 80_000 });
    expect(e.filter((x) => x.event === 'final-check')[0]).toMatchObject({ holds: true });
    // nobody hung, nobody died on its own
    expect(e.filter((x) => x.event === 'hang')).toEqual([]);
    expect(e.filter((x) => x.event === 'died')).toEqual([]);
    expect(run.summary).toMatchObject({ ok: true, invariantHeld: true, hangs: 0 });
    // every process the lab ever started is gone
    const pids = processPids(e);
    expect(pids.length).toBeGreaterThan(20);
    for (const pid of pids) expect(pidRunning(pid), `pid ${pid}`).toBe(false);
  }, 150_000);

  it('respawn commands while chaos kills and respawns: one incarnation per slot at a time, nothing left running', async () => {
    // A chaos victim is dead before its kill() returns (a pool thread's kill
    // also waits for the OS thread to go); a respawn in that window used to
    // start it too, then chaos started it again: two in one slot, one untracked.
    // Our own kills leave their victims for respawn; chaos's victims are its own to respawn.
    const script = ['ready', 'chaos on', 'rate 25', ...Array.from({ length: 80 }, (_, i) => `${i % 2 ? '' : `kill ${1 + ((i / 2) % 4)}; `}respawn; wait 25ms`), 'chaos off', 'ready', 'quit'].join('; ');
    const run = await lab.run(['--json', '--script', script]);
    expect(run.code, run.stderr).toBe(0);
    const spawnEvents = new Set(['started', 'added', 'respawned']);
    const lastBySlot = new Map<number, string>();
    for (const x of run.events) {
      if (x.participant === undefined) continue;
      if (spawnEvents.has(x.event)) {
        const before = lastBySlot.get(x.participant);
        expect(before === undefined || !spawnEvents.has(before), `#${x.participant} ${x.event} while its last incarnation (${before}) had not died: ${x.text}`).toBe(true);
        lastBySlot.set(x.participant, x.event);
      } else if (x.event === 'killed' || x.event === 'died') {
        lastBySlot.set(x.participant, x.event);
      }
    }
    // Some of the 80 respawn commands found a dead participant (the others were refused).
    const refusedRespawns = run.events.filter((x) => x.event === 'refused' && /nobody is dead/.test(x.text)).length;
    expect(refusedRespawns).toBeLessThan(80);
    expect(run.events.filter((x) => x.event === 'killed').length).toBeGreaterThanOrEqual(10);
    expect(run.summary).toMatchObject({ ok: true, invariantHeld: true, hangs: 0 });
    for (const pid of processPids(run.events)) expect(pidRunning(pid), `pid ${pid}`).toBe(false);
  }, 150_000);
});
