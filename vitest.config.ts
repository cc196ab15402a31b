import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The randomised fault schedules run under `npm run test:fuzz` (FUZZ_RUNS set), not in `npm test`: one
    // timing-dependent failure is still under investigation (issue 4), and CI must not depend on it.
    exclude: process.env['FUZZ_RUNS'] ? ['**/node_modules/**'] : ['**/node_modules/**', 'test/reliability/fuzz.test.ts'],
    // Every test and hook has a timeout: a hang fails the run instead of stalling CI.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    teardownTimeout: 10_000,
    // Real threads and processes on a 2-core machine: keep file-level parallelism low so timing-sensitive
    // orderings are decided by latches and events, not starved by the scheduler.
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
