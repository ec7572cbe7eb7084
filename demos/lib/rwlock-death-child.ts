// A child of demos/rwlock-reader-death.ts: argv[2] = { path, role }.
// reader: takes a read share of the region's RobustRwLock and keeps it until killed.
// writer: on {cmd:'write', timeoutMs}, acquireWrite and answer with the result and
//         the CLOCK_MONOTONIC time (process.hrtime) at which it got in.
import { openRegion } from '../../src/shm/region.js';
import { RobustRwLock } from '../../src/locks/robust-rwlock.js';
import { currentThreadIdentity } from '../../src/locks/owner.js';

const { path, role } = JSON.parse(process.argv[2] ?? '{}') as { path: string; role: 'reader' | 'writer' };
const region = await openRegion(path);
const rw = RobustRwLock.open(region, 'demo');
const send = (message: unknown) => process.send!(message);
if (role === 'reader') {
  const r = rw.acquireRead(10_000);
  send({ type: 'holding', status: r.status, tid: currentThreadIdentity().tid });
  // Hold the share for ever: only a kill ends this process.
  setInterval(() => {}, 1 << 30);
} else {
  process.on('message', (m: { cmd: string; timeoutMs: number }) => {
    if (m.cmd !== 'write') return;
    const r = rw.acquireWrite(m.timeoutMs);
    const enteredAt = process.hrtime.bigint().toString();
    if (r.owned) rw.releaseWrite();
    send({ type: 'wrote', status: r.status, sharesReclaimed: r.owned ? r.sharesReclaimed : 0, enteredAt });
    process.exit(0);
  });
  send({ type: 'ready', tid: currentThreadIdentity().tid });
}
