// The lab controller: owns the region and the participants, and runs the
// commands behind every key and script word. Chaos mode (chaos.ts) and the
// monitor (monitor.ts: events, the shared-memory log, hangs, the ledger
// checks) are its parts. The screen and the script runner only call into
// this; nothing here writes to the terminal. Its tick also produces the
// participants' work: transfer jobs into the lab's queue (job-producer.ts).
import { rmSync } from 'node:fs';
import { openRegion, type Region } from '../shm/region.js';
import { notReplacedBecause, regionFileState } from '../shm/stale-region.js';
import { RegionFileError } from '../errors.js';
import { MAX_PARTICIPANTS, type BoardRow } from './board.js';
import { LAB_QUEUE_CAPACITY, LAB_REGION_BYTES, openLabObjects, type LabObjects } from './lab-objects.js';
import type { ParticipantConfig, ParticipantKind, ParticipantRole } from './participant-loop.js';
import { ParticipantLauncher } from './participants.js';
import type { MutexSnapshot } from '../locks/types.js';
import type { QueueSnapshot } from '../queue/robust-queue.js';
import { LabChaos } from './chaos.js';
import { boardRow, parkedWhere, Participant } from './lab-participant.js';
import { LabMonitor } from './monitor.js';
import { LabJobProducer } from './job-producer.js';
import type { CommandResult, LabCounters, LabEvent, LabEventKind, LabOptions, LabSnapshot, ParkPlace, ParticipantStatus, ParticipantView, QueueView } from './lab-types.js';

export {
  DEFAULT_LAB_OPTIONS,
  type CommandResult,
  type InvariantView,
  type LabCounters,
  type LabEvent,
  type LabEventKind,
  type LabOptions,
  type LabSnapshot,
  type ParkPlace,
  type ParticipantStatus,
  type ParticipantView,
  type QueueView,
} from './lab-types.js';

/** The queue's RegionCorruptError message, in a dead participant's detail (a thread's: the message alone; a process's: its stderr's error line). */
const QUEUE_ERROR = /queue at byte offset \d+: .*/;

const KILL_HOW: Record<ParticipantKind, string> = { process: 'SIGKILL', worker: 'worker.terminate()', pool: 'AbortSignal' };
const KIND_LABEL: Record<ParticipantKind, string> = { process: 'process', worker: 'worker thread', pool: 'pool thread' };

export class LabController {
  readonly events: LabEvent[];
  readonly counters: LabCounters;
  private readonly participants: (Participant | undefined)[] = [];
  private readonly monitor: LabMonitor;
  private readonly chaos: LabChaos;
  private tickTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private seedCounter: number;
  private readonly producer: LabJobProducer;
  private finalQueue: QueueView | null = null;
  /** The queue as last seen, shown while this thread must not take the queue's mutex (see queueReachable). */
  private lastQueue: QueueView = { waiting: 0, inFlight: [], enqueued: 0, acked: 0, redelivered: 0, deadLetters: [], deadLettersCleared: 0, capacity: LAB_QUEUE_CAPACITY, failed: null };
  /** Why this lab stopped touching its queue (see usingQueue), or null. */
  private queueFailure: string | null = null;

  private constructor(
    readonly options: LabOptions,
    private readonly region: Region,
    readonly objects: LabObjects,
    private readonly launcher: ParticipantLauncher,
  ) {
    this.seedCounter = options.seed;
    this.producer = new LabJobProducer(objects.jobs, objects.ledger.accounts, options.seed);
    this.monitor = new LabMonitor(objects, this.participants, options.hangMs);
    this.events = this.monitor.events;
    this.counters = this.monitor.counters;
    this.chaos = new LabChaos(
      objects,
      this.participants,
      {
        isClosed: () => this.closed,
        ownerSlot: () => this.ownerSlot(),
        park: (n, where) => this.park(n, where),
        kill: (n, reason) => this.kill(n, reason),
        // Only the incarnation chaos killed, and only if nobody brought it back meanwhile.
        respawn: (p, generation) => {
          if (p.generation === generation && !p.alive && !p.dying) this.spawn(p.slot, p.kind, 'respawned');
        },
      },
      options.chaosRate,
    );
  }

  /** Create the region (replacing a stale region at the same path, never another kind of file) and start the initial participants. */
  static async create(options: LabOptions, listener?: (event: LabEvent) => void): Promise<LabController> {
    const state = regionFileState(options.regionPath);
    if (state === 'foreign' || state === 'other') throw new RegionFileError('EEXIST', `${options.regionPath}: ${notReplacedBecause(state)}`);
    removeRegionFiles(options.regionPath);
    const region = await openRegion(options.regionPath, { size: LAB_REGION_BYTES, create: true });
    const objects = openLabObjects(region);
    const lab = new LabController(options, region, objects, new ParticipantLauncher(options.regionPath, region.buffer));
    const kinds: ParticipantKind[] = [
      ...Array<ParticipantKind>(options.pool).fill('pool'),
      ...Array<ParticipantKind>(options.processes).fill('process'),
      ...Array<ParticipantKind>(options.workers).fill('worker'),
    ];
    if (kinds.length > MAX_PARTICIPANTS) throw new RangeError(`at most ${MAX_PARTICIPANTS} participants`);
    if (listener) lab.onEvent(listener);
    lab.feedJobs();
    for (const kind of kinds) lab.spawn(lab.freeSlot(), kind, 'started');
    lab.tickTimer = setInterval(() => lab.tick(), 50);
    return lab;
  }

  onEvent(listener: (event: LabEvent) => void): () => void {
    return this.monitor.onEvent(listener);
  }

  /** True (once) when something on screen may have changed since the last call. */
  takeChanged(): boolean {
    return this.monitor.takeChanged();
  }

  /** Transactions the ledger recorded, read after quit's final check. */
  get finalTxCount(): number | null {
    return this.monitor.finalTxCount;
  }

  /** After quit: the ledger's job counts (see LabMonitor.finalJobs) and the queue as the last participant left it. */
  get finalJobs(): { applied: number; appliedTwice: number; queue: QueueView | null } | null {
    return this.monitor.finalJobs ? { ...this.monitor.finalJobs, queue: this.finalQueue } : null;
  }

  get participantCount(): number {
    return this.participants.filter(Boolean).length;
  }

  get chaosKillCount(): number {
    return this.chaos.kills;
  }

  get chaosKillRate(): number {
    return this.chaos.rate;
  }

  get chaosOn(): boolean {
    return this.chaos.on;
  }

  // ---- commands --------------------------------------------------------------

  async kill(n: number, reason = 'killed'): Promise<CommandResult> {
    const p = this.lookup(n);
    if (typeof p === 'string') return this.refuse(p, n);
    if (!p.alive || p.dying || p.killing) return this.refuse(`#${n} is already dead (r respawns the dead)`, n);
    const row = this.row(p);
    // Node 20.20 dies (FATAL ERROR v8::Module::IsGraphAsync) when a worker is
    // terminated while piscina require()s its ES module: an aborted pool task
    // that is still loading takes the whole lab down. Chaos never picks a
    // starting participant either.
    if (p.kind === 'pool' && (row.generation !== p.generation || row.state === 'starting' || row.state === 'empty')) {
      return this.refuse(`#${n} is still starting: a pool thread is killed once it runs`, n);
    }
    const parkedAt = this.parkedWhere(p, row);
    const heldMutex = this.ownerSlot() === p.slot;
    const heldReadShare = p.role === 'auditor' && this.holdsReadShare(row.tid);
    const heldJob = row.tid === 0 ? null : (this.inspectQueue()?.taken.find((j) => j.tid === row.tid)?.id ?? null);
    p.dying = true;
    p.killing = true;
    // Taken before the signal goes out: the next owner can see the death
    // before this function gets to emit the event.
    const issuedAtMs = Math.round((performance.now() - this.monitor.started) * 10) / 10;
    // The kill is issued synchronously inside kill() (before its first
    // await), so the event below precedes whatever the death causes.
    const gone = p.handle!.kill(row.tid);
    this.counters.kills++;
    // Event texts stay under 75 characters: they are screen lines too.
    const where =
      parkedAt === 'heap'
        ? 'parked in a heap op'
        : parkedAt === 'ledger'
          ? p.role === 'auditor'
            ? 'parked holding a read share'
            : 'parked mid-transfer'
          : heldReadShare
            ? 'holding a read share'
            : heldMutex
            ? 'holding the mutex'
            : row.state === 'critical'
              ? // 'critical' is set once the ledger mutex is owned, and cleared only after its release: not the owner now, it was leaving.
                'leaving, mutex released'
              : row.state;
    this.emit('killed', `${reason} #${n} ${KIND_LABEL[p.kind]} with ${KILL_HOW[p.kind]}: ${where}`, p, { how: KILL_HOW[p.kind], wasParked: parkedAt !== null, parkedAt, heldMutex, heldReadShare, heldJob, role: p.role, tid: row.tid, issuedAtMs });
    try {
      await gone;
    } finally {
      p.killing = false;
    }
    p.stopped = false;
    return { ok: true, message: `killed #${n}` };
  }

  /**
   * Park participant n: 'ledger' (default) between its debit and credit,
   * holding the ledger mutex; 'heap' inside a heap operation, holding the
   * heap's lock as well (its death then poisons the heap).
   */
  async park(n: number, where: ParkPlace = 'ledger'): Promise<CommandResult> {
    const p = this.lookup(n);
    if (typeof p === 'string') return this.refuse(p, n);
    if (!p.alive || p.dying) return this.refuse(`#${n} is dead: nothing to park`, n);
    if (p.stopped) return this.refuse(`#${n} is stopped (SIGSTOP): continue it first`, n);
    const row = this.row(p);
    if (this.parkedWhere(p, row)) return this.refuse(`#${n} is already parked`, n);
    const lot = where === 'heap' ? this.objects.heapLot : this.objects.lot;
    lot.request(p.slot);
    this.monitor.changed = true;
    try {
      const parked = await lot.waitUntilParkedAsync(p.slot, { timeoutMs: 10_000 });
      const text =
        where === 'heap'
          ? `parked #${n} (tid ${parked.tid}) in a heap op: holds heap lock + mutex`
          : p.role === 'auditor'
            ? `parked auditor #${n} (tid ${parked.tid}) holding a read share`
            : `parked #${n} (tid ${parked.tid}) mid-transfer, holding the mutex`;
      this.emit('parked', text, p, { tid: parked.tid, where, role: p.role });
      return { ok: true, message: `#${n} parked${where === 'heap' ? ' in the heap' : ''}: k kills it there, u lets it go` };
    } catch {
      lot.cancel(p.slot);
      return this.refuse(`#${n} did not reach the park point in 10 s`, n);
    }
  }

  unpark(n: number): CommandResult {
    const p = this.lookup(n);
    if (typeof p === 'string') return this.refuse(p, n);
    if (!p.alive || !this.parkedWhere(p, this.row(p))) return this.refuse(`#${n} is not parked`, n);
    this.objects.lot.release(p.slot);
    this.objects.heapLot.release(p.slot);
    this.emit('unparked', `released #${n}: it finishes its ${p.role === 'auditor' ? 'audit' : 'transfer'}`, p);
    return { ok: true, message: `#${n} released` };
  }

  stop(n: number): CommandResult {
    const p = this.lookup(n);
    if (typeof p === 'string') return this.refuse(p, n);
    if (p.kind !== 'process') return this.refuse(`#${n} is a thread: SIGSTOP would stop the whole lab. Stop a process`, n);
    if (!p.alive || p.dying) return this.refuse(`#${n} is dead`, n);
    if (p.stopped) return this.refuse(`#${n} is already stopped`, n);
    p.handle!.signal('SIGSTOP');
    p.stopped = true;
    const holds = this.ownerSlot() === p.slot;
    this.emit('stopped', `SIGSTOP #${n} (pid ${p.handle!.pid})${holds ? ': holds the mutex; stopped is alive, not dead' : ''}`, p, { heldMutex: holds, pid: p.handle!.pid });
    return { ok: true, message: `#${n} stopped` };
  }

  cont(n: number): CommandResult {
    const p = this.lookup(n);
    if (typeof p === 'string') return this.refuse(p, n);
    if (p.kind !== 'process') return this.refuse(`#${n} is a thread: only processes are stopped and continued`, n);
    if (!p.stopped || !p.alive) return this.refuse(`#${n} is not stopped`, n);
    p.handle!.signal('SIGCONT');
    p.stopped = false;
    this.monitor.restartProgressClocks();
    this.emit('continued', `SIGCONT #${n} (pid ${p.handle!.pid})`, p);
    return { ok: true, message: `#${n} continued` };
  }

  toggleStop(n: number): CommandResult {
    const p = this.lookup(n);
    if (typeof p !== 'string' && p.stopped) return this.cont(n);
    return this.stop(n);
  }

  /** Add a participant: a transferer, or an auditor (reads the ledger under the read lock). */
  add(kind: ParticipantKind, role: ParticipantRole = 'transfer'): CommandResult {
    const slot = this.freeSlot();
    if (slot < 0) return this.refuse(`no room: at most ${MAX_PARTICIPANTS} participants`);
    const p = this.spawn(slot, kind, 'added', role);
    return { ok: true, message: `added #${p.number}${role === 'auditor' ? ' (auditor)' : ''}` };
  }

  respawn(): CommandResult {
    // A participant whose kill has not returned is left to that kill's issuer
    // (chaos respawns its own victims): taking it here too put two
    // incarnations in one slot, the older one untracked.
    const dead = this.participants.filter((p): p is Participant => p !== undefined && !p.alive && !p.dying && !p.killing);
    if (dead.length === 0) {
      const killing = this.participants.filter((p) => p?.killing).map((p) => `#${p!.number}`);
      return this.refuse(killing.length ? `nobody is dead yet (${killing.join(' ')} still being killed)` : 'nobody is dead: nothing to respawn');
    }
    for (const p of dead) this.spawn(p.slot, p.kind, 'respawned');
    return { ok: true, message: `respawned ${dead.map((p) => `#${p.number}`).join(' ')}` };
  }

  setChaos(on: boolean, rate?: number): CommandResult {
    if (rate !== undefined) {
      if (!(rate > 0 && rate <= 50)) return this.refuse('chaos rate must be from 0.1 to 50 kills per second');
      this.chaos.rate = rate;
    }
    this.chaos.set(on);
    this.emit('chaos', on ? `chaos on: ${this.chaos.rate} kills/s, dead respawned` : `chaos off after ${this.chaos.kills} chaos kills`, undefined, { on, rate: this.chaos.rate });
    return { ok: true, message: on ? `chaos ${this.chaos.rate}/s` : 'chaos off' };
  }

  changeChaosRate(factor: number): CommandResult {
    const rate = Math.min(50, Math.max(0.25, Math.round(this.chaos.rate * factor * 4) / 4));
    return this.setChaos(this.chaosOn, rate);
  }

  /** Wait until every live participant has done at least one transfer (a safety-net timeout, then go on). */
  async waitUntilRunning(timeoutMs = 30_000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const pending = this.participants.filter((p) => p !== undefined && p.alive && !p.stopped && this.row(p).ops === 0);
      if (pending.length === 0) return true;
      if (performance.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Wait until every job a killed participant held (the kill event's
   * heldJob) was taken again and reported ('job-redelivered'), with a
   * safety-net timeout (false then: e.g. the job went to the dead letters).
   */
  async waitUntilJobsRedelivered(timeoutMs = 10_000): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const pending = new Set(this.events.filter((e) => e.kind === 'killed' && typeof e['heldJob'] === 'number').map((e) => e['heldJob'] as number));
      for (const e of this.events) if (e.kind === 'job-redelivered') pending.delete(e['jobId'] as number);
      if (pending.size === 0) return true;
      if (performance.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Wait for the chaos kills in flight to finish and their victims to be respawned. */
  async settle(timeoutMs = 10_000): Promise<void> {
    await this.chaos.settle(timeoutMs);
  }

  // ---- the periodic look --------------------------------------------------------

  private tick(): void {
    if (this.closed) return;
    this.monitor.readLog();
    this.monitor.watchProgress(this.queueFailure !== null);
    this.feedJobs();
  }

  /** The producer's turn: top the transfer-job queue up. */
  private feedJobs(): void {
    const queue = this.inspectQueue();
    if (queue) this.usingQueue(() => this.producer.feed(queue));
  }

  /** The queue's inspect() now, or null while this thread must not take its mutex (queueReachable) or after it failed (queueFailed). */
  inspectQueue(): QueueSnapshot | null {
    return this.queueReachable ? this.usingQueue(() => this.objects.jobs.inspect()) : null;
  }

  /** Why the lab stopped touching its queue (the error the queue threw, with its name), or null while it works. */
  get queueFailed(): string | null {
    return this.queueFailure;
  }

  /**
   * Run fn on the queue. An error from it (a RegionCorruptError from its
   * repair, a mutex gone not-recoverable) ends the queue for this lab: it is
   * reported once ('queue-failed'), shown with the queue, and nothing here
   * touches the queue again. The ledger, the heap and quit() go on. Thrown
   * from the tick's timer instead, it was uncaught and took the lab down with
   * a stack trace and no summary.
   */
  private usingQueue<T>(fn: () => T): T | null {
    if (this.queueFailure !== null) return null;
    try {
      return fn();
    } catch (error) {
      this.queueFailedWith(error instanceof Error ? `${error.name}: ${error.message}` : String(error), error instanceof Error && 'code' in error ? String(error.code) : null);
      return null;
    }
  }

  /** Report the queue's failure (once) and stop touching it. */
  private queueFailedWith(text: string, code: string | null, p?: Participant): void {
    if (this.queueFailure !== null) return;
    this.queueFailure = text;
    this.lastQueue = { ...this.lastQueue, failed: text };
    this.emit('queue-failed', `the job queue failed, and the lab no longer touches it: ${text}`, p, { error: text, code });
  }

  /**
   * Whether this (the lab's main) thread may take the queue's mutex now: not
   * while a participant process is SIGSTOPped. It may have been stopped
   * inside the queue's mutex (a take or an ack), and this thread is the one
   * that would send its SIGCONT: blocking here on that mutex would hang the
   * lab for good. Parked participants park outside the queue's mutex, and
   * nothing else stops a participant. Synchronous code on this thread sees
   * this stay true (stop() runs on this thread too).
   */
  get queueReachable(): boolean {
    return this.queueFailure === null && !this.participants.some((p) => p !== undefined && p.alive && p.stopped);
  }

  /** Jobs the lab's producer enqueued so far. */
  get jobsEnqueued(): number {
    return this.producer.enqueued;
  }

  /** Dead letters the lab removed so far (it keeps the newest on show). */
  get deadLettersCleared(): number {
    return this.producer.deadLettersCleared;
  }

  // ---- looking ------------------------------------------------------------------

  snapshot(): LabSnapshot {
    const { ledger, mutex, heap } = this.objects;
    const m = mutex.inspect();
    const owner = this.ownerSlot(m);
    const inv = ledger.checkInvariant();
    const stats = ledger.stats();
    const invariant = this.monitor.invariantView(m, inv.holds, stats.phase);
    const participants: ParticipantView[] = [];
    for (const p of this.participants) {
      if (!p) continue;
      const row = this.row(p);
      participants.push({
        number: p.number,
        kind: p.kind,
        role: p.role,
        generation: p.generation,
        tid: row.tid,
        pid: p.handle?.pid ?? 0,
        status: this.status(p, row),
        ops: row.generation === p.generation ? row.ops : 0,
        hung: p.hung,
        ownsMutex: owner === p.slot,
      });
    }
    return {
      uptimeMs: performance.now() - this.monitor.started,
      regionPath: this.options.regionPath,
      participants,
      mutex: m,
      ownerNumber: owner === null ? null : owner + 1,
      invariant,
      sum: inv.sum,
      total: inv.total,
      txCount: stats.txCount,
      ledgerRepairs: stats.repairs,
      heap: heap.stats(),
      liveRecords: ledger.liveRecords().length,
      chaos: { on: this.chaos.on, rate: this.chaos.rate, kills: this.chaos.kills },
      counters: { ...this.counters },
      queue: this.queueView(),
    };
  }

  /** The transfer-job queue as the screen and the page show it: who holds which job, by participant number. */
  queueView(): QueueView {
    const q = this.inspectQueue();
    if (!q) return this.lastQueue;
    const byTid = new Map<number, number>();
    for (const p of this.participants) {
      if (!p || !p.alive) continue;
      const row = this.row(p);
      if (row.generation === p.generation && row.tid !== 0) byTid.set(row.tid, p.number);
    }
    this.lastQueue = {
      waiting: q.ready,
      inFlight: q.taken.map((j) => ({ id: j.id, deliveries: j.deliveries, holder: byTid.get(j.tid) ?? null, tid: j.tid, alive: j.alive })),
      enqueued: q.enqueued,
      acked: q.acked,
      redelivered: q.redelivered,
      deadLetters: q.deadLetters,
      deadLettersCleared: this.producer.deadLettersCleared,
      capacity: q.capacity,
      failed: null,
    };
    return this.lastQueue;
  }

  private status(p: Participant, row: BoardRow): ParticipantStatus {
    if (!p.alive) return p.exit?.how === 'exited' ? 'exited' : 'dead';
    if (p.dying) return 'dead';
    if (p.stopped) return 'stopped';
    if (this.isParked(p, row)) return 'parked';
    if (row.generation !== p.generation || row.state === 'starting' || row.state === 'empty') return 'starting';
    if (row.state === 'waiting') return 'waiting';
    if (row.state === 'critical') return 'critical';
    if (row.state === 'exited') return 'exited';
    return 'running';
  }

  // ---- quitting -------------------------------------------------------------------

  /**
   * Reap everything: stop chaos, let parked and stopped participants go, ask
   * everyone to leave their loop, kill whoever has not within a second, then
   * take the ledger mutex once more (repairing if the last kill orphaned it),
   * check the invariant, and remove the region file and its .lock.
   */
  async quit(): Promise<LabCounters> {
    if (this.closed) return { ...this.counters };
    this.chaos.stop();
    await this.settle(5000);
    this.closed = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    const live = this.participants.filter((p): p is Participant => p !== undefined && p.alive);
    for (const p of live) {
      if (p.stopped) p.handle!.signal('SIGCONT');
      p.stopped = false;
      this.objects.board.requestExit(p.slot);
      this.objects.lot.release(p.slot);
      this.objects.heapLot.release(p.slot);
    }
    const graceful = Promise.all(live.map((p) => p.handle!.exited));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([graceful, new Promise((r) => (timer = setTimeout(r, 1500)))]);
    clearTimeout(timer);
    const views = this.participants
      .filter((p): p is Participant => p !== undefined)
      .map((p) => ({ number: p.number, kind: p.kind, generation: p.generation, ops: this.row(p).generation === p.generation ? this.row(p).ops : 0, pid: p.handle?.pid ?? 0 }));
    const stubborn = live.filter((p) => p.alive);
    await Promise.all(stubborn.map((p) => p.handle!.kill(this.row(p).tid)));
    await this.launcher.close();
    this.finalQueue = this.queueView();
    this.monitor.readLog();
    this.monitor.finalCheck();
    this.region.close();
    removeRegionFiles(this.options.regionPath);
    this.emit('quit', `quit: ${live.length} participants reaped (${stubborn.length} killed), region removed`, undefined, { participants: views, killedAtQuit: stubborn.length });
    return { ...this.counters };
  }

  /**
   * Last resort when the lab itself is failing (an uncaught error): SIGKILL
   * every participant process now (threads die with this process) and
   * remove the region. Synchronous, so it runs in an
   * exception handler.
   */
  emergencyStop(): void {
    this.closed = true;
    this.chaos.stop();
    if (this.tickTimer) clearInterval(this.tickTimer);
    for (const p of this.participants) {
      if (!p?.alive || p.kind !== 'process') continue;
      for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
        try {
          process.kill(p.handle!.pid, signal);
        } catch {
          // already gone
        }
      }
    }
    removeRegionFiles(this.options.regionPath);
  }

  // ---- internals -------------------------------------------------------------------

  private spawn(slot: number, kind: ParticipantKind, why: 'started' | 'added' | 'respawned', role: ParticipantRole = 'transfer'): Participant {
    const p = this.participants[slot] ?? new Participant(slot, kind, role);
    this.participants[slot] = p;
    p.generation++;
    p.stopped = false;
    p.dying = false;
    p.exit = undefined;
    p.lastOps = -1;
    p.auditFailures = 0;
    p.hung = false;
    p.lastProgressAt = performance.now();
    this.objects.board.reset(slot, p.generation);
    const config: ParticipantConfig = { slot, generation: p.generation, seed: this.seedCounter++ * 2654435761, gapMs: this.options.gapMs, stepMs: this.options.stepMs, role: p.role };
    const handle = this.launcher.start(kind, config);
    p.handle = handle;
    const generation = p.generation;
    void handle.exited.then((info) => {
      if (p.generation !== generation) return;
      p.exit = info;
      p.dying = false;
      this.monitor.changed = true;
      if (info.how === 'crashed' && !this.closed) {
        // A participant can be the first to meet a corrupt queue (a repair inside its take). It dies of the
        // queue's error, which leaves the queue's mutex not-recoverable: the cause is this error, not that state.
        const queueError = QUEUE_ERROR.exec(info.detail);
        if (queueError) this.queueFailedWith(`RegionCorruptError: ${queueError[0]}`, 'ERR_REGION_CORRUPT', p);
        this.emit('died', `#${p.number} died on its own: ${info.detail}`, p, { detail: info.detail });
      }
    });
    if (why === 'respawned') this.counters.respawns++;
    const what = p.role === 'auditor' ? `auditor (${KIND_LABEL[kind]})` : KIND_LABEL[kind];
    this.emit(why, `${why} #${p.number}: ${what}${kind === 'process' ? ` pid ${handle.pid}` : ''}`, p, { kindOf: kind, pid: handle.pid, role: p.role });
    return p;
  }

  private freeSlot(): number {
    for (let s = 0; s < MAX_PARTICIPANTS; s++) if (!this.participants[s]) return s;
    return -1;
  }

  private lookup(n: number): Participant | string {
    if (!Number.isInteger(n) || n < 1) return `no participant #${n}`;
    const p = this.participants[n - 1];
    return p ?? `no participant #${n}`;
  }

  private row(p: Participant): BoardRow {
    return boardRow(this.objects, p);
  }

  private isParked(p: Participant, row: BoardRow): boolean {
    return parkedWhere(this.objects, p, row) !== null;
  }

  /** Where participant p is parked right now. */
  private parkedWhere(p: Participant, row: BoardRow): ParkPlace | null {
    return parkedWhere(this.objects, p, row);
  }

  /** Whether thread `tid` holds a read share of the audit lock now. */
  private holdsReadShare(tid: number): boolean {
    return tid !== 0 && this.objects.rw.inspect().readers.some((r) => r.tid === tid);
  }

  /** The slot of the participant that owns the ledger mutex, or null. */
  private ownerSlot(m: MutexSnapshot = this.objects.mutex.inspect()): number | null {
    if (!m.owner) return null;
    for (const p of this.participants) if (p && this.row(p).tid === m.owner.tid) return p.slot;
    return null;
  }

  private refuse(message: string, n?: number): CommandResult {
    this.emit('refused', message, n !== undefined ? this.participants[n - 1] : undefined);
    return { ok: false, message };
  }

  private emit(kind: LabEventKind, text: string, p?: Participant, fields: Record<string, unknown> = {}): void {
    this.monitor.emit(kind, text, p, fields);
  }
}

export function removeRegionFiles(path: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
}
