// Hostile contents: regions whose header, directory, mutex words or heap were
// scribbled on (random bytes, bit flips, words set to telling values), then
// every operation on each. The fuzz runs in a child process (a crash is its
// exit signal, not this runner dying) whose worker is watched for hangs.
// Reproduce a run with FUZZ_SEED=<seed printed below>.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { useResources } from './helpers/resources.js';
import type { FuzzSummary } from './fixtures/region-fuzz-worker.js';

const program = new URL('./fixtures/region-fuzz-main.ts', import.meta.url).pathname;
const REGIONS = 2500;

describe('scribbled regions', () => {
  const res = useResources();

  it(`${REGIONS} mutated regions: every operation returns or throws a library error within a bound; the process lives`, async () => {
    const seed = process.env['FUZZ_SEED'] ? Number(process.env['FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
    console.log(`region fuzz seed ${seed} (FUZZ_SEED=${seed} reproduces it)`);
    const dir = res.path('fuzz');
    const run = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', program, JSON.stringify({ seed, regions: REGIONS, dir, stallMs: 10_000 })], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
      child.on('error', reject);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout });
      });
    });
    const report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}') as { summary?: FuzzSummary; hang?: unknown; error?: string };
    // A crash shows as a signal, a hang as { hang: { region, opIndex } }, an escaped error as { error }.
    expect({ code: run.code, signal: run.signal, hang: report.hang, error: report.error }).toEqual({ code: 0, signal: null, hang: undefined, error: undefined });
    const summary = report.summary!;
    console.log(
      `region fuzz: ${summary.regions} regions, ${summary.operations} operations, slowest ${summary.slowestMs.toFixed(1)} ms (${summary.slowest})`,
    );
    expect(summary.regions).toBe(REGIONS);
    // Every area was scribbled on, and every operation ran.
    expect(Object.keys(summary.areas).sort()).toEqual(
      [
        'directory',
        'directory-free-entries',
        'directory-mutex',
        'heap-bitmap',
        'heap-block-headers',
        'heap-blocks',
        'heap-header',
        'heap-lists-and-journal',
        'heap-mutex',
        'mutex',
        'mutex-lock-word',
        'region-header',
        'queue-header',
        'queue-mutex',
        'queue-ring-and-free',
        'queue-slots',
      ].sort(),
    );
    for (const op of ['attach', 'openRegion', 'findOrCreate-new', 'mutex-acquire', 'mutex-tryAcquire', 'mutex-acquireAsync', 'mutex-release', 'mutex-inspect', 'heap-alloc-small', 'heap-free', 'heap-realloc-grow', 'heap-size', 'heap-walk', 'heap-validate', 'heap-recover', 'queue-open', 'queue-tryEnqueue', 'queue-tryTake', 'queue-take', 'queue-takeAsync', 'queue-inspect', 'queue-deadLetters', 'queue-recover']) {
      expect(Object.values(summary.outcomes[op] ?? {}).reduce((a, b) => a + b, 0), op).toBeGreaterThan(0);
    }
    // The corruption was noticed, not just survived.
    expect(summary.outcomes['attach']!['ok']).toBeLessThan(REGIONS);
    expect(summary.outcomes['heap-validate']!['invalid']).toBeGreaterThan(0);
    expect(summary.outcomes['heap-recover']!['STATUS_HEAP_CORRUPTION']).toBeGreaterThan(0);
    expect(summary.outcomes['queue-open']!['ERR_REGION_CORRUPT']).toBeGreaterThan(0);
    // Only library errors (a code each), never a TypeError or RangeError from deep inside.
    expect(summary.foreign).toEqual([]);
    // recover() either refuses or leaves a heap that validates; nothing wrote outside its object.
    expect(summary.recoveredInvalid).toEqual([]);
    expect(summary.outsideWrites).toEqual([]);
    // A bound per operation (a safety net: the slowest is a mutex acquire that waits out a slice).
    expect(summary.slowestMs).toBeLessThan(5_000);
  }, 300_000);
});
