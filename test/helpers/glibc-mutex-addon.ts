// Builds test/native/glibc-robust-mutex.c (a test-only N-API addon: glibc
// robust process-shared mutexes locked on the calling thread) with `cc
// -shared` into a fresh temp dir, at test time (ROBUST_SHM_TEST_CC names another compiler: tools/matrix.mjs
// sets the aarch64 cross compiler when the suite runs on arm64 under qemu-user).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type GlibcResult = 0 | string;

export interface GlibcMutexAddon {
  init(address: number): GlibcResult;
  lock(address: number): GlibcResult;
  timedLock(address: number, ms: number): GlibcResult;
  unlock(address: number): GlibcResult;
  consistent(address: number): GlibcResult;
  /** The calling thread's robust-list elements (node + 32), head first. */
  robustList(): number[];
}

export interface BuiltAddon {
  path: string;
  addon: GlibcMutexAddon;
  dispose(): void;
}

export function buildGlibcMutexAddon(): BuiltAddon {
  const dir = mkdtempSync(join(tmpdir(), `robust-shm-glibc-${process.pid}-`));
  const path = join(dir, 'glibc_robust_mutex.node');
  const source = fileURLToPath(new URL('../native/glibc-robust-mutex.c', import.meta.url));
  // -z nodelete: a worker that loads it must not unmap it when its environment ends.
  execFileSync(process.env['ROBUST_SHM_TEST_CC'] ?? 'cc', ['-shared', '-fPIC', '-O2', '-Wall', '-I/usr/include/node', '-Wl,-z,nodelete', '-o', path, source, '-lpthread'], { stdio: 'inherit' });
  const addon = createRequire(import.meta.url)(path) as GlibcMutexAddon;
  return { path, addon, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}
