// A participant of bench/lib/async-handover.ts, as a child process (argv[2] =
// JSON) or a worker thread (workerData.data). Commands over IPC / postMessage:
//   hold { mutexOffset }          acquire, park in `slot` (the bench kills us there)
//   wait { mutexOffset, mode }    acquire() ('sync') or acquireAsync() ('async'); answers
//                                 { status, at } with `at` = process.hrtime.bigint() (CLOCK_MONOTONIC,
//                                 comparable across processes) right after it returns; then releases
//   many { mutexOffsets, perMutex } perMutex acquireAsync() on each mutex, all pending at once, each
//                                 releasing as soon as it owns; answers 'armed' once all are
//                                 registered, 'done' when all returned (times and CPU in µs)
//   mark                          answers with this process's CPU time now (the bench releases right after)
import { RobustMutex } from '../../src/locks/robust-mutex.js';
import { ParkingLot } from '../../src/workers/park.js';
import { participantSide } from '../../src/workers/participant-side.js';
import { currentThreadIdentity } from '../../src/locks/owner.js';
import { kernelWaitStats } from '../../src/locks/kernel-waits.js';

export interface AsyncBenchParticipantData {
  path?: string;
  buffer?: SharedArrayBuffer;
  lotOffset: number;
  slot: number;
}

export type AsyncBenchCommand =
  | { cmd: 'hold'; mutexOffset: number }
  | { cmd: 'wait'; mutexOffset: number; mode: 'sync' | 'async' }
  | { cmd: 'many'; mutexOffsets: number[]; perMutex: number }
  | { cmd: 'mark' };

const { data, buffer, send, onMessage } = await participantSide<AsyncBenchParticipantData>();
const lot = ParkingLot.at(buffer, data.lotOffset);
const me = currentThreadIdentity();
const mutexes = new Map<number, RobustMutex>();
function mutexAt(offset: number): RobustMutex {
  let m = mutexes.get(offset);
  if (!m) mutexes.set(offset, (m = RobustMutex.at(buffer, offset)));
  return m;
}
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

async function handle(command: AsyncBenchCommand): Promise<void> {
  switch (command.cmd) {
    case 'hold': {
      mutexAt(command.mutexOffset).acquire();
      lot.parkIfRequested(data.slot);
      send({ type: 'held' });
      return;
    }
    case 'wait': {
      const mutex = mutexAt(command.mutexOffset);
      const result = command.mode === 'sync' ? mutex.acquire() : await mutex.acquireAsync();
      const at = process.hrtime.bigint();
      if (result.owned) {
        if (result.abandoned) mutex.markConsistent();
        mutex.release();
      }
      send({ type: 'waited', status: result.status, at: at.toString() });
      return;
    }
    case 'many': {
      const all: Promise<unknown>[] = [];
      for (const offset of command.mutexOffsets) {
        const mutex = mutexAt(offset);
        for (let i = 0; i < command.perMutex; i++) {
          all.push(
            mutex.acquireAsync().then((r) => {
              if (r.owned) mutex.release();
            }),
          );
        }
      }
      const total = command.mutexOffsets.length * command.perMutex;
      const mechanism = mutexAt(command.mutexOffsets[0]!).asyncWaitMechanism;
      // Kernel-served waits are registered synchronously; a slice-polling one is pending once issued.
      if (mechanism === 'futex_waitv' && kernelWaitStats().environment !== total) {
        send({ type: 'error', error: `expected ${total} native waits, found ${kernelWaitStats().environment}` });
        return;
      }
      send({ type: 'armed', mechanism, atUs: nowUs(), cpuUs: cpuUs() });
      await Promise.all(all);
      send({ type: 'done', atUs: nowUs(), cpuUs: cpuUs() });
      return;
    }
    case 'mark':
      send({ type: 'marked', atUs: nowUs(), cpuUs: cpuUs() });
      return;
  }
}

onMessage((m) => void handle(m as AsyncBenchCommand).catch((error: unknown) => send({ type: 'error', error: String(error) })));
send({ type: 'ready', tid: me.tid, pid: me.pid });
