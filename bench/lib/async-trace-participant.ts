// A child of bench/async-trace.ts (argv[2] = JSON). Command over IPC:
//   wait { mode }  acquire() ('sync') or acquireAsync() ('async') on the mutex; answers
//                  { deliveredAt, returnedAt } (process.hrtime.bigint(), CLOCK_MONOTONIC): when the
//                  native waiter's delivery reached JS (async only: the kernel-waits delivery map's
//                  lookup of the woken wait), when the waiting loop next looked at the lock word
//                  (RobustMutex's private step(), wrapped here: bench-only instrumentation) and when
//                  the acquire had returned; then releases.
import { RobustMutex } from '../../src/locks/robust-mutex.js';
import { participantSide } from '../../src/workers/participant-side.js';

export interface AsyncTraceParticipantData {
  path: string;
  mutexOffset: number;
}

/**
 * The kernel-waits delivery point (src/locks/kernel-waits.ts keeps it on globalThis under this key),
 * made here first with a map that notes when deliver() looks a woken wait up.
 */
let deliveredAt = 0n;
class TimedMap<K, V> extends Map<K, V> {
  override get(key: K): V | undefined {
    if (deliveredAt === 0n) deliveredAt = process.hrtime.bigint();
    return super.get(key);
  }
}
(globalThis as Record<symbol, unknown>)[Symbol.for('robust-shm.kernelWaits')] = { pending: new TimedMap(), started: false };

// When the waiting loop's first look at the word after the delivery ran (RobustMutex's private step()).
let steppedAt = 0n;
const proto = RobustMutex.prototype as unknown as { step: (...a: unknown[]) => unknown };
const step = proto.step;
proto.step = function (this: unknown, ...a: unknown[]) {
  if (deliveredAt !== 0n && steppedAt === 0n) steppedAt = process.hrtime.bigint();
  return step.apply(this, a);
};

const { data, buffer, send, onMessage } = await participantSide<AsyncTraceParticipantData & { buffer?: SharedArrayBuffer }>();
const mutex = RobustMutex.at(buffer, data.mutexOffset);

onMessage((message) => {
  const { mode } = message as { mode: 'sync' | 'async' };
  deliveredAt = 0n;
  steppedAt = 0n;
  const done = (status: string) => {
    const returnedAt = process.hrtime.bigint();
    mutex.release();
    send({ type: 'waited', status, deliveredAt: deliveredAt.toString(), steppedAt: steppedAt.toString(), returnedAt: returnedAt.toString() });
  };
  if (mode === 'sync') done(mutex.acquire().status);
  else void mutex.acquireAsync().then((r) => done(r.status));
});
send({ type: 'ready' });
