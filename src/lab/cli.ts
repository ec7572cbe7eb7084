// The lock lab's command line, shared by the package's `robust-shm-lab` bin
// (src/lab/bin.ts) and the repo's `npm start` (demos/lock-lab.ts): kill worker
// threads and child processes in the middle of their critical sections and
// watch abandoned-lock detection and recovery happen live. In a terminal:
// interactive. Without one: a tour (the lab scripted, then whatever `moreTour`
// adds: the repo's demos). With --script: the lab driven by words instead of keys.
import { existsSync } from 'node:fs';
import { RobustShmError } from '../errors.js';
import { intOption, regionOption, startDemo, usageError } from './command-line.js';
import { DEFAULT_LAB_OPTIONS, LabController, type LabEvent, type LabOptions } from './controller.js';
import { runCommand } from './commands.js';
import { parseScript, ScriptError, type ScriptCommand } from './script.js';
import { runInteractive } from './tty.js';
import { tourTable, type TourRow } from './tour.js';
import { serveLab } from './web/web-lab.js';
import { LabWebError } from './web/server.js';

/** The tour's time budget in seconds (default 110; a demo gets at most 45/110 of it). */
const TOUR_BUDGET_ENV = 'ROBUST_SHM_TOUR_BUDGET_S';
const TOUR_SCRIPT = 'park 2; kill 2; stop 4; wait 1s; cont 4; add worker; chaos 4s rate 4; quit';

export interface LabCommandOptions {
  /** How --help says to run it. */
  usage: string;
  /**
   * The rest of the tour after the scripted lab; `budgetMs` is what is left of
   * its 2 minutes. Each row is also reported through `row` as it completes.
   */
  moreTour?: (context: { budgetMs: number; demoCapMs: number; say: (text: string) => void; row: (row: TourRow) => void }) => Promise<TourRow[]>;
}

/** Parse argv, run the lab (interactive, scripted or the tour), print the summary; sets process.exitCode. */
export async function runLabCommand(command: LabCommandOptions, argv = process.argv.slice(2)): Promise<void> {
  const demo = startDemo(
    {
      name: 'lock-lab',
      usage: command.usage,
      summary:
        'Participants (piscina pool threads, plain worker threads, child processes) move money between the accounts of a shared ledger under one robust mutex, recording each transfer in the shared heap. Kill them mid-transfer (SIGKILL, terminate(), AbortSignal), park them inside the critical section, stop and continue them, or let chaos mode kill at random: the next owner sees "abandoned", repairs the ledger from its journal, and the invariant (total money) holds. In a terminal it is interactive (h for help); without one it tours (the lab scripted' +
        (command.moreTour ? ', then every demo' : '') +
        '); --script drives it with words: ' +
        '"kill N; park N [heap]; unpark N; stop N; cont N; add pool|worker|process; add auditor [pool|worker|process]; respawn; chaos 5s [rate R]; chaos 200 kills [rate R]; chaos on|off; rate R; wait 1s; ready; redelivered; select N (highlights a row on the terminal screen, nothing else); quit".',
      options: {
        threads: { type: 'string' },
        workers: { type: 'string' },
        processes: { type: 'string' },
        script: { type: 'string' },
        'chaos-rate': { type: 'string' },
        'hang-ms': { type: 'string' },
        'gap-ms': { type: 'string' },
        region: { type: 'string' },
        tour: { type: 'boolean' },
        'no-color': { type: 'boolean' },
        web: { type: 'boolean' },
        port: { type: 'string' },
        host: { type: 'string' },
      },
      descriptions: {
        threads: `piscina pool threads at start (default ${DEFAULT_LAB_OPTIONS.pool})`,
        workers: `plain worker threads at start (default ${DEFAULT_LAB_OPTIONS.workers})`,
        processes: `child processes at start (default ${DEFAULT_LAB_OPTIONS.processes})`,
        script: 'run these commands instead of reading keys (see above)',
        'chaos-rate': `chaos kills per second (default ${DEFAULT_LAB_OPTIONS.chaosRate})`,
        'hang-ms': `no progress for this long counts as a hang (default ${DEFAULT_LAB_OPTIONS.hangMs})`,
        'gap-ms': `each participant's pause between transfers, outside the lock (default ${DEFAULT_LAB_OPTIONS.gapMs}; larger = less CPU)`,
        region: 'region file (default /dev/shm/robust-shm-lab-<pid>.region; removed on quit)',
        tour: 'run the tour even in a terminal',
        'no-color': 'no colour (also: NO_COLOR in the environment)',
        web: 'serve the lab page on 127.0.0.1 (first line out: its address with a token); q or Ctrl-C quits',
        port: 'with --web: the port (default: a free one)',
        host: 'with --web: bind this address instead of 127.0.0.1 (prints a warning unless loopback)',
      },
    },
    argv,
  );

  const v = demo.values;
  const options: LabOptions = {
    ...DEFAULT_LAB_OPTIONS,
    pool: intOption('threads', v.threads, DEFAULT_LAB_OPTIONS.pool, 0, 12),
    workers: intOption('workers', v.workers, DEFAULT_LAB_OPTIONS.workers, 0, 12),
    processes: intOption('processes', v.processes, DEFAULT_LAB_OPTIONS.processes, 0, 12),
    gapMs: intOption('gap-ms', v['gap-ms'], DEFAULT_LAB_OPTIONS.gapMs, 1, 10_000),
    hangMs: intOption('hang-ms', v['hang-ms'], DEFAULT_LAB_OPTIONS.hangMs, 500, 600_000),
    chaosRate: v['chaos-rate'] === undefined ? DEFAULT_LAB_OPTIONS.chaosRate : Number(v['chaos-rate']),
    // Checked before a participant starts; the default has a random part, so another user's file left at a reused pid is not in the way.
    regionPath: regionOption('region', v.region) ?? `${existsSync('/dev/shm') ? '/dev/shm' : '/tmp'}/robust-shm-lab-${process.pid}-${Math.random().toString(36).slice(2, 8)}.region`,
  };
  if (!(options.chaosRate > 0 && options.chaosRate <= 50)) usageError(`--chaos-rate must be a number from 0.1 to 50, got '${v['chaos-rate']}'`);
  if (options.pool + options.workers + options.processes > 16) usageError('at most 16 participants in all');

  /** The running lab, so an uncaught error can still reap its processes and files. */
  let current: LabController | undefined;
  process.on('uncaughtException', (error) => {
    current?.emergencyStop();
    if (process.stdout.isTTY) process.stdout.write('\x1b[0m\x1b[?25h\x1b[?1049l');
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    // The library's own errors (a region that cannot be made where asked, say) are the user's to read: one line.
    // Anything else is a bug, whose stack helps.
    process.stderr.write(`lock-lab: ${error instanceof RobustShmError ? `${error.name}: ${error.message}` : (error.stack ?? String(error))}\n`);
    process.exit(1);
  });

  /** The lab driven by a script; returns whether it ended well (invariant held, no hang). */
  async function scripted(commands: ScriptCommand[], opts: LabOptions, print: boolean): Promise<{ ok: boolean; figures: Record<string, unknown> }> {
    const printer = (e: LabEvent) => {
      const { kind, t, text, ...fields } = e;
      demo.event(kind, { t, text, ...fields }, `${clock(t)} ${text}`);
    };
    const lab = await LabController.create(opts, print ? printer : undefined);
    current = lab;
    const onSigint = () => void lab.quit().then(() => process.exit(130));
    process.once('SIGINT', onSigint);
    try {
      const running = await lab.waitUntilRunning();
      if (!running && print) demo.say('(some participants were slow to start; going on)');
      for (const c of commands) {
        if (c.op === 'quit') break;
        await runCommand(lab, c);
      }
    } finally {
      await lab.quit();
      process.off('SIGINT', onSigint);
    }
    return labSummary(lab);
  }

  async function tour(): Promise<void> {
    const started = performance.now();
    // 110 s, so the tour stays a tour; a test on a loaded machine, which wants every demo to finish, gives it more.
    const budgetSeconds = Number(process.env[TOUR_BUDGET_ENV] ?? 110);
    if (!Number.isInteger(budgetSeconds) || budgetSeconds < 10 || budgetSeconds > 3600) usageError(`${TOUR_BUDGET_ENV} must be an integer from 10 to 3600 (seconds), got '${process.env[TOUR_BUDGET_ENV]}'`);
    const budgetMs = budgetSeconds * 1000;
    const rows: TourRow[] = [];
    const say = (text: string) => demo.say(text);
    say(`lock-lab tour (no terminal): the lab itself, scripted: "${TOUR_SCRIPT}"`);
    const lab = await scripted(parseScript(TOUR_SCRIPT), options, false);
    rows.push({ demo: 'lock-lab --script', status: lab.ok ? 'ok' : 'failed', seconds: (performance.now() - started) / 1000, figures: lab.figures, note: '' });
    demo.event('tour-row', { ...rows[0] }, `  ${lab.ok ? 'ok' : 'FAILED'}: ${JSON.stringify(lab.figures)}`);
    if (command.moreTour) {
      const row = (r: TourRow) =>
        demo.event('tour-row', { ...r }, r.status === 'not available' ? `demos/${r.demo}.ts: not available` : `  ${r.status}${r.note ? ` (${r.note})` : ''}`);
      rows.push(...(await command.moreTour({ budgetMs: budgetMs - (performance.now() - started), demoCapMs: Math.round((budgetMs * 45) / 110), say, row })));
    }
    say('');
    say(tourTable(rows));
    const failed = rows.filter((r) => r.status === 'failed' || r.status === 'no summary' || r.status === 'timed out');
    demo.finish(failed.length === 0, {
      demos: rows.length,
      passed: rows.filter((r) => r.status === 'ok').length,
      notAvailable: rows.filter((r) => r.status === 'not available').length,
      failed: failed.map((r) => r.demo),
      seconds: Math.round((performance.now() - started) / 100) / 10,
    });
  }

  if ((v.port !== undefined || v.host !== undefined) && !v.web) usageError('--port and --host go with --web');
  if (v.web) {
    let commands: ScriptCommand[] | undefined;
    try {
      commands = v.script === undefined ? undefined : parseScript(v.script);
    } catch (error) {
      if (error instanceof ScriptError) usageError(error.message);
      throw error;
    }
    if (v.port !== undefined && !/^\d+$/.test(v.port)) usageError(`--port takes a port number (0-65535); to bind another address use --host, got '${v.port}'`);
    const port = intOption('port', v.port, 0, 0, 65_535);
    if (v.host !== undefined && !/^[A-Za-z0-9.:-]+$/.test(v.host)) usageError(`--host takes an address or a host name, got '${v.host}'`);
    const lab = await LabController.create(options);
    current = lab;
    const printEvent = (e: LabEvent) => {
      const { kind, t, text, ...fields } = e;
      demo.event(kind, { t, text, ...fields }, `${clock(t)} ${text}`);
    };
    try {
      await serveLab(lab, { host: v.host ?? '127.0.0.1', port, exposed: v.host !== undefined, commands, printEvent, say: (line) => process.stdout.write(`${line}\n`) });
    } catch (error) {
      if (error instanceof LabWebError) usageError(error.message);
      throw error;
    }
    const { ok, figures } = labSummary(lab);
    demo.finish(ok, figures);
  } else if (v.script !== undefined) {
    let commands: ScriptCommand[] = [];
    try {
      commands = parseScript(v.script);
    } catch (error) {
      if (error instanceof ScriptError) usageError(error.message);
      throw error;
    }
    const { ok, figures } = await scripted(commands, options, true);
    demo.finish(ok, figures);
  } else if (!v.tour && !demo.json && process.stdin.isTTY && process.stdout.isTTY) {
    const lab = await LabController.create(options);
    current = lab;
    await runInteractive(lab, { color: !v['no-color'] && !process.env['NO_COLOR'] });
    const { ok, figures } = labSummary(lab);
    demo.finish(ok, figures);
  } else {
    await tour();
  }
  // Everything is reaped by now; if some handle still keeps Node up, say so and leave.
  setTimeout(() => {
    process.stderr.write('lock-lab: a handle kept the process alive after quit; exiting\n');
    process.exit(process.exitCode ?? 0);
  }, 3000).unref();
}

/** The summary line after quit, the same figures in every mode (scripted, web, terminal): ok when the invariant held, nothing hung, no job's money moved twice and the queue never failed. */
function labSummary(lab: LabController): { ok: boolean; figures: Record<string, unknown> } {
  const c = lab.counters;
  const figures = {
    kills: c.kills,
    abandonedObserved: c.abandonedObserved,
    repairs: c.repairs,
    invariantHeld: c.invariantHeld,
    hangs: c.hangs,
    respawns: c.respawns,
    heapRecoveries: c.heapRecoveries,
    sharesReclaimed: c.sharesReclaimed,
    auditFailures: c.auditFailures,
    transactions: lab.finalTxCount,
    jobsEnqueued: lab.finalJobs?.queue?.enqueued ?? null,
    jobsAcked: lab.finalJobs?.queue?.acked ?? null,
    jobsRedelivered: c.jobsRedelivered,
    jobsAlreadyApplied: c.jobsAlreadyApplied,
    jobsDeadLettered: lab.finalJobs?.queue ? lab.finalJobs.queue.deadLetters.length + lab.finalJobs.queue.deadLettersCleared : null,
    jobsAppliedTwice: lab.finalJobs?.appliedTwice ?? null,
    /** The queue's error when it threw (the job figures above are then its last look), else null. */
    queueFailed: lab.queueFailed,
  };
  return { ok: c.invariantHeld && c.hangs === 0 && figures.jobsAppliedTwice === 0 && figures.queueFailed === null, figures };
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}.${String(Math.floor(ms % 1000)).padStart(3, '0')}`;
}
