/**
 * The registrant side: start a {@link Supervisor}, open scopes, register workers and pools, wait on latches and
 * check for interrupts. Import it as `bgworkers`. Worker entry modules import `bgworkers/worker` instead.
 * The guide (docs/guide.md) explains the concepts.
 * @packageDocumentation
 * @module bgworkers
 */
export { Supervisor } from './registrant/client.js';
export { Scope, currentScope } from './scope/scope.js';
export { WorkerHandle } from './handle.js';
export { ScopedPool } from './pool/scoped-pool.js';
export { checkForInterrupts, interruptPending, myLatch } from './scope/interrupts.js';
export { holdInterrupts } from './scope/hold.js';
export { TaskHandle, currentTask } from './task/task.js';
export type { SpawnOptions, SpawnedTask, TaskExit, TaskInfo, TaskState } from './task/task.js';
export type { TaskFilter } from './task/filter.js';
export type { ShutdownOptions } from './registrant/filtered-shutdown.js';
export type { HandleSignalsOptions } from './registrant/signals.js';
export { Poison, PoisonGuard } from './poison/poison.js';
export { SharedPoison } from './poison/shared-poison.js';
export {
  BgWorkersError,
  InvalidWorkerSpecError,
  PreciousWorkerDiedError,
  PoolQueueFullError,
  PoolWorkerDiedError,
  PoisonArmedError,
  PoisonedError,
  PreciousTaskFailedError,
  PreciousWorkerOutlivedScopeError,
  RemoteLatchError,
  RestartIntensityError,
  ScopeAbortedError,
  ScopeClosedError,
  ShutdownSignalError,
  QueueError,
  ForemanRunningError,
  JobFailedError,
  InvalidJobError,
  SupervisorClosedError,
  SupervisorDiedError,
  SupervisorShutdownError,
  TaskCancelledError,
  TaskCloneError,
  TaskFailedError,
  TaskTimeoutError,
  TerminationRequestedError,
  WorkerCapacityError,
  WorkerStartupError,
} from './errors.js';
export type { AnyBgWorkersError, BgWorkersErrorCode, ExitInfo, TaskRef, WorkerRef } from './errors.js';
export { isBgWorkersError } from './errors.js';
export type { AnyWorkerDefinition, WorkerData, WorkerResult } from './entry-types.js';
export type { RestartOptions, ScopedWorkerSpec, ScopeOptions, SupervisorOptions, WorkerSpec } from './options.js';
export type { WorkerState } from './record.js';
export type { ExitReason, WorkerExit } from './shared/exit.js';
export type { WorkerChannel } from './channel.js';
export type { Latch, WaitOptions, WaitResult } from './shared/latch.js';
export type { ScopeState } from './scope/node.js';
export type { SupervisorMetrics, WorkerFilter, WorkerInfo } from './registrant/registry.js';
export type { PoolOptions } from './pool/options.js';
export type { HistogramSummary, PoolStats } from './pool/stats.js';
export type { PoolMapOptions, PoolRunOptions } from './pool/scoped-pool.js';
