// Where does a death-detection tail sit: in the dying process (from kill()
// until the kernel walks its robust list) or in the waiter (asleep in the
// kernel, between liveness slices, on its way back to JS)? Times SIGKILL of
// the owner -> the blocked waiter's return for every pairing of a C and a
// Node victim with a C and a Node waiter, on the same RobustMutex word, with
// the C built in the same run (bench/baseline/death-split.c). Speed is
// measured here, never asserted in tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { loadavg, setPriority } from 'node:os';
import { openRegion } from '../src/shm/region.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { ParkingLot } from '../src/workers/park.js';
import { forkReady, type FleetMember } from '../src/workers/fleet.js';
import { tsFork } from '../tools/ts-spawn.js';
import { buildCBaseline } from './lib/baselines.js';
import { formatTable, summarize, type Summary } from './lib/stats.js';
import { cdfChartSvg } from './lib/svg-chart.js';
import type { BenchParticipantData } from './lib/mutex-bench-participant.js';
import { benchCli } from './lib/bench-cli.js';
import { removeAtExit } from './lib/cleanup.js';

const HELP = `Usage: npx tsx bench/death-split.ts [options]

SIGKILL of a mutex owner -> the waiter's return, for pairings of a victim
(the owner that is killed) and a waiter on the same RobustMutex lock word
(C built in this run, bench/baseline/death-split.c):
  victims  c      a C process that took the word (one thread, tiny)
           cnode  the same C process in a Node process's shape: as many
                  threads as a Node victim has and as much memory touched
           cthreads  only the threads;  cmem  only the memory
           node   a Node process that acquire()d the RobustMutex
  waiters  c      C, asleep in FUTEX_WAIT (woken by the kernel's robust-list walk)
           spin   C, reading the word in a busy loop: no wake in the figure,
                  only the dying process's share (kill() -> the walk)
           node   a Node process blocked in RobustMutex.acquire()
           kill   no waiter: a C program does the kill() itself and busy-reads
                  the word and a pidfd of the victim; gives the walk and, as
                  <pair>:exit, the victim's whole exit (pidfd readable)
Default pairings: c-c c-spin c-node node-c node-spin node-node cnode-c cnode-spin.
With --overlap, node-node and c-c again while a Node process starts beside the
kill (bench/mutex.ts starts the next round's owner there).

Options:
  --rounds <n>   kills per pairing (default 30, min 1)
  --pairs <list> comma-separated <victim>-<waiter> pairings (default above)
  --victim-nice <n>  os.setPriority(victim pid, n) before each kill: the nice value
                 of the victim's main thread, the owner (-20..19; below 0 needs root)
  --overlap      also time node-node and c-c with a Node process starting during the kill
  --json         one JSON summary line on stdout (progress goes to stderr)
  --svg <file>   where to write the chart (default bench/results/death-split.svg); the
                 JSON summary with every sample goes beside it (.json)
  -h, --help     this help`;

const cli = benchCli('bench/death-split', HELP, {
  rounds: { type: 'string' },
  pairs: { type: 'string' },
  overlap: { type: 'boolean' },
  'victim-nice': { type: 'string' },
  svg: { type: 'string' },
  json: { type: 'boolean' },
} as const);
const args = cli.values;
const fail: (message: string) => never = cli.fail;
type Victim = 'c' | 'cnode' | 'cthreads' | 'cmem' | 'node';
type Waiter = 'c' | 'spin' | 'node' | 'kill';
const VICTIMS: readonly string[] = ['c', 'cnode', 'cthreads', 'cmem', 'node'];
const WAITERS: readonly string[] = ['c', 'spin', 'node', 'kill'];
const DEFAULT_PAIRS = 'c-c,c-spin,c-node,node-c,node-spin,node-node,cnode-c,cnode-spin';
const ROUNDS = cli.int('rounds', 30, 1);
const pairs = (args.pairs ?? DEFAULT_PAIRS).split(',').map((p) => {
  const [victim, waiter, extra] = p.trim().split('-');
  if (extra !== undefined || !VICTIMS.includes(victim ?? '') || !WAITERS.includes(waiter ?? '')) {
    fail(`unknown pairing '${p}' (victim ${VICTIMS.join('|')}, waiter ${WAITERS.join('|')}, e.g. node-c)`);
  }
  return { name: p.trim(), victim: victim as Victim, waiter: waiter as Waiter };
});
const json = Boolean(args.json);
const victimNice = args['victim-nice'] === undefined ? undefined : cli.int('victim-nice', 0, -20, 19);
const progress = (message: string) => process.stderr.write(`[death-split] ${message}\n`);

const participantUrl = new URL('./lib/mutex-bench-participant.ts', import.meta.url);
const path = join('/dev/shm', `robust-shm-bench-death-split-${process.pid}`);
removeAtExit(path, `${path}.lock`);
const region = await openRegion(path, { size: 64 * 1024, create: true });
const { offset: wordsOffset } = region.findOrCreate('words', 16);
const lot = ParkingLot.open(region, 'park', 2);
const mutex = RobustMutex.open(region, 'death', { policy: 'windows' });
const data = (slot: number): BenchParticipantData => ({ path, mutexOffset: mutex.byteOffset, lotOffset: lot.byteOffset, wordsOffset, slot });

const children = new Set<FleetMember>();
const natives = new Set<ChildProcess>();
let removeBinary: (() => Promise<void>) | undefined;
async function cleanup(): Promise<void> {
  for (const c of natives) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(
    [...children].map((m) => {
      if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
      return m.exit;
    }),
  );
  rmSync(path, { force: true });
  rmSync(`${path}.lock`, { force: true, recursive: true });
  await removeBinary?.();
}

type Port = { on: Function; off: Function };
function next<T = Record<string, unknown>>(port: Port, type: string): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      port.off('message', on);
      resolve(m as T);
    };
    port.on('message', on);
  });
}

async function forkNode(slot: number): Promise<FleetMember> {
  const m = await forkReady(participantUrl, [JSON.stringify(data(slot))], { fork: tsFork });
  children.add(m);
  return m;
}

/** A C half: resolves each stdout line in turn; `exit` settles when it is reaped and its stdout read to the end ('close'). */
function spawnC(binary: string, mode: 'victim' | 'waiter' | 'spinner' | 'killer', extra: string[] = []): { child: ChildProcess; line(): Promise<string>; exit: Promise<void> } {
  const child = spawn(binary, [mode, path, String(mutex.byteOffset), ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  natives.add(child);
  const exit = new Promise<void>((resolve) => child.once('close', () => {
    natives.delete(child);
    resolve();
  }));
  const lines: string[] = [];
  const readers: ((l: string) => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const r = readers.shift();
    if (r) r(l);
    else lines.push(l);
  });
  const line = () => {
    const l = lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return Promise.race([
      new Promise<string>((resolve) => readers.push(resolve)),
      exit.then(() => {
        throw new Error(`death-split ${mode} exited (code ${child.exitCode}, signal ${child.signalCode}) before its next line`);
      }),
    ]);
  };
  return { child, line, exit };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = performance.now() + 30_000;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what} within 30 s`);
    await sleep(1);
  }
}

/** A Node victim's shape, for the 'cnode' victim: its thread count and resident memory (from /proc, once). */
interface NodeShape {
  threads: number;
  rssMiB: number;
}
let nodeShape: NodeShape | undefined;
async function measureNodeShape(): Promise<NodeShape> {
  if (nodeShape) return nodeShape;
  const v = await forkNode(0);
  lot.request(0);
  v.child.send({ cmd: 'hold' });
  await lot.waitUntilParkedAsync(0, { timeoutMs: 30_000 });
  const status = readFileSync(`/proc/${v.pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  nodeShape = { threads: field('Threads'), rssMiB: Math.round(field('VmRSS') / 1024) };
  v.child.kill('SIGKILL');
  await v.exit;
  children.delete(v);
  if (!(nodeShape.threads > 0 && nodeShape.rssMiB >= 0)) throw new Error(`could not read the Node victim's shape from /proc/${v.pid}/status`);
  return nodeShape;
}

/** kill() -> the waiter's return, ms, per round; `exitMs`: kill() -> the victim's exit (only with the 'kill' waiter). */
async function split(binary: string, victimSide: Victim, waiterSide: Waiter, overlap: boolean): Promise<{ ms: Summary; exitMs?: Summary; samples: number[]; exitSamples: number[] }> {
  const shape = victimSide === 'c' || victimSide === 'node' ? null : await measureNodeShape();
  const victimArgs = !shape ? [] : [String(victimSide === 'cmem' ? 0 : shape.threads - 1), String(victimSide === 'cthreads' ? 0 : shape.rssMiB)];
  const nodeWaiter = waiterSide === 'node' ? await forkNode(1) : null;
  const samples: number[] = [];
  const exitSamples: number[] = [];
  // A Node victim for the next round is started during this round's kill only with --overlap.
  let nextNodeVictim: Promise<FleetMember> | null = null;
  for (let round = 0; round < ROUNDS; round++) {
    // A fresh, free mutex each round: a C waiter never takes the abandoned word.
    RobustMutex.initialize(region.buffer, mutex.byteOffset, { policy: 'windows' });
    let kill: () => void;
    let victimPid: number;
    let victimGone: Promise<unknown>;
    if (victimSide !== 'node') {
      const v = spawnC(binary, 'victim', victimArgs);
      const ready = await v.line();
      if (ready !== 'ready') throw new Error(`C victim said '${ready}'`);
      kill = () => v.child.kill('SIGKILL');
      victimPid = v.child.pid!;
      victimGone = v.exit;
    } else {
      const v = await (nextNodeVictim ?? forkNode(0));
      lot.request(0);
      v.child.send({ cmd: 'hold' });
      await lot.waitUntilParkedAsync(0, { timeoutMs: 30_000 });
      kill = () => v.child.kill('SIGKILL');
      victimPid = v.pid;
      victimGone = v.exit.then(() => children.delete(v));
      nextNodeVictim = null;
    }
    let result: Promise<bigint> | undefined;
    if (waiterSide === 'kill') {
      // The killer below does the kill and the timing.
    } else if (waiterSide !== 'node') {
      const w = spawnC(binary, waiterSide === 'c' ? 'waiter' : 'spinner');
      const waiting = await w.line();
      if (waiting !== 'waiting') throw new Error(`C waiter said '${waiting}'`);
      result = w.line().then((l) => {
        if (!l.startsWith('at ')) throw new Error(`C waiter said '${l}'`);
        return BigInt(l.slice(3));
      });
    } else {
      const waited = next<{ status: string; at: string }>(nodeWaiter!.child, 'waited');
      nodeWaiter!.child.send({ cmd: 'wait' });
      await until('the Node waiter did not block', () => mutex.inspect().waiters >= 1);
      result = waited.then((r) => {
        if (r.status !== 'abandoned') throw new Error(`round ${round}: the Node waiter got ${r.status}, expected abandoned`);
        return BigInt(r.at);
      });
    }
    // Awaited after the kill; until then a failure (a waiter that quit) must not crash us past the cleanup.
    result?.catch(() => {});
    if (victimNice !== undefined) setPriority(victimPid, victimNice);
    // Let the waiter settle into its sleep (it announces itself just before it).
    await sleep(5);
    let bystander: Promise<FleetMember> | null = null;
    if (overlap && victimSide === 'node' && round + 1 < ROUNDS) nextNodeVictim = forkNode(0);
    else if (overlap) bystander = forkNode(0);
    if (result) {
      const t0 = process.hrtime.bigint();
      kill();
      const at = await result;
      samples.push(Number(at - t0) / 1e6);
    } else {
      const k = spawnC(binary, 'killer', [String(victimPid)]);
      const line = await k.line();
      const m = /^walk (\d+) exited (\d+)$/.exec(line);
      if (!m) throw new Error(`C killer said '${line}'`);
      samples.push(Number(m[1]) / 1e6);
      exitSamples.push(Number(m[2]) / 1e6);
      await k.exit;
    }
    await victimGone;
    if (bystander) {
      const b = await bystander;
      b.child.kill('SIGKILL');
      await b.exit;
      children.delete(b);
    }
  }
  if (nodeWaiter) {
    nodeWaiter.child.kill('SIGKILL');
    await nodeWaiter.exit;
    children.delete(nodeWaiter);
  }
  return exitSamples.length > 0 ? { ms: summarize(samples), exitMs: summarize(exitSamples), samples, exitSamples } : { ms: summarize(samples), samples, exitSamples };
}

const figures: Record<string, Summary> = {};
const rawSamples: Record<string, number[]> = {};
let build = '';
try {
  const built = await buildCBaseline('death-split.c', 'death-split');
  if (!built.available) fail(built.reason);
  removeBinary = built.result.remove;
  build = built.build;
  const runs: { name: string; victim: Victim; waiter: Waiter; overlap: boolean }[] = pairs.map((p) => ({ ...p, overlap: false }));
  if (args.overlap) runs.push({ name: 'node-node+start', victim: 'node', waiter: 'node', overlap: true }, { name: 'c-c+start', victim: 'c', waiter: 'c', overlap: true });
  for (const r of runs) {
    progress(`${r.name}: ${ROUNDS} kills (${r.victim} victim -> ${r.waiter} waiter${r.overlap ? ', a Node process starting during the kill' : ''})`);
    const { ms, exitMs, samples, exitSamples } = await split(built.result.binary, r.victim, r.waiter, r.overlap);
    figures[r.name] = ms;
    rawSamples[r.name] = samples;
    if (exitMs) {
      figures[`${r.name}:exit`] = exitMs;
      rawSamples[`${r.name}:exit`] = exitSamples;
    }
  }
} finally {
  await cleanup();
}

/** 'node-kill:exit' -> 'node killed -> whole exit'; 'c-node' -> 'c -> node'. */
function seriesName(name: string): string {
  const [pair, exit] = name.split(':');
  const [victim, waiter] = pair!.split('-');
  if (waiter === 'kill') return `${victim} killed -> ${exit ? 'whole exit (pidfd)' : 'robust-list walk'}`;
  return `${victim} -> ${waiter}`;
}
const summaryLine = { summary: 'death-split', rounds: ROUNDS, node: process.version, loadavg: loadavg(), victimNice: victimNice ?? null, build, nodeShape: nodeShape ?? null, ms: figures };
const svgPath = args.svg ?? fileURLToPath(new URL('./results/death-split.svg', import.meta.url));
mkdirSync(dirname(svgPath), { recursive: true });
writeFileSync(svgPath.replace(/\.svg$/, '') + '.json', JSON.stringify({ ...summaryLine, samplesMs: rawSamples }, null, 1) + '\n');
writeFileSync(
  svgPath,
  cdfChartSvg({
    title: 'Death detection: SIGKILL of the owner -> the waiter, by victim and waiter',
    subtitle: `${ROUNDS} kills each, Node ${process.version}, load ${loadavg().map((l) => l.toFixed(1)).join(' ')} (bench/death-split.ts)`,
    series: Object.entries(rawSamples).map(([name, samples]) => ({ name: seriesName(name), samples })),
    xLabel: "kill() -> the waiter's return, or the walk / exit for 'kill' (ms)",
  }),
);
progress(`wrote ${svgPath} and its .json`);
if (json) {
  process.stdout.write(JSON.stringify(summaryLine) + '\n');
} else {
  const rows = Object.entries(figures).map(([name, s]) => [`${name.replace('-', ' -> ')}`, s.min, s.median, s.p90, s.max]);
  process.stdout.write(formatTable(['victim -> waiter (ms, kill() to the waiter\'s return)', 'min', 'median', 'p90', 'max'], rows) + '\n');
  if (nodeShape) process.stdout.write(`cnode victims: ${nodeShape.threads} threads, ${nodeShape.rssMiB} MiB touched (a Node victim's Threads and VmRSS); cthreads the threads only, cmem the memory only\n`);
}
