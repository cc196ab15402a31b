/**
 * Samples every running worker's event-loop utilisation and CPU time into the slot table (ELU, CPU_MS), where the
 * registrant's `workers()` rows and the metrics line read them without asking this thread anything (issue 13.5).
 *
 * Thread workers: `worker.performance.eventLoopUtilization()` (since the run started) and the OS thread's CPU
 * time (/proc/self/task/<tid>/schedstat, the tid published by the worker). Process workers: the process's CPU
 * time (/proc/<pid>/stat) and the event-loop utilisation the child reports over IPC (shared/usage.ts
 * reportedElu: a report overdue counts as a blocked loop). Off Linux, CPU is NaN.
 *
 * Every USAGE_SAMPLE_MS on an unref'd interval, so a sample is at most that old; 64 workers cost ~0.2 ms a sample.
 * States: started by the supervisor thread's entry, stopped at close().
 */
import { CPU_MS, ELU, type SlotTable } from '../shared/layout.js';
import { USAGE_SAMPLE_MS } from '../shared/usage.js';
import type { Runner } from './runner.js';

export class UsageSampler {
  readonly #timer: NodeJS.Timeout;

  constructor(table: SlotTable, forEachRunner: (fn: (slot: number, runner: Runner) => void) => void) {
    const sample = (): void =>
      forEachRunner((slot, runner) => {
        const u = runner.usage();
        table.f64[table.atF64(slot, ELU)] = u.elu;
        table.f64[table.atF64(slot, CPU_MS)] = u.cpuMs;
      });
    this.#timer = setInterval(sample, USAGE_SAMPLE_MS).unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
