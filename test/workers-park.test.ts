// The parking lot: a participant parks inside its critical section on request,
// the requester learns who parked without sleeping, and the parked participant
// can be released, terminated or SIGKILLed there.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { ParkingLot, ParkTimeoutError } from '../src/workers/park.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { openRegion } from '../src/shm/region.js';
import { exited, nextMessage, useResources } from './helpers/resources.js';
import type { ParticipantData, Reply } from './fixtures/mutex-participant.js';

const participant = new URL('./fixtures/mutex-participant.ts', import.meta.url);
const MUTEX = 0;
const LOT = 128;
const DATA = 512;

function layout(buffer: SharedArrayBuffer): { mutex: RobustMutex; lot: ParkingLot } {
  return { mutex: RobustMutex.initialize(buffer, MUTEX), lot: ParkingLot.initialize(buffer, LOT, 4) };
}

describe('ParkingLot', () => {
  const res = useResources();

  it('checks its placement and slot numbers', () => {
    const buffer = new SharedArrayBuffer(256);
    expect(ParkingLot.BYTES(4)).toBe(80);
    expect(() => ParkingLot.initialize(buffer, 4, 1)).toThrow(/multiple of 8/);
    expect(() => ParkingLot.initialize(buffer, 200, 4)).toThrow(/inside the buffer/);
    expect(() => ParkingLot.at(buffer, 0)).toThrow(/no parking lot/);
    const lot = ParkingLot.initialize(buffer, 0, 2);
    expect(() => lot.request(2)).toThrow(/participant must be/);
    expect(ParkingLot.at(buffer, 0).slots).toBe(2);
  });

  it('does nothing without a request, and times out waiting for a participant that never parks', () => {
    const lot = ParkingLot.initialize(new SharedArrayBuffer(128), 0, 1);
    expect(lot.parkIfRequested(0)).toBe(false);
    expect(() => lot.waitUntilParked(0, 30)).toThrow(ParkTimeoutError);
  }, 10_000);

  it('parks a worker thread inside the critical section and lets it go on release', async () => {
    const buffer = new SharedArrayBuffer(1024);
    const { mutex, lot } = layout(buffer);
    const data: ParticipantData = { buffer, mutexOffset: MUTEX, lotOffset: LOT, dataOffset: DATA, slot: 1 };
    const worker = res.worker(participant, data);
    const ready = await nextWorkerMessage<{ tid: number }>(worker);
    lot.request(1);
    worker.postMessage({ id: 1, cmd: 'cs' });
    const parked = lot.waitUntilParked(1, 10_000);
    expect(parked.tid).toBe(ready.tid);
    expect(parked.pid).toBe(process.pid);
    // Parked means inside the critical section: the mutex is held by that thread.
    expect(mutex.inspect().owner?.tid).toBe(ready.tid);
    expect(mutex.tryAcquire().status).toBe('busy');
    const done = nextWorkerMessage<Reply>(worker, (m) => m.id === 1);
    lot.release(1);
    expect((await done).status).toBe('acquired');
    expect(lot.state(1)).toBe('idle');
    expect(mutex.inspect().state).toBe('free');
  }, 20_000);

  it('a parked worker is ended by terminate() at once, and its thread is gone', async () => {
    const buffer = new SharedArrayBuffer(1024);
    const { lot } = layout(buffer);
    const worker = res.worker(participant, { buffer, mutexOffset: MUTEX, lotOffset: LOT, dataOffset: DATA, slot: 0 } satisfies ParticipantData);
    await nextWorkerMessage(worker);
    lot.request(0);
    worker.postMessage({ id: 1, cmd: 'cs' });
    const parked = await lot.waitUntilParkedAsync(0, { timeoutMs: 10_000 });
    const started = performance.now();
    await worker.terminate();
    expect(performance.now() - started).toBeLessThan(2_000); // safety net; slices are 10 ms
    expect(existsSync(`/proc/${process.pid}/task/${parked.tid}`)).toBe(false);
  }, 20_000);

  it('parks a child process and it can be SIGKILLed there', async () => {
    const path = res.path('park');
    const region = await openRegion(path, { size: 64 * 1024, create: true });
    const mutex = RobustMutex.open(region, 'm');
    const lot = ParkingLot.open(region, 'lot', 2);
    const { offset: dataOffset } = region.findOrCreate('data', 64);
    const data: ParticipantData = { path, mutexOffset: mutex.byteOffset, lotOffset: lot.byteOffset, dataOffset, slot: 1 };
    const child = res.fork(participant, [JSON.stringify(data)]);
    const ready = await nextMessage<{ pid: number }>(child);
    lot.request(1);
    child.send({ id: 1, cmd: 'cs' });
    const parked = await lot.waitUntilParkedAsync(1, { timeoutMs: 20_000 });
    expect(parked.pid).toBe(ready.pid);
    expect(mutex.inspect().owner?.pid).toBe(ready.pid);
    child.kill('SIGKILL');
    expect((await exited(child)).signal).toBe('SIGKILL');
    const result = mutex.acquire(5_000);
    expect(result.status).toBe('abandoned');
    // A new request overwrites the dead parker's PARKED.
    expect(lot.state(1)).toBe('parked');
    lot.request(1);
    expect(lot.state(1)).toBe('requested');
    mutex.markConsistent();
    mutex.release();
  }, 30_000);
});

function nextWorkerMessage<T = Record<string, unknown>>(worker: import('node:worker_threads').Worker, match: (m: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: T) => {
      if (!match(m)) return;
      worker.off('message', onMessage);
      worker.off('error', reject);
      resolve(m);
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
  });
}
