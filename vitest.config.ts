import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Every test file, test/reliability/fuzz.test.ts included: it runs a bounded number of random fault schedules
    // here (FUZZ_CI_RUNS); `npm run test:fuzz` runs many more (FUZZ_RUNS).
    include: ['test/**/*.test.ts'],
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
