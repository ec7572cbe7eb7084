// Workers come and go; the process lives on. The program under test
// (fixtures/worker-only-main.ts) never loads the native addon in its main
// thread: only its workers do, as with a piscina pool that the main thread
// merely dispatches to. Node unloads an addon when the last environment that
// loaded it ends, and the mapped buffers' deleters (and the robust-list head's)
// live in it: without `-z nodelete` the process dies with SIGSEGV here.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { useResources } from './helpers/resources.js';

const program = new URL('./fixtures/worker-only-main.ts', import.meta.url).pathname;

function runProgram(mode: 'plain' | 'pool' | 'exit', path: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // node --import tsx (not the tsx CLI): the pid we may have to SIGKILL is the program's.
    const child = spawn(process.execPath, ['--import', 'tsx', program, mode, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('a process whose main thread never loads the addon survives its workers', () => {
  const res = useResources();

  it('plain workers: one terminate()d holding a mutex, one returning; the process exits 0', async () => {
    const run = await runProgram('plain', res.path('plain-workers'));
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(report).toMatchObject({
      mappedBefore: false, // the main thread had not loaded the addon when the workers started
      mappedInWorkers: true,
      holderGone: true,
      returnerGone: true,
      secondStatus: 'abandoned', // the terminated holder's death was reported (its robust list was walked)
      heapValid: true,
      buffersReadable: true,
    });
  }, 120_000);

  it('a piscina pool: workers retired by the idle timeout, then destroy(); the process exits 0', async () => {
    const run = await runProgram('pool', res.path('pool-workers'));
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(report).toMatchObject({ mappedBefore: false, mappedInWorkers: true, retiredGone: true, destroyedGone: true, heapValid: true, buffersReadable: true });
    expect(report.retiredThreads).toBeGreaterThanOrEqual(1);
    expect(report.statuses).toHaveLength(6);
  }, 120_000);

  it('process.exit() while a worker holds a mapped region mutex and another is idle: the process exits 0', async () => {
    const run = await runProgram('exit', res.path('exit-workers'));
    expect({ code: run.code, signal: run.signal, stderr: run.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(report).toMatchObject({ mappedBefore: false, mappedInWorkers: true, secondStatus: 'acquired' });
  }, 120_000);
});
