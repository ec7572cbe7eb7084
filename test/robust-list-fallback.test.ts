// The fallback where the kernel refuses the robust-list syscalls (qemu-user answers
// set_robust_list and get_robust_list with ENOSYS; seccomp sandboxes can do the same), tested on
// this CPU: child processes run under test/native/refuse-robust-list.c, a launcher compiled here
// with cc that installs a seccomp filter refusing exactly those two syscalls and execs node.
// A refused process must say so (deathDetection(), inspect().deathDetection: 'fallback'), and an
// owner SIGKILLed inside the critical section is still reported 'abandoned': to a waiter that is
// itself on the fallback and was blocked when the owner died, and to a thread on the robust list.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openRegion } from '../src/shm/region.js';
import { RobustMutex } from '../src/locks/robust-mutex.js';
import { deathDetection } from '../src/locks/robust-list.js';
import { exited, useResources } from './helpers/resources.js';

const participant = fileURLToPath(new URL('./fixtures/robust-list-refused-participant.ts', import.meta.url));
const launcherSource = fileURLToPath(new URL('./native/refuse-robust-list.c', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), `robust-shm-refused-${process.pid}-`));
const launcher = join(dir, 'refuse-robust-list');

type Line = Record<string, unknown>;

/** Every JSON line the child prints, in order; `next(event)` resolves with the first of that event. */
function lines(child: ChildProcess): { next(event: string): Promise<Line> } {
  const seen: Line[] = [];
  const waiting: Array<{ event: string; resolve: (l: Line) => void; reject: (e: Error) => void }> = [];
  const settle = () => {
    for (const w of [...waiting]) {
      const hit = seen.find((l) => l['event'] === w.event);
      if (hit) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(hit);
      }
    }
  };
  createInterface({ input: child.stdout! }).on('line', (text) => {
    seen.push(JSON.parse(text) as Line);
    settle();
  });
  child.once('exit', (code, signal) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`child ${child.pid} exited (${code ?? signal}) before '${w.event}'`));
  });
  return {
    next(event) {
      return new Promise((resolve, reject) => {
        waiting.push({ event, resolve, reject });
        settle();
      });
    },
  };
}

describe('set_robust_list and get_robust_list refused (seccomp, as under qemu-user): the fallback', () => {
  const res = useResources();
  beforeAll(() => {
    execFileSync('cc', ['-O2', '-Wall', '-o', launcher, launcherSource], { stdio: 'inherit' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function refused(path: string, role: 'hold' | 'wait'): ChildProcess {
    // node --import tsx directly (no tsx wrapper process): the pid SIGKILLed is the participant's.
    return res.track(spawn(launcher, [process.execPath, '--import', 'tsx', participant, path, role], { stdio: ['ignore', 'pipe', 'inherit'] }));
  }

  it("the launcher refuses exactly the robust-list syscalls: ENOSYS in the child, the robust list here", () => {
    const out = execFileSync(launcher, [process.execPath, '--import', 'tsx', '-e', "import('./src/locks/robust-list.ts').then((m) => console.log(JSON.stringify(m.deathDetection())))"], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(JSON.parse(out.trim())).toEqual({ path: 'fallback', reason: 'get_robust_list failed: ENOSYS (Function not implemented)' });
    expect(deathDetection()).toEqual({ path: 'robust-list', reason: null });
  }, 90_000);

  it("an owner SIGKILLed inside the critical section -> a waiter on the fallback, blocked at the time, gets 'abandoned'; so does a thread on the robust list", async () => {
    const path = res.path('refused');
    const region = await openRegion(path, { size: 64 * 1024, create: true });
    const mutex = RobustMutex.open(region, 'm');
    expect(mutex.inspect().deathDetection).toBe('robust-list');

    const holder = refused(path, 'hold');
    const holding = await lines(holder).next('holding');
    expect(holding).toMatchObject({ status: 'acquired', detection: { path: 'fallback' }, inspected: 'fallback' });
    expect(mutex.inspect()).toMatchObject({ state: 'owned', owner: { pid: holder.pid } });

    const waiter = refused(path, 'wait');
    const waiterLines = lines(waiter);
    expect(await waiterLines.next('waiting')).toMatchObject({ detection: { path: 'fallback' } });
    // Blocked in acquire(): its waiter slot in the mutex says so.
    const deadline = Date.now() + 60_000;
    while (mutex.inspect().waiters < 1) {
      if (Date.now() > deadline) throw new Error('the waiter never blocked on the mutex');
      await new Promise((r) => setTimeout(r, 10));
    }
    holder.kill('SIGKILL');
    expect(await exited(holder)).toEqual({ code: null, signal: 'SIGKILL' });
    const acquired = await waiterLines.next('acquired');
    expect(acquired).toMatchObject({ status: 'abandoned', previousOwnerPid: holder.pid, state: 'owned-inconsistent', inspected: 'fallback' });
    expect(await exited(waiter)).toEqual({ code: 0, signal: null });

    // Once more with the robust-list thread (this one) as the next acquirer of a refused owner's lock.
    const second = refused(path, 'hold');
    await lines(second).next('holding');
    second.kill('SIGKILL');
    await exited(second);
    const result = mutex.acquire(60_000);
    expect(result).toMatchObject({ status: 'abandoned', previousOwner: { pid: second.pid } });
    mutex.markConsistent();
    mutex.release();
    region.close();
  }, 120_000);
});
