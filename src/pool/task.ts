/**
 * The task side of a pool: a pool's entry module default-exports a task function (piscina's convention) and may
 * export more under other names (`run(x, { name })`); `defineTask` only types one. Inside a task,
 * `checkForInterrupts()` throws once the pool worker was asked to stop (the pool's scope ended, or the pool
 * stopped it), and `task.signal` aborts then too, or when the task's own run was aborted (its `signal` or
 * `timeoutMs`).
 */
import { invalidOption } from '../errors.js';

/** What a task function receives besides its input. */
export interface TaskContext<D = unknown> {
  /**
   * Aborts when the pool worker is asked to stop (its scope ended) or when this task's run was aborted (`run()`'s
   * or `map()`'s `signal`, or `timeoutMs`). A task that ignores it is stopped with its worker `abortGraceMs` later.
   */
  readonly signal: AbortSignal;
  /** The pool's `data` option. */
  readonly data: D;
  /** The export name of this task function (`'default'` for the default export). */
  readonly name: string;
}

/** A pool's task function: called once per input, in a pool worker. */
export type TaskFunction<I = unknown, O = unknown, D = unknown> = (input: I, task: TaskContext<D>) => O | PromiseLike<O>;

/**
 * Types a task function; make it the pool entry module's default export (or a named export, picked with
 * `run(x, { name })`).
 *
 * @example
 * ```ts
 * // square.ts (a pool entry module)
 * import { defineTask } from 'bgworkers/worker';
 *
 * export default defineTask((n: number) => n * n);
 * export const cube = defineTask((n: number) => n * n * n);
 * ```
 */
export function defineTask<I, O, D = unknown>(fn: TaskFunction<I, O, D>): TaskFunction<I, O, D> {
  if (typeof fn !== 'function') throw invalidOption('fn', 'a function', fn);
  return fn;
}
