// Threads-only mode: no native addon (ROBUST_SHM_NO_NATIVE=1), a region in a
// plain SharedArrayBuffer, waiters in Atomics.wait, death noticed by /proc polling.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

describe('threads-only use without the addon', () => {
  it('a blocked waiter notices a terminated owner by itself and recovers', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/threads-only.ts', import.meta.url))], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ROBUST_SHM_NO_NATIVE: '1' },
    });
    // Atomics.wait: the futex mechanism needs the addon
    expect(JSON.parse(out)).toEqual({ addonLoaded: false, status: 'abandoned', mechanism: 'atomics', after: 'free' });
  }, 90_000);

  it('hard case 1 without the addon: an owner terminated right after taking the lock word is found dead by /proc, and is alive until then', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/threads-only-hard-case-1.ts', import.meta.url))], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ROBUST_SHM_NO_NATIVE: '1' },
    });
    const report = JSON.parse(out);
    expect(report.wordTid).toBe(report.ownerTid);
    expect(report).toMatchObject({ record: 0, staleStartTime: true, tryWhileAlive: 'busy', status: 'abandoned', after: 'free', mechanism: 'atomics' });
  }, 90_000);
});
