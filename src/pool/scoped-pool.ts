/**
 * ScopedPool: the public face of a pool (pool.ts holds the engine, PoolCore). Created by `scope.pool()`.
 */
import type { PoolCore, PoolStats } from './pool.js';

/** A pool of workers owned by a scope: `run` one input, `map` many (in input order). Created by `scope.pool()`. */
export class ScopedPool<I = unknown, O = unknown> {
  readonly #core: PoolCore;

  /** @internal */
  constructor(core: PoolCore) {
    this.#core = core;
  }

  /**
   * Runs the task on one input. Rejects with the task's own error if it throws, with `signal.reason` if the
   * signal aborts first (an in-flight task's `task.signal` aborts too), and with the scope's abort reason or
   * ScopeClosedError if the scope ends first.
   */
  run(input: I, options?: { signal?: AbortSignal }): Promise<O> {
    return this.#core.run(input, options) as Promise<O>;
  }

  /**
   * Runs the task on every input, in batches, and resolves with the results in input order. Rejects with
   * TaskFailedError (`index`, `cause`) at the first input whose task throws.
   */
  map(inputs: Iterable<I>, options?: { concurrency?: number }): Promise<O[]> {
    return this.#core.map(inputs, options) as Promise<O[]>;
  }

  get stats(): PoolStats {
    return this.#core.stats;
  }
}
