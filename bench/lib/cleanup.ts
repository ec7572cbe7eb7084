// What a bench leaves behind when it stops early. benchCli() (bench-cli.ts)
// calls cleanUpOnInterrupt() for every bench, so a bench only registers what
// it creates: region files, temp directories (removeAtExit). Its child
// processes need no registering: they are found through /proc.
//
// On SIGINT, SIGTERM or SIGHUP the bench stops where it is, without giving
// its own code another turn (it would only fail for want of its children, or
// write a chart of half a run): every process it started (participants, C
// baselines, node-gyp and its compilers, redis-server; children of children
// too) is stopped and then SIGKILLed, the registered files and directories
// are removed, one line on stderr says what went, and the bench exits with
// 128 + the signal's number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP).
// A bench that runs other benches (run.ts, charts.ts) registers them with
// nestedBench(): they get the signal handed on and time to clean up after
// themselves before anything left is killed. A signal is handled once the
// event loop gets it: after the synchronous stretch (a timed loop) under way.
// Under the tsx CLI, which would not wait that long, the bench runs one process
// further down (runOutsideTsxCli at the end of this file).
//
// A bench's own finally blocks still clean up after a normal end or a thrown
// error; the process 'exit' hook here is the backstop for the ways out that
// skip them (process.exit() in fail(), an uncaught error): it SIGKILLs what is
// left of the children and removes the registered paths.
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { constants } from 'node:os';
import { isMainThread } from 'node:worker_threads';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** How long nested benches get to clean up after themselves before they are killed. */
const NESTED_GRACE_MS = 15_000;
/** How long the killed children get to be reaped before the bench exits. */
const REAP_MS = 3_000;

const paths = new Set<string>();
const nested = new Set<ChildProcess>();
let benchName = 'bench';
let installed = false;
let caught: NodeJS.Signals | null = null;
let present: string[] = [];

/**
 * Install the interrupt and exit handling for the bench `name` (e.g. 'bench/mutex',
 * the prefix of its stderr line). Calling it again only renames.
 */
export function cleanUpOnInterrupt(name: string): void {
  benchName = name;
  if (installed) return;
  installed = true;
  for (const signal of SIGNALS) process.on(signal, onSignal);
  process.on('exit', atExit);
}

/**
 * Files or directories (removed recursively) that go when the bench is
 * interrupted or exits without removing them itself. Returns a function that
 * forgets them again (for a temp dir the caller has removed).
 */
export function removeAtExit(...toRemove: string[]): () => void {
  for (const p of toRemove) paths.add(p);
  return () => {
    for (const p of toRemove) paths.delete(p);
  };
}

/** A child that is itself a bench: on an interrupt it gets the signal first and time to clean up. */
export function nestedBench<T extends ChildProcess>(child: T): T {
  nested.add(child);
  child.once('exit', () => nested.delete(child));
  return child;
}

/** The signal that interrupted this bench, or null: a bench that runs others starts no more once it is set. */
export function interrupted(): NodeJS.Signals | null {
  return caught;
}

function onSignal(signal: NodeJS.Signals): void {
  // One cleanup, which ends in process.exit(); a second Ctrl-C meanwhile changes nothing.
  if (caught) return;
  caught = signal;
  // What is there now is what the cleanup removes (or, racing it, the bench's own finally).
  present = [...paths].filter(exists);
  if (![...nested].some(alive)) {
    // All at once, without giving the event loop back: the bench's own code must not go on
    // (write a chart of half a run, start the next step) once its children are gone.
    let killed: number[] = [];
    try {
      killed = freezeAndKill(new Set());
      waitSync(() => killed.every(dead), REAP_MS);
    } catch {
      // Cleaning up goes on: the files matter more than a /proc read that failed.
    }
    finish(signal, killed.length);
    return;
  }
  // Nested benches clean up after themselves, which takes time. Meanwhile this bench's own
  // code (run.ts, charts.ts: it starts nothing once interrupted() is set) fails for want of
  // its children: its errors are not the story any more, and must not end the process first.
  process.on('uncaughtException', () => {});
  process.on('unhandledRejection', () => {});
  void nestedCleanup(signal);
}

async function nestedCleanup(signal: NodeJS.Signals): Promise<void> {
  const killed = new Set<number>();
  try {
    const spare = new Set([...nested].filter(alive).map((c) => c.pid!));
    for (const pid of freezeAndKill(spare)) killed.add(pid);
    for (const c of nested) if (alive(c)) c.kill(signal);
    await until(() => ![...nested].some(alive), NESTED_GRACE_MS);
    for (const pid of freezeAndKill(new Set())) killed.add(pid);
    // Reaped, too (not zombies): those killed here, and the nested benches.
    await until(() => [...killed].every(gone) && !hasChildren(), REAP_MS);
  } catch {
    // As above.
  }
  finish(signal, killed.size);
}

/** Remove the registered paths, say what went, exit with 128 + the signal's number. */
function finish(signal: NodeJS.Signals, killed: number): never {
  removePaths();
  const removed = present.filter((p) => !exists(p));
  const what = [`${benchName}: interrupted (${signal})`];
  if (removed.length) what.push(`removed ${removed.join(', ')}`);
  if (killed) what.push(`killed ${killed} child process${killed === 1 ? '' : 'es'}`);
  say(what.join('; '));
  process.exit(128 + constants.signals[signal]);
}

/** The backstop at exit (synchronous): kill what is left, remove what is registered; say so if there was anything. */
function atExit(): void {
  let killed: number[] = [];
  try {
    killed = freezeAndKill(new Set());
  } catch {
    // No /proc: nothing more to do for the children.
  }
  const removed = removePaths();
  if (!caught && (removed.length || killed.length)) {
    const what = [...(removed.length ? [`removed ${removed.join(', ')}`] : []), ...(killed.length ? [`killed ${killed.length} child process${killed.length === 1 ? '' : 'es'}`] : [])];
    say(`${benchName}: on exit, ${what.join('; ')}`);
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function removePaths(): string[] {
  const removed: string[] = [];
  for (const p of paths) {
    if (!exists(p)) continue;
    try {
      rmSync(p, { recursive: true, force: true });
      removed.push(p);
    } catch (error) {
      say(`${benchName}: could not remove ${p}: ${(error as Error).message}`);
    }
  }
  paths.clear();
  return removed;
}

function say(line: string): void {
  try {
    process.stderr.write(`${line}\n`);
  } catch {
    // stderr gone (a closed terminal after SIGHUP): exit all the same.
  }
}

const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}

/** until() without the event loop: 5 ms sleeps (Atomics.wait may block Node's main thread). */
function waitSync(condition: () => boolean, timeoutMs: number): void {
  const deadline = Date.now() + timeoutMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  while (!condition() && Date.now() < deadline) Atomics.wait(nap, 0, 0, 5);
}

interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
  comm: string;
}

function readStat(pid: number | string): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  const close = text.lastIndexOf(')');
  const rest = text.slice(close + 2).split(' ');
  return { pid: Number(pid), comm: text.slice(text.indexOf('(') + 1, close), state: rest[0] ?? '?', ppid: Number(rest[1]) };
}

/** A killed process has died (a zombie until its parent, or init once this process is gone, reaps it). */
function dead(pid: number): boolean {
  const s = readStat(pid);
  return s === null || s.state === 'Z' || s.state === 'X';
}

/** A killed process is done once it is gone, or a zombie someone else (not this process) will reap. */
function gone(pid: number): boolean {
  const s = readStat(pid);
  return s === null || (s.state === 'Z' && s.ppid !== process.pid);
}

/** Whether any process, zombies included, is still this one's child. */
function hasChildren(): boolean {
  for (const entry of readdirSync('/proc')) {
    if (/^\d+$/.test(entry) && readStat(entry)?.ppid === process.pid) return true;
  }
  return false;
}

/** Every living process below this one, parents before children, skipping `spare` and what is below them. */
function descendants(spare: ReadonlySet<number>): ProcStat[] {
  const childrenOf = new Map<number, ProcStat[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = readStat(entry);
    if (!s) continue;
    const list = childrenOf.get(s.ppid);
    if (list) list.push(s);
    else childrenOf.set(s.ppid, [s]);
  }
  const out: ProcStat[] = [];
  const queue = [process.pid];
  while (queue.length) {
    for (const s of childrenOf.get(queue.shift()!) ?? []) {
      if (spare.has(s.pid)) continue;
      out.push(s);
      queue.push(s.pid);
    }
  }
  return out.filter((s) => s.state !== 'Z');
}

/**
 * SIGSTOP every descendant (but `spare`'s subtrees) until a fresh look finds
 * no new one (a stopped process forks no more, and its children stay its
 * own), then SIGKILL them all. Returns their pids but tsx's esbuild service
 * (killed too, not counted: every bench run through tsx has one).
 */
function freezeAndKill(spare: ReadonlySet<number>): number[] {
  const frozen = new Map<number, ProcStat>();
  for (let look = 0; look < 10; look++) {
    const fresh = descendants(spare).filter((s) => !frozen.has(s.pid));
    if (!fresh.length) break;
    for (const s of fresh) {
      signal(s.pid, 'SIGSTOP');
      frozen.set(s.pid, s);
    }
  }
  for (const pid of frozen.keys()) signal(pid, 'SIGKILL');
  return [...frozen.values()].filter((s) => s.comm !== 'esbuild').map((s) => s.pid);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

// ---- under the tsx CLI ---------------------------------------------------------------

/** How long the bench gets after a signal before the relay below kills it. */
const RELAY_GRACE_MS = 20_000;

/**
 * `npx tsx bench/x.ts` runs the bench in a child of the tsx CLI, which hands a
 * Ctrl-C on and SIGKILLs that child unless it acknowledges the signal within
 * about 60 ms (tsx 4's relaySignals: two 30 ms waits). A bench in a long
 * synchronous stretch (the heap's timed replay, the mutex's uncontended loop,
 * the queue's producer) cannot answer that fast, and a SIGKILLed bench leaves
 * everything behind. So under the tsx CLI (its preflight in our execArgv) the
 * bench runs one process further down, `node --import <tsx loader> <script>`,
 * out of tsx's reach; this process only waits, answers tsx at once, hands
 * every signal on and exits with the bench's exit code. Returns false when
 * there is nothing to do (not under the tsx CLI): the caller runs the bench;
 * otherwise it never settles (this process exits with the bench).
 */
export function runOutsideTsxCli(script: string): Promise<boolean> {
  const preflight = process.execArgv.findIndex((a, i) => isTsxPreflight(a) || (a === '--require' && isTsxPreflight(process.execArgv[i + 1] ?? '')));
  if (!isMainThread || preflight < 0) return Promise.resolve(false);
  const execArgv = process.execArgv.filter((a, i) => !(i === preflight || (i === preflight + 1 && process.execArgv[preflight] === '--require')));
  const bench = spawn(process.execPath, [...execArgv, script, ...process.argv.slice(2)], { stdio: 'inherit' });
  let signalled: NodeJS.Signals | null = null;
  for (const signal of SIGNALS) {
    process.on(signal, () => {
      // With Ctrl-C the bench has it already (one process group); a second one changes nothing there.
      signalled ??= signal;
      if (alive(bench)) bench.kill(signal);
      setTimeout(() => {
        if (alive(bench)) bench.kill('SIGKILL');
      }, RELAY_GRACE_MS).unref();
    });
  }
  bench.once('error', (error) => {
    say(`${script}: ${error.message}`);
    process.exit(1);
  });
  bench.once('exit', (code, signal) => process.exit(code ?? 128 + constants.signals[signal ?? signalled ?? 'SIGKILL']));
  return new Promise(() => {});
}

function isTsxPreflight(arg: string): boolean {
  return /tsx[\\/]dist[\\/]preflight\.cjs$/.test(arg.replace(/^--require=/, ''));
}
