// Seed 001 ("WAIT_ABANDONED is a success code") told with real processes.
//
// Process A dies (SIGKILL) holding the mutex. Process B uses the story's naive
// TryToTakeTheMutex, which treats "abandoned" as failure: it thinks it failed,
// yet it owns the mutex. Later it "takes" it again — a silent recursive
// acquisition — does its work and releases once: the mutex is still held and a
// third process C stays blocked until B releases a second time. Then the same
// death handled correctly (`owned` is success, `abandoned` means repair):
// one release and C gets the mutex at once.
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDemo } from './lib/cli.js';
import { openRegion } from '../src/shm/region.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { ParkingLot } from '../src/workers/park.js';
import { Fleet } from '../src/workers/fleet.js';
import { tsFork } from '../tools/ts-spawn.js';

const demo = startDemo({
  name: 'abandoned-mutex',
  summary:
    'Seed 001 with real processes: A is SIGKILLed holding a robust mutex (windows policy); B treats "abandoned" as failure ' +
    '(the WAIT_ABANDONED bug), later takes the mutex "again", releases once, and a third process C stays blocked until a ' +
    'second release. Then the correct handling: abandoned is ownership, one release, C proceeds.',
  options: {},
  descriptions: {},
});

const path = join('/dev/shm', `robust-shm-abandoned-mutex-${process.pid}`);
const region = await openRegion(path, { size: 64 * 1024, create: true });
const mutex = RobustMutex.open(region, 'story', { policy: 'windows' });
const lot = ParkingLot.open(region, 'park', 1);
const setup = JSON.stringify({ path, mutexOffset: mutex.byteOffset, lotOffset: lot.byteOffset });
const fleet = await Fleet.start(new URL('./lib/abandoned-mutex-child.ts', import.meta.url), 5, { args: () => [setup], fork: tsFork });
const [A, B, C, A2, C2] = [0, 1, 2, 3, 4];
let nextId = 1;
const ask = <T = Record<string, unknown>>(member: number, cmd: string) => {
  const id = nextId++;
  return fleet.request<T & { id: number }>(member, { id, cmd }, (reply) => reply.id === id);
};
const pidOf = (member: number) => fleet.member(member).pid;

async function killHolder(member: number): Promise<void> {
  lot.request(0); // before 'hold': a dead parker's stale PARKED must not count
  void ask(member, 'hold').catch(() => {});
  await lot.waitUntilParkedAsync(0, { timeoutMs: 30_000 });
  fleet.kill(member, 'SIGKILL');
  await fleet.reap(member);
  demo.event('killed', { pid: pidOf(member), mutex: mutex.inspect().state }, `process ${pidOf(member)} SIGKILLed inside the critical section (mutex: ${mutex.inspect().state})`);
}

/** C is blocked on the mutex while B still owns it: the owner is B and C is a registered waiter. */
async function blockedBehind(owner: number): Promise<boolean> {
  const deadline = performance.now() + 10_000;
  while (mutex.inspect().waiters < 1 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 1));
  const s = mutex.inspect();
  return s.waiters >= 1 && s.owner?.pid === pidOf(owner);
}

let naiveReleasesNeeded = 0;
let thirdProcessBlockedAfterOneRelease = false;
let correctRecovery = false;
try {
  // --- the bug ---
  await killHolder(A);
  const first = await ask<{ took: boolean; depth: number }>(B, 'naiveTry');
  demo.event('naive-try', first, `B: TryToTakeTheMutex() -> ${first.took} ("failed"), but B owns it at depth ${first.depth}`);
  const second = await ask<{ took: boolean; depth: number }>(B, 'naiveTry');
  demo.event('naive-try', second, `B, later: TryToTakeTheMutex() -> ${second.took}, depth ${second.depth} (a silent recursive acquisition)`);
  let cDone = false;
  const cWaits = ask<{ status: string }>(C, 'block').then((r) => ((cDone = true), r));
  let released = await ask<{ stillOwned: boolean }>(B, 'release');
  naiveReleasesNeeded = 1;
  thirdProcessBlockedAfterOneRelease = released.stillOwned && (await blockedBehind(B)) && !cDone;
  demo.event('release', { release: 1, stillOwned: released.stillOwned, thirdBlocked: thirdProcessBlockedAfterOneRelease }, `B releases once: B still owns it: ${released.stillOwned}; C blocked: ${thirdProcessBlockedAfterOneRelease}`);
  while (released.stillOwned && naiveReleasesNeeded < 10) {
    released = await ask<{ stillOwned: boolean }>(B, 'release');
    naiveReleasesNeeded++;
  }
  const cResult = await cWaits;
  demo.event('release', { releases: naiveReleasesNeeded, third: cResult.status }, `B needed ${naiveReleasesNeeded} releases; then C got the mutex (${cResult.status})`);

  // --- the fix ---
  await killHolder(A2);
  const taken = await ask<{ owned: boolean; status: string; depth: number }>(B, 'correctTake');
  demo.event('correct-take', taken, `B, correctly: owned=${taken.owned} status=${taken.status} depth=${taken.depth} -> repair, markConsistent`);
  const c2 = ask<{ status: string }>(C2, 'block');
  const once = await ask<{ stillOwned: boolean }>(B, 'release');
  const c2Result = await c2;
  correctRecovery = taken.owned && taken.status === 'abandoned' && taken.depth === 1 && !once.stillOwned && c2Result.status === 'acquired' && mutex.inspect().state === 'free';
  demo.event('correct-release', { stillOwned: once.stillOwned, third: c2Result.status }, `B releases once: still owned: ${once.stillOwned}; C got it: ${c2Result.status}`);
} finally {
  await fleet.killAll();
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
}
const ok = naiveReleasesNeeded === 2 && thirdProcessBlockedAfterOneRelease && correctRecovery;
demo.finish(ok, { naiveReleasesNeeded, thirdProcessBlockedAfterOneRelease, correctRecovery });
