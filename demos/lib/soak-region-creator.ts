// A Fleet child of the soak's region lane: on { type: 'create', path } it
// creates a region there, with a robust mutex (taken and released once) and a
// shared heap holding one block, and answers { type: 'created' }. The soak
// SIGKILLs it at random moments of that work.
import { openRegion } from '../../src/shm/region.js';
import { RobustMutex } from '../../src/locks/robust-mutex.js';
import { SharedHeap } from '../../src/heap/shared-heap.js';
import { LANE_HEAP_BYTES, LANE_REGION_BYTES } from './soak-regions.js';

process.on('disconnect', () => process.exit(0));
process.on('message', (message: { type?: string; path?: string }) => {
  if (message.type !== 'create' || !message.path) return;
  void (async () => {
    const region = await openRegion(message.path!, { size: LANE_REGION_BYTES, create: true });
    const mutex = RobustMutex.open(region, 'soak-lane');
    const r = mutex.acquire(5000);
    if (r.owned) {
      if (r.abandoned) mutex.markConsistent();
      mutex.release();
    }
    SharedHeap.open(region, 'soak-lane-heap', LANE_HEAP_BYTES).alloc(64);
    process.send!({ type: 'created' });
  })();
});
process.send!({ type: 'ready' });
