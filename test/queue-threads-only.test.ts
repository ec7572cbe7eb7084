// RobustQueue without the native addon (ROBUST_SHM_NO_NATIVE=1): no robust
// list, so a dead consumer is found through /proc between waits.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

describe('RobustQueue without the addon', () => {
  it('a terminated consumer thread\'s job comes back to a blocked take(), found dead through /proc', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./fixtures/queue-threads-only.ts', import.meta.url))], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ROBUST_SHM_NO_NATIVE: '1' },
    });
    expect(JSON.parse(out)).toEqual({ addonLoaded: false, asyncWaits: 'atomics', whileAlive: null, sameJob: true, deliveries: 2, previousOwnerIsTheDead: true, after: 4 });
  }, 90_000);
});
