// `npm run bench:charts`: regenerates every chart docs/benchmarks.md and the
// README show (docs/charts/*.svg, each with its .json of samples beside it):
// the death-detection distributions by victim and waiter (bench/death-split.ts),
// the sync / async hand-over CDFs (bench/async-trace.ts), and, from the mutex,
// rwlock and heap benches run on each Node major one after the other (C built
// in each run), the mutex death distribution against glibc, the hand-over
// CDFs against the bare futex, and the per-op costs per Node (SVG + Markdown).
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildAddonFor, resolveNode, OtherNodeError, type BuiltAddon } from './lib/other-node.js';
import { barChartSvg, type BarGroup } from './lib/svg-chart.js';
import { benchCli, listOption } from './lib/bench-cli.js';
import { interrupted, nestedBench } from './lib/cleanup.js';
import { DEFAULT_THREAD_CACHE } from '../src/heap/heap-operations.js';

const CHARTS = ['death-split', 'async-handover', 'mutex', 'per-node'] as const;
type Chart = (typeof CHARTS)[number];
const NODE_BENCHES = ['mutex', 'contended', 'rwlock', 'heap'] as const;
type NodeBench = (typeof NODE_BENCHES)[number];
/** The charts of this Node's run that docs/ shows, copied up from per-node-runs/. */
const DOCS_CHARTS: Partial<Record<NodeBench, readonly string[]>> = {
  mutex: ['mutex.svg', 'mutex.json', 'mutex-death.svg', 'mutex-handover.svg'],
  contended: ['contended.svg', 'contended.json'],
};
const thisMajor = Number(process.versions.node.split('.')[0]);

const HELP = `Usage: npm run bench:charts -- [--out <dir>] [--nodes 20,22,24,26] [--rounds <n>] [--quick] [--only <list>]

Regenerates every chart docs/benchmarks.md and the README show, plain SVG with
the samples in a .json beside each, into <dir> (default docs/charts):
  death-split.svg     death detection by victim and waiter (bench/death-split.ts)
  async-handover.svg  hand-over CDFs, acquire() vs acquireAsync() (bench/async-trace.ts)
  mutex-death.svg     SIGKILL / terminate() -> 'abandoned', ours vs glibc's EOWNERDEAD (CDFs)
  mutex-handover.svg  hand-over CDFs: acquire(), acquireAsync(), bare futex (one run)
  mutex.svg           mutex per-op costs, ours vs glibc
  contended.svg       two contenders, ns per op per round, ours vs glibc (CDFs; hand-offs, overlap)
  per-node.svg        per-op costs per Node: one bar per Node, the C figure of each run as a tick
  per-node.md         the same as a table: one column per Node, "ours (xratio vs C of that run)"
The mutex-* charts come from this Node's run (Node ${thisMajor}) of the per-Node series
(or the first Node listed). Every run's JSON and SVGs stay in <dir>/per-node-runs/node<N>/.
The benches run one after the other: bench/mutex.ts, rwlock.ts and heap.ts on each Node
(another Node gets the addon built for its ABI in a temp dir; see npm run bench -- --help).

Options:
  --out <dir>      where the files go (default docs/charts)
  --nodes <list>   Node majors for the per-Node series (default 20,22,24,26; ${thisMajor} is this
                   one; the others from the Node cache: node tools/fetch-nodes.mjs fills it)
  --rounds <n>     kills / hand-overs per series in every bench (default: each bench's, 30)
  --quick          tiny round counts (a check that everything runs: about a minute per Node,
                   figures meaningless; do not commit them)
  --only <list>    a subset of ${CHARTS.join(', ')} (mutex needs the per-Node runs of
                   this Node only; per-node runs every Node)
  -h, --help       this help`;

const cli = benchCli('bench/charts', HELP, {
  rounds: { type: 'string' },
  out: { type: 'string' },
  nodes: { type: 'string' },
  quick: { type: 'boolean' },
  only: { type: 'string' },
} as const);
const args = cli.values;
const fail: (message: string) => never = cli.fail;
const quick = Boolean(args.quick);
const rounds = args.rounds === undefined ? (quick ? 3 : undefined) : cli.int('rounds', 30, 1);
const out = resolve(args.out ?? fileURLToPath(new URL('../docs/charts/', import.meta.url)));
const only = new Set<Chart>(listOption('only', args.only, CHARTS, fail));
const nodes: number[] = [];
for (const n of (args.nodes ?? '20,22,24,26').split(',').map((s) => s.trim())) {
  if (!/^\d+$/.test(n)) fail(`--nodes: '${n}' is not a Node major`);
  if (!nodes.includes(Number(n))) nodes.push(Number(n));
}
if (nodes.length === 0) fail('--nodes: no Node given');
// Only the mutex charts: one run, on this Node if listed.
const runNodes = only.has('per-node') ? nodes : only.has('mutex') ? [nodes.includes(thisMajor) ? thisMajor : nodes[0]!] : [];
const docsNode = runNodes.includes(thisMajor) ? thisMajor : runNodes[0];

const progress = (m: string) => process.stderr.write(`[charts] ${m}\n`);
const script = (name: string) => fileURLToPath(new URL(`./${name}`, import.meta.url));

/**
 * Runs a bench to its end; stderr (its progress) passes through, stdout is returned.
 * An interrupt (Ctrl-C) is handed on to the running bench, which cleans up after
 * itself (lib/cleanup.ts); once interrupted, no bench starts.
 */
function runBench(binary: string, name: string, benchArgs: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string }> {
  if (interrupted()) return new Promise(() => {}); // the interrupt's cleanup ends the process
  progress(`${name} ${benchArgs.join(' ')}${binary === process.execPath ? '' : ` (on ${binary})`}`);
  return new Promise((resolveRun, reject) => {
    const child = nestedBench(spawn(binary, ['--import', 'tsx', script(name), ...benchArgs], { stdio: ['ignore', 'pipe', 'inherit'], env }));
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.once('error', reject);
    const t0 = Date.now();
    child.once('close', (code, signal) => {
      if (interrupted()) return; // the interrupt's cleanup ends the process: nothing more is written
      progress(`${name} took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      resolveRun({ code: signal ? 128 : code, stdout });
    });
  });
}

const roundsArg = rounds === undefined ? [] : ['--rounds', String(rounds)];
const QUICK_ARGS: Record<NodeBench, string[]> = {
  mutex: ['--uncontended', '20000', '--contended', '2000'],
  rwlock: ['--uncontended', '20000', '--duration-ms', '100', '--runs', '1'],
  heap: ['--pairs', '20000', '--warmup', '2000'],
  contended: ['--ops', '5000'],
};
const benchArgs = (bench: NodeBench): string[] => [...(quick ? QUICK_ARGS[bench] : []), ...(bench === 'heap' ? [] : roundsArg)];

/** One bench's run on one Node: its --json summary (null if it printed none) and the load when it started. */
interface NodeRun {
  major: number;
  version: string;
  startedAt: string;
  load: number[];
  summaries: Partial<Record<NodeBench, Record<string, unknown> | null>>;
}

// ---- per-Node chart and table ----------------------------------------------------

/** A figure of the per-Node series: where ours and the C of the same run sit in each bench's --json. */
interface Figure {
  label: string;
  unit: string;
  bench: NodeBench;
  /** Dotted paths into the bench's --json summary. */
  ours: string;
  c: string;
  cName: string;
  /** Issue 17's target for this figure, if it has one: how it reads, and whether a run met it. */
  target?: { text: string; met: (ours: number, c: number | null) => boolean };
}
/** A ratio target: ours at most `max` times the C figure of the same run. */
const atMost = (max: number, text = `≤ ${max}×`): Figure['target'] => ({ text, met: (ours, c) => c !== null && c > 0 && ours / c <= max });
const FIGURES: Figure[] = [
  { label: 'mutex uncontended acquire+release', unit: 'ns', bench: 'mutex', ours: 'uncontendedNsPerOp', c: 'pthread.uncontended.nsPerOp', cName: 'glibc', target: atMost(1.5) },
  // Contended from bench/contended.ts (warm contenders, medians of rounds), not mutex.ts's one cold run.
  { label: 'mutex, 2 processes contended, per op (median of the rounds both ran together)', unit: 'ns', bench: 'contended', ours: 'process.oursNsPerOpMedianOverlapping', c: 'process.glibcNsPerOpMedianOverlapping', cName: 'glibc', target: atMost(2) },
  { label: 'mutex, 2 processes contended: hand-offs per round', unit: 'hand-offs', bench: 'contended', ours: 'process.oursHandoffsMedian', c: 'process.glibcHandoffsMedian', cName: 'glibc' },
  { label: 'mutex, 2 threads contended, per op (median of the rounds both ran together)', unit: 'ns', bench: 'contended', ours: 'thread.oursNsPerOpMedianOverlapping', c: 'thread.glibcNsPerOpMedianOverlapping', cName: 'glibc', target: atMost(2) },
  { label: 'mutex, 2 threads contended: hand-offs per round', unit: 'hand-offs', bench: 'contended', ours: 'thread.oursHandoffsMedian', c: 'thread.glibcHandoffsMedian', cName: 'glibc' },
  { label: "mutex, SIGKILL -> 'abandoned', median", unit: 'ms', bench: 'mutex', ours: 'deathDetectionMsMedianProcess', c: 'pthread.deathProcess.msMedian', cName: 'glibc' },
  { label: "mutex, SIGKILL -> 'abandoned', p90", unit: 'ms', bench: 'mutex', ours: 'deathDetectionMsP90Process', c: 'pthread.deathProcess.msP90', cName: 'glibc', target: { text: '≤ 2 ms', met: (ours) => ours <= 2 } },
  { label: "mutex, terminate() -> 'abandoned', median", unit: 'ms', bench: 'mutex', ours: 'deathDetectionMsMedianThread', c: 'pthread.deathThreadCancel.msMedian', cName: 'pthread_cancel', target: { text: '≤ 2 ms', met: (ours) => ours <= 2 } },
  { label: 'mutex hand-over to a sleeping process, median', unit: 'ms', bench: 'mutex', ours: 'handoverMsMedianProcess', c: 'handoverMsMedianFutex', cName: 'bare futex', target: atMost(2) },
  { label: 'hand-over, acquireAsync() vs acquire(), median', unit: 'ms', bench: 'mutex', ours: 'asyncHandoverMsMedian', c: 'syncHandoverMsMedian', cName: 'acquire()', target: atMost(1.5) },
  { label: "SIGKILL -> 'abandoned', async vs sync waiter, median", unit: 'ms', bench: 'mutex', ours: 'asyncDeathDetectionMsMedianProcess', c: 'asyncDeathDetectionMs.process.sync.median', cName: 'sync waiter', target: atMost(1.5) },
  { label: 'rwlock uncontended read', unit: 'ns', bench: 'rwlock', ours: 'uncontendedReadNs', c: 'pthreadUncontendedReadNs', cName: 'glibc', target: atMost(2) },
  { label: `heap free+allocate pair (default: thread cache ${DEFAULT_THREAD_CACHE})`, unit: 'ns', bench: 'heap', ours: 'nsPerPairThreadCache', c: 'boostNsPerPair', cName: 'Boost', target: atMost(0.5) },
  { label: 'heap free+allocate pair, lock per operation (threadCache: 0)', unit: 'ns', bench: 'heap', ours: 'nsPerPair', c: 'boostNsPerPair', cName: 'Boost' },
];
/** The number at a dotted path of a summary, or null. */
function figure(summary: Record<string, unknown> | null | undefined, path: string): number | null {
  let v: unknown = summary;
  for (const key of path.split('.')) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The checkout the runs measure, taken before they start. */
function currentCommit(): string {
  try {
    const cwd = fileURLToPath(new URL('..', import.meta.url));
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', cwd }).trim();
    return execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', cwd }).trim() ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

function writePerNode(runs: NodeRun[], commit: string): void {
  const fmt = (v: number) => (Number.isInteger(v) ? v.toLocaleString('en-US') : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));
  const when = `${runs[0]!.startedAt.slice(0, 16).replace('T', ' ')} UTC`;
  const figures = FIGURES.filter((f) => runs.some((r) => r.summaries[f.bench]));
  const groups: BarGroup[] = figures.map((f) => ({
    label: f.label,
    unit: f.unit,
    ...(f.unit === 'hand-offs' ? { showRatio: false } : { better: 'lower' as const }),
    bars: runs.map((r) => {
      const s = r.summaries[f.bench];
      const c = figure(s, f.c);
      return { name: `Node ${r.major} (${r.version})`, value: figure(s, f.ours), reference: c === null ? null : { name: f.cName, value: c } };
    }),
  }));
  writeFileSync(
    join(out, 'per-node.svg'),
    barChartSvg({
      title: 'robust-shm per Node: bars ours, black tick the C / Boost figure of the same run',
      subtitle: `${when}, commit ${commit}${quick ? ', --quick (tiny round counts: not figures)' : ''}`,
      groups,
      notes: [`Load average (1 / 5 / 15 min) at each Node's start: ${runs.map((r) => `Node ${r.major} ${r.load.map((l) => l.toFixed(1)).join(' / ')}`).join('; ')}.`],
    }),
  );
  const header = `| figure | ${runs.map((r) => `Node ${r.major} (${r.version})`).join(' | ')} | target (issue 17) |`;
  const rule = `| --- | ${runs.map(() => '---').join(' | ')} | --- |`;
  const rows = figures.map((f) => {
    const cells = runs.map((r) => {
      const s = r.summaries[f.bench];
      const ours = figure(s, f.ours);
      const c = figure(s, f.c);
      if (ours === null) return 'n/a';
      if (f.unit === 'hand-offs') return `${fmt(ours)} (${f.cName} ${c === null ? 'n/a' : fmt(c)})`;
      return `${fmt(ours)} ${f.unit}${c === null || c === 0 ? '' : ` (×${(ours / c).toFixed(2)} vs ${f.cName} ${fmt(c)})`}`;
    });
    let target = '';
    if (f.target) {
      const judged = runs.map((r) => ({ ours: figure(r.summaries[f.bench], f.ours), c: figure(r.summaries[f.bench], f.c) })).filter((x) => x.ours !== null);
      const met = judged.filter((x) => f.target!.met(x.ours!, x.c)).length;
      target = `${f.target.text}: ${met === judged.length ? '**met**' : met === 0 ? 'not met' : `met on ${met} of ${judged.length}`}`;
    }
    return `| ${f.label} | ${cells.join(' | ')} | ${target} |`;
  });
  const md = [
    '# Per-op costs per Node',
    '',
    `Regenerated by \`npm run bench:charts${quick ? ' -- --quick`: tiny round counts, NOT figures to quote' : '`'}. Each cell: robust-shm's figure (×ratio against`,
    'the C / Boost figure of the same bench run, C built in that run). Benches run one after the other on each Node.',
    '',
    header,
    rule,
    ...rows,
    '',
    `Commit ${commit}; runs started ${when}.`,
    '',
    ...runs.map((r) => `- Node ${r.major} (${r.version}): started ${r.startedAt.slice(11, 19)} UTC, load average ${r.load.map((l) => l.toFixed(2)).join(' / ')}; JSON in per-node-runs/node${r.major}/`),
    '',
  ].join('\n');
  writeFileSync(join(out, 'per-node.md'), md);
  writeFileSync(join(out, 'per-node.json'), JSON.stringify({ commit, quick, runs }, null, 1) + '\n');
  progress(`wrote per-node.svg, per-node.md and per-node.json in ${out}`);
}

// ---- the runs ------------------------------------------------------------------------

mkdirSync(out, { recursive: true });
const started = Date.now();
const commit = currentCommit();
let failures = 0;

// Resolve every Node first: a missing one fails the command before an hour of benches.
const resolved = new Map<number, Awaited<ReturnType<typeof resolveNode>> | null>();
try {
  for (const major of runNodes) resolved.set(major, major === thisMajor ? null : await resolveNode(String(major)));
} catch (error) {
  if (error instanceof OtherNodeError) fail(error.message);
  throw error;
}

const steps: [Chart, string, string[]][] = [
  ['death-split', 'death-split.ts', [...roundsArg, '--pairs', 'c-c,c-node,node-c,node-node,cmem-c,node-kill', '--svg', join(out, 'death-split.svg')]],
  ['async-handover', 'async-trace.ts', [...roundsArg, '--svg', join(out, 'async-handover.svg')]],
];
for (const [chart, name, scriptArgs] of steps) {
  if (!only.has(chart) || interrupted()) continue;
  const { code } = await runBench(process.execPath, name, scriptArgs);
  if (code !== 0) {
    failures++;
    progress(`${name} exited with ${code}: ${chart}.svg not regenerated`);
  }
}

const runs: NodeRun[] = [];
for (const major of runNodes) {
  if (interrupted()) break; // its cleanup ends the process: no further build or bench
  const node = resolved.get(major) ?? null;
  let addon: BuiltAddon | undefined;
  const env: NodeJS.ProcessEnv = { ...process.env };
  try {
    if (node) {
      addon = await buildAddonFor(node, progress);
      env['ROBUST_SHM_NATIVE_BINARY'] = addon.file;
    }
    const run: NodeRun = { major, version: node?.version ?? process.version, startedAt: new Date().toISOString(), load: loadavg(), summaries: {} };
    runs.push(run);
    const dir = join(out, 'per-node-runs', `node${major}`);
    mkdirSync(dir, { recursive: true });
    const benches = only.has('per-node') ? NODE_BENCHES : (['mutex'] as const);
    for (const [i, bench] of benches.entries()) {
      progress(`Node ${major} (${run.version}): bench ${i + 1}/${benches.length}, ${bench}`);
      const { code, stdout } = await runBench(node?.binary ?? process.execPath, `${bench}.ts`, [...benchArgs(bench), '--json', '--svg', join(dir, `${bench}.svg`)], env);
      const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      run.summaries[bench] = line ? (JSON.parse(line) as Record<string, unknown>) : null;
      if (code !== 0 || !line) {
        failures++;
        progress(`Node ${major}: ${bench} exited with ${code}${line ? '' : ' and printed no summary'}`);
      }
    }
    if (major === docsNode) {
      for (const bench of benches) {
        const files = DOCS_CHARTS[bench];
        // The mutex charts are their own --only entry; the others come with the per-Node series.
        if (!files || !run.summaries[bench] || (bench === 'mutex' && !only.has('mutex'))) continue;
        for (const f of files) copyFileSync(join(dir, f), join(out, f));
        progress(`${bench} charts of the Node ${major} run copied to ${out}`);
      }
    }
  } catch (error) {
    if (!(error instanceof OtherNodeError)) throw error;
    failures++;
    progress(`Node ${major}: ${error.message}`);
  } finally {
    addon?.remove();
  }
}

if (only.has('per-node') && runs.length) writePerNode(runs, commit);
progress(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min${failures ? `, ${failures} step(s) failed (see above)` : ''}; files in ${out}`);
process.exitCode = failures ? 1 : 0;
