// The benches' command lines and their interrupt handling (bench/run.ts,
// bench/lib/bench-cli.ts, bench/lib/cleanup.ts), through the tsx CLI as
// `npx tsx bench/...` runs them: npm run bench refuses a bad command line
// before it starts anything, and an interrupted bench removes its region file,
// leaves no process behind and exits with 128 + the signal's number. Each
// command runs in its own process group, SIGKILLed after every test whatever
// happened.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const TSX_CLI = fileURLToPath(new URL('../node_modules/tsx/dist/cli.mjs', import.meta.url));

interface Run {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started = new Set<ChildProcess>();
const leftovers = new Set<string>();
afterEach(async () => {
  for (const child of started) {
    for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // the group is gone
      }
    }
    if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve));
  }
  started.clear();
  for (const path of leftovers) rmSync(path, { recursive: true, force: true });
  leftovers.clear();
});

/** `npx tsx <args>` without npm: the tsx CLI, in a process group of its own (its pid is the group id). */
function tsx(args: string[]): Run {
  const child = spawn(process.execPath, [TSX_CLI, ...args], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Processes whose process group is `pgid`, with their state (Z: a zombie awaiting its reaper). */
function groupMembers(pgid: number): { pid: number; state: string; comm: string }[] {
  const members: { pid: number; state: string; comm: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(')');
    const [state, , pgrp] = stat.slice(close + 2).split(' ');
    if (Number(pgrp) === pgid) members.push({ pid: Number(entry), state: state!, comm: stat.slice(stat.indexOf('(') + 1, close) });
  }
  return members;
}

async function until<T>(what: string, look: () => T | undefined | false, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = look();
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const benchFiles = (): string[] => readdirSync('/dev/shm').filter((f) => f.startsWith('robust-shm-bench-') || f.startsWith('bench-heap-'));

describe('npm run bench (bench/run.ts) checks its whole command line before it starts anything', () => {
  const refused: [string, string[], RegExp][] = [
    ['an unknown option', ['--bogus'], /^bench\/run: Unknown option '--bogus'.*\nTry --help\.\n$/],
    ['an option none of the selected benches takes', ['--only', 'heap', '--rounds', '3'], /^bench\/run: --rounds is an option of mutex, contended, rwlock, none of which runs here \(--only heap\)\nTry --help\.\n$/],
    ['an unknown bench in --only', ['--only', 'heap,bogus'], /^bench\/run: --only: unknown 'bogus' \(expected mutex, contended, heap, rwlock\)\nTry --help\.\n$/],
    ['an unknown option beside --help', ['--only', 'heap', '--bogus', '--help'], /^bench\/run: Unknown option '--bogus'.*\nTry --help\.\n$/],
    ['a bench option without its value', ['--rounds'], /^bench\/run: Option '--rounds <value>' argument missing\nTry --help\.\n$/],
    ['--svg, which every bench would overwrite', ['--svg', 'x.svg'], /^bench\/run: --svg is not passed on: .*\nTry --help\.\n$/],
  ];
  for (const [what, args, message] of refused) {
    it(`refuses ${what}: one line naming it, "Try --help.", exit code 2, nothing started`, async () => {
      const before = benchFiles();
      const run = tsx(['bench/run.ts', ...args]);
      expect(await run.exit).toEqual({ code: 2, signal: null });
      expect(run.stderr()).toMatch(message);
      // No bench ran: none announced ([bench] ...), none left a file, nothing is left in the group.
      expect(run.stderr()).not.toContain('[bench]');
      expect(run.stdout()).toBe('');
      expect(benchFiles().filter((f) => !before.includes(f))).toEqual([]);
      expect(groupMembers(run.child.pid!).filter((p) => p.state !== 'Z')).toEqual([]);
    }, 60_000);
  }

  it('refuses a value a later bench refuses before any bench runs: the bench names it, nothing started', async () => {
    const before = benchFiles();
    const run = tsx(['bench/run.ts', '--only', 'mutex,heap', '--pairs', '7', '--slices', '3']);
    expect(await run.exit).toEqual({ code: 2, signal: null });
    expect(run.stderr()).toMatch(/^bench\/heap: --pairs must be an integer from 10 to 100000000, got '7'\nTry --help\.\n/m);
    expect(run.stderr()).toContain('[bench] heap refused its command line: no bench is started');
    // The mutex bench only checked its options: it never said it was running.
    expect(run.stderr()).not.toMatch(/\[bench\] mutex: |\[mutex\]/);
    expect(run.stdout()).toBe('');
    expect(benchFiles().filter((f) => !before.includes(f))).toEqual([]);
  }, 60_000);

  it('--help names all four benches and which options go to which', async () => {
    const run = tsx(['bench/run.ts', '--help']);
    expect(await run.exit).toEqual({ code: 0, signal: null });
    const help = run.stdout();
    expect(help).toContain('[--only mutex,contended,heap,rwlock]');
    expect(help).toContain('bench/mutex.ts, bench/contended.ts, bench/heap.ts and bench/rwlock.ts');
    expect(help).toMatch(/--rounds <value> +mutex, contended, rwlock\n/);
    expect(help).toMatch(/--pairs <value> +heap\n/);
    expect(help).toMatch(/--json +all four\n/);
    expect(run.stderr()).toBe('');
  }, 60_000);

  it('a bench refuses a bad value the same way: bench/<name>: <message>, "Try --help.", exit code 2', async () => {
    const run = tsx(['bench/mutex.ts', '--rounds', 'abc']);
    expect(await run.exit).toEqual({ code: 2, signal: null });
    expect(run.stderr()).toBe(`bench/mutex: --rounds must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}, got 'abc'\nTry --help.\n`);
  }, 60_000);
});

describe('an interrupted bench cleans up after itself', () => {
  const cases: [string, 'SIGINT' | 'SIGTERM', boolean, number][] = [
    ['SIGINT to its process group (Ctrl-C)', 'SIGINT', true, 130],
    // tsx hands it on, and would SIGKILL a bench slow to answer: the bench runs out of its reach.
    ['SIGTERM to the tsx CLI alone', 'SIGTERM', false, 143],
  ];
  for (const [how, signal, group, code] of cases) {
    it(`bench/mutex.ts, ${how}: its region file goes, no process stays, exit code ${code}`, async () => {
      const before = readdirSync('/dev/shm').filter((f) => f.startsWith('robust-shm-bench-mutex-'));
      // Charts only at the end, which it never reaches; still, not over bench/results/.
      const charts = mkdtempSync(join(tmpdir(), 'robust-shm-test-bench-cli-'));
      leftovers.add(charts);
      const run = tsx(['bench/mutex.ts', '--no-baselines', '--no-async', '--svg', join(charts, 'mutex.svg')]);
      const region = await until(
        'bench/mutex.ts created its region',
        () => {
          if (run.child.exitCode !== null) throw new Error(`bench/mutex.ts exited (${run.child.exitCode}) first:\n${run.stderr()}`);
          return readdirSync('/dev/shm').find((f) => f.startsWith('robust-shm-bench-mutex-') && !before.includes(f));
        },
        45_000,
      );
      const path = `/dev/shm/${region}`;
      leftovers.add(path);
      process.kill(group ? -run.child.pid! : run.child.pid!, signal);
      expect(await run.exit).toEqual({ code, signal: null });
      expect(run.stderr()).toContain(`bench/mutex: interrupted (${signal}); removed ${path}`);
      expect(readdirSync('/dev/shm')).not.toContain(region);
      // The killed children may stay zombies for a moment, until init reaps the orphans: a zombie is no process left.
      await until('the process group emptied', () => groupMembers(run.child.pid!).length === 0, 15_000).catch(() => {});
      expect(groupMembers(run.child.pid!).filter((p) => p.state !== 'Z')).toEqual([]);
    }, 90_000);
  }
});
