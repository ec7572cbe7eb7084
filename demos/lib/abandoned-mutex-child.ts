// A process of the abandoned-mutex demo. argv[2]: { path, mutexOffset, lotOffset }.
// Commands (IPC, answered with { id, ... }):
//   hold         acquire, then park inside the critical section (the parent requested it and SIGKILLs us there)
//   naiveTry     TryToTakeTheMutex from the story: success only when status is 'acquired' (the bug)
//   correctTake  the right way: `owned` is success, `abandoned` means repair + markConsistent
//   release      one ReleaseMutex; answers whether this thread still owns it afterwards
//   block        a blocking acquire; answers when it finally owns the mutex, then releases
import { openRegion } from '../../src/shm/region.js';
import { RobustMutex } from '../../src/locks/robust-mutex.js';
import { ParkingLot } from '../../src/workers/park.js';

interface Setup {
  path: string;
  mutexOffset: number;
  lotOffset: number;
}
type Command = { id: number; cmd: 'hold' | 'naiveTry' | 'correctTake' | 'release' | 'block' };

const setup = JSON.parse(process.argv[2] ?? '{}') as Setup;
const region = await openRegion(setup.path);
const mutex = RobustMutex.at(region.buffer, setup.mutexOffset);
const lot = ParkingLot.at(region.buffer, setup.lotOffset);

// The story's code, translated: WaitForSingleObject(...) == WAIT_OBJECT_0.
// WRONG: treats WAIT_ABANDONED ('abandoned') as failure although it is ownership.
function TryToTakeTheMutex(): boolean {
  return mutex.acquire(100).status === 'acquired';
}

function handle(command: Command): Record<string, unknown> {
  switch (command.cmd) {
    case 'hold': {
      const result = mutex.acquire();
      lot.parkIfRequested(0); // the parent requested the park: we are killed here
      return { status: result.status };
    }
    case 'naiveTry': {
      const took = TryToTakeTheMutex();
      return { took, depth: mutex.isHeldByCurrentThread() ? mutex.inspect().depth : 0 };
    }
    case 'correctTake': {
      const result = mutex.acquire(5_000);
      if (!result.owned) return { owned: false, status: result.status };
      if (result.abandoned) mutex.markConsistent(); // (repair the protected state here)
      return { owned: true, status: result.status, depth: result.depth };
    }
    case 'release':
      mutex.release();
      return { stillOwned: mutex.isHeldByCurrentThread() };
    case 'block': {
      const result = mutex.acquire();
      if (result.owned) mutex.release();
      return { status: result.status };
    }
  }
}

process.on('message', (message: Command) => {
  // 'block' answers only once it owns the mutex: reply asynchronously after the blocking call.
  process.send!({ id: message.id, ...handle(message) });
});
process.send!({ type: 'ready', pid: process.pid });
