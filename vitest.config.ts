import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // dist/ up to date first: library code starts its threads and processes on compiled JS.
    globalSetup: ['test/global-setup.ts'],
    // Tests spawn real processes and threads; on a loaded 2-core machine run files one at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
