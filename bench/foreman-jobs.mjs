// The Foreman benchmark's handlers module: one trivial job.
import { defineJobs } from '../dist/worker.js';

export default defineJobs({ noop: () => undefined });
