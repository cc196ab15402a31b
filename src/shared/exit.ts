/**
 * How a worker's run ended: the one exit shape, and its reason union, written once.
 *
 * Every side speaks it: a worker reports its reason (bootstrap.ts), the supervisor classifies the exit
 * (supervisor/lifecycle.ts) and decides restarts on it (restart-policy.ts), the registrant revives it into this
 * shape (`handle.waitForShutdown()`, `supervisor.shutdownWorkers()`) and errors carry it (errors.ts; its
 * `ExitInfo` is this type under its first name). On the wire `error` is a SerializedError (protocol.ts's
 * SerializedExit is this shape with that one field swapped).
 *
 * This file imports nothing: errors.ts, below shared/, names it.
 */

/**
 * `completed`: main returned (also after a termination request). `failed`: main threw or rejected, or the entry
 * could not be loaded. `crashed`: stopped any other way without a request. `terminated`: stopped after a
 * termination request without main returning. `never-started`: terminated before it ever started.
 */
export type ExitReason = 'completed' | 'failed' | 'crashed' | 'terminated' | 'never-started';

/** How a worker stopped (G8): exactly one reason per stop. */
export interface WorkerExit<R = unknown> {
  /** One reason per stop: see {@link ExitReason}. */
  reason: ExitReason;
  /** The thread's exit code where there is one. */
  code: number | null;
  /** Process runtime: the signal that ended it. Always null for threads. */
  signal: string | null;
  /** failed/crashed: what went wrong (the worker's own error, revived with name, message, stack, code). */
  error?: Error;
  /** completed: what main returned. */
  result?: R;
}

/**
 * A death, as G4 means it: the worker failed or crashed by itself. A precious worker's death aborts its scope, a
 * restartable worker's is restarted, and it is logged as a warning; completed, terminated and never-started runs
 * are not deaths.
 */
export const isDeath = (reason: ExitReason): reason is 'failed' | 'crashed' => reason === 'failed' || reason === 'crashed';
