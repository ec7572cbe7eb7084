// RobustRwLock: outcomes, real reader deaths (SIGKILL, terminate(),
// process.exit()) with a writer waiting, real writer deaths ('abandoned', the
// posix policy), and the two starvation properties of the phase-fair design.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { RobustRwLock } from '../src/locks/robust-rwlock.js';
import { useResources } from './helpers/resources.js';
import { bundleParticipant, processParticipant, rwWorld, threadParticipant, until, type Bundle, type RwParticipant, type RwWorld } from './fixtures/rwlock-setup.js';
import { T } from './fixtures/rwlock-table.js';

describe('robust rwlock', () => {
  const res = useResources();
  let bundle: Bundle;
  const workers = new Set<Worker>();
  beforeAll(async () => {
    bundle = await bundleParticipant();
  }, 60_000);
  afterAll(() => bundle?.dispose());
  afterEach(async () => {
    await Promise.all([...workers].map((w) => w.terminate()));
    workers.clear();
  });
  const thread = (w: RwWorld, slot: number) => threadParticipant(bundle, w.data(slot), w.region, (worker) => workers.add(worker));
  const proc = (w: RwWorld, slot: number) => processParticipant(res, bundle, w.data(slot));

  it('read shares, recursion, try, timeout, no upgrade, NotOwnerError, reads inside a write', async () => {
    const w = await rwWorld(res);
    const other = await thread(w, 1);
    expect(w.rw.acquireRead()).toMatchObject({ owned: true, status: 'acquired', depth: 1, sharesReclaimed: 0 });
    expect(w.rw.acquireRead()).toMatchObject({ status: 'acquired', depth: 2 });
    expect(w.rw.readDepthOfCurrentThread()).toBe(2);
    expect(await other.request({ cmd: 'try', mode: 'read' })).toMatchObject({ status: 'acquired' }); // readers share
    expect(await other.request({ cmd: 'try', mode: 'write' })).toMatchObject({ status: 'busy' });
    expect(await other.request({ cmd: 'write', timeoutMs: 50 })).toMatchObject({ status: 'timeout' });
    expect(() => w.rw.acquireWrite()).toThrow(expect.objectContaining({ code: 'EDEADLK' }));
    expect(w.rw.inspect()).toMatchObject({ state: 'read', readers: [{ pid: process.pid, depth: 2, alive: true }] });
    w.rw.releaseRead();
    w.rw.releaseRead();
    expect(() => w.rw.releaseRead()).toThrow(expect.objectContaining({ code: 'ERROR_NOT_OWNER' }));
    expect(w.rw.acquireWrite()).toMatchObject({ status: 'acquired', depth: 1 });
    expect(w.rw.acquireRead()).toMatchObject({ status: 'acquired' }); // a read inside our own write
    expect(w.rw.acquireWrite()).toMatchObject({ depth: 2 });
    expect(await other.request({ cmd: 'try', mode: 'read' })).toMatchObject({ status: 'busy' });
    expect(w.rw.inspect()).toMatchObject({ state: 'write', writer: { pid: process.pid, alive: true } });
    w.rw.releaseWrite();
    w.rw.releaseRead();
    expect(w.rw.inspect().state).toBe('write');
    w.rw.releaseWrite();
    expect(() => w.rw.releaseWrite()).toThrow(expect.objectContaining({ code: 'ERROR_NOT_OWNER' }));
    expect(w.rw.inspect().state).toBe('free');
    expect(await other.request({ cmd: 'write', timeoutMs: 5_000 })).toMatchObject({ status: 'acquired' });
  }, 60_000);

  it('async acquires: a writer waits without blocking the loop; an AbortSignal withdraws it and takes nothing', async () => {
    const w = await rwWorld(res);
    const reader = await thread(w, 1);
    w.lot.request(1);
    void reader.request({ cmd: 'read', park: true }).catch(() => {});
    await w.lot.waitUntilParkedAsync(1, { timeoutMs: 20_000 });
    const controller = new AbortController();
    const pending = w.rw.acquireWriteAsync({ signal: controller.signal });
    await until(() => w.rw.inspect().state === 'draining', 20_000, 'the async writer to own the writer word');
    const reason = new Error('gave up');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(w.rw.inspect().state).toBe('read');
    const waited = w.rw.acquireWriteAsync({ timeoutMs: 30_000 });
    await until(() => w.rw.inspect().state === 'draining', 20_000, 'the async writer to own the writer word');
    w.lot.release(1);
    expect(await waited).toMatchObject({ status: 'acquired', sharesReclaimed: 0 });
    w.rw.releaseWrite();
  }, 60_000);

  const deaths: { how: string; kind: 'process' | 'thread'; end: (w: RwWorld, p: RwParticipant) => Promise<void> }[] = [
    { how: 'SIGKILL', kind: 'process', end: (_w, p) => p.kill() },
    { how: 'worker.terminate()', kind: 'thread', end: (_w, p) => p.kill() },
    { how: 'process.exit() in a process', kind: 'process', end: async (w, p) => { w.lot.release(p.slot); await p.exited; } },
    { how: 'process.exit() in a worker', kind: 'thread', end: async (w, p) => { w.lot.release(p.slot); await p.exited; } },
  ];
  for (const death of deaths) {
    it(`a reader dies holding a share (${death.how}): the waiting writer enters and reclaimed 1 share`, async () => {
      const w = await rwWorld(res);
      const reader = death.kind === 'process' ? await proc(w, 1) : await thread(w, 1);
      const other = await thread(w, 2); // a reader that leaves normally: not counted
      const writer = death.kind === 'process' ? await thread(w, 3) : await proc(w, 3);
      const exits = death.how.startsWith('process.exit');
      w.lot.request(1);
      w.lot.request(2);
      void reader.request({ cmd: 'read', park: true, ...(exits ? { exitAfterPark: 7 } : {}) }).catch(() => {});
      const otherDone = other.request({ cmd: 'read', park: true });
      w.lot.waitUntilParked(1, 20_000);
      w.lot.waitUntilParked(2, 20_000);
      expect(w.rw.inspect().readers.map((r) => r.tid).sort()).toEqual([reader.tid, other.tid].sort());
      const entered = writer.request({ cmd: 'write', timeoutMs: 30_000 });
      await until(() => w.rw.inspect().state === 'draining', 20_000, 'the writer to wait for the readers');
      w.lot.release(2);
      expect(await otherDone).toMatchObject({ status: 'acquired' });
      const before = w.rw.inspect().sharesReclaimed;
      await death.end(w, reader);
      expect(await entered).toMatchObject({ status: 'acquired', abandoned: false, sharesReclaimed: 1 });
      expect(w.rw.inspect()).toMatchObject({ sharesReclaimed: before + 1, timesAbandoned: 0, state: 'free', readers: [] });
      expect(Atomics.load(w.table, T.violations)).toBe(0);
    }, 60_000);
  }

  it('a writer killed mid-write: the next writer gets "abandoned"; released without markConsistent (posix) it is not recoverable', async () => {
    const w = await rwWorld(res, { policy: 'posix' });
    const writer = await proc(w, 1);
    w.lot.request(1);
    void writer.request({ cmd: 'write', park: true }).catch(() => {});
    w.lot.waitUntilParked(1, 20_000);
    await writer.kill();
    const r = w.rw.acquireWrite(10_000);
    expect(r).toMatchObject({ owned: true, status: 'abandoned', abandoned: true, depth: 1, previousOwner: { tid: writer.tid, pid: writer.pid } });
    expect(w.rw.inspect()).toMatchObject({ timesAbandoned: 1, consistent: false, state: 'write' });
    w.rw.releaseWrite(); // no markConsistent()
    expect(w.rw.acquireWrite(1_000)).toMatchObject({ owned: false, status: 'not-recoverable' });
    expect(w.rw.acquireRead(1_000)).toMatchObject({ owned: false, status: 'not-recoverable' });
    expect(w.rw.inspect().state).toBe('not-recoverable');
  }, 60_000);

  it('a writer killed mid-write: a reader gets "abandoned" holding the lock exclusively, repairs, and it recovers', async () => {
    const w = await rwWorld(res, { policy: 'posix' });
    const writer = await thread(w, 1);
    const reader = await proc(w, 2);
    w.lot.request(1);
    void writer.request({ cmd: 'write', park: true }).catch(() => {});
    w.lot.waitUntilParked(1, 20_000);
    const waiting = reader.request({ cmd: 'read', timeoutMs: 30_000, markConsistent: true });
    await until(() => w.rw.inspect().waitingReaders.length === 1, 20_000, 'the reader to wait');
    await writer.kill();
    expect(await waiting).toMatchObject({ status: 'abandoned', abandoned: true, previousTid: writer.tid });
    expect(w.rw.inspect()).toMatchObject({ state: 'free', consistent: true, timesAbandoned: 1 });
    expect(w.rw.acquireRead(5_000)).toMatchObject({ status: 'acquired' });
    w.rw.releaseRead();
    expect(Atomics.load(w.table, T.violations)).toBe(0);
  }, 60_000);

  for (const kind of ['thread', 'process'] as const) {
    it(`a taker of an abandoned lock killed (${kind}) before it is in: the next acquirer is still told "abandoned"`, async () => {
      // Writer #1 dies inside; #2 takes over ('abandoned'), dies inside too
      // without repairing; #3 takes the dead #2's word over and is killed
      // right there, before it has drained the readers. The repair is still
      // owed: we must be told 'abandoned', and under posix a release without
      // markConsistent() must make the lock not recoverable. (The soak met
      // the old behaviour: 'acquired', then a release that made the lock not
      // recoverable for every participant.)
      const w = await rwWorld(res, { policy: 'posix' });
      let lastRecorded = 0;
      for (const slot of [1, 2]) {
        const writer = await proc(w, slot);
        w.lot.request(slot);
        void writer.request({ cmd: 'write', park: true, markConsistent: false }).catch(() => {});
        w.lot.waitUntilParked(slot, 20_000);
        await writer.kill();
        lastRecorded = writer.tid;
      }
      const taker = await (kind === 'thread' ? threadParticipant(bundle, { ...w.data(3), parkOnTakeover: true }, w.region, (worker) => workers.add(worker)) : processParticipant(res, bundle, { ...w.data(3), parkOnTakeover: true }));
      w.lot.request(3);
      void taker.request({ cmd: 'write', timeoutMs: 30_000 }).catch(() => {});
      w.lot.waitUntilParked(3, 20_000);
      expect(w.rw.inspect()).toMatchObject({ consistent: false, timesAbandoned: 1 });
      await taker.kill();
      const r = w.rw.acquireWrite(10_000);
      // The taker died before it recorded itself: the last writer that did is named.
      expect(r).toMatchObject({ owned: true, status: 'abandoned', abandoned: true, previousOwner: { tid: lastRecorded } });
      w.rw.releaseWrite(); // no markConsistent()
      expect(w.rw.acquireWrite(1_000)).toMatchObject({ owned: false, status: 'not-recoverable' });
    }, 60_000);
  }

  it('a taker stopped right after taking over a dead writer\'s word is alive: a waiting writer times out, then gets in once it is killed', async () => {
    // Until the taker has recorded itself, the identity fields still name the
    // dead writer. A waiter's liveness look read the taker's tid with the dead
    // writer's start time, judged it "reused", so dead, and went in beside it.
    const w = await rwWorld(res, { policy: 'posix' });
    const writer = await proc(w, 1);
    w.lot.request(1);
    void writer.request({ cmd: 'write', park: true, markConsistent: false }).catch(() => {});
    w.lot.waitUntilParked(1, 20_000);
    await writer.kill();
    const taker = await threadParticipant(bundle, { ...w.data(2), parkOnTakeover: true }, w.region, (worker) => workers.add(worker));
    w.lot.request(2);
    void taker.request({ cmd: 'write', timeoutMs: 30_000 }).catch(() => {});
    w.lot.waitUntilParked(2, 20_000);
    // Many liveness looks (every 5 ms) while the taker holds the word, parked and alive.
    expect(w.rw.acquireWrite(1_500)).toMatchObject({ owned: false, status: 'timeout' });
    await taker.kill();
    expect(w.rw.acquireWrite(10_000)).toMatchObject({ owned: true, status: 'abandoned', previousOwner: { tid: writer.tid } });
    w.rw.markConsistent();
    w.rw.releaseWrite();
    expect(w.rw.inspect()).toMatchObject({ state: 'free', consistent: true });
  }, 60_000);

  it('writers do not starve under a continuous stream of overlapping readers', async () => {
    const w = await rwWorld(res);
    const readers = [await thread(w, 1), await thread(w, 2), await proc(w, 3), await proc(w, 4)];
    const loops = readers.map((r) => r.request({ cmd: 'loop', readRatio: 1, holdMs: 2 }));
    await until(() => readers.every((r) => Atomics.load(w.table, 4 + r.slot * 8 + T.progress) > 5), 30_000, 'the readers to stream');
    try {
      for (let i = 0; i < 20; i++) {
        const r = w.rw.acquireWrite(10_000);
        expect(r.status).toBe('acquired');
        w.rw.releaseWrite();
      }
    } finally {
      Atomics.store(w.table, T.stop, 1);
    }
    for (const loop of loops) expect((await loop).error).toBeUndefined();
    expect(Atomics.load(w.table, T.violations)).toBe(0);
  }, 120_000);

  it('readers do not starve under a continuous stream of writers', async () => {
    const w = await rwWorld(res);
    const writers = [await thread(w, 1), await proc(w, 2), await thread(w, 3)];
    const loops = writers.map((p) => p.request({ cmd: 'loop', readRatio: 0, holdMs: 1 }));
    await until(() => writers.every((p) => Atomics.load(w.table, 4 + p.slot * 8 + T.progress) > 5), 30_000, 'the writers to stream');
    try {
      for (let i = 0; i < 20; i++) {
        const r = w.rw.acquireRead(10_000);
        expect(r.status).toBe('acquired');
        w.rw.releaseRead();
      }
    } finally {
      Atomics.store(w.table, T.stop, 1);
    }
    for (const loop of loops) expect((await loop).error).toBeUndefined();
    expect(Atomics.load(w.table, T.violations)).toBe(0);
  }, 120_000);

  it('phase-fair, step by step: a waiting writer stops new readers; a write release lets the waiting reader in before the next writer', async () => {
    const w = await rwWorld(res);
    const r1 = await thread(w, 1);
    const r2 = await proc(w, 2);
    const w1 = await thread(w, 3);
    const w2 = await proc(w, 4);
    // A reader inside, a writer waiting for it: a new reader does not get in (no writer starvation).
    w.lot.request(1);
    const r1Done = r1.request({ cmd: 'read', park: true });
    w.lot.waitUntilParked(1, 20_000);
    w.lot.request(3);
    const w1Done = w1.request({ cmd: 'write', park: true });
    await until(() => w.rw.inspect().state === 'draining', 20_000, 'the writer to wait for the reader');
    expect(await r2.request({ cmd: 'try', mode: 'read' })).toMatchObject({ status: 'busy' });
    expect(await r2.request({ cmd: 'read', timeoutMs: 200 })).toMatchObject({ status: 'timeout' });
    w.lot.release(1);
    expect(await r1Done).toMatchObject({ status: 'acquired' });
    w.lot.waitUntilParked(3, 20_000); // the writer is in
    // A reader and a second writer wait for the first writer; its release lets the reader in first.
    w.lot.request(2);
    const r2Done = r2.request({ cmd: 'read', park: true, timeoutMs: 30_000 });
    await until(() => w.rw.inspect().waitingReaders.length === 1, 20_000, 'the reader to wait');
    const w2Done = w2.request({ cmd: 'write', timeoutMs: 30_000 });
    await until(() => w.rw.inspect().waitingWriters === 1, 20_000, 'the second writer to wait');
    const writePhases = w.rw.inspect().writeAcquisitions;
    w.lot.release(3);
    expect(await w1Done).toMatchObject({ status: 'acquired' });
    w.lot.waitUntilParked(2, 20_000); // the reader is in, and the second writer has not been
    const whileReading = w.rw.inspect();
    expect(whileReading.readers.map((r) => r.tid)).toEqual([r2.tid]);
    expect(whileReading.writeAcquisitions).toBe(writePhases); // the second writer did not get in first
    w.lot.release(2);
    expect(await r2Done).toMatchObject({ status: 'acquired' });
    expect(await w2Done).toMatchObject({ status: 'acquired' });
    expect(Atomics.load(w.table, T.violations)).toBe(0);
  }, 60_000);

  it('RobustRwLock.initialize over a plain SharedArrayBuffer; wrong bytes are a layout error', () => {
    const sab = new SharedArrayBuffer(RobustRwLock.bytes(4) + 8);
    const rw = RobustRwLock.initialize(sab, 8, { readerSlots: 4 });
    expect(rw.readerSlots).toBe(4);
    expect(RobustRwLock.at(sab, 8).inspect().state).toBe('free');
    expect(() => RobustRwLock.at(new SharedArrayBuffer(4096), 0)).toThrow(expect.objectContaining({ code: 'ERR_RWLOCK_LAYOUT' }));
  });
});
