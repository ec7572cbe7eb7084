// RobustQueue without deaths: order, full and empty, timeouts and aborts,
// release and acks, dead letters by release, bad arguments, a corrupted
// header. Threads-only regions (Region.create): no file needed.
import { describe, expect, it } from 'vitest';
import { Region } from '../src/shm/region.js';
import { RobustQueue } from '../src/queue/robust-queue.js';
import { Q, QUEUE_MUTEX_OFFSET } from '../src/queue/queue-layout.js';
import { withTestHooks, type QueueHookPoint } from '../src/test-hooks.js';

const shape = { capacity: 4, maxJobBytes: 32 };

function fresh(options: Partial<Parameters<typeof RobustQueue.open>[2]> = {}): { region: Region; queue: RobustQueue } {
  const region = Region.create(256 * 1024);
  return { region, queue: RobustQueue.open(region, 'jobs', { ...shape, ...options }) };
}

describe('RobustQueue', () => {
  it('FIFO for jobs never redelivered; strings and bytes; ids increase', () => {
    const { queue } = fresh();
    const ids = [queue.enqueue('a'), queue.enqueue(new Uint8Array([1, 2, 3])), queue.tryEnqueue('c')];
    expect(ids).toEqual([1, 2, 3]);
    const a = queue.take()!;
    const b = queue.tryTake()!;
    const c = queue.take({ timeoutMs: 0 })!;
    expect([a.text(), [...b.data], c.text()]).toEqual(['a', [1, 2, 3], 'c']);
    expect([a.id, b.id, c.id]).toEqual(ids);
    expect([a.deliveries, a.redelivered, a.previousOwner]).toEqual([1, false, undefined]);
    for (const job of [a, b, c]) job.ack();
    expect(queue.inspect()).toMatchObject({ enqueued: 3, acked: 3, ready: 0, free: 4, taken: [] });
  });

  it('full: tryEnqueue says so, enqueue times out with ERR_QUEUE_FULL, an async enqueue waits for an ack', async () => {
    const { queue } = fresh();
    for (let i = 0; i < 4; i++) expect(queue.tryEnqueue(`j${i}`)).toBe(i + 1);
    expect(queue.tryEnqueue('x')).toBe('full');
    expect(() => queue.enqueue('x', { timeoutMs: 20 })).toThrow(expect.objectContaining({ code: 'ERR_QUEUE_FULL' }));
    await expect(queue.enqueueAsync('x', { timeoutMs: 20 })).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL' });
    const controller = new AbortController();
    const aborted = queue.enqueueAsync('x', { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    const pending = queue.enqueueAsync('fifth', { timeoutMs: 10_000 });
    queue.take()!.ack();
    expect(await pending).toBe(5);
    expect(queue.inspect()).toMatchObject({ ready: 4, free: 0, producersWaiting: 0 });
  });

  it('empty: tryTake null, take times out with null, takeAsync aborts with the reason, then gets the next job', async () => {
    const { queue } = fresh();
    expect(queue.tryTake()).toBeNull();
    expect(queue.take({ timeoutMs: 20 })).toBeNull();
    expect(await queue.takeAsync({ timeoutMs: 20 })).toBeNull();
    const controller = new AbortController();
    const aborted = queue.takeAsync({ signal: controller.signal });
    controller.abort(new Error('no more'));
    await expect(aborted).rejects.toThrow('no more');
    const waiting = queue.takeAsync({ timeoutMs: 10_000 });
    queue.enqueue('late');
    const job = await waiting;
    expect(job?.text()).toBe('late');
    job!.ack();
    expect(queue.inspect()).toMatchObject({ consumersWaiting: 0 });
  });

  it('release() puts a job at the back, counted; at maxDeliveries a release dead-letters it', () => {
    const { queue } = fresh({ maxDeliveries: 2 });
    queue.enqueue('first');
    queue.enqueue('second');
    const first = queue.take()!;
    first.release();
    expect(first.done).toBe(true);
    expect(() => first.ack()).toThrow(expect.objectContaining({ code: 'ERROR_NOT_OWNER' }));
    const second = queue.take()!;
    expect(second.text()).toBe('second');
    second.ack();
    const again = queue.take()!;
    expect(again).toMatchObject({ id: first.id, deliveries: 2, redelivered: true, previousOwner: undefined });
    again.release();
    expect(queue.tryTake()).toBeNull();
    expect(queue.deadLetters()).toMatchObject([{ id: first.id, deliveries: 2 }]);
    expect(queue.inspect()).toMatchObject({ released: 2, deadLettered: 1, deadLetters: [first.id], free: 3 });
    expect(queue.removeDeadLetters([999])).toBe(0);
    expect(queue.removeDeadLetters([first.id])).toBe(1);
    expect(queue.inspect().free).toBe(4);
  });

  it('jobs() iterates until its signal aborts', async () => {
    const { queue } = fresh();
    for (const t of ['x', 'y', 'z']) queue.enqueue(t);
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const job of queue.jobs({ signal: controller.signal })) {
      seen.push(job.text());
      job.ack();
      if (seen.length === 3) controller.abort();
    }
    expect(seen).toEqual(['x', 'y', 'z']);
  });

  it('an enqueue or an ack that throws after its commit is still counted, once', () => {
    const { region, queue } = fresh();
    const throwingAt = (at: QueueHookPoint): RobustQueue =>
      RobustQueue.at(
        region.buffer,
        queue.byteOffset,
        withTestHooks({}, {
          onInsideQueueLock: (point) => {
            if (point === at) throw new Error(`thrown at ${point}`);
          },
        }),
      );
    expect(() => throwingAt('enqueue:committed').enqueue('committed')).toThrow('thrown at enqueue:committed');
    expect(queue.inspect()).toMatchObject({ enqueued: 1, ready: 1, acked: 0 });
    // Nothing is left for a repair to apply again.
    expect(queue.recoverDeadConsumers()).toBe(0);
    expect(queue.inspect()).toMatchObject({ enqueued: 1, ready: 1, acked: 0 });
    const job = throwingAt('ack:freed').take()!;
    expect(job.text()).toBe('committed');
    expect(() => job.ack()).toThrow('thrown at ack:freed');
    expect(queue.inspect()).toMatchObject({ enqueued: 1, ready: 0, acked: 1, taken: [], free: shape.capacity });
    expect(queue.recoverDeadConsumers()).toBe(0);
    expect(queue.inspect()).toMatchObject({ enqueued: 1, acked: 1 });
    // A throw before the commit leaves no job, no count and no slot lost.
    expect(() => throwingAt('enqueue:copying').enqueue('half')).toThrow('thrown at enqueue:copying');
    expect(queue.inspect()).toMatchObject({ enqueued: 1, ready: 0, free: shape.capacity });
  });

  it('a job is acked or released once, by the thread that took it', () => {
    const { queue } = fresh();
    queue.enqueue('once');
    const job = queue.take()!;
    job.ack();
    expect(() => job.ack()).toThrow(expect.objectContaining({ code: 'ERROR_NOT_OWNER', name: 'JobNotHeldError' }));
    expect(() => job.release()).toThrow(expect.objectContaining({ code: 'ERROR_NOT_OWNER' }));
  });

  it('bad arguments get coded errors', () => {
    const region = Region.create(256 * 1024);
    const bad: [string, () => unknown][] = [
      ['capacity 0', () => RobustQueue.open(region, 'a', { capacity: 0, maxJobBytes: 8 })],
      ['capacity 1.5', () => RobustQueue.open(region, 'a', { capacity: 1.5, maxJobBytes: 8 })],
      ['capacity huge', () => RobustQueue.open(region, 'a', { capacity: 1e9, maxJobBytes: 8 })],
      ['maxJobBytes -1', () => RobustQueue.open(region, 'a', { capacity: 2, maxJobBytes: -1 })],
      ['maxJobBytes NaN', () => RobustQueue.open(region, 'a', { capacity: 2, maxJobBytes: Number.NaN })],
      ['maxDeliveries 0', () => RobustQueue.open(region, 'a', { capacity: 2, maxJobBytes: 8, maxDeliveries: 0 })],
      ['livenessIntervalMs 0', () => RobustQueue.open(region, 'a', { capacity: 2, maxJobBytes: 8, livenessIntervalMs: 0 })],
      ['leaseMs -1', () => RobustQueue.open(region, 'a', { capacity: 2, maxJobBytes: 8, leaseMs: -1 })],
      ['empty name', () => RobustQueue.open(region, '', { capacity: 2, maxJobBytes: 8 })],
      ['no options', () => RobustQueue.open(region, 'a', undefined as never)],
      ['misaligned at()', () => RobustQueue.at(region.buffer, 3)],
    ];
    for (const [what, call] of bad) expect(call, what).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    const queue = RobustQueue.open(region, 'q', { capacity: 2, maxJobBytes: 8 });
    expect(() => queue.tryEnqueue('nine bytes')).toThrow(expect.objectContaining({ code: 'ERR_JOB_TOO_LARGE' }));
    expect(() => queue.tryEnqueue(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => queue.take({ timeoutMs: -1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => queue.enqueue('x', { timeoutMs: Number.NaN })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => RobustQueue.open(region, 'q', { capacity: 3, maxJobBytes: 8 })).toThrow(expect.objectContaining({ code: 'ERR_QUEUE_MISMATCH' }));
    expect(() => RobustQueue.open(region, 'q', { capacity: 2, maxJobBytes: 8, maxDeliveries: 9 })).toThrow(expect.objectContaining({ code: 'ERR_QUEUE_MISMATCH' }));
  });

  it('a corrupted queue header or mutex gets ERR_REGION_CORRUPT, at open and on the next operation', () => {
    const { region, queue } = fresh();
    queue.enqueue('before');
    const h = new Int32Array(region.buffer, queue.byteOffset, 32);
    const cases: [string, number, number][] = [
      ['magic', Q.magic, 0x12345678],
      ['version', Q.version, 99],
      ['capacity', Q.capacity, -5],
      ['capacity past the buffer', Q.capacity, 60_000],
      ['maxJobBytes', Q.maxJobBytes, 0],
      ['wait kind', Q.waitKind, 7],
      ['ring head', Q.ringHead, 1_000],
      ['ready count', Q.ringCount, -1],
    ];
    for (const [what, index, value] of cases) {
      const saved = h[index]!;
      h[index] = value;
      expect(() => RobustQueue.open(region, 'jobs', shape), what).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT' }));
      h[index] = saved;
    }
    // A handle already open notices on its next operation.
    const saved = h[Q.ringCount]!;
    h[Q.ringCount] = 77;
    expect(() => queue.tryTake()).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT' }));
    h[Q.ringCount] = saved;
    expect(queue.tryTake()?.text()).toBe('before');
    const m = new Int32Array(region.buffer, queue.byteOffset + QUEUE_MUTEX_OFFSET, 8);
    m[3] = 0;
    expect(() => RobustQueue.open(region, 'jobs', shape)).toThrow(expect.objectContaining({ code: 'ERR_REGION_CORRUPT' }));
  });

  it('no lease by default: a job held long by a live consumer is nobody else\'s', async () => {
    const { region, queue } = fresh();
    expect(queue.leaseMs).toBe(0);
    queue.enqueue('slow');
    const job = queue.take()!;
    const other = RobustQueue.open(Region.attach(region.buffer), 'jobs', shape);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(other.take({ timeoutMs: 100 })).toBeNull();
    expect(other.recoverDeadConsumers()).toBe(0);
    job.ack();
    expect(queue.inspect()).toMatchObject({ acked: 1, leasesExpired: 0, redelivered: 0 });
  });

  it('leaseMs: a live consumer past its lease loses the job to another consumer; its ack then throws ERR_LEASE_EXPIRED', async () => {
    const { region, queue } = fresh({ leaseMs: 100 });
    expect(queue.leaseMs).toBe(100);
    queue.enqueue('slow');
    const first = queue.take()!;
    expect(first.deliveries).toBe(1);
    const other = RobustQueue.open(Region.attach(region.buffer), 'jobs', { ...shape, leaseMs: 100 });
    // Not before the lease runs out (the bound here is a safety net: take() returns once it has).
    const second = other.take({ timeoutMs: 10_000 })!;
    expect(second).not.toBeNull();
    expect(second).toMatchObject({ id: first.id, deliveries: 2, redelivered: true, previousOwner: undefined });
    expect(second.text()).toBe('slow');
    expect(queue.inspect()).toMatchObject({ leasesExpired: 1, free: 2, taken: [{ id: first.id, leaseExpired: true }, { id: first.id, leaseExpired: false }] });
    expect(() => first.ack()).toThrow(expect.objectContaining({ code: 'ERR_LEASE_EXPIRED', name: 'LeaseExpiredError' }));
    expect(first.done).toBe(true);
    second.ack();
    expect(queue.inspect()).toMatchObject({ acked: 1, free: 4, taken: [] });
    expect(() => RobustQueue.open(region, 'jobs', { ...shape, leaseMs: 5 })).toThrow(expect.objectContaining({ code: 'ERR_QUEUE_MISMATCH' }));
  });

  it('handles in worker-less use share one queue by name', () => {
    const region = Region.create(256 * 1024);
    const producer = RobustQueue.open(region, 'shared', shape);
    const consumer = RobustQueue.open(Region.attach(region.buffer), 'shared', shape);
    expect(consumer.byteOffset).toBe(producer.byteOffset);
    producer.enqueue('hello');
    const job = consumer.take()!;
    expect(job.text()).toBe('hello');
    job.ack();
  });
});
