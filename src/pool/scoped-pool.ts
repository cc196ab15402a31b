/**
 * ScopedPool: the public face of a pool (pool.ts holds the engine, PoolCore). Created by `scope.pool()`.
 */
import type { Transferable } from 'node:worker_threads';
import type { PoolCore } from './pool.js';
import type { PoolStats } from './stats.js';

/** Options of `pool.run()`. */
export interface PoolRunOptions {
  /** Aborting it rejects the run with `signal.reason`; a task not started never starts, a running one sees `task.signal` abort. */
  signal?: AbortSignal;
  /** The task function: a named export of the pool's entry module. @default the default export */
  name?: string;
  /** ArrayBuffers and MessagePorts inside the input to move to the worker instead of copying (thread pools). */
  transfer?: readonly Transferable[];
  /**
   * Rejects with TaskTimeoutError this long (ms) after the task was sent to a worker; the task is then aborted
   * as if by `signal`. @default the pool's `timeoutMs`
   */
  timeoutMs?: number;
}

/** Options of `pool.map()`. */
export interface PoolMapOptions {
  /** Inputs in flight at most. @default unbounded (batches fill every worker) */
  concurrency?: number;
  /** Aborts the whole map, as `run()`'s signal does for each of its tasks. */
  signal?: AbortSignal;
  /** The task function: a named export of the pool's entry module. @default the default export */
  name?: string;
  /** Per task, as for `run()`; tasks with a timeout are sent one at a time. @default the pool's `timeoutMs` */
  timeoutMs?: number;
}

/** Each pool's engine, for `runWithEnd` (not a member: it stays off the public class). */
const cores = new WeakMap<object, PoolCore>();

/**
 * Internal (the Foreman): `pool.run()`, plus `ended`, which resolves once the task has really ended — answered, or
 * its worker stopped, or it never started. After an abort or a timeout the run rejects at once while the task may
 * still run on (until its worker is stopped abortGraceMs later); `ended` tells when it no longer does, so a retry
 * of that work never overlaps the old run. `ended` never rejects.
 */
export function runWithEnd<I, O>(pool: ScopedPool<I, O>, input: I, options?: PoolRunOptions): { result: Promise<O>; ended: Promise<void> } {
  let done!: () => void;
  const ended = new Promise<void>((resolve) => (done = resolve));
  const result = cores.get(pool)!.run(input, options, done) as Promise<O>;
  return { result, ended };
}

/**
 * A pool of workers owned by a scope: `run` one input, `map` many (in input order). Created by `scope.pool()`.
 *
 * @example
 * ```ts
 * // total.ts (square.ts and ones.ts are the examples of defineTask and move)
 * import { Supervisor } from 'bgworkers';
 *
 * const supervisor = await Supervisor.start();
 * try {
 *   const [total, ones] = await supervisor.scope(async (scope) => {
 *     const squares = scope.pool<number, number>({ entry: new URL('./square.js', import.meta.url), maxWorkers: 2 });
 *     const cubes = await squares.map([1, 2, 3], { name: 'cube' }); // the module's named export `cube`
 *     const filler = scope.pool<number, Float64Array>({ entry: new URL('./ones.js', import.meta.url), maxWorkers: 1 });
 *     return [cubes.reduce((a, b) => a + b, 0), await filler.run(4)] as const;
 *   });
 *   console.log(total, ones.length); // prints: 36 4
 * } finally {
 *   await supervisor.shutdown();
 * }
 * ```
 */
export class ScopedPool<I = unknown, O = unknown> {
  readonly #core: PoolCore;

  /** @internal */
  constructor(core: PoolCore) {
    this.#core = core;
    cores.set(this, core);
  }

  /**
   * Runs a task on one input, on a worker with room if there is one. Rejects with the task's own error if it
   * throws, with `signal.reason` if the signal aborts first, TaskTimeoutError, TaskCloneError (an input that
   * cannot be cloned), PoolQueueFullError (`maxQueue` calls already wait), and with the scope's abort reason or
   * ScopeClosedError if the scope ends first.
   */
  run(input: I, options?: PoolRunOptions): Promise<O> {
    return this.#core.run(input, options) as Promise<O>;
  }

  /**
   * Runs a task on every input, in batches, and resolves with the results in input order. Rejects with
   * TaskFailedError (`index`, `cause`) at the first input whose task throws (the inputs not started yet are
   * dropped), TaskCloneError with the input's `index`, or as `run()` does.
   */
  map(inputs: Iterable<I>, options?: PoolMapOptions): Promise<O[]> {
    return this.#core.map(inputs, options) as Promise<O[]>;
  }

  /** Counters and timing histograms, read synchronously. */
  get stats(): PoolStats {
    return this.#core.stats;
  }

  /** Calls (`run()`s, and `map()`s counted once) waiting for a worker: what `maxQueue` bounds. */
  get queueSize(): number {
    return this.#core.queueSize;
  }

  /** Resolves once nothing is queued or running (at once if so already, or once the pool's scope has ended). */
  drained(): Promise<void> {
    return this.#core.drained();
  }
}
