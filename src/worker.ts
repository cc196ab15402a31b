/**
 * bgworkers/worker — the worker side: what an entry module imports.
 * @packageDocumentation
 */
export { defineWorker } from './worker/context.js';
export { defineTask } from './pool/task.js';
export { move } from './pool/move.js';
export type { TaskContext, TaskFunction } from './pool/task.js';
export type { WorkerContext, WorkerDefinition } from './worker/context.js';
export { checkForInterrupts, interruptPending, myLatch } from './scope/interrupts.js';
export { TerminationRequestedError } from './errors.js';
export type { WorkerData, WorkerResult } from './entry-types.js';
export type { Latch, WaitOptions, WaitResult } from './shared/latch.js';
export type { WorkerChannel } from './channel.js';
