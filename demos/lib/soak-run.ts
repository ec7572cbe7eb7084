// The soak: the lock lab's participants (piscina pool threads, worker threads,
// child processes over one ledger mutex, a shared heap and two parking lots)
// under the lab's own chaos mode (SIGKILL, terminate(), AbortSignal, victims
// parked in the ledger or inside a heap operation first), plus what chaos
// mode does not do: deaths by process.exit() and by an uncaught throw inside
// the critical section (fates.ts), SIGSTOP/SIGCONT pauses, and a lane that
// kills region creators mid-creation. Everything is driven through the
// LabController's public API; this file only adds the bookkeeping:
//
// - After every recovery (a repaired abandonment, a heap recover(), a
//   requested death) a check takes the ledger mutex itself (asynchronously:
//   the event loop that kills parked victims must keep running), verifies the
//   invariant, heap.validate(), the transfer jobs (below), and reports itself
//   to the ownership guard.
// - Jobs: every job the lab enqueued is acked, or sits in the queue (waiting,
//   in progress, dead-lettered): enqueued = acked + waiting + in progress +
//   dead letters in one queue snapshot (a shortfall is jobs lost, a surplus
//   jobs acked twice), and no job's money moved twice (the ledger counts a
//   job id committed again). Checked after every recovery and after quit.
//   Recoveries that come faster than checks share the next check.
// - Two owners at once: the ownership guard's count (ownership-guard.ts).
// - Hangs: the lab's own (a participant with no progress for hangMs while
//   nobody is stopped or parked), a check or region open that does not
//   complete within hangMs, a requested death not carried out within 30 s.
// - Detection latency: kill issued (the lab's 'killed' event, emitted right
//   after the signal/terminate/abort) -> the next owner's 'abandoned' entry in
//   the lab log (its time on the shared clock), matched by the dead tid.
// - A lock gone not-recoverable (the posix policy: a repairer found the ledger
//   wrong and released without markConsistent()) ends every participant for
//   good: the soak stops at once and reports it (figures.notRecoverable)
//   instead of respawning participants that die of it again until the target.
//   So does a queue that threw (the lab's 'queue-failed': a RegionCorruptError
//   from its repair, say): figures.queueFailed.
import { LabController, DEFAULT_LAB_OPTIONS, type LabEvent, type LabSnapshot } from '../../src/lab/controller.js';
import { inLedgerCriticalSectionAsync } from '../../src/workers/ledger-critical-section.js';
import { HeapRecords } from '../../src/lab/records.js';
import { sharedClockMs } from '../../src/lab/lab-log.js';
import { currentThreadIdentity } from '../../src/locks/owner.js';
import type { Fate } from '../../src/lab/fates.js';
import { RegionCreationLane } from './soak-regions.js';
import { startedProcess, startedProcessRunning, threadState, type StartedProcess } from './soak-procs.js';

export type KillWay = 'SIGKILL' | 'worker.terminate()' | 'AbortSignal' | 'process.exit()' | 'uncaught throw' | 'SIGKILL region creator';

export interface SoakOptions {
  kills: number;
  /** Stop after this many seconds even if fewer kills were made (0: no limit). */
  maxSeconds?: number;
  regionPath: string;
  pool: number;
  workers: number;
  processes: number;
  /** Bound on any wait that should complete (ms): beyond it, a hang. */
  hangMs: number;
  /** Share of the kills that are requested deaths (process.exit() / throw). */
  fateShare: number;
  /** Mean interval between SIGSTOP/SIGCONT pauses (ms); 0: none. */
  pauseEveryMs: number;
  /** Run the region-creation lane. */
  regions: boolean;
  /** The lane's share of the kills at most. */
  regionShare: number;
  gapMs: number;
  /** Pass every lab event on (for diagnosis). */
  verbose?: boolean;
}

export const DEFAULT_SOAK_OPTIONS: Omit<SoakOptions, 'regionPath' | 'kills'> = {
  pool: 4,
  workers: 3,
  processes: 2,
  hangMs: 10_000,
  fateShare: 0.1,
  pauseEveryMs: 400,
  regions: true,
  regionShare: 0.05,
  gapMs: 25,
};

export interface DetectionSample {
  /** Seconds since the soak started. */
  t: number;
  ms: number;
  how: string;
}

export interface SoakProgress {
  kills: number;
  target: number;
  elapsedMs: number;
}

/** The lock that went not-recoverable and stopped the soak. */
export interface SoakNotRecoverable {
  lock: 'ledger mutex' | 'audit rwlock';
  /** Seconds since the soak started. */
  atSeconds: number;
  /** How it was seen: a participant's end, or the soak's own check. */
  seenBy: string;
}

export interface SoakFigures {
  kills: number;
  /** The kills asked for (fewer were made when --seconds ran out first). */
  target: number;
  byWay: Record<KillWay, number>;
  recoveries: number;
  recoveriesByKind: { ledgerRepairs: number; heapRecoveries: number; regionsReopened: number; throwsRolledBack: number };
  hangs: number;
  doubleOwners: number;
  invariantViolations: number;
  heapInvalid: number;
  leftoverProcesses: number;
  unexpectedDeaths: number;
  regionFailures: number;
  checks: number;
  pauses: number;
  logLost: number;
  transactions: number | null;
  /** Jobs enqueued and not acked, nor in the queue, at the worst check (must be 0). */
  jobsLost: number;
  /** Jobs acked or applied more than once, at the worst check (must be 0). */
  jobsAckedTwice: number;
  /** The transfer jobs after quit: enqueued, acked, redelivered to a live consumer after a death (and of those, already applied), dead-lettered. */
  jobs: { enqueued: number; acked: number; redelivered: number; alreadyApplied: number; deadLettered: number; checks: number };
  seconds: number;
  killsPerSecond: number;
  detectionMs: { samples: number; p50: number; p90: number; p99: number; max: number };
  /** The same by how the owner died (a thread's death includes Node's environment teardown). */
  detectionByWay: Record<string, { samples: number; p50: number; p90: number }>;
  /** Set when a lock went not-recoverable: the soak stopped there (ok is false). */
  notRecoverable: SoakNotRecoverable | null;
  /** Set when the job queue threw (the lab's 'queue-failed'): the soak stopped there (ok is false), and the job figures are the queue's last look. */
  queueFailed: { atSeconds: number; error: string } | null;
}

export interface SoakResult {
  ok: boolean;
  figures: SoakFigures;
  samples: DetectionSample[];
  /** Seconds since start of each kill. */
  killTimes: number[];
}

const FATE_WAY: Record<Fate, KillWay> = { exit: 'process.exit()', throw: 'uncaught throw' };
const FATE_TIMEOUT_MS = 30_000;

export async function runSoak(options: SoakOptions, onProgress: (p: SoakProgress) => void = () => {}, onEvent: (kind: string, fields: Record<string, unknown>) => void = () => {}): Promise<SoakResult> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const byWay: Record<KillWay, number> = { SIGKILL: 0, 'worker.terminate()': 0, AbortSignal: 0, 'process.exit()': 0, 'uncaught throw': 0, 'SIGKILL region creator': 0 };
  const f = {
    recovered: { ledgerRepairs: 0, heapRecoveries: 0, regionsReopened: 0, throwsRolledBack: 0 },
    hangs: 0,
    invariantViolations: 0,
    heapInvalid: 0,
    unexpectedDeaths: 0,
    regionFailures: 0,
    checks: 0,
    pauses: 0,
    logLost: 0,
    jobsLost: 0,
    jobsAckedTwice: 0,
    jobChecks: 0,
  };
  const samples: DetectionSample[] = [];
  const killTimes: number[] = [];
  let kills = 0;
  const countKill = (way: KillWay) => {
    byWay[way]++;
    kills++;
    killTimes.push(elapsed());
  };
  /** Dead tid -> when its kill was issued (shared clock) and how. */
  const pendingDetection = new Map<number, { at: number; how: string }>();
  /**
   * The kill that orphaned the lock `tid` held, if recent. An older entry is a
   * kill that orphaned nothing (the victim had just released) whose tid a
   * later thread reuses: matched, it made a sample of minutes (a 10,000-kill
   * run's max was 805 s). Beyond the hang window a detection is a hang anyway.
   */
  const takeDetection = (tid: number, at: number): { at: number; how: string } | null => {
    const kill = pendingDetection.get(tid);
    if (!kill) return null;
    pendingDetection.delete(tid);
    return at - kill.at <= options.hangMs ? kill : null;
  };
  /** Participant number -> requested fate. */
  const pendingFates = new Map<number, { fate: Fate; since: number; slot: number }>();
  const processes: StartedProcess[] = [];
  /** Participants whose requested death a chaos kill overtook (see onLabEvent). */
  const overtaken = new Set<number>();
  let checkDue = false;
  let lab: LabController;
  let notRecoverable: SoakNotRecoverable | null = null;
  let queueFailed: { atSeconds: number; error: string } | null = null;
  /** After a participant's death: did the queue fail (a participant that dies of a corrupt queue may be the first to meet it)? The look reports it. */
  const queueHasFailed = (): boolean => {
    lab.inspectQueue();
    return queueFailed !== null;
  };
  /** After a participant's death or a failed check: has a lock gone not-recoverable? Then the soak stops. */
  const noteIfNotRecoverable = (seenBy: string): boolean => {
    if (notRecoverable) return true;
    const lock = lab.objects.mutex.inspect().state === 'not-recoverable' ? 'ledger mutex' : lab.objects.rw.inspect().state === 'not-recoverable' ? 'audit rwlock' : null;
    if (lock === null) return false;
    notRecoverable = { lock, atSeconds: Math.round(elapsed() * 10) / 10, seenBy };
    onEvent('not-recoverable', { ...notRecoverable, kills });
    showContext();
    return true;
  };

  // The lab's last events, printed with the first few troubles: a failure
  // that only shows under load is diagnosed from what came just before it.
  const recent: string[] = [];
  let contextsShown = 0;
  const showContext = (): void => {
    if (options.verbose || contextsShown >= 3) return;
    contextsShown++;
    onEvent('context', { before: [...recent] });
  };
  const onLabEvent = (e: LabEvent) => {
    if (options.verbose) onEvent(`lab:${e.kind}`, { ...e });
    recent.push(`${e.kind}${e.participant ? ` #${e.participant}` : ''}: ${e.text}`);
    if (recent.length > 40) recent.shift();
    if ((e.kind === 'started' || e.kind === 'respawned' || e.kind === 'added') && e['kindOf'] === 'process') processes.push(startedProcess(e['pid'] as number));
    if (e.kind === 'killed') {
      countKill(e['how'] as KillWay);
      const fated = e.participant ? pendingFates.get(e.participant) : undefined;
      if (fated && lab.objects.fates.cancel(fated.slot) !== null) {
        // Killed before it took its fate: the request is withdrawn, not left to
        // the slot's next incarnation. Under load the replacements were killed
        // before they reached their park point, and a request left in place
        // timed out as a hang (4 in a 10,000-kill run at load 26) though no
        // lock was ever stuck.
        pendingFates.delete(e.participant!);
        if (options.verbose) onEvent('fate-withdrawn', { participant: e.participant, fate: fated.fate });
      } else if (fated) {
        // The victim had taken its fate and was carrying it out when the kill
        // came: the kill won the race (the lab reports it killed, not died).
        // A process that got as far as dying of its throw is reported 'died'
        // right after: that death is this kill's, not an unexpected one.
        pendingFates.delete(e.participant!);
        overtaken.add(e.participant!);
        if (options.verbose) onEvent('fate-overtaken', { participant: e.participant, fate: fated.fate });
      }
      if ((e['heldMutex'] || e['parkedAt']) && e.participant) {
        // Synchronous with the kill: the board row still names the victim.
        const tid = lab.objects.board.read(e.participant - 1).tid;
        if (tid) pendingDetection.set(tid, { at: sharedClockMs(), how: e['how'] as string });
      }
    }
    if ((e.kind === 'respawned' || e.kind === 'started') && e.participant) overtaken.delete(e.participant);
    if (e.kind === 'queue-failed' && !queueFailed) {
      queueFailed = { atSeconds: Math.round(elapsed() * 10) / 10, error: String(e['error']) };
      onEvent('queue-failed', { ...queueFailed, kills });
      showContext();
    }
    if (e.kind === 'died' && e.participant) {
      const pending = pendingFates.get(e.participant);
      // A death is the requested one only if it died of it: another error while
      // a fate was pending would otherwise be counted as the fate and hidden.
      const detail = String(e['detail'] ?? '');
      const ofFate = (fate: Fate) => (fate === 'exit' ? /\b70\b/.test(detail) : /as requested/.test(detail));
      if (overtaken.has(e.participant) && /\b70\b|as requested/.test(detail)) {
        overtaken.delete(e.participant);
        // counted as the chaos kill that overtook it
      } else if (pending && ofFate(pending.fate)) {
        pendingFates.delete(e.participant);
        countKill(FATE_WAY[pending.fate]);
        if (pending.fate === 'throw') f.recovered.throwsRolledBack++;
        checkDue = true;
      } else if (noteIfNotRecoverable(`participant #${e.participant} ended (${detail})`) || queueHasFailed()) {
        // Not a death of its own: the lock or the queue is gone for everyone, and respawning would only repeat it.
        return;
      } else {
        f.unexpectedDeaths++;
        const rw = lab.objects.rw.inspect();
        onEvent('unexpected-death', { participant: e.participant, detail: e['detail'], rwlock: { state: rw.state, consistent: rw.consistent, timesAbandoned: rw.timesAbandoned, writer: rw.writer } });
        showContext();
      }
      respawnDead();
    }
    if (e.kind === 'hang') {
      onEvent('hang', { participant: e.participant, text: e.text, ...whoHolds() });
      showContext();
    }
  };

  /** For a hang report: the mutex's owner and what every participant is doing. */
  const whoHolds = () => {
    const snap = lab.snapshot();
    return {
      mutex: { state: snap.mutex.state, owner: snap.mutex.owner, ownerAlive: snap.mutex.ownerAlive, ownerNumber: snap.ownerNumber },
      ownerThread: snap.mutex.owner ? threadState(snap.mutex.owner.pid, snap.mutex.owner.tid) : null,
      participants: snap.participants
        .map((p) => `#${p.number} ${p.kind} ${p.status} tid ${p.tid} pid ${p.pid} lot ${lab.objects.lot.state(p.number - 1)} heapLot ${lab.objects.heapLot.state(p.number - 1)}`)
        .join(', '),
    };
  };

  // The lab's respawn() leaves a participant whose kill is still in flight to
  // its killer (chaos respawns its own victims), so it is safe while chaos
  // runs. Deferred: 'died' is emitted from inside the lab's exit handling.
  let respawnTimer: NodeJS.Immediate | undefined;
  const respawnDead = (): void => {
    respawnTimer ??= setImmediate(() => {
      respawnTimer = undefined;
      if (running) lab.respawn();
    });
  };

  lab = await LabController.create(
    {
      ...DEFAULT_LAB_OPTIONS,
      regionPath: options.regionPath,
      pool: options.pool,
      workers: options.workers,
      processes: options.processes,
      hangMs: options.hangMs,
      gapMs: options.gapMs,
      chaosRate: 50,
    },
    onLabEvent,
  );
  const { mutex, ledger, heap, guard, fates, log } = lab.objects;
  const records = new HeapRecords(heap, () => {});
  /** The job accounting at one moment (see the file comment); the worst figures are kept. */
  const checkJobs = (q: { enqueued: number; acked: number; waiting: number; inFlight: number; deadLetters: number; deadLettersCleared: number }, appliedTwice: number, by: string): void => {
    f.jobChecks++;
    const unaccounted = q.enqueued - q.acked - q.waiting - q.inFlight - q.deadLetters - q.deadLettersCleared;
    const lost = Math.max(0, unaccounted);
    const twice = Math.max(0, -unaccounted) + appliedTwice;
    if (lost > f.jobsLost || twice > f.jobsAckedTwice) onEvent('jobs-wrong', { by, lost, twice, ...q, appliedTwice });
    f.jobsLost = Math.max(f.jobsLost, lost);
    f.jobsAckedTwice = Math.max(f.jobsAckedTwice, twice);
  };
  const me = currentThreadIdentity();
  const lane = options.regions ? new RegionCreationLane(options.regionPath, options.hangMs) : null;
  let running = true;
  const timers: NodeJS.Timeout[] = [];
  let region: Promise<void> = Promise.resolve();
  let check: () => Promise<void> = async () => {};

  try {
    await lab.waitUntilRunning();
    const target = options.kills;
    const deadline = options.maxSeconds ? started + options.maxSeconds * 1000 : Infinity;
    const enough = () => kills >= target || performance.now() > deadline || notRecoverable !== null || queueFailed !== null;

    // The lab log, read independently of the controller: detection times and recoveries.
    let logNext = log.count;
    const readLog = () => {
      const { entries, next, lost } = log.readSince(logNext);
      logNext = next;
      f.logLost += lost;
      for (const e of entries) {
        if (e.kind === 'abandoned') {
          const kill = takeDetection(e.prevTid, e.at);
          if (kill) {
            samples.push({ t: elapsed(), ms: Math.max(0, e.at - kill.at), how: kill.how });
          }
        } else if (e.kind === 'repaired') {
          f.recovered.ledgerRepairs++;
          if (!e.invariantHeld) {
            f.invariantViolations++;
            onEvent('invariant-violation', { by: 'repairer', sum: e.sum, txId: e.txId });
          }
          checkDue = true;
        } else if (e.kind === 'heapRecovered') {
          f.recovered.heapRecoveries++;
          checkDue = true;
        } else if (e.kind === 'heapFailed') {
          f.heapInvalid++;
          onEvent('heap-invalid', { by: 'participant recover()' });
        }
      }
      if (pendingDetection.size > 256) pendingDetection.clear(); // kills that orphaned nothing (the victim had just released)
    };

    check = async (): Promise<void> => {
      f.checks++;
      const section = await inLedgerCriticalSectionAsync(
        mutex,
        ledger,
        () => {
          // Under the ledger mutex no job's money is moving; the queue snapshot is taken under the queue's mutex.
          // The lab's producer runs on this thread: the dead letters it cleared cannot change during this synchronous check.
          // Not while a process is paused: it may be paused inside the queue's mutex (see LabController.queueReachable).
          const q = lab.inspectQueue();
          if (q) checkJobs({ enqueued: q.enqueued, acked: q.acked, waiting: q.ready, inFlight: q.taken.length, deadLetters: q.deadLetters.length, deadLettersCleared: lab.deadLettersCleared }, ledger.stats().jobsAppliedTwice, 'check');
          const inv = ledger.checkInvariant();
          if (!inv.holds) {
            f.invariantViolations++;
            onEvent('invariant-violation', { by: 'check', sum: inv.sum, total: inv.total });
          }
          let v = heap.validate();
          if (!v.valid && heap.stats().poisoned) {
            // A participant died inside a heap operation and nobody has used the heap since: recover here.
            heap.recover();
            f.recovered.heapRecoveries++;
            v = heap.validate();
          }
          if (!v.valid) {
            f.heapInvalid++;
            onEvent('heap-invalid', { by: 'check', problems: v.problems });
          }
        },
        {
          timeoutMs: options.hangMs,
          records,
          onOwned: (result) => {
            guard.enter(me, result.abandoned);
            if (result.abandoned && result.previousOwner) {
              const now = sharedClockMs();
              const kill = takeDetection(result.previousOwner.tid, now);
              if (kill) {
                samples.push({ t: elapsed(), ms: Math.max(0, now - kill.at), how: kill.how });
              }
            }
          },
          onRepaired: (report) => {
            f.recovered.ledgerRepairs++;
            if (!report.invariant.holds) f.invariantViolations++;
          },
          beforeRelease: () => guard.leave(me),
        },
      );
      if (!section.owned) {
        if (section.status === 'not-recoverable') {
          f.invariantViolations++;
          noteIfNotRecoverable('the soak\'s check');
        } else f.hangs++;
        onEvent('check-failed', { status: section.status, ...whoHolds() });
      }
    };

    const livePick = (snap: LabSnapshot, kinds: readonly string[]): number | null => {
      const ok = snap.participants.filter(
        (p) => kinds.includes(p.kind) && ['waiting', 'critical', 'running'].includes(p.status) && !pendingFates.has(p.number),
      );
      return ok.length ? ok[Math.floor(Math.random() * ok.length)]!.number : null;
    };

    // Requested deaths, at their share of the kills.
    let fateTurn = 0;
    const fateStep = () => {
      if (enough()) return;
      const fateKills = byWay['process.exit()'] + byWay['uncaught throw'];
      if (fateKills + pendingFates.size >= Math.max(1, Math.ceil((kills + 1) * options.fateShare))) return;
      const n = livePick(lab.snapshot(), ['pool', 'worker', 'process']);
      if (n === null) return;
      const fate: Fate = fateTurn++ % 2 === 0 ? 'exit' : 'throw';
      pendingFates.set(n, { fate, since: performance.now(), slot: n - 1 });
      if (options.verbose) onEvent('fate-requested', { participant: n, fate });
      fates.request(n - 1, fate);
    };

    // SIGSTOP / SIGCONT pauses of a random process (a stopped owner is alive:
    // others wait), one per pauseEveryMs. At the soak's kill rate a process
    // spends much of its short life starting, so a tick that finds none
    // running tries again 50 ms later rather than a whole interval later (a
    // 10,000-kill run made only 197 pauses in 1,024 s that way).
    let nextPauseAt = 0;
    let pausing = false;
    const pauseStep = async () => {
      if (enough() || pausing || performance.now() < nextPauseAt) return;
      const n = livePick(lab.snapshot(), ['process']);
      if (n === null) return;
      if (!lab.stop(n).ok) return;
      nextPauseAt = performance.now() + options.pauseEveryMs;
      pausing = true;
      f.pauses++;
      try {
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 140));
      } finally {
        pausing = false;
      }
      lab.cont(n);
    };

    lab.setChaos(true, 50);
    timers.push(setInterval(readLog, 20));
    timers.push(setInterval(fateStep, 50));
    if (options.pauseEveryMs > 0) timers.push(setInterval(() => void pauseStep(), Math.min(50, options.pauseEveryMs)));
    timers.push(setInterval(() => onProgress({ kills, target, elapsedMs: performance.now() - started }), 200));
    if (lane) {
      region = (async () => {
        while (running && !enough()) {
          // A creator is a whole new process (tsx): the lane keeps to its share of the kills.
          if (byWay['SIGKILL region creator'] > options.regionShare * kills) {
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          const round = await lane.round();
          if (round.killed) countKill('SIGKILL region creator');
          if (round.reopened) f.recovered.regionsReopened++;
          if (round.hang) f.hangs++;
          if (round.failure) {
            f.regionFailures++;
            onEvent('region-failure', { detail: round.failure });
          }
        }
      })();
    }

    // The checker: one check at a time, after every recovery.
    while (!enough()) {
      if (checkDue) {
        checkDue = false;
        await check();
      } else await new Promise((r) => setTimeout(r, 10));
      const now = performance.now();
      for (const [n, p] of pendingFates) {
        if (now - p.since > FATE_TIMEOUT_MS) {
          pendingFates.delete(n);
          const stillRequested = fates.pending(p.slot);
          fates.cancel(p.slot);
          f.hangs++;
          onEvent('hang', { participant: n, text: `requested ${p.fate} not carried out in ${FATE_TIMEOUT_MS / 1000} s`, stillRequested, ...whoHolds() });
          showContext();
        }
      }
    }
  } finally {
    running = false;
    lab.setChaos(false);
    if (respawnTimer) clearImmediate(respawnTimer);
    for (const t of timers) clearInterval(t);
    await region.catch(() => {});
    await lane?.close();
    // A fate already taken is being carried out: its death is still to come,
    // and it is this soak's doing, not an unexpected death. Wait for those.
    for (const [n, p] of pendingFates) if (fates.cancel(p.slot) !== null) pendingFates.delete(n);
    const fatesDeadline = performance.now() + FATE_TIMEOUT_MS;
    while (pendingFates.size > 0 && performance.now() < fatesDeadline) await new Promise((r) => setTimeout(r, 10));
    for (const [n, p] of pendingFates) {
      f.hangs++;
      onEvent('hang', { participant: n, text: `taken ${p.fate} not carried out in ${FATE_TIMEOUT_MS / 1000} s` });
    }
    pendingFates.clear();
    await lab.settle();
  }

  // The last word on the ledger and heap, then the lab reaps everything (its
  // quit() checks the invariant once more after the last participant is gone).
  // A not-recoverable ledger lock cannot be taken for that check: already reported.
  if (!notRecoverable) await check();
  const quitCounters = await lab.quit();
  if (!quitCounters.invariantHeld) f.invariantViolations++;
  const finalJobs = lab.finalJobs;
  if (finalJobs?.queue && !queueFailed) {
    const q = finalJobs.queue;
    checkJobs({ enqueued: q.enqueued, acked: q.acked, waiting: q.waiting, inFlight: q.inFlight.length, deadLetters: q.deadLetters.length, deadLettersCleared: q.deadLettersCleared }, finalJobs.appliedTwice, 'after quit');
  } else if (!notRecoverable && !queueFailed) {
    // quit's final check could not take the ledger: the jobs were not accounted for.
    f.jobsLost = Math.max(f.jobsLost, 1);
    onEvent('jobs-wrong', { by: 'after quit', detail: 'no final job figures' });
  }
  f.hangs += quitCounters.hangs;
  const doubleOwners = guard.violations;
  if (guard.lastViolation) onEvent('double-owner', { ...guard.lastViolation, count: doubleOwners });
  const startedProcesses = [...processes, ...(lane?.processes ?? [])];
  const deadline = performance.now() + 5000;
  let leftovers = startedProcesses.filter(startedProcessRunning);
  while (leftovers.length && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    leftovers = leftovers.filter(startedProcessRunning);
  }
  if (leftovers.length) onEvent('leftover-processes', { processes: leftovers.map((p) => ({ ...p, state: threadState(p.pid, p.pid) })) });
  const seconds = elapsed();
  const sorted = samples.map((s) => s.ms).sort((a, b) => a - b);
  const q = (p: number, from = sorted) => (from.length ? Math.round(from[Math.min(from.length - 1, Math.floor(p * from.length))]! * 1000) / 1000 : 0);
  const detectionByWay: Record<string, { samples: number; p50: number; p90: number }> = {};
  for (const how of new Set(samples.map((s) => s.how))) {
    const of = samples.filter((s) => s.how === how).map((s) => s.ms).sort((a, b) => a - b);
    detectionByWay[how] = { samples: of.length, p50: q(0.5, of), p90: q(0.9, of) };
  }
  const recoveries = f.recovered.ledgerRepairs + f.recovered.heapRecoveries + f.recovered.regionsReopened + f.recovered.throwsRolledBack;
  const figures: SoakFigures = {
    kills,
    target: options.kills,
    byWay,
    recoveries,
    recoveriesByKind: f.recovered,
    hangs: f.hangs,
    doubleOwners,
    invariantViolations: f.invariantViolations,
    heapInvalid: f.heapInvalid,
    leftoverProcesses: leftovers.length,
    unexpectedDeaths: f.unexpectedDeaths,
    regionFailures: f.regionFailures,
    checks: f.checks,
    pauses: f.pauses,
    logLost: f.logLost,
    transactions: lab.finalTxCount,
    jobsLost: f.jobsLost,
    jobsAckedTwice: f.jobsAckedTwice,
    jobs: {
      enqueued: finalJobs?.queue?.enqueued ?? 0,
      acked: finalJobs?.queue?.acked ?? 0,
      redelivered: quitCounters.jobsRedelivered,
      alreadyApplied: quitCounters.jobsAlreadyApplied,
      deadLettered: (finalJobs?.queue?.deadLetters.length ?? 0) + (finalJobs?.queue?.deadLettersCleared ?? 0),
      checks: f.jobChecks,
    },
    seconds: Math.round(seconds * 10) / 10,
    killsPerSecond: Math.round((kills / seconds) * 10) / 10,
    detectionMs: { samples: sorted.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) },
    detectionByWay,
    notRecoverable,
    queueFailed,
  };
  const ok =
    notRecoverable === null &&
    queueFailed === null &&
    (kills >= options.kills || options.maxSeconds !== undefined) &&
    figures.hangs === 0 &&
    doubleOwners === 0 &&
    figures.invariantViolations === 0 &&
    figures.jobsLost === 0 &&
    figures.jobsAckedTwice === 0 &&
    figures.heapInvalid === 0 &&
    figures.leftoverProcesses === 0 &&
    figures.unexpectedDeaths === 0 &&
    figures.regionFailures === 0;
  return { ok, figures, samples, killTimes };
}
