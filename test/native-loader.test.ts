// The loader refuses a binary built from older sources: node-gyp-build takes
// an existing build/Release before the prebuilt binary, and a checkout's
// `npm install` keeps it, so a stale build is what a contributor meets after
// pulling native changes. Without the check, callers that probe the addon
// (parent-death signal, kernel waits) quietly fell back to weaker mechanisms.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { missingNativeFunctions, native } from '../src/native/index.js';

/** In a fresh plain node (dist/, as built by the global setup): the file the loader took, or its error. */
function loadIn(env: NodeJS.ProcessEnv): string {
  const loader = new URL('../dist/native/index.js', import.meta.url).href;
  const code = `import(${JSON.stringify(loader)}).then((m) => { try { m.native(); console.log('loaded'); } catch (e) { console.log(e.code + ': ' + e.message); } })`;
  return execFileSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 30_000, env }).trim();
}

describe('native loader', () => {
  it('the binary this checkout built has every function the TypeScript side calls', () => {
    expect(missingNativeFunctions(native())).toEqual([]);
  });

  it('a binding without a function it needs is named as such', () => {
    const { setParentDeathSignal: _dropped, getppid: _alsoDropped, ...older } = native();
    expect(missingNativeFunctions(older)).toEqual(['setParentDeathSignal', 'getppid']);
    expect(missingNativeFunctions(undefined)).toContain('futexWait');
  });

  it('ROBUST_SHM_NATIVE_BINARY names the binary to load instead of the one node-gyp-build would pick (bench/run.ts --node)', () => {
    const release = fileURLToPath(new URL('../build/Release/', import.meta.url));
    const built = readdirSync(release).find((f) => f.endsWith('.node'))!;
    expect(loadIn({ ...process.env, ROBUST_SHM_NATIVE_BINARY: release + built })).toBe('loaded');
    const missing = loadIn({ ...process.env, ROBUST_SHM_NATIVE_BINARY: '/nonexistent/robust_shm_native.node' });
    expect(missing).toMatch(/^ERR_NATIVE_UNAVAILABLE: .*\/nonexistent\/robust_shm_native\.node did not load/);
  }, 60_000);
});
