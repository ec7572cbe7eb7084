// demos/job-queue.ts, small: 500 jobs, 5 consumers killed mid-job (threads
// terminated, processes SIGKILLed), and 500 jobs with the default --kills (so
// the planned 500 / 20 = 25 kills, every one of which must be made). Its JSON
// summary must say ok, with no job lost and none acked twice. The demo runs as
// `node --import tsx` (its pid is the program's, so a SIGKILL on failure (in
// afterEach) reaches it; its consumer processes die with it). A consumer
// killed behind the demo's back must stop the run and fail it, by name: the
// demo used to wait on for it (no kill is made until every consumer is up).
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { descendants } from './fixtures/lab-run.js';
import { useResources } from './helpers/resources.js';

const demo = new URL('../demos/job-queue.ts', import.meta.url).pathname;

describe('demos/job-queue.ts', () => {
  const res = useResources();

  it('--jobs 500 --kills 5 --json: ok, nothing lost, nothing acked twice, every kill redelivered', async () => {
    const child = res.track(spawn(process.execPath, ['--import', 'tsx', demo, '--jobs', '500', '--kills', '5', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.resume();
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const lines = stdout.trim().split('\n');
    const summary = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({ summary: 'job-queue', ok: true, jobs: 500, enqueued: 500, lost: 0, ackedTwice: 0, kills: 5 });
    expect((summary['acked'] as number) + (summary['deadLettered'] as number)).toBe(500);
    expect(summary['redelivered']).toBeGreaterThanOrEqual(5);
    expect(typeof summary['redeliveryMsMedian']).toBe('number');
    expect(lines.filter((l) => l.includes('"event":"killed"'))).toHaveLength(5);
    expect(code).toBe(0);
  }, 180_000);

  it('--jobs 500 (default --kills 40, capped at jobs / 20): all 25 planned kills are made, ok, nothing lost, nothing acked twice', async () => {
    const child = res.track(spawn(process.execPath, ['--import', 'tsx', demo, '--jobs', '500', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.resume();
    const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    const lines = stdout.trim().split('\n');
    const summary = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    expect(summary).toMatchObject({ summary: 'job-queue', ok: true, jobs: 500, enqueued: 500, lost: 0, ackedTwice: 0, kills: 25, plannedKills: 25, problems: [] });
    expect((summary['acked'] as number) + (summary['deadLettered'] as number)).toBe(500);
    expect(summary['redelivered']).toBeGreaterThanOrEqual(25);
    expect(lines.filter((l) => l.includes('"event":"killed"'))).toHaveLength(25);
    expect(code).toBe(0);
  }, 180_000);

  it('--help describes it; a bad option is a clear error', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = res.track(spawn(process.execPath, ['--import', 'tsx', demo, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        child.once('exit', (code) => resolve({ code, out }));
      });
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--jobs');
    const bad = await run(['--jobs', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.out).toBe("job-queue: --jobs must be an integer from 10 to 1000000, got 'many'\nTry --help.\n");
  }, 60_000);

  it('a consumer that ends on its own (SIGKILLed behind the demo\'s back): the demo stops at once and fails, naming it', async () => {
    const child = res.track(spawn(process.execPath, ['--import', 'tsx', demo, '--jobs', '100000', '--kills', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.resume();
    const closed = new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
    // A consumer process of the demo, found as soon as it runs: before the jobs start or after, the run must stop.
    const deadline = Date.now() + 60_000;
    let victim: number | undefined;
    while (victim === undefined) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no consumer process found: ${stdout.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
      victim = consumerProcesses(child.pid!)[0];
    }
    process.kill(victim, 'SIGKILL');
    const killedAt = Date.now();
    const code = await closed;
    const summary = JSON.parse(stdout.trim().split('\n').at(-1)!) as { ok: boolean; problems: string[]; acked: number };
    expect(summary.ok).toBe(false);
    expect(summary.problems[0]).toMatch(/^consumer \d+ \(process\) ended on its own: killed by SIGKILL$/);
    expect(summary.acked).toBeLessThan(100_000); // it stopped, rather than running the jobs out
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect(code).toBe(1);
  }, 180_000);
});

/** The demo's consumer processes (below `pid`, with a consumer's data on their command line). */
function consumerProcesses(pid: number): number[] {
  return descendants(pid).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('"role":"consumer"');
    } catch {
      return false; // gone meanwhile
    }
  });
}
