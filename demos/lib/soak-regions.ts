// The soak's region-creation lane: a creator process (a Fleet child) makes
// a region file with a mutex and a heap in it, and is SIGKILLed at a random
// moment of that work most of the time. Then the soak opens the same path
// itself, as the next user would: it must succeed within the hang bound, and
// the mutex and the heap in it must work and validate. The delay is drawn up
// to a little beyond how long an unkilled creation takes here, so kills land
// at every step (temporary file, space reservation, header, link into place,
// directory, mutex, heap) and
// sometimes just after.
import { rmSync } from 'node:fs';
import { forkReady, type FleetMember } from '../../src/workers/fleet.js';
import { tsFork } from '../../tools/ts-spawn.js';
import { openRegion } from '../../src/shm/region.js';
import { RobustMutex } from '../../src/locks/robust-mutex.js';
import { SharedHeap } from '../../src/heap/shared-heap.js';
import { startedProcess, type StartedProcess } from './soak-procs.js';

export const LANE_REGION_BYTES = 64 * 1024;
export const LANE_HEAP_BYTES = 16 * 1024;
const KILL_SHARE = 0.7;

const creatorEntry = new URL('./soak-region-creator.ts', import.meta.url);

export interface LaneRound {
  killed: boolean;
  /** The soak opened a region whose creator had been killed, and everything in it worked. */
  reopened: boolean;
  hang: boolean;
  failure?: string;
}

export class RegionCreationLane {
  /** Every creator process this lane started (checked for leftovers at the end). */
  readonly processes: StartedProcess[] = [];
  private creator: FleetMember | null = null;
  private rounds = 0;
  /** How long an unkilled creation takes (ms), smoothed. */
  private creationMs = 20;

  constructor(
    private readonly base: string,
    private readonly hangMs: number,
  ) {}

  async round(): Promise<LaneRound> {
    const path = `${this.base}.lane-${++this.rounds}`;
    try {
      const creator = await this.ensureCreator();
      const kill = Math.random() < KILL_SHARE;
      const created = new Promise<'created' | 'exited'>((resolve) => {
        const onMessage = (m: { type?: string }) => {
          if (m.type !== 'created') return;
          creator.child.off('message', onMessage);
          resolve('created');
        };
        creator.child.on('message', onMessage);
        void creator.exit.then(() => resolve('exited'));
      });
      const t0 = performance.now();
      creator.child.send({ type: 'create', path });
      if (kill) {
        await new Promise((r) => setTimeout(r, Math.random() * this.creationMs * 1.3));
        creator.child.kill('SIGKILL');
        await creator.exit;
        this.creator = null;
      } else {
        const outcome = await bounded(created, this.hangMs);
        if (outcome === 'timeout') return { killed: false, reopened: false, hang: true };
        if (outcome === 'exited') return { killed: false, reopened: false, hang: false, failure: 'the creator died on its own' };
        this.creationMs = 0.8 * this.creationMs + 0.2 * (performance.now() - t0);
      }
      const opened = await bounded(this.openAndUse(path), this.hangMs);
      if (opened === 'timeout') return { killed: kill, reopened: false, hang: true };
      if (opened !== 'ok') return { killed: kill, reopened: false, hang: false, failure: opened };
      return { killed: kill, reopened: kill, hang: false };
    } finally {
      rmSync(path, { force: true });
      rmSync(`${path}.lock`, { force: true, recursive: true });
    }
  }

  /** What the next user of the path does; 'ok' or what went wrong. */
  private async openAndUse(path: string): Promise<string> {
    try {
      const region = await openRegion(path, { size: LANE_REGION_BYTES, create: true });
      const mutex = RobustMutex.open(region, 'soak-lane');
      const r = mutex.acquire(this.hangMs);
      if (!r.owned) return `the lane mutex: ${r.status}`;
      if (r.abandoned) mutex.markConsistent();
      mutex.release();
      const heap = SharedHeap.open(region, 'soak-lane-heap', LANE_HEAP_BYTES);
      let v = heap.validate();
      if (!v.valid && heap.stats().poisoned) {
        heap.recover();
        v = heap.validate();
      }
      region.close();
      return v.valid ? 'ok' : `the lane heap: ${v.problems.join('; ')}`;
    } catch (error) {
      return `${(error as { code?: string }).code ?? 'error'}: ${(error as Error).message}`;
    }
  }

  private async ensureCreator(): Promise<FleetMember> {
    if (!this.creator) {
      this.creator = await forkReady(creatorEntry, [], { readyTimeoutMs: 60_000, fork: tsFork });
      this.processes.push(startedProcess(this.creator.pid));
    }
    return this.creator;
  }

  async close(): Promise<void> {
    const creator = this.creator;
    this.creator = null;
    if (creator && creator.child.exitCode === null && creator.child.signalCode === null) {
      creator.child.kill('SIGKILL');
      await creator.exit;
    }
  }
}

async function bounded<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
