// The handlers module the Foreman runs (`--handlers examples/foreman/jobs.mjs`): three jobs.
//
// - hash: SHA-256 of one generated file, written next to it as <file>.sha256. Fails on its first attempt for
//   about one file in ten (a flaky dependency, say): the Foreman retries it after a backoff, and it succeeds.
// - corrupt: a job that crashes its worker (process.exit in the middle of its work). The worker dies, the
//   attempt fails, the pool starts a new worker, and after maxAttempts the job is dead with the reason.
// - ok: does nothing (the producer's --trivial mode).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { defineJobs } from 'bgworkers/worker';

export default defineJobs({
  hash: ({ path, flaky }, job) => {
    if (flaky && job.attempt === 1) throw new Error(`${path}: upstream timed out (attempt ${job.attempt})`);
    const digest = createHash('sha256').update(readFileSync(path)).digest('hex');
    writeFileSync(`${path}.sha256`, `${digest}\n`);
  },
  corrupt: ({ path }) => {
    // A native crash, an OOM or a stray process.exit: the worker is gone, whatever the job was doing.
    console.error(`corrupt: ${path}: giving up the whole worker`);
    process.exit(3);
  },
  ok: () => {},
});
