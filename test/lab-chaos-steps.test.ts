// Chaos steps that overlap. A step may wait up to 10 s for its victim to
// reach a park point, and the next step starts meanwhile. Two steps must never
// work on one victim, and a step whose victim was respawned while it parked
// must respawn the incarnation it killed: noting the generation before the
// park skipped the respawn of a new one, the slot stayed dead, and a long chaos run
// ran out of victims and stalled (found with the heap's thread cache on).
// Nor may it leave that incarnation alone: the park request stopped it, and
// it would stay parked, holding the locks (the soak hung so).
// The host is a stand-in that records the commands; fake timers drive the
// steps, and Math.random is fixed so each step parks ('ledger') first.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LabChaos, type ChaosHost } from '../src/lab/chaos.js';
import type { LabObjects } from '../src/lab/lab-objects.js';
import { Participant } from '../src/lab/lab-participant.js';
import type { ParticipantHandle } from '../src/lab/participants.js';
import type { CommandResult } from '../src/lab/lab-types.js';

const OK: CommandResult = { ok: true, message: 'ok' };

function setUp() {
  const victim = new Participant(0, 'process');
  victim.handle = { alive: true } as unknown as ParticipantHandle;
  victim.generation = 1;
  const parks: { n: number; resolve: () => void }[] = [];
  const kills: number[] = [];
  const respawns: number[] = [];
  const host: ChaosHost = {
    isClosed: () => false,
    ownerSlot: () => null,
    park: (n) => new Promise((resolve) => parks.push({ n, resolve: () => resolve(OK) })),
    kill: (n) => {
      kills.push(n);
      return Promise.resolve(OK);
    },
    respawn: (_p, generation) => respawns.push(generation),
  };
  const objects = { board: { read: () => ({ state: 'critical' }) } } as unknown as LabObjects;
  const chaos = new LabChaos(objects, [victim], host, 50); // a step every 20 ms
  return { victim, parks, kills, respawns, chaos };
}

describe('lab chaos, overlapping steps', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('a victim being parked by one step is not picked by the next ones', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.7); // > 0.6: park first, in the ledger
    const { parks, kills, respawns, chaos } = setUp();
    chaos.set(true);
    await vi.advanceTimersByTimeAsync(20);
    expect(parks.map((p) => p.n)).toEqual([1]);
    // Ten more steps while the park is pending: none may touch #1.
    await vi.advanceTimersByTimeAsync(200);
    expect(parks).toHaveLength(1);
    expect(kills).toEqual([]);
    parks[0]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    chaos.stop();
    expect(kills).toEqual([1]);
    expect(respawns).toEqual([1]);
  });

  it('a victim respawned while it was being parked: the new incarnation (the one the park stopped) is killed and respawned', async () => {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(0.7);
    const { victim, parks, kills, respawns, chaos } = setUp();
    chaos.set(true);
    await vi.advanceTimersByTimeAsync(20);
    expect(parks).toHaveLength(1);
    chaos.stop();
    // Meanwhile a user's kill and respawn: a new incarnation in the slot.
    victim.generation = 2;
    parks[0]!.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(kills).toEqual([1]);
    expect(respawns).toEqual([2]);
  });
});
