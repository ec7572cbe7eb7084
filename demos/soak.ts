// The soak (`npm run soak -- --kills 10000 --json`): thousands of real deaths
// inside critical sections, with nothing lost, nothing hung, never two owners.
// See demos/lib/soak-run.ts for what runs and what is checked.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { fileOption, intOption, regionOption, startDemo, usageError } from './lib/cli.js';
import { DEFAULT_SOAK_OPTIONS, runSoak, type SoakOptions } from './lib/soak-run.js';
import { soakChartSvg } from './lib/soak-chart.js';
import { ProgressReporter } from './lib/progress.js';

const demo = startDemo({
  name: 'soak',
  summary:
    "The lock lab's participants (piscina pool threads, worker threads, child processes) move money in a shared ledger under one robust mutex, recording each transfer in a shared heap, while they are killed until --kills deaths: SIGKILL, worker.terminate(), a pool task's AbortSignal (the lab's chaos mode, often parked in the critical section or inside a heap operation first), process.exit() and uncaught throws inside the critical section, with SIGSTOP/SIGCONT pauses, and region creators SIGKILLed mid-creation. After every recovery the ledger invariant, heap.validate() and the ownership guard (never two owners) are checked; hangs are counted. " +
    'Progress goes to stderr; the summary has kills, recoveries, hangs, doubleOwners, invariantViolations, heapInvalid, leftoverProcesses (all but the first two must be 0), and an SVG chart of detection latency and kill rate is written.',
  options: {
    kills: { type: 'string' },
    threads: { type: 'string' },
    workers: { type: 'string' },
    processes: { type: 'string' },
    chart: { type: 'string' },
    'hang-ms': { type: 'string' },
    'fate-percent': { type: 'string' },
    'pause-every-ms': { type: 'string' },
    'no-regions': { type: 'boolean' },
    verbose: { type: 'boolean' },
    region: { type: 'string' },
    seconds: { type: 'string' },
  },
  descriptions: {
    kills: 'deaths to cause before stopping (default 300)',
    threads: `piscina pool threads (default ${DEFAULT_SOAK_OPTIONS.pool})`,
    workers: `plain worker threads (default ${DEFAULT_SOAK_OPTIONS.workers})`,
    processes: `child processes (default ${DEFAULT_SOAK_OPTIONS.processes})`,
    chart: 'where to write the SVG chart (default soak-<pid>.svg in the temp dir; "none": no chart)',
    'hang-ms': `an acquire, check or region open not done within this is a hang (default ${DEFAULT_SOAK_OPTIONS.hangMs})`,
    'fate-percent': `share of the deaths that are process.exit() / uncaught throw, in percent (default ${DEFAULT_SOAK_OPTIONS.fateShare * 100})`,
    'pause-every-ms': `interval between SIGSTOP/SIGCONT pauses of a random process; 0: none (default ${DEFAULT_SOAK_OPTIONS.pauseEveryMs})`,
    'no-regions': 'skip the region-creation lane',
    verbose: "also print every event of the lab underneath (diagnosis)",
    seconds: 'stop after this many seconds even if fewer kills were made (the summary says how many)',
    region: 'region file of the lab (default /dev/shm/robust-shm-soak-<pid>-<random>.region; the lane uses <region>.lane-N; all removed at the end)',
  },
});

const v = demo.values;
// A bad --region or --chart is a usage error before anything starts (not a stack trace, nor a crash after the whole run).
const regionPath = regionOption('region', v.region) ?? `${existsSync('/dev/shm') ? '/dev/shm' : '/tmp'}/robust-shm-soak-${process.pid}-${Math.random().toString(36).slice(2, 8)}.region`;
const options: SoakOptions = {
  ...DEFAULT_SOAK_OPTIONS,
  kills: intOption('kills', v.kills, 300, 1, 10_000_000),
  pool: intOption('threads', v.threads, DEFAULT_SOAK_OPTIONS.pool, 0, 8),
  workers: intOption('workers', v.workers, DEFAULT_SOAK_OPTIONS.workers, 0, 8),
  processes: intOption('processes', v.processes, DEFAULT_SOAK_OPTIONS.processes, 0, 8),
  hangMs: intOption('hang-ms', v['hang-ms'], DEFAULT_SOAK_OPTIONS.hangMs, 1000, 600_000),
  fateShare: intOption('fate-percent', v['fate-percent'], DEFAULT_SOAK_OPTIONS.fateShare * 100, 0, 50) / 100,
  pauseEveryMs: intOption('pause-every-ms', v['pause-every-ms'], DEFAULT_SOAK_OPTIONS.pauseEveryMs, 0, 600_000),
  regions: !v['no-regions'],
  verbose: v.verbose === true,
  ...(v.seconds === undefined ? {} : { maxSeconds: intOption('seconds', v.seconds, 0, 1, 7 * 24 * 3600) }),
  regionPath,
};
if (options.pool + options.workers + options.processes < 2) usageError('at least two participants are needed (one to die, one to notice)');
const chartPath = (v.chart === 'none' ? 'none' : fileOption('chart', v.chart)) ?? `${process.env['TMPDIR'] ?? '/tmp'}/soak-${process.pid}.svg`;

const cleanup = () => {
  rmSync(regionPath, { force: true });
  rmSync(`${regionPath}.lock`, { force: true, recursive: true });
};
process.on('exit', cleanup);

const progress = new ProgressReporter('soak', 'kills');
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const loadBefore = load();
const result = await runSoak(
  options,
  (p) => progress.update(p.kills, p.target, p.elapsedMs),
  (kind, fields) => demo.event(kind, fields, `${kind}: ${JSON.stringify(fields)}`),
);
progress.done();
const fig = result.figures;
const loadAfter = load();
if (chartPath !== 'none') {
  writeFileSync(
    chartPath,
    soakChartSvg({
      title: `robust-shm soak: ${fig.kills} kills in ${fig.seconds} s`,
      subtitle: `recoveries ${fig.recoveries}, hangs ${fig.hangs}, doubleOwners ${fig.doubleOwners}, invariantViolations ${fig.invariantViolations}, heapInvalid ${fig.heapInvalid}; detection p50 ${fig.detectionMs.p50} ms, p90 ${fig.detectionMs.p90} ms; load ${loadAfter}`,
      seconds: fig.seconds,
      samples: result.samples,
      killTimes: result.killTimes,
    }),
  );
}
demo.say(`kills by way: ${JSON.stringify(fig.byWay)}`);
demo.say(`recoveries: ${JSON.stringify(fig.recoveriesByKind)}; checks ${fig.checks}; pauses ${fig.pauses}; transactions ${fig.transactions}`);
demo.say(`jobs: ${fig.jobs.enqueued} enqueued, ${fig.jobs.acked} acked, ${fig.jobs.redelivered} redelivered after a death (${fig.jobs.alreadyApplied} of them already applied: acked only), ${fig.jobs.deadLettered} dead-lettered; lost ${fig.jobsLost}, acked twice ${fig.jobsAckedTwice} (${fig.jobs.checks} checks)`);
demo.say(`detection latency (kill -> next owner's 'abandoned', ${fig.detectionMs.samples} kills of the owner): p50 ${fig.detectionMs.p50} ms, p90 ${fig.detectionMs.p90} ms, p99 ${fig.detectionMs.p99} ms, max ${fig.detectionMs.max} ms`);
if (chartPath !== 'none') demo.say(`chart: ${chartPath}`);
if (fig.queueFailed) demo.say(`stopped at ${fig.queueFailed.atSeconds} s: the job queue failed (${fig.queueFailed.error}); the lab stopped touching it, so the soak stopped too, and its job figures are the queue's last look`);
if (fig.notRecoverable) demo.say(`stopped at ${fig.notRecoverable.atSeconds} s: the ${fig.notRecoverable.lock} went not-recoverable (seen by ${fig.notRecoverable.seenBy}); every participant ends there, so the soak does too`);
demo.finish(
  result.ok,
  { ...fig, chart: chartPath === 'none' ? null : chartPath, loadavgBefore: loadBefore, loadavgAfter: loadAfter },
  `soak: ${result.ok ? 'OK' : 'FAILED'} kills ${fig.kills}, recoveries ${fig.recoveries}, hangs ${fig.hangs}, doubleOwners ${fig.doubleOwners}, invariantViolations ${fig.invariantViolations}, heapInvalid ${fig.heapInvalid}, jobsLost ${fig.jobsLost}, jobsAckedTwice ${fig.jobsAckedTwice}, leftoverProcesses ${fig.leftoverProcesses} (${fig.seconds} s, ${fig.killsPerSecond} kills/s, load ${loadAfter})`,
);
