/**
 * The worker side of the Foreman: a handlers module default-exports `defineJobs({ name: handler, ... })`, a pool
 * task function that the Foreman's pool runs once per claimed job with input `{ id, name, payload, attempt }` and
 * dispatches by `name`. A name with no handler throws UnknownJobError (`ERR_UNKNOWN_JOB`), which the Foreman maps
 * to dead at once with reason 'unknown-name'. No state; it imports no database driver (it loads in every pool
 * worker).
 */
import { invalidOption } from '../errors.js';
import type { TaskContext, TaskFunction } from '../pool/task.js';

/** What a job handler receives besides its payload. */
export interface JobContext {
  /** The job's id in its queue. */
  readonly id: string;
  /** Its name (the key of its handler). */
  readonly name: string;
  /** This attempt, from 1. */
  readonly attempt: number;
  /** Aborts when the job timed out (`timeoutMs`), or its foreman stops and forces it off: stop soon after. */
  readonly signal: AbortSignal;
}

/** A job handler: its return value is ignored; throwing (or rejecting) fails the attempt. */
export type JobHandler<P = unknown> = (payload: P, job: JobContext) => unknown;

/** What the Foreman sends a handlers module per job. */
export interface JobInput {
  readonly id: string;
  readonly name: string;
  readonly payload: unknown;
  readonly attempt: number;
}

/** The code of the error thrown for a job whose name has no handler. */
export const ERR_UNKNOWN_JOB = 'ERR_UNKNOWN_JOB';

/** A job's name has no handler in the handlers module: the job is dead at once ('unknown-name'). */
export class UnknownJobError extends Error {
  readonly code = ERR_UNKNOWN_JOB;
  /** The name that has no handler. */
  readonly job: string;
  constructor(name: string, known: readonly string[]) {
    super(`job "${name}": no handler of that name (handlers: ${known.join(', ') || 'none'})`);
    this.name = 'UnknownJobError';
    this.job = name;
  }
}

/**
 * Makes a handlers module's default export from a map of job names to handlers.
 *
 * @example
 * ```ts
 * // jobs.ts (the Foreman's `handlers` module; see Foreman)
 * import { defineJobs } from 'bgworkers/worker';
 *
 * export default defineJobs({
 *   square: async (n: number, job) => {
 *     await new Promise((resolve) => setTimeout(resolve, n)); // some work
 *     if (job.signal.aborted) throw job.signal.reason; // timed out or forced off: stop soon
 *     return n * n; // the result is not kept: a job that returns is done
 *   },
 * });
 * ```
 */
export function defineJobs(handlers: Readonly<Record<string, JobHandler<never>>>): TaskFunction<JobInput, unknown> {
  if (typeof handlers !== 'object' || handlers === null || Array.isArray(handlers)) throw invalidOption('handlers', 'an object of job handlers', handlers);
  const table = new Map<string, JobHandler>();
  for (const [name, fn] of Object.entries(handlers)) {
    if (typeof fn !== 'function') throw invalidOption(`handlers.${name}`, 'a function', fn);
    table.set(name, fn as JobHandler);
  }
  const known = [...table.keys()];
  return (input: JobInput, task: TaskContext) => {
    const fn = table.get(input.name);
    if (fn === undefined) throw new UnknownJobError(input.name, known);
    return fn(input.payload, { id: input.id, name: input.name, attempt: input.attempt, signal: task.signal });
  };
}
