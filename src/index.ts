/**
 * bgworkers — the registrant side: supervise parallel workers the way PostgreSQL's postmaster supervises
 * background workers. See README.md and docs/guide.md.
 * @packageDocumentation
 */
export { Supervisor } from './registrant/client.js';
export { Scope, currentScope } from './scope/scope.js';
export { WorkerHandle } from './handle.js';
export { ScopedPool } from './pool/scoped-pool.js';
export { checkForInterrupts, interruptPending, myLatch } from './scope/interrupts.js';
export {
  BgWorkersError,
  InvalidWorkerSpecError,
  PreciousWorkerDiedError,
  PoolQueueFullError,
  PoolWorkerDiedError,
  PreciousWorkerOutlivedScopeError,
  RemoteLatchError,
  ScopeAbortedError,
  ScopeClosedError,
  SupervisorClosedError,
  SupervisorDiedError,
  SupervisorShutdownError,
  TaskCloneError,
  TaskFailedError,
  TaskTimeoutError,
  TerminationRequestedError,
  WorkerCapacityError,
  WorkerStartupError,
} from './errors.js';
export type { AnyBgWorkersError, BgWorkersErrorCode, ExitInfo, WorkerRef } from './errors.js';
export { isBgWorkersError } from './errors.js';
export type { AnyWorkerDefinition, WorkerData, WorkerResult } from './entry-types.js';
export type { ScopedWorkerSpec, ScopeOptions, SupervisorOptions, WorkerSpec } from './options.js';
export type { WorkerExit, WorkerState } from './record.js';
export type { WorkerChannel } from './channel.js';
export type { Latch, WaitOptions, WaitResult } from './shared/latch.js';
export type { ScopeState } from './scope/node.js';
export type { SupervisorMetrics, WorkerFilter, WorkerInfo } from './registrant/registry.js';
export type { PoolOptions } from './pool/options.js';
export type { HistogramSummary, PoolStats } from './pool/stats.js';
export type { PoolMapOptions, PoolRunOptions } from './pool/scoped-pool.js';
