// Nothing left behind: the lab's and a Fleet's child processes die with
// their parent even when the parent is SIGKILLed (no exit hook runs) and the
// child is SIGSTOPped or blocked in a wait at that moment (PR_SET_PDEATHSIG,
// src/workers/parent-death.ts). Each parent runs as its own process through
// its real entry; the test SIGKILLs it and polls /proc for every process it
// had started (a zombie awaiting its reaper counts as gone).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { descendants, LAB_ENTRY, pidRunning } from './fixtures/lab-run.js';
import { PARENT_PID_ENV } from '../src/workers/parent-death.js';
import { readThreadStat } from '../src/locks/owner.js';

const FLEET_PARENT = new URL('./fixtures/fleet-parent.ts', import.meta.url);
const SLEEPER = new URL('./fixtures/fleet-sleeper.ts', import.meta.url);

// Safety net: every parent was started in its own process group; a group kill
// reaps whatever a failing test left (the assertions never rely on it).
const groups = new Set<ChildProcess>();
const files = new Set<string>();
afterEach(async () => {
  for (const child of groups) {
    for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // the group is gone
      }
    }
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }
  groups.clear();
  for (const f of files) rmSync(f, { recursive: true, force: true });
  files.clear();
});

function startGroup(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; lines: AsyncIterator<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  groups.add(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-2000)));
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let buffered = '';
  let ended = false;
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    buffered += c;
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    queue.push(...parts);
    wake?.();
  });
  child.once('exit', () => {
    ended = true;
    wake?.();
  });
  const lines: AsyncIterator<string> = {
    async next() {
      for (;;) {
        if (queue.length) return { value: queue.shift()!, done: false };
        if (ended) throw new Error(`the parent exited before printing what was awaited; stderr: ${stderr}`);
        await new Promise<void>((r) => (wake = r));
      }
    },
  };
  return { child, lines };
}

async function lineMatching(lines: AsyncIterator<string>, match: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (;;) {
    const { value } = await lines.next();
    if (!value.startsWith('{')) continue;
    const parsed = JSON.parse(value) as Record<string, unknown>;
    if (match(parsed)) return parsed;
  }
}

function procState(pid: number): string {
  return readThreadStat(pid)?.state ?? 'gone';
}

/**
 * kill(SIGSTOP) only queues the signal: the target shows 'T' once it has been
 * scheduled and taken it, which on a loaded machine can be well after the
 * sender reported the stop. Returns the last state seen (a safety net, 10 s).
 */
async function stateOnceStopped(pid: number, limitMs = 10_000): Promise<string> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const state = procState(pid);
    if (state === 'T' || performance.now() > deadline) return state;
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function sigkillAndWait(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(child.pid!, 'SIGKILL');
  await exited;
}

/** Poll /proc until none of `pids` runs; returns those still running after `limitMs` (a safety net). */
async function survivors(pids: number[], limitMs = 5000): Promise<number[]> {
  const deadline = performance.now() + limitMs;
  for (;;) {
    const alive = pids.filter(pidRunning);
    if (alive.length === 0 || performance.now() > deadline) return alive;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('children die with a SIGKILLed parent', () => {
  it('the lab SIGKILLed with a parked and a stopped participant process: nothing of it is left', async () => {
    const region = `/dev/shm/robust-shm-test-pdeath-${process.pid}-${Math.random().toString(36).slice(2)}.region`;
    files.add(region).add(`${region}.lock`);
    // #1 pool thread, #2-#4 processes, #5 worker thread
    const script = 'ready; park 2; stop 3; wait 120s; quit';
    const { child, lines } = startGroup([LAB_ENTRY.pathname, '--region', region, '--json', '--threads', '1', '--processes', '3', '--workers', '1', '--script', script]);
    const started: number[] = [];
    await lineMatching(lines, (e) => {
      if (e['event'] === 'started' && e['kindOf'] === 'process') started.push(e['pid'] as number);
      return e['event'] === 'parked' && e['participant'] === 2;
    });
    const stopped = await lineMatching(lines, (e) => e['event'] === 'stopped');
    expect(started).toHaveLength(3);
    expect(stopped['pid']).toBe(started[1]);
    expect(await stateOnceStopped(started[1]!)).toBe('T');
    // Everything the lab runs now: participants and any helper (tsx's esbuild service).
    const all = [...new Set([...started, ...descendants(child.pid!)])];
    await sigkillAndWait(child);
    expect(await survivors(all)).toEqual([]);
  }, 90_000);

  it('a Fleet parent SIGKILLed with a stopped, a blocked and an idle child: all three die', async () => {
    const { child, lines } = startGroup([FLEET_PARENT.pathname]);
    const report = await lineMatching(lines, (e) => Array.isArray(e['pids']));
    const pids = report['pids'] as number[];
    expect(report['envCleared']).toBe(true);
    expect(report['modes']).toEqual(['pdeathsig', 'pdeathsig', 'pdeathsig']);
    expect(await stateOnceStopped(pids[0]!)).toBe('T');
    const all = [...new Set([...pids, ...descendants(child.pid!)])];
    await sigkillAndWait(child);
    expect(await survivors(all)).toEqual([]);
  }, 60_000);

  it('without the addon (ppid watch): the blocked and idle children die at once, the stopped one once continued', async () => {
    const { child, lines } = startGroup([FLEET_PARENT.pathname], { ...process.env, ROBUST_SHM_NO_NATIVE: '1' });
    const report = await lineMatching(lines, (e) => Array.isArray(e['pids']));
    const pids = report['pids'] as number[];
    expect(report['modes']).toEqual(['ppid-watch', 'ppid-watch', 'ppid-watch']);
    await sigkillAndWait(child);
    expect(await survivors(pids.slice(1))).toEqual([]);
    // The fallback's known limit: nothing of a stopped process runs, its watcher included.
    expect(pidRunning(pids[0]!)).toBe(true);
    process.kill(pids[0]!, 'SIGCONT');
    expect(await survivors([pids[0]!])).toEqual([]);
  }, 60_000);

  it('a child whose parent is already gone when it arms the signal kills itself (the fork-to-prctl race)', async () => {
    // The expected parent pid is not our pid: exactly what a child sees after
    // a parent died before the prctl (it was reparented meanwhile).
    const bogusParent = 1;
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', new URL('../src/workers/die-with-parent.ts', import.meta.url).href, SLEEPER.pathname], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, [PARENT_PID_ENV]: String(bogusParent) },
      detached: true,
    });
    groups.add(child);
    let ready = false;
    child.on('message', () => (ready = true));
    const [code, signal] = (await new Promise((r) => child.once('exit', (...a) => r(a)))) as [number | null, string | null];
    expect({ code, signal, ready }).toEqual({ code: null, signal: 'SIGKILL', ready: false });
    expect(existsSync(`/proc/${child.pid}`) && procState(child.pid!) !== 'Z').toBe(false);
  }, 60_000);
});
