// The soak at 300 kills, run as its own process through its real entry
// (demos/soak.ts): every way of dying happens, every recovery checks out,
// never two owners, no hang, nothing left running, and the chart is written.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { openRegion } from '../src/shm/region.js';
import { Ledger } from '../src/workers/ledger.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { corruptLabQueue } from './fixtures/lab-queue-corruption.js';

const SOAK = new URL('../demos/soak.ts', import.meta.url);
const id = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const region = `/dev/shm/robust-shm-test-soak-${id}.region`;
const chart = `/tmp/robust-shm-test-soak-${id}.svg`;
let child: ChildProcess | undefined;

afterEach(async () => {
  // Safety net for a failed run: the soak and everything it started share its process group.
  if (child?.pid) {
    for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // gone
      }
    }
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child!.once('exit', r));
  }
  for (const name of readdirSync('/dev/shm')) if (name.startsWith(`robust-shm-test-soak-${id}`)) rmSync(`/dev/shm/${name}`, { recursive: true, force: true });
  rmSync(chart, { force: true });
});

/** Start the soak in its own process group (afterEach kills the group): its output so far, and its exit code once its streams close. */
function startSoak(args: string[]): { closed: Promise<number | null>; readonly stdout: string; readonly stderr: string } {
  const started = spawn(process.execPath, ['--import', 'tsx', SOAK.pathname, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child = started;
  let stdout = '';
  let stderr = '';
  started.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  started.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4000)));
  return {
    closed: new Promise((r) => started.once('close', r)),
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}

/** The last JSON line of the output: the soak's summary ({} when there is none). */
function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '{}') as Record<string, unknown>;
}

describe('the soak', () => {
  it('300 kills of every kind: recoveries check out, no hang, never two owners, nothing left behind', async () => {
    const soak = startSoak(['--kills', '300', '--json', '--region', region, '--chart', chart]);
    const code = await soak.closed;
    const { stdout, stderr } = soak;
    const lines = stdout.split('\n').filter((l) => l.startsWith('{'));
    const summary = JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown> & { byWay: Record<string, number>; recoveriesByKind: Record<string, number> };
    expect(summary['summary'], stderr).toBe('soak');
    // On failure: the first troubles reported, then the tail.
    const troubles = lines.filter((l) => /"event":"(unexpected-death|hang|double-owner|invariant-violation|heap-invalid|jobs-wrong|region-failure|check-failed|context)/.test(l)).slice(0, 8);
    expect(summary, `${troubles.join('\n')}\n...\n${stdout.slice(-2000)}`).toMatchObject({
      ok: true,
      hangs: 0,
      doubleOwners: 0,
      invariantViolations: 0,
      heapInvalid: 0,
      jobsLost: 0,
      jobsAckedTwice: 0,
      leftoverProcesses: 0,
      unexpectedDeaths: 0,
      regionFailures: 0,
    });
    expect(code).toBe(0);
    // The transfers came off the job queue, and killed consumers' jobs came back to live ones;
    // the job accounting ran at the checks (those made while no process was paused) and once more after quit.
    const jobs = summary['jobs'] as { enqueued: number; acked: number; redelivered: number; checks: number };
    expect(jobs.acked).toBeGreaterThan(0);
    expect(jobs.redelivered).toBeGreaterThanOrEqual(10);
    expect(jobs.checks).toBeGreaterThanOrEqual(10);
    expect(jobs.checks).toBeLessThanOrEqual((summary['checks'] as number) + 1);
    expect(summary['kills']).toBeGreaterThanOrEqual(300);
    // Every way of dying really happened.
    for (const way of ['SIGKILL', 'worker.terminate()', 'AbortSignal', 'process.exit()', 'uncaught throw', 'SIGKILL region creator']) {
      expect(summary.byWay[way], way).toBeGreaterThan(0);
    }
    expect(summary['pauses']).toBeGreaterThan(0);
    // Many deaths orphaned the mutex and were repaired; every kind of recovery happened.
    expect(summary.recoveriesByKind['ledgerRepairs']).toBeGreaterThanOrEqual(30);
    expect(summary.recoveriesByKind['throwsRolledBack']).toBeGreaterThan(0);
    expect(summary.recoveriesByKind['regionsReopened']).toBeGreaterThan(0);
    expect(summary['checks']).toBeGreaterThanOrEqual(30);
    expect((summary['detectionMs'] as { samples: number }).samples).toBeGreaterThanOrEqual(20);
    // The chart: one dot per detection sample, a kill-rate line.
    const svg = readFileSync(chart, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<circle /g)?.length ?? 0).toBeGreaterThanOrEqual((summary['detectionMs'] as { samples: number }).samples);
    expect(svg).toContain('<polyline');
    // The soak removed its region files.
    expect(readdirSync('/dev/shm').filter((n) => n.startsWith(`robust-shm-test-soak-${id}`))).toEqual([]);
  }, 900_000);

  it('a ledger lock gone not-recoverable stops the soak at once and reports it, instead of running on to its kill target', async () => {
    // No kill target to reach: the soak must stop of itself.
    const soak = startSoak(['--kills', '1000000', '--json', '--region', region, '--chart', 'none', '--no-regions']);
    // Wait until the lab moves money, then take a coin out of the ledger behind the lock's back: the
    // next repairer after a death finds the invariant broken and releases without markConsistent(),
    // which under the posix policy ends the lock for good (the way a real repair gone wrong does).
    const deadline = Date.now() + 240_000;
    let ledger: Ledger | undefined;
    let mapped: Awaited<ReturnType<typeof openRegion>> | undefined;
    while (!ledger || ledger.stats().repairs < 1) {
      if (Date.now() > deadline || child!.exitCode !== null) throw new Error(`the soak never got going: ${soak.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
      if (!mapped) {
        try {
          mapped = await openRegion(region);
        } catch {
          continue;
        }
      }
      const offset = mapped.find('ledger:lab');
      if (offset !== undefined && !ledger) ledger = Ledger.at(mapped.buffer, offset);
    }
    // Under the ledger's own lock, so no transfer is in flight: a transfer's journal holds before-images
    // of its two balances, and a repair after its owner's death writes them back, which undid a coin
    // taken mid-transfer (the soak then ran on to this test's time limit). If the lock comes back
    // abandoned, this test repairs it as a participant would, then takes the coin.
    const lock = RobustMutex.open(mapped!, 'lab-ledger', { policy: 'posix' });
    const took = lock.acquire(60_000);
    if (!took.owned) throw new Error(`the ledger lock: ${took.status}`);
    if (took.abandoned) {
      ledger!.repair();
      lock.markConsistent();
    }
    expect(ledger!.checkInvariant().holds).toBe(true);
    Atomics.sub(new Int32Array(mapped!.buffer, mapped!.find('ledger:lab')! + 64 * 4, 1), 0, 1);
    expect(ledger!.checkInvariant().holds).toBe(false);
    lock.release();
    const corruptedAt = Date.now();
    const code = await soak.closed;
    const stoppedAfterMs = Date.now() - corruptedAt;
    mapped!.close();
    const { stdout, stderr } = soak;
    const summary = lastJson(stdout) as Record<string, unknown> & { notRecoverable: { lock: string; seenBy: string } | null };
    expect(summary['summary'], stderr).toBe('soak');
    expect(summary.notRecoverable, stdout.slice(-3000)).not.toBeNull();
    expect(['ledger mutex', 'audit rwlock']).toContain(summary.notRecoverable!.lock);
    expect(summary['ok']).toBe(false);
    expect(code).not.toBe(0);
    expect(summary['kills'] as number).toBeLessThan(1_000_000);
    expect(stdout).toContain('"event":"not-recoverable"');
    // Stopped, not crash-looping: the lab's participants were reaped, nothing was left running.
    expect(summary['leftoverProcesses']).toBe(0);
    expect(stoppedAfterMs).toBeLessThan(240_000);
    expect(readdirSync('/dev/shm').filter((n) => n.startsWith(`robust-shm-test-soak-${id}`))).toEqual([]);
  }, 600_000);

  it('a job queue that throws (a slot no queue state names) stops the soak at once with its error, and the lab reaps everything', async () => {
    // No kill target to reach: the soak must stop of itself.
    const soak = startSoak(['--kills', '1000000', '--json', '--region', region, '--chart', 'none', '--no-regions']);
    await corruptLabQueue(region, () => child!.exitCode === null);
    const corruptedAt = Date.now();
    const code = await soak.closed;
    const stoppedAfterMs = Date.now() - corruptedAt;
    const { stdout, stderr } = soak;
    const summary = lastJson(stdout) as Record<string, unknown> & { queueFailed: { error: string } | null };
    expect(summary['summary'], stderr).toBe('soak');
    expect(stderr).not.toMatch(/RegionCorruptError/); // reported, not thrown
    expect(summary.queueFailed, stdout.slice(-3000)).not.toBeNull();
    expect(summary.queueFailed!.error).toMatch(/^RegionCorruptError: queue at byte offset \d+: .*(free stack names slot \d+, which is not free|has state 99)/);
    expect(stdout).toContain('"event":"queue-failed"');
    expect(summary['ok']).toBe(false);
    expect(code).not.toBe(0);
    expect(summary['leftoverProcesses']).toBe(0);
    expect(stoppedAfterMs).toBeLessThan(120_000);
    expect(readdirSync('/dev/shm').filter((n) => n.startsWith(`robust-shm-test-soak-${id}`))).toEqual([]);
  }, 600_000);
});
