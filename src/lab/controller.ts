// The lab controller: owns the region and the participants, runs the
// commands behind every key and script word, turns the shared-memory log
// into events, drives chaos mode, and notices participants that stopped
// making progress (hangs). The screen and the script runner only call into
// this; nothing here writes to the terminal.
import { rmSync } from 'node:fs';
import { openRegion, type Region } from '../shm/region.js';
import { MAX_PARTICIPANTS, type BoardRow } from './board.js';
import { LAB_REGION_BYTES, openLabObjects, type LabObjects } from './lab-objects.js';
import type { LogEntry } from './lab-log.js';
import { PHASE_IDLE } from '../workers/ledger.js';
import { inLedgerCriticalSection } from '../workers/ledger-critical-section.js';
import { HeapRecords } from './records.js';
import type { ParticipantConfig, ParticipantKind } from './participant-loop.js';
import { ParticipantLauncher, type ExitInfo, type ParticipantHandle } from './participants.js';
import { buildParticipantBundle, removeParticipantBundle, type ParticipantBundle } from './participant-bundle.js';
import type { MutexSnapshot } from '../locks/types.js';
import type { HeapStats } from '../heap/shared-heap.js';

export interface LabOptions {
  regionPath: string;
  /** At start: piscina pool threads (one long task each), plain worker threads, child processes. */
  pool: number;
  workers: number;
  processes: number;
  /** Chaos kills per second. */
  chaosRate: number;
  gapMs: number;
  stepMs: number;
  /** A live, running participant without progress for this long (ms) while nobody is parked or stopped is a hang. */
  hangMs: number;
  seed: number;
  /** false: run participants through tsx instead of a prebuilt bundle (slower starts). */
  bundle?: boolean;
}

export const DEFAULT_LAB_OPTIONS: Omit<LabOptions, 'regionPath'> = {
  pool: 3,
  workers: 1,
  processes: 3,
  chaosRate: 2,
  gapMs: 4,
  stepMs: 0.3,
  hangMs: 5000,
  seed: 1,
};

export type LabEventKind =
  | 'started'
  | 'killed'
  | 'parked'
  | 'unparked'
  | 'stopped'
  | 'continued'
  | 'added'
  | 'respawned'
  | 'died'
  | 'abandoned'
  | 'repaired'
  | 'heap-recovered'
  | 'heap-failed'
  | 'hang'
  | 'chaos'
  | 'refused'
  | 'final-check'
  | 'quit';

export interface LabEvent {
  /** ms since the lab started. */
  t: number;
  kind: LabEventKind;
  /** 1-based participant number, when the event is about one. */
  participant?: number;
  text: string;
  [field: string]: unknown;
}

export type ParticipantStatus = 'starting' | 'waiting' | 'critical' | 'parked' | 'stopped' | 'dead' | 'running' | 'exited';

export interface ParticipantView {
  number: number;
  kind: ParticipantKind;
  generation: number;
  tid: number;
  pid: number;
  status: ParticipantStatus;
  ops: number;
  hung: boolean;
  ownsMutex: boolean;
}

export type InvariantView = 'holds' | 'repaired' | 'mid-transfer' | 'broken';

export interface LabSnapshot {
  uptimeMs: number;
  regionPath: string;
  participants: ParticipantView[];
  mutex: MutexSnapshot;
  ownerNumber: number | null;
  invariant: InvariantView;
  sum: number;
  total: number;
  txCount: number;
  ledgerRepairs: number;
  heap: HeapStats;
  liveRecords: number;
  chaos: { on: boolean; rate: number; kills: number };
  counters: LabCounters;
}

export interface LabCounters {
  kills: number;
  abandonedObserved: number;
  repairs: number;
  heapRecoveries: number;
  respawns: number;
  hangs: number;
  /** Every repair found the invariant holding (and the final check too, after quit). */
  invariantHeld: boolean;
  logLost: number;
}

export type ParkPlace = 'ledger' | 'heap';

export interface CommandResult {
  ok: boolean;
  message: string;
}

class Participant {
  handle: ParticipantHandle | undefined;
  generation = 0;
  stopped = false;
  dying = false;
  exit: ExitInfo | undefined;
  lastOps = -1;
  lastProgressAt = 0;
  hung = false;
  constructor(
    readonly slot: number,
    readonly kind: ParticipantKind,
  ) {}
  get number(): number {
    return this.slot + 1;
  }
  get alive(): boolean {
    return this.handle?.alive === true;
  }
}

const KILL_HOW: Record<ParticipantKind, string> = { process: 'SIGKILL', worker: 'worker.terminate()', pool: 'AbortSignal' };
const KIND_LABEL: Record<ParticipantKind, string> = { process: 'process', worker: 'worker thread', pool: 'pool thread' };

export class LabController {
  readonly events: LabEvent[] = [];
  readonly counters: LabCounters = { kills: 0, abandonedObserved: 0, repairs: 0, heapRecoveries: 0, respawns: 0, hangs: 0, invariantHeld: true, logLost: 0 };
  private readonly participants: (Participant | undefined)[] = [];
  private readonly listeners = new Set<(event: LabEvent) => void>();
  private readonly started = performance.now();
  private logNext = 0;
  private lastRepairAt = -Infinity;
  private chaosTimer: NodeJS.Timeout | undefined;
  private chaosRate: number;
  private chaosKills = 0;
  private chaosInFlight = 0;
  private tickTimer: NodeJS.Timeout | undefined;
  private changed = true;
  private closed = false;
  private seedCounter: number;
  private readonly records: HeapRecords;
  /** Transactions the ledger recorded, read after quit's final check. */
  finalTxCount: number | null = null;

  private constructor(
    readonly options: LabOptions,
    private readonly region: Region,
    readonly objects: LabObjects,
    private readonly launcher: ParticipantLauncher,
    private readonly bundle: ParticipantBundle | null,
  ) {
    this.chaosRate = options.chaosRate;
    this.seedCounter = options.seed;
    this.records = new HeapRecords(objects.heap, () => {});
  }

  /** Create the region (removing a stale one at the same path) and start the initial participants. */
  static async create(options: LabOptions, listener?: (event: LabEvent) => void): Promise<LabController> {
    removeRegionFiles(options.regionPath);
    const region = await openRegion(options.regionPath, { size: LAB_REGION_BYTES, create: true });
    const objects = openLabObjects(region);
    const bundle = options.bundle === false ? null : await buildParticipantBundle();
    const lab = new LabController(options, region, objects, new ParticipantLauncher(options.regionPath, region.buffer, bundle), bundle);
    const kinds: ParticipantKind[] = [
      ...Array<ParticipantKind>(options.pool).fill('pool'),
      ...Array<ParticipantKind>(options.processes).fill('process'),
      ...Array<ParticipantKind>(options.workers).fill('worker'),
    ];
    if (kinds.length > MAX_PARTICIPANTS) throw new RangeError(`at most ${MAX_PARTICIPANTS} participants`);
    if (listener) lab.onEvent(listener);
    for (const kind of kinds) lab.spawn(lab.freeSlot(), kind, 'started');
    lab.tickTimer = setInterval(() => lab.tick(), 50);
    return lab;
  }

  onEvent(listener: (event: LabEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** True (once) when something on screen may have changed since the last call. */
  takeChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  get participantCount(): number {
    return this.participants.filter(Boolean).length;
  }

  get chaosKillCount(): number {
    return this.chaosKills;
  }

  get chaosKillRate(): number {
    return this.chaosRate;
  }

  get chaosOn(): boolean {
    return this.chaosTimer !== undefined;
  }

  // ---- commands --------------------------------------------------------------

  async kill(n: number, reason = 'killed'): Promise<CommandResult> {
    const p = this.lookup(n);
    if (typeof p === 'string') return this.refuse(p, n);
    if (!p.alive || p.dying) return this.refuse(`#${n} is already dead (r respawns the dead)`, n);
    const row = this.row(p);
    const parkedAt = this.parkedWhere(p, row);
    const heldMutex = this.ownerSlot() === p.slot;
    p.dying = true;
    // The kill is issued synchronously inside kill() (before its first
    // await), so the event below precedes whatever the death causes.
    const gone = p.handle!.kill(row.tid);
    this.counters.kills++;
    // Event texts stay under 75 characters: they are screen lines too.
    const where =
      parkedAt === 'heap'
        ? 'parked in a heap op'
        : parkedAt === 'ledger'
          ? 'parked mid-transfer'
          : heldMutex
            ? 'holding the mutex'
            : row.state === 'critical'
              ? 'in its critical section'
              : row.state;
    this.emit('killed', `${reason} #${n} ${KIND_LABEL[p.kind]} with ${KILL_HOW[p.kind]}: ${where}`, p, { how: KILL_HOW[p.kind], wasParked: parkedAt !== null, parkedAt, heldMutex });
    await gone;
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
    this.changed = true;
    try {
      const parked = await lot.waitUntilParkedAsync(p.slot, { timeoutMs: 10_000 });
      const text =
        where === 'heap'
          ? `parked #${n} (tid ${parked.tid}) in a heap op: holds heap lock + mutex`
          : `parked #${n} (tid ${parked.tid}) mid-transfer, holding the mutex`;
      this.emit('parked', text, p, { tid: parked.tid, where });
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
    this.emit('unparked', `released #${n}: it finishes its transfer`, p);
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
    this.restartProgressClocks();
    this.emit('continued', `SIGCONT #${n} (pid ${p.handle!.pid})`, p);
    return { ok: true, message: `#${n} continued` };
  }

  toggleStop(n: number): CommandResult {
    const p = this.lookup(n);
    if (typeof p !== 'string' && p.stopped) return this.cont(n);
    return this.stop(n);
  }

  add(kind: ParticipantKind): CommandResult {
    const slot = this.freeSlot();
    if (slot < 0) return this.refuse(`no room: at most ${MAX_PARTICIPANTS} participants`);
    const p = this.spawn(slot, kind, 'added');
    return { ok: true, message: `added #${p.number}` };
  }

  respawn(): CommandResult {
    const dead = this.participants.filter((p): p is Participant => p !== undefined && !p.alive && !p.dying);
    if (dead.length === 0) return this.refuse('nobody is dead: nothing to respawn');
    for (const p of dead) this.spawn(p.slot, p.kind, 'respawned');
    return { ok: true, message: `respawned ${dead.map((p) => `#${p.number}`).join(' ')}` };
  }

  setChaos(on: boolean, rate?: number): CommandResult {
    if (rate !== undefined) {
      if (!(rate > 0 && rate <= 50)) return this.refuse('chaos rate must be from 0.1 to 50 kills per second');
      this.chaosRate = rate;
    }
    if (this.chaosTimer) clearInterval(this.chaosTimer);
    this.chaosTimer = undefined;
    if (on) this.chaosTimer = setInterval(() => void this.chaosStep(), Math.max(20, 1000 / this.chaosRate));
    this.emit('chaos', on ? `chaos on: ${this.chaosRate} kills/s, dead respawned` : `chaos off after ${this.chaosKills} chaos kills`, undefined, { on, rate: this.chaosRate });
    return { ok: true, message: on ? `chaos ${this.chaosRate}/s` : 'chaos off' };
  }

  changeChaosRate(factor: number): CommandResult {
    const rate = Math.min(50, Math.max(0.25, Math.round(this.chaosRate * factor * 4) / 4));
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

  /** Wait for the chaos kills in flight to finish and their victims to be respawned. */
  async settle(timeoutMs = 10_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.chaosInFlight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  }

  // ---- chaos -------------------------------------------------------------------

  private async chaosStep(): Promise<void> {
    if (this.chaosInFlight > 1 || this.closed) return; // never let kills pile up behind slow spawns
    const candidates = this.participants.filter((p): p is Participant => p !== undefined && p.alive && !p.dying && !p.stopped && this.row(p).state !== 'starting');
    if (candidates.length === 0) return;
    // Half the time the current owner of the ledger mutex, when it is one of
    // ours: that is the kill that orphans the lock. Some of the rest are
    // parked first, so they die mid-transfer (or inside the heap) for certain.
    const owner = this.ownerSlot();
    const ownerP = owner === null ? undefined : candidates.find((p) => p.slot === owner);
    const roll = Math.random();
    const victim = ownerP && roll < 0.5 ? ownerP : candidates[Math.floor(Math.random() * candidates.length)]!;
    this.chaosInFlight++;
    try {
      if (victim !== ownerP && roll > 0.6) await this.park(victim.number, roll > 0.9 ? 'heap' : 'ledger');
      const result = await this.kill(victim.number, 'chaos killed');
      if (result.ok) {
        this.chaosKills++;
        if (!this.closed) this.spawn(victim.slot, victim.kind, 'respawned');
      }
    } finally {
      this.chaosInFlight--;
    }
  }

  // ---- the periodic look --------------------------------------------------------

  private tick(): void {
    if (this.closed) return;
    this.readLog();
    this.watchProgress();
  }

  private readLog(): void {
    const { entries, next, lost } = this.objects.log.readSince(this.logNext);
    this.logNext = next;
    if (lost > 0) this.counters.logLost += lost;
    for (const e of entries) this.logEvent(e);
  }

  private logEvent(e: LogEntry): void {
    const p = this.participants[e.slot];
    const who = `#${e.slot + 1}`;
    switch (e.kind) {
      case 'abandoned':
        this.counters.abandonedObserved++;
        this.emit('abandoned', `${who} (tid ${e.tid}) got the mutex ABANDONED by dead tid ${e.prevTid}`, p, { tid: e.tid, prevTid: e.prevTid, prevPid: e.prevPid });
        break;
      case 'repaired':
        this.counters.repairs++;
        this.lastRepairAt = performance.now();
        if (!e.invariantHeld) this.counters.invariantHeld = false;
        this.emit(
          'repaired',
          `${who} repaired the ledger: ${e.rolled === 'none' ? 'nothing in flight' : `tx ${e.txId} rolled ${e.rolled}`}; sum ${e.sum}, ${e.invariantHeld ? 'invariant holds' : 'INVARIANT BROKEN'}`,
          p,
          { tid: e.tid, rolled: e.rolled, txId: e.txId, sum: e.sum, invariantHeld: e.invariantHeld },
        );
        break;
      case 'heapRecovered':
        this.counters.heapRecoveries++;
        this.emit('heap-recovered', `${who} heap: ERROR_POSSIBLE_DEADLOCK, ran recover(): rolled ${e.rolled}`, p, { rolled: e.rolled });
        break;
      case 'heapFailed':
        this.emit('heap-failed', `${who}: heap recover() failed; records switched off`, p);
        break;
    }
  }

  private watchProgress(): void {
    const now = performance.now();
    const blocked = this.participants.some((p) => p !== undefined && p.alive && (p.stopped || this.isParked(p, this.row(p))));
    for (const p of this.participants) {
      if (!p || !p.alive || p.dying) continue;
      const row = this.row(p);
      if (row.generation !== p.generation) continue;
      if (row.ops !== p.lastOps) {
        if (p.lastOps !== -1 || row.ops > 0) this.changed = true;
        p.lastOps = row.ops;
        p.lastProgressAt = now;
        p.hung = false;
        continue;
      }
      // Waiting behind a stopped or parked holder is not a hang; neither is being stopped or parked.
      if (blocked || p.stopped) {
        p.lastProgressAt = now;
        continue;
      }
      const limit = row.state === 'starting' ? Math.max(20_000, this.options.hangMs) : this.options.hangMs;
      if (!p.hung && now - p.lastProgressAt > limit) {
        p.hung = true;
        this.counters.hangs++;
        this.emit('hang', `#${p.number} made no progress for ${Math.round((now - p.lastProgressAt) / 1000)} s while ${row.state}`, p, { state: row.state });
      }
    }
  }

  private restartProgressClocks(): void {
    const now = performance.now();
    for (const p of this.participants) if (p) p.lastProgressAt = now;
  }

  // ---- looking ------------------------------------------------------------------

  snapshot(): LabSnapshot {
    const { ledger, mutex, heap } = this.objects;
    const m = mutex.inspect();
    const owner = this.ownerSlot(m);
    const inv = ledger.checkInvariant();
    const stats = ledger.stats();
    let invariant: InvariantView;
    if (stats.phase !== PHASE_IDLE) invariant = m.state === 'owner-dead' ? 'broken' : 'mid-transfer';
    else if (!inv.holds) invariant = 'broken';
    else invariant = performance.now() - this.lastRepairAt < 3000 ? 'repaired' : 'holds';
    const participants: ParticipantView[] = [];
    for (const p of this.participants) {
      if (!p) continue;
      const row = this.row(p);
      participants.push({
        number: p.number,
        kind: p.kind,
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
      uptimeMs: performance.now() - this.started,
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
      chaos: { on: this.chaosOn, rate: this.chaosRate, kills: this.chaosKills },
      counters: { ...this.counters },
    };
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
    if (this.chaosTimer) clearInterval(this.chaosTimer);
    this.chaosTimer = undefined;
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
    removeParticipantBundle(this.bundle);
    this.readLog();
    this.finalCheck();
    this.region.close();
    removeRegionFiles(this.options.regionPath);
    this.emit('quit', `quit: ${live.length} participants reaped (${stubborn.length} killed), region removed`, undefined, { participants: views, killedAtQuit: stubborn.length });
    return { ...this.counters };
  }

  /**
   * Last resort when the lab itself is failing (an uncaught error): SIGKILL
   * every participant process now (threads die with this process) and
   * remove the region and the bundle. Synchronous, so it runs in an
   * exception handler.
   */
  emergencyStop(): void {
    this.closed = true;
    if (this.chaosTimer) clearInterval(this.chaosTimer);
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
    removeParticipantBundle(this.bundle);
  }

  private finalCheck(): void {
    const { mutex, ledger } = this.objects;
    const section = inLedgerCriticalSection(
      mutex,
      ledger,
      (repair) => {
        if (repair) {
          this.counters.abandonedObserved++;
          this.counters.repairs++;
        }
        const inv = ledger.checkInvariant();
        this.finalTxCount = ledger.stats().txCount;
        if (!inv.holds) this.counters.invariantHeld = false;
        this.emit('final-check', `final check${repair ? ` (mutex abandoned, rolled ${repair.rolled})` : ''}: sum ${inv.sum} of ${inv.total}, invariant ${inv.holds ? 'holds' : 'BROKEN'}`, undefined, {
          sum: inv.sum,
          total: inv.total,
          holds: inv.holds,
          abandoned: repair !== null,
        });
      },
      { timeoutMs: 2000, records: this.records },
    );
    if (!section.owned) {
      this.counters.invariantHeld = false;
      this.emit('final-check', `final check: could not take the mutex (${section.status})`);
    }
  }

  // ---- internals -------------------------------------------------------------------

  private spawn(slot: number, kind: ParticipantKind, why: 'started' | 'added' | 'respawned'): Participant {
    const p = this.participants[slot] ?? new Participant(slot, kind);
    this.participants[slot] = p;
    p.generation++;
    p.stopped = false;
    p.dying = false;
    p.exit = undefined;
    p.lastOps = -1;
    p.hung = false;
    p.lastProgressAt = performance.now();
    this.objects.board.reset(slot, p.generation);
    const config: ParticipantConfig = { slot, generation: p.generation, seed: this.seedCounter++ * 2654435761, gapMs: this.options.gapMs, stepMs: this.options.stepMs };
    const handle = this.launcher.start(kind, config);
    p.handle = handle;
    const generation = p.generation;
    void handle.exited.then((info) => {
      if (p.generation !== generation) return;
      p.exit = info;
      p.dying = false;
      this.changed = true;
      if (info.how === 'crashed' && !this.closed) this.emit('died', `#${p.number} died on its own: ${info.detail}`, p, { detail: info.detail });
    });
    if (why === 'respawned') this.counters.respawns++;
    this.emit(why, `${why} #${p.number}: ${KIND_LABEL[kind]}${kind === 'process' ? ` pid ${handle.pid}` : ''}`, p, { kindOf: kind, pid: handle.pid });
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
    return this.objects.board.read(p.slot);
  }

  private isParked(p: Participant, row: BoardRow): boolean {
    return this.parkedWhere(p, row) !== null;
  }

  /** Where participant p is parked right now (a dead parker's stale PARKED does not count: the tid must be its own). */
  private parkedWhere(p: Participant, row: BoardRow): ParkPlace | null {
    if (row.tid === 0) return null;
    if (this.objects.lot.parked(p.slot)?.tid === row.tid) return 'ledger';
    if (this.objects.heapLot.parked(p.slot)?.tid === row.tid) return 'heap';
    return null;
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
    const event: LabEvent = { t: Math.round(performance.now() - this.started), kind, text, ...fields };
    if (p) event.participant = p.number;
    this.events.push(event);
    if (this.events.length > 5000) this.events.splice(0, 1000);
    this.changed = true;
    for (const listener of this.listeners) listener(event);
  }
}

export function removeRegionFiles(path: string): void {
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
}
