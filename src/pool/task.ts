/**
 * The task side of a pool: a pool's entry module default-exports a task function (piscina's convention);
 * `defineTask` only types it. Inside a task, `checkForInterrupts()` throws once the pool's scope ends (the pool
 * worker was asked to stop), and `task.signal` aborts then too, or when the task's `run()` signal aborts.
 */
import { invalidOption } from '../errors.js';

/** What a task function receives besides its input. */
export interface TaskContext {
  /** Aborts when the pool's scope ends (the worker is asked to stop) or, for `run()`, when its signal aborts. */
  readonly signal: AbortSignal;
}

/** A pool's task function: called once per input, in a pool worker. */
export type TaskFunction<I = unknown, O = unknown> = (input: I, task: TaskContext) => O | PromiseLike<O>;

/**
 * Types a task function; make it the pool entry module's default export.
 *
 * @example
 * ```ts
 * import { defineTask } from 'bgworkers/worker';
 * export default defineTask((n: number) => n * n);
 * ```
 */
export function defineTask<I, O>(fn: TaskFunction<I, O>): TaskFunction<I, O> {
  if (typeof fn !== 'function') throw invalidOption('fn', 'a function', fn);
  return fn;
}
