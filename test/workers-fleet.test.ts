// The child-process fleet: ready handshake, commands, SIGSTOP/SIGCONT, SIGKILL,
// explicit reaping (a killed child stays a zombie until reaped), killAll().
import { afterEach, describe, expect, it } from 'vitest';
import { Fleet, FleetStartError } from '../src/workers/fleet.js';
import { readThreadStat } from '../src/locks/owner.js';
import { useResources } from './helpers/resources.js';
import { mutexWorld, waitFor } from './fixtures/mutex-setup.js';
import type { Reply } from './fixtures/mutex-participant.js';
import { tsFork } from '../tools/ts-spawn.js';

const participant = new URL('./fixtures/mutex-participant.ts', import.meta.url);

describe('Fleet', () => {
  const res = useResources();
  let fleet: Fleet<{ type: 'ready'; tid: number; pid: number }> | undefined;
  afterEach(async () => {
    await fleet?.killAll();
    fleet = undefined;
  });

  it('starts children, talks to them, stops, continues, kills and reaps them', async () => {
    const w = await mutexWorld(res);
    fleet = await Fleet.start(participant, 2, { args: (i) => [JSON.stringify(w.data(i))], fork: tsFork });
    expect(fleet.size).toBe(2);
    expect(fleet.member(0).ready.pid).toBe(fleet.member(0).pid);
    expect(await fleet.request<Reply>(0, { id: 7, cmd: 'try' }, (r) => r.id === 7)).toMatchObject({ status: 'acquired' });
    expect(await fleet.request<Reply>(1, { id: 8, cmd: 'try' }, (r) => r.id === 8)).toMatchObject({ status: 'busy' });

    fleet.stop(1);
    waitFor(() => readThreadStat(fleet!.member(1).pid)?.state === 'T', 10_000, 'SIGSTOP');
    fleet.cont(1);
    waitFor(() => readThreadStat(fleet!.member(1).pid)?.state !== 'T', 10_000, 'SIGCONT');

    const pid = fleet.member(0).pid;
    fleet.kill(0);
    // Killed but not reaped: a zombie until the event loop handles SIGCHLD.
    waitFor(() => readThreadStat(pid)?.state === 'Z', 10_000, 'zombie');
    expect(fleet.isRunning(0)).toBe(true);
    expect(await fleet.reap(0)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(fleet.isRunning(0)).toBe(false);
    expect(readThreadStat(pid)).toBeNull();
    await expect(fleet.request(0, { id: 9, cmd: 'try' })).rejects.toThrow();

    fleet.stop(1); // killAll must kill a stopped child too
    const statuses = await fleet.killAll();
    expect(statuses[1]).toEqual({ code: null, signal: 'SIGKILL' });
    expect(readThreadStat(fleet.member(1).pid)).toBeNull();
  }, 60_000);

  it('a child that dies before its ready message fails start() and leaves nothing running', async () => {
    // No region path: the participant throws at start-up (its stack trace, expected here, is not shown).
    const quiet = { ...tsFork, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] as ('ignore' | 'ipc')[] };
    await expect(Fleet.start(participant, 1, { args: () => ['{}'], fork: quiet })).rejects.toBeInstanceOf(FleetStartError);
  }, 60_000);
});
