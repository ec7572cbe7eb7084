// Chaos mode: at a set rate, kill a random live participant (half the time
// the owner of the ledger mutex, when it is one of ours: the kill that
// orphans the lock; some of the rest parked first, so they die mid-transfer
// or inside the heap for certain), then respawn it. The kills themselves are
// the controller's commands (park, kill, spawn), reached through ChaosHost.
import type { LabObjects } from './lab-objects.js';
import { boardRow, type Participant } from './lab-participant.js';
import type { CommandResult, ParkPlace } from './lab-types.js';

/** What chaos needs of the controller. */
export interface ChaosHost {
  /** The lab has quit: no more kills or respawns. */
  isClosed(): boolean;
  /** The slot of the participant that owns the ledger mutex, or null. */
  ownerSlot(): number | null;
  park(n: number, where: ParkPlace): Promise<CommandResult>;
  kill(n: number, reason: string): Promise<CommandResult>;
  /** Start a new incarnation in the victim's slot, unless its `generation` was already followed by another. */
  respawn(p: Participant, generation: number): void;
}

export class LabChaos {
  /** Kills per second. */
  rate: number;
  /** Chaos kills that went through. */
  kills = 0;
  /** The victims' slots of the steps in flight (one each): never picked by a second step. */
  private readonly targeted = new Set<number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly objects: LabObjects,
    /** The controller's participant slots (the same array: chaos reads it, never changes it). */
    private readonly participants: readonly (Participant | undefined)[],
    private readonly host: ChaosHost,
    rate: number,
  ) {
    this.rate = rate;
  }

  get on(): boolean {
    return this.timer !== undefined;
  }

  /** Stop, then (on) start again at the current rate. */
  set(on: boolean): void {
    this.stop();
    if (on) this.timer = setInterval(() => void this.step(), Math.max(20, 1000 / this.rate));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Wait for the chaos kills in flight to finish and their victims to be respawned. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.targeted.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  private async step(): Promise<void> {
    if (this.targeted.size > 1 || this.host.isClosed()) return; // never let kills pile up behind slow spawns
    const candidates = this.participants.filter(
      (p): p is Participant =>
        p !== undefined && !this.targeted.has(p.slot) && p.alive && !p.dying && !p.stopped && boardRow(this.objects, p).state !== 'starting',
    );
    if (candidates.length === 0) return;
    const owner = this.host.ownerSlot();
    const ownerP = owner === null ? undefined : candidates.find((p) => p.slot === owner);
    const roll = Math.random();
    const victim = ownerP && roll < 0.5 ? ownerP : candidates[Math.floor(Math.random() * candidates.length)]!;
    this.targeted.add(victim.slot);
    try {
      if (victim !== ownerP && roll > 0.6) await this.host.park(victim.number, roll > 0.9 ? 'heap' : 'ledger');
      // The incarnation killed is the one there now, not the one picked: a
      // park waits up to 10 s (a heap park point is inside the heap lock, which
      // a participant takes only now and then), and meanwhile the victim may have died
      // and been respawned (a user's kill, a soak's requested exit), the park
      // request then stopping the new one. Noted before the park, the
      // generation skipped the respawn of the new incarnation and left its slot
      // dead (slot after slot, the lab stalled); leaving it alone instead left
      // it parked, holding the locks, for ever.
      const generation = victim.generation;
      const result = await this.host.kill(victim.number, 'chaos killed');
      if (result.ok) {
        this.kills++;
        if (!this.host.isClosed()) this.host.respawn(victim, generation);
      }
    } finally {
      this.targeted.delete(victim.slot);
    }
  }
}
