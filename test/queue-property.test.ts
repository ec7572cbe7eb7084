// A property run of RobustQueue against a model: random sequences of enqueue,
// take, ack, release and kill (worker.terminate() of a consumer thread,
// SIGKILL of a consumer process) by three consumers, each command checked
// against what the model allows. At the end every consumer is killed and the
// queue drained: every job enqueued was acked exactly once or sits in the
// dead-letter list; nothing lost, nothing delivered twice except by a
// redelivery the model expected (a death or a release), with the deliveries
// it counted; jobs never delivered come out in enqueue order.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { useResources } from './helpers/resources.js';
import { bundleQueueParticipants, exitOf, queueWorld, startProcess, startThread, type QueueBundle, type QueueWorld } from './fixtures/queue-setup.js';
import type { QueueCommand, QueueReply } from './fixtures/queue-table.js';

const CAPACITY = 6;
const MAX_DELIVERIES = 3;
const RUNS = Number(process.env['QUEUE_PROPERTY_RUNS'] ?? 30);

type Op =
  | { op: 'enqueue' }
  | { op: 'take'; who: number }
  | { op: 'ack'; who: number; pick: number }
  | { op: 'release'; who: number; pick: number }
  | { op: 'kill'; who: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ op: 'enqueue' as const }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('take' as const), who: fc.nat(2) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('ack' as const), who: fc.nat(2), pick: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('release' as const), who: fc.nat(2), pick: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('kill' as const), who: fc.nat(2) }) },
);

type CommandBody = QueueCommand extends infer C ? (C extends unknown ? Omit<C, 'seq'> : never) : never;

interface Consumer {
  port: ChildProcess | Worker;
  request(command: CommandBody): Promise<QueueReply>;
  kill(): Promise<unknown>;
}

describe('RobustQueue property run', () => {
  const res = useResources();
  let bundle: QueueBundle;
  const workers = new Set<Worker>();
  beforeAll(async () => {
    bundle = await bundleQueueParticipants();
  }, 60_000);
  afterAll(() => bundle?.dispose());
  afterEach(async () => {
    await Promise.all([...workers].map((w) => w.terminate()));
    workers.clear();
  });

  async function startConsumer(w: QueueWorld, who: number): Promise<Consumer> {
    // Consumers 0 and 1 are threads, 2 is a process.
    const data = w.data(who, 'serve');
    const port = who === 2 ? startProcess(res, bundle.participant, data) : startThread(bundle.participant, data, w.region, (x) => workers.add(x));
    const pending = new Map<number, (reply: QueueReply) => void>();
    let seq = 0;
    let dead: Error | null = null;
    const gone = exitOf(port).then(() => {
      dead = new Error(`consumer ${who} ended`);
      for (const reject of pending.values()) reject({ seq: -1, error: dead.message });
    });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean } & QueueReply): void => {
        if (message.ready) {
          resolve();
          return;
        }
        pending.get(message.seq)?.(message);
        pending.delete(message.seq);
      };
      port.on('message', onMessage);
      void gone.then(() => reject(new Error(`consumer ${who} ended before it was ready`)));
    });
    return {
      port,
      request(command) {
        if (dead) return Promise.reject(dead);
        const id = ++seq;
        return new Promise<QueueReply>((resolve) => {
          pending.set(id, resolve);
          const message = { ...command, seq: id };
          if ('postMessage' in port) port.postMessage(message);
          else port.send(message);
        });
      },
      async kill() {
        if ('postMessage' in port) await port.terminate();
        else {
          port.kill('SIGKILL');
        }
        await gone;
      },
    };
  }

  const seen = { takes: 0, redeliveredTakes: 0, killsHolding: 0, releases: 0, acks: 0, deadLettered: 0, full: 0 };

  it(`${RUNS} random sequences of enqueue/take/ack/release/kill match the model: none lost, none acked twice`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 10, maxLength: 60 }), async (ops) => {
        const w = await queueWorld(res, { capacity: CAPACITY, maxJobBytes: 64, maxDeliveries: MAX_DELIVERIES });
        const consumers: (Consumer | undefined)[] = [];
        // The model: jobs by id with their deliveries so far; where each is.
        const deliveries = new Map<number, number>();
        const ready = new Set<number>();
        const held: Set<number>[] = [new Set(), new Set(), new Set()];
        const dead = new Set<number>();
        const acked = new Set<number>();
        const enqueued: number[] = [];
        const comeBack = (id: number): void => {
          if (deliveries.get(id)! >= MAX_DELIVERIES) dead.add(id);
          else ready.add(id);
        };
        try {
          for (const op of ops) {
            if (op.op === 'enqueue') {
              const result = w.queue.tryEnqueue(`job ${enqueued.length + 1}`);
              const used = ready.size + dead.size + held.reduce((n, h) => n + h.size, 0);
              if (used >= CAPACITY) {
                expect(result).toBe('full');
                seen.full++;
              } else {
                expect(typeof result).toBe('number');
                const id = result as number;
                expect(deliveries.has(id)).toBe(false);
                deliveries.set(id, 0);
                ready.add(id);
                enqueued.push(id);
              }
              continue;
            }
            if (op.op === 'kill') {
              const c = consumers[op.who];
              if (!c) continue;
              await c.kill();
              consumers[op.who] = undefined;
              if (held[op.who]!.size > 0) seen.killsHolding++;
              for (const id of held[op.who]!) comeBack(id);
              held[op.who]!.clear();
              continue;
            }
            const c = (consumers[op.who] ??= await startConsumer(w, op.who));
            if (op.op === 'take') {
              // Something the model holds ready must come (a death's job after the next look); nothing else may.
              const reply = await c.request({ cmd: 'take', timeoutMs: ready.size > 0 ? 20_000 : 0 });
              expect(reply.error).toBeUndefined();
              if (ready.size === 0) {
                expect(reply.job).toBeNull();
                continue;
              }
              const job = reply.job!;
              expect(job, 'a ready job is taken').not.toBeNull();
              expect(ready.has(job.id), `job ${job.id} was ready`).toBe(true);
              expect(job.deliveries).toBe(deliveries.get(job.id)! + 1);
              expect(job.text).toBe(`job ${enqueued.indexOf(job.id) + 1}`);
              if (job.deliveries === 1) {
                const fresh = [...ready].filter((id) => deliveries.get(id) === 0);
                expect(job.id, 'never-delivered jobs come out in enqueue order').toBe(Math.min(...fresh));
              }
              ready.delete(job.id);
              seen.takes++;
              if (job.deliveries > 1) seen.redeliveredTakes++;
              deliveries.set(job.id, job.deliveries);
              held[op.who]!.add(job.id);
              continue;
            }
            const mine = [...held[op.who]!];
            if (mine.length === 0) continue;
            const id = mine[op.pick % mine.length]!;
            const reply = await c.request({ cmd: op.op, jobId: id });
            expect(reply.error).toBeUndefined();
            held[op.who]!.delete(id);
            if (op.op === 'ack') {
              seen.acks++;
              expect(acked.has(id)).toBe(false);
              acked.add(id);
            } else {
              seen.releases++;
              comeBack(id);
            }
          }
          // The end: every consumer dies holding what it holds, and the rest is drained here.
          for (let who = 0; who < 3; who++) {
            await consumers[who]?.kill();
            consumers[who] = undefined;
            for (const id of held[who]!) comeBack(id);
            held[who]!.clear();
          }
          while (ready.size > 0) {
            const job = w.queue.take({ timeoutMs: 20_000 });
            expect(job).not.toBeNull();
            expect(ready.has(job!.id)).toBe(true);
            expect(job!.deliveries).toBe(deliveries.get(job!.id)! + 1);
            ready.delete(job!.id);
            job!.ack();
            expect(acked.has(job!.id)).toBe(false);
            acked.add(job!.id);
          }
          expect(w.queue.tryTake()).toBeNull();
          seen.deadLettered += dead.size;
          expect(w.queue.deadLetters().map((d) => d.id)).toEqual([...dead].sort((a, b) => a - b));
          // Nothing lost, nothing acked twice: acked and dead-lettered partition what was enqueued.
          expect([...acked, ...dead].sort((a, b) => a - b)).toEqual(enqueued);
          expect(w.queue.inspect()).toMatchObject({ enqueued: enqueued.length, acked: acked.size, deadLettered: dead.size, taken: [], ready: 0 });
        } finally {
          for (const c of consumers) await c?.kill();
        }
      }),
      { numRuns: RUNS },
    );
    console.log(`queue property run: ${JSON.stringify(seen)}`);
    // The runs did what they are for: jobs were taken, consumers died holding jobs, and jobs came back.
    expect(seen.takes).toBeGreaterThan(0);
    expect(seen.killsHolding).toBeGreaterThan(0);
    expect(seen.redeliveredTakes).toBeGreaterThan(0);
  }, 240_000);
});
