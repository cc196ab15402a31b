/**
 * The worker side: what a worker's or a pool task's entry module imports, as `bgworkers/worker`.
 * {@link defineWorker} wraps a worker's main function, {@link defineTask} a pool task function.
 * @packageDocumentation
 * @module bgworkers/worker
 */
export { defineWorker } from './worker/context.js';
export { defineTask } from './pool/task.js';
export { move } from './pool/move.js';
export type { TaskContext, TaskFunction } from './pool/task.js';
export type { WorkerContext, WorkerDefinition } from './worker/context.js';
export { checkForInterrupts, interruptPending, myLatch } from './scope/interrupts.js';
export { holdInterrupts } from './scope/hold.js';
export { PoisonArmedError, PoisonedError, TerminationRequestedError } from './errors.js';
export type { WorkerData, WorkerResult } from './entry-types.js';
export { Poison, PoisonGuard } from './poison/poison.js';
export { SharedPoison } from './poison/shared-poison.js';
export type { Latch, WaitOptions, WaitResult } from './shared/latch.js';
export type { WorkerChannel } from './channel.js';
export { defineJobs, UnknownJobError, ERR_UNKNOWN_JOB } from './foreman/define-jobs.js';
export type { JobContext, JobHandler, JobInput } from './foreman/define-jobs.js';
