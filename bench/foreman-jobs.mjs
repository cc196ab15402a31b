// The Foreman benchmarks' handlers module: a trivial job, and one that stamps its start time (wall clock,
// performance.timeOrigin + now(), the same clock as the enqueuing process's) into a file, for enqueue → start.
import { appendFileSync } from 'node:fs';
import { defineJobs } from '../dist/worker.js';

export default defineJobs({
  noop: () => undefined,
  stamp: ({ file }) => appendFileSync(file, `${performance.timeOrigin + performance.now()}\n`),
});
