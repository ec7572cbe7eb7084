// A participant of bench/mutex.ts, as a child process (argv[2] = JSON) or a
// worker thread (workerData.data). Commands over IPC / postMessage:
//   contend { iterations }  wait for the start word, then lock / increment / unlock `iterations` times;
//                           answers { handoffs } (how often the lock came from the other contender)
//   hold                    acquire, park in `slot` (the bench kills us there)
//   wait                    blocking acquire; answers { status, at } with `at` = process.hrtime.bigint()
//                           (CLOCK_MONOTONIC, comparable across processes) taken right after it returns
//   futexWait { offset }    the bare floor of the same hand-over: a native futexWait on the Int32 at byte
//                           `offset` while it is 0; answers { at } taken right after it returns
import { RobustMutex } from '../../src/locks/robust-mutex.js';
import { ParkingLot } from '../../src/workers/park.js';
import { participantSide } from '../../src/workers/participant-side.js';
import { currentThreadIdentity } from '../../src/locks/owner.js';
import { native } from '../../src/native/index.js';

export interface BenchParticipantData {
  path?: string;
  buffer?: SharedArrayBuffer;
  mutexOffset: number;
  lotOffset: number;
  /** Int32 words: [0] start flag, [1] counter, [2] last owner tid, [3] handoffs */
  wordsOffset: number;
  slot: number;
}

const { data, buffer, send, onMessage } = await participantSide<BenchParticipantData>();
const mutex = RobustMutex.at(buffer, data.mutexOffset);
const lot = ParkingLot.at(buffer, data.lotOffset);
const words = new Int32Array(buffer, data.wordsOffset, 4);
const me = currentThreadIdentity();

function handle(command: { cmd: string; iterations?: number; offset?: number }): Record<string, unknown> {
  switch (command.cmd) {
    case 'contend': {
      send({ type: 'armed' });
      while (Atomics.load(words, 0) === 0) native().futexWait(buffer, data.wordsOffset, 0, 20);
      let handoffs = 0;
      for (let i = 0; i < command.iterations!; i++) {
        mutex.acquire();
        words[1] = (words[1] ?? 0) + 1;
        if (words[2] !== me.tid) {
          words[2] = me.tid;
          handoffs++;
        }
        mutex.release();
      }
      return { type: 'contended', handoffs };
    }
    case 'hold':
      mutex.acquire();
      lot.parkIfRequested(data.slot);
      return { type: 'held' };
    case 'wait': {
      const result = mutex.acquire();
      const at = process.hrtime.bigint();
      if (result.owned) {
        if (result.abandoned) mutex.markConsistent();
        mutex.release();
      }
      return { type: 'waited', status: result.status, at: at.toString() };
    }
    case 'futexWait': {
      const word = new Int32Array(buffer, command.offset!, 1);
      while (Atomics.load(word, 0) === 0) native().futexWait(buffer, command.offset!, 0, -1);
      return { type: 'futexWoken', at: process.hrtime.bigint().toString() };
    }
    default:
      return { type: 'error', error: `unknown command ${command.cmd}` };
  }
}

onMessage((m) => send(handle(m as { cmd: string; iterations?: number; offset?: number })));
send({ type: 'ready', tid: me.tid, pid: me.pid });
