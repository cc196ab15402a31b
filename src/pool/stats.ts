/**
 * A pool's counters and timing histograms (perf_hooks.createHistogram, recorded in microseconds), read as
 * PoolStats by `pool.stats`.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

/** A latency distribution, in milliseconds. */
export interface HistogramSummary {
  count: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Counters of a pool, read synchronously. */
export interface PoolStats {
  /** Inputs that have not started: waiting in the pool, or (thread pools) sent ahead to a busy worker. */
  queued: number;
  /** Inputs started (or, in a process pool, sent to a worker) and not yet answered. */
  running: number;
  /** Inputs answered (with a result or an error). */
  done: number;
  /** Pool workers holding a slot. */
  workers: number;
  /**
   * Run time of a task in its worker. A batch of tasks is timed as a whole (a clock read per trivial task would
   * cost more than the task) and recorded once, at its mean: percentiles weigh batches, `count` counts tasks.
   */
  runTime: HistogramSummary;
  /** From `run()`/`map()` to the task being sent to a worker (one sample per call and batch). */
  waitTime: HistogramSummary;
  /** Busy time of the pool's workers over their time alive, from 0 to 1 (times concurrentTasksPerWorker at most). */
  utilization: number;
}

export class PoolTimes {
  readonly run: RecordableHistogram = createHistogram();
  readonly wait: RecordableHistogram = createHistogram();
  runCount = 0;

  /** Records `count` tasks that took `micros` in all. */
  recordRun(micros: number, count: number): void {
    if (count <= 0) return;
    this.runCount += count;
    this.run.record(Math.max(1, Math.round(micros / count)));
  }

  recordWait(micros: number): void {
    this.wait.record(Math.max(1, Math.round(micros)));
  }
}

export function summary(h: RecordableHistogram, count = h.count): HistogramSummary {
  if (h.count === 0) return { count: 0, min: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const ms = (us: number): number => Math.round(us) / 1000;
  return { count, min: ms(h.min), p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max) };
}
