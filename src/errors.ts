/**
 * Every error this library throws or aborts with. Each class has a stable `code` (like Node's `ERR_*`); tests and
 * users should match on `code` or `instanceof`, never on message text. Messages are short, lowercase, object
 * first: `worker "pong#3": entry not found: /x/y.mjs`.
 *
 * Why one file of ~400 lines: `BgWorkersErrorCode` and `AnyBgWorkersError` must list every class, and a class
 * added anywhere else is one a user could not narrow to; each class is a few lines of fields and message.
 */
import type { WorkerExit } from './shared/exit.js';

/** A worker as named in errors: enough to find it in logs and in `supervisor.workers()`. */
export interface WorkerRef {
  readonly id: string;
  readonly name: string;
}

/** A worker's exit as errors carry it: the public `WorkerExit` under the name errors first gave it. */
export type ExitInfo = WorkerExit;

/** Every `code` a bgworkers error has: a literal type, so a misspelt code is a compile error. */
export type BgWorkersErrorCode =
  | 'ERR_PRECIOUS_WORKER_DIED'
  | 'ERR_PRECIOUS_OUTLIVED_SCOPE'
  | 'ERR_TERMINATION_REQUESTED'
  | 'ERR_WORKER_CAPACITY'
  | 'ERR_WORKER_STARTUP'
  | 'ERR_TASK_FAILED'
  | 'ERR_POOL_WORKER_DIED'
  | 'ERR_TASK_CLONE'
  | 'ERR_POOL_QUEUE_FULL'
  | 'ERR_TASK_TIMEOUT'
  | 'ERR_REMOTE_LATCH'
  | 'ERR_INVALID_WORKER_SPEC'
  | 'ERR_SCOPE_CLOSED'
  | 'ERR_SCOPE_ABORTED'
  | 'ERR_SUPERVISOR_SHUTDOWN'
  | 'ERR_SUPERVISOR_CLOSED'
  | 'ERR_SUPERVISOR_DIED'
  | 'ERR_POISONED'
  | 'ERR_POISON_ARMED'
  | 'ERR_RESTART_INTENSITY'
  | 'ERR_TASK_CANCELLED'
  | 'ERR_PRECIOUS_TASK_FAILED'
  | 'ERR_SHUTDOWN_SIGNAL'
  | 'ERR_QUEUE'
  | 'ERR_FOREMAN_RUNNING'
  | 'ERR_JOB_FAILED'
  | 'ERR_INVALID_JOB';

/**
 * Base class of every bgworkers error. `code` is typed as the union of the codes (each subclass as its own
 * literal). To narrow from a code to the class (and its fields), test with {@link isBgWorkersError}, whose type is
 * the union of every error class:
 *
 * @example
 * ```ts
 * // capacity.ts (sum.ts is defineWorker's example)
 * import { Supervisor, isBgWorkersError } from 'bgworkers';
 *
 * const supervisor = await Supervisor.start({ maxWorkers: 1 });
 * try {
 *   const entry = new URL('./sum.js', import.meta.url);
 *   const first = supervisor.register({ entry, data: { n: 10 } });
 *   try {
 *     supervisor.register({ entry, data: { n: 10 } }); // the only slot is taken
 *   } catch (err) {
 *     if (isBgWorkersError(err) && err.code === 'ERR_WORKER_CAPACITY') console.log(err.capacity); // prints: 1
 *     else throw err;
 *   }
 *   await first.waitForShutdown();
 * } finally {
 *   await supervisor.shutdown();
 * }
 * ```
 */
export class BgWorkersError extends Error {
  /** Stable machine-readable code, e.g. `ERR_WORKER_CAPACITY`; each subclass declares its own literal. */
  readonly code: BgWorkersErrorCode;
  constructor(code: BgWorkersErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Any error this library throws, as a union discriminated by `code`: `err.code === 'ERR_…'` narrows to its class. */
export type AnyBgWorkersError =
  | PreciousWorkerDiedError
  | PreciousWorkerOutlivedScopeError
  | TerminationRequestedError
  | WorkerCapacityError
  | WorkerStartupError
  | TaskFailedError
  | PoolWorkerDiedError
  | TaskCloneError
  | PoolQueueFullError
  | TaskTimeoutError
  | RemoteLatchError
  | InvalidWorkerSpecError
  | ScopeClosedError
  | ScopeAbortedError
  | SupervisorShutdownError
  | SupervisorClosedError
  | SupervisorDiedError
  | PoisonedError
  | PoisonArmedError
  | RestartIntensityError
  | TaskCancelledError
  | PreciousTaskFailedError
  | ShutdownSignalError
  | QueueError
  | ForemanRunningError
  | JobFailedError
  | InvalidJobError;

/** True for an error of this library; narrows to {@link AnyBgWorkersError}, so a test of `code` then narrows further. */
export function isBgWorkersError(value: unknown): value is AnyBgWorkersError {
  return value instanceof BgWorkersError;
}

/** Abort reason of a scope whose precious worker failed or crashed (guarantee G4, docs/guide.md "Flags"). */
export class PreciousWorkerDiedError extends BgWorkersError {
  declare readonly code: 'ERR_PRECIOUS_WORKER_DIED';
  /** The worker that died. */
  readonly worker: WorkerRef;
  /** How it died: `reason` is `failed` or `crashed`; `error` is the worker's own error, revived. */
  readonly exit: ExitInfo;
  constructor(worker: WorkerRef, exit: ExitInfo) {
    const what = exit.error ? `: ${exit.error.message}` : exit.code !== null ? ` with code ${exit.code}` : '';
    super('ERR_PRECIOUS_WORKER_DIED', `worker "${worker.name}": precious worker ${exit.reason}${what}`, { cause: exit.error });
    this.worker = { id: worker.id, name: worker.name };
    this.exit = exit;
  }
}

/** A scope committed while a precious, non-ephemeral worker was still running; the worker was terminated (G5). */
export class PreciousWorkerOutlivedScopeError extends BgWorkersError {
  declare readonly code: 'ERR_PRECIOUS_OUTLIVED_SCOPE';
  /** The workers that were still running at commit. */
  readonly workers: readonly WorkerRef[];
  constructor(workers: readonly WorkerRef[]) {
    super('ERR_PRECIOUS_OUTLIVED_SCOPE', `scope committed while precious worker${workers.length > 1 ? 's' : ''} ${workers.map((w) => `"${w.name}"`).join(', ')} still running`);
    this.workers = workers;
  }
}

/** Thrown by checkForInterrupts() inside a worker once its termination was requested. */
export class TerminationRequestedError extends BgWorkersError {
  declare readonly code: 'ERR_TERMINATION_REQUESTED';
  constructor(workerName?: string) {
    super('ERR_TERMINATION_REQUESTED', workerName ? `worker "${workerName}": termination requested` : 'termination requested');
  }
}

/** register() found no free worker slot. */
export class WorkerCapacityError extends BgWorkersError {
  declare readonly code: 'ERR_WORKER_CAPACITY';
  /** The supervisor's slot count (`maxWorkers`). */
  readonly capacity: number;
  constructor(capacity: number) {
    super('ERR_WORKER_CAPACITY', `no free worker slot: all ${capacity} in use`);
    this.capacity = capacity;
  }
}

/** waitForStartup() on a worker that stopped before it was running; `exit` says how. */
export class WorkerStartupError extends BgWorkersError {
  declare readonly code: 'ERR_WORKER_STARTUP';
  readonly worker: WorkerRef;
  readonly exit: ExitInfo;
  constructor(worker: WorkerRef, exit: ExitInfo) {
    super('ERR_WORKER_STARTUP', `worker "${worker.name}": stopped before running (${exit.reason})${exit.error ? `: ${exit.error.message}` : ''}`, { cause: exit.error });
    this.worker = { id: worker.id, name: worker.name };
    this.exit = exit;
  }
}

/** `pool.map()` rejected: the task for input `index` threw; `cause` is its error, revived. */
export class TaskFailedError extends BgWorkersError {
  declare readonly code: 'ERR_TASK_FAILED';
  /** The position of the failed input in map()'s inputs. */
  readonly index: number;
  constructor(pool: string, index: number, cause: Error) {
    super('ERR_TASK_FAILED', `pool "${pool}": task for input ${index} failed: ${cause.message}`, { cause });
    this.index = index;
  }
}

/** A pool task was lost because its worker died; a non-precious pool replaces the worker (a precious one aborts its scope instead). */
export class PoolWorkerDiedError extends BgWorkersError {
  declare readonly code: 'ERR_POOL_WORKER_DIED';
  readonly worker: WorkerRef;
  readonly exit: ExitInfo;
  constructor(worker: WorkerRef, exit: ExitInfo) {
    super('ERR_POOL_WORKER_DIED', `worker "${worker.name}": pool worker ${exit.reason} with tasks in flight`, { cause: exit.error });
    this.worker = { id: worker.id, name: worker.name };
    this.exit = exit;
  }
}

/**
 * A pool task's input (or result) cannot be structured-cloned (a function, a symbol, a class instance with
 * private state...): the task did not run (or its result is lost). `index` is the input's position in `map()`.
 */
export class TaskCloneError extends BgWorkersError {
  declare readonly code: 'ERR_TASK_CLONE';
  /** What could not be cloned. */
  readonly what: 'input' | 'result';
  /** The input's position in map()'s inputs; undefined for run(). */
  readonly index: number | undefined;
  constructor(pool: string, what: 'input' | 'result', index: number | undefined, cause: unknown) {
    super('ERR_TASK_CLONE', `pool "${pool}": ${what}${index === undefined ? '' : ` of input ${index}`} cannot be cloned${cause instanceof Error ? `: ${cause.message}` : ''}`, { cause });
    this.what = what;
    this.index = index;
  }
}

/** `run()`/`map()` on a pool whose queue already holds `maxQueue` waiting calls. */
export class PoolQueueFullError extends BgWorkersError {
  declare readonly code: 'ERR_POOL_QUEUE_FULL';
  readonly maxQueue: number;
  constructor(pool: string, maxQueue: number) {
    super('ERR_POOL_QUEUE_FULL', `pool "${pool}": queue full (${maxQueue} waiting)`);
    this.maxQueue = maxQueue;
  }
}

/** A pool task ran past its `timeoutMs`: its run was aborted (task.signal) and, if it went on, its worker stopped. */
export class TaskTimeoutError extends BgWorkersError {
  declare readonly code: 'ERR_TASK_TIMEOUT';
  readonly timeoutMs: number;
  constructor(pool: string, timeoutMs: number) {
    super('ERR_TASK_TIMEOUT', `pool "${pool}": task timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** A latch operation that a latch relayed across processes cannot do: `ctx.registrantLatch` of a process worker can only be set. */
export class RemoteLatchError extends BgWorkersError {
  declare readonly code: 'ERR_REMOTE_LATCH';
  constructor(operation: string) {
    super('ERR_REMOTE_LATCH', `registrantLatch.${operation}(): a process worker can only set() its registrant's latch`);
  }
}

/** A bad worker spec or option; `field` names what was wrong. Also data that cannot be cloned. */
export class InvalidWorkerSpecError extends BgWorkersError {
  declare readonly code: 'ERR_INVALID_WORKER_SPEC';
  /** The offending field, e.g. `entry`, `data`, `maxWorkers`. */
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_WORKER_SPEC', message, options);
    this.field = field;
  }
}

/** register() on a scope that is no longer active; abort reason of a child scope left running when its parent ended. */
export class ScopeClosedError extends BgWorkersError {
  declare readonly code: 'ERR_SCOPE_CLOSED';
  /** `cause`: the scope's abort reason, when it was aborted. */
  constructor(message: string, cause?: unknown) {
    super('ERR_SCOPE_CLOSED', message, cause === undefined ? undefined : { cause });
  }
}

/**
 * Turns an abort reason into the scope's: an Error as it is, anything else wrapped in a ScopeAbortedError (the
 * rule of AbortController.abort(), whose default reason is an AbortError).
 */
export function toAbortReason(reason: unknown): Error {
  return reason instanceof Error ? reason : new ScopeAbortedError(reason);
}

/** Abort reason of `scope.abort(reason)` when `reason` is not an Error; the reason is its `cause`. */
export class ScopeAbortedError extends BgWorkersError {
  declare readonly code: 'ERR_SCOPE_ABORTED';
  constructor(reason: unknown) {
    super('ERR_SCOPE_ABORTED', reason === undefined ? 'scope aborted' : `scope aborted: ${describe(reason)}`, { cause: reason });
  }
}

/** Abort reason of scopes still active when `shutdown()` was called. */
export class SupervisorShutdownError extends BgWorkersError {
  declare readonly code: 'ERR_SUPERVISOR_SHUTDOWN';
  constructor() {
    super('ERR_SUPERVISOR_SHUTDOWN', 'supervisor shut down');
  }
}

/** A call that needs a running supervisor, made after shutdown. */
export class SupervisorClosedError extends BgWorkersError {
  declare readonly code: 'ERR_SUPERVISOR_CLOSED';
  constructor(what: string) {
    super('ERR_SUPERVISOR_CLOSED', `${what}: supervisor is closed`);
  }
}

/** Abort reason of every scope when the supervisor thread itself dies. */
export class SupervisorDiedError extends BgWorkersError {
  declare readonly code: 'ERR_SUPERVISOR_DIED';
  constructor(cause?: unknown) {
    super('ERR_SUPERVISOR_DIED', `supervisor thread died${cause instanceof Error ? `: ${cause.message}` : ''}`, { cause });
  }
}

/**
 * The one validation message template: ``Expected `maxWorkers` to be an integer >= 1, got `0` (number)``.
 * `field` is the option's path as the user wrote it.
 */
export function invalidOption(field: string, expected: string, got: unknown, cause?: unknown): InvalidWorkerSpecError {
  return new InvalidWorkerSpecError(field, `Expected \`${field}\` to be ${expected}, got ${show(got)}`, cause === undefined ? undefined : { cause });
}

/** An option key that is not part of the option bag `where`. */
export function unknownOption(field: string, where: string, known: readonly string[]): InvalidWorkerSpecError {
  return new InvalidWorkerSpecError(field, `Expected \`${field}\` to be a known ${where} option (${known.join(', ')}), got an unknown key`);
}

function show(value: unknown): string {
  if (typeof value === 'function') return `a function (function)`;
  if (typeof value === 'object' && value !== null) {
    // A revoked Proxy, or one whose traps throw, must not turn a validation error into a different one.
    try {
      return `\`${Array.isArray(value) ? 'array' : Object.prototype.toString.call(value)}\` (object)`;
    } catch {
      return '`an object that cannot be inspected` (object)';
    }
  }
  return `\`${describe(value)}\` (${value === null ? 'null' : typeof value})`;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  // String() throws for objects with a hostile toString; this only words a message, so fall back to the tag.
  try {
    return String(value);
  } catch {
    return 'a value that cannot be printed';
  }
}

/** `checkAndArm()` on a Poison or SharedPoison that a holder left half-updated (G15). */
export class PoisonedError extends BgWorkersError {
  declare readonly code: 'ERR_POISONED';
  /** What the poison protects, as given to its constructor. */
  readonly what: string;
  /** When it was poisoned. */
  readonly at: Date;
  constructor(what: string, at: Date) {
    super('ERR_POISONED', `poison "${what}": poisoned at ${at.toISOString()} (a holder left it half-updated)`);
    this.what = what;
    this.at = at;
  }
}

/** `checkAndArm()` on a Poison or SharedPoison that is armed already (held by this or another thread). */
export class PoisonArmedError extends BgWorkersError {
  declare readonly code: 'ERR_POISON_ARMED';
  /** What the poison protects. */
  readonly what: string;
  constructor(what: string, holder: 'this thread' | 'another thread') {
    super('ERR_POISON_ARMED', `poison "${what}": armed already, by ${holder}`);
    this.what = what;
  }
}

/**
 * A restartable worker failed more than `maxRestarts` times within `withinMs` and is not restarted again (G17):
 * the error of its final exit (reason `failed`). `cause` is the last run's own error.
 */
export class RestartIntensityError extends BgWorkersError {
  declare readonly code: 'ERR_RESTART_INTENSITY';
  /** Restarts inside the window when it gave up. */
  readonly restarts: number;
  /** The window, in ms. */
  readonly withinMs: number;
  constructor(worker: WorkerRef, restarts: number, withinMs: number, cause?: unknown) {
    super('ERR_RESTART_INTENSITY', `worker "${worker.name}": restarted ${restarts} time${restarts === 1 ? '' : 's'} within ${withinMs} ms and failed again; not restarted any more`, cause === undefined ? undefined : { cause });
    this.restarts = restarts;
    this.withinMs = withinMs;
  }
}

/** A task as named in errors. */
export interface TaskRef {
  readonly id: string;
  readonly name: string;
}

/** The default reason a spawned task is cancelled with (`handle.cancel()` without a reason, scope end, shutdown). */
export class TaskCancelledError extends BgWorkersError {
  declare readonly code: 'ERR_TASK_CANCELLED';
  readonly task: TaskRef;
  constructor(task: TaskRef, why = 'cancelled') {
    super('ERR_TASK_CANCELLED', `task "${task.name}": ${why}`);
    this.task = { id: task.id, name: task.name };
  }
}

/** Abort reason of a scope whose precious task rejected for a reason other than its own cancellation (G13). */
export class PreciousTaskFailedError extends BgWorkersError {
  declare readonly code: 'ERR_PRECIOUS_TASK_FAILED';
  readonly task: TaskRef;
  constructor(task: TaskRef, cause: unknown) {
    const what = cause instanceof Error ? cause.message : String(cause);
    super('ERR_PRECIOUS_TASK_FAILED', `task "${task.name}": precious task failed: ${what}`, { cause });
    this.task = { id: task.id, name: task.name };
  }
}

/** The abort reason of every scope when a handled shutdown signal arrives (`handleSignals`, G18). */
export class ShutdownSignalError extends BgWorkersError {
  declare readonly code: 'ERR_SHUTDOWN_SIGNAL';
  /** The signal, e.g. 'SIGINT'. */
  readonly signal: NodeJS.Signals;
  constructor(signal: NodeJS.Signals) {
    super('ERR_SHUTDOWN_SIGNAL', `shutdown signal ${signal}`);
    this.signal = signal;
  }
}

/** A Foreman queue's store failed (SQLite or PostgreSQL); `.cause` is the driver's error. */
export class QueueError extends BgWorkersError {
  declare readonly code: 'ERR_QUEUE';
  constructor(message: string, cause?: unknown) {
    super('ERR_QUEUE', cause === undefined ? message : `${message}: ${cause instanceof Error ? cause.message : String(cause)}`, cause === undefined ? undefined : { cause });
  }
}

/** Another live foreman holds this SQLite queue (one foreman per queue file, G19). */
export class ForemanRunningError extends BgWorkersError {
  declare readonly code: 'ERR_FOREMAN_RUNNING';
  /** The owner's process id. */
  readonly pid: number;
  constructor(location: string, pid: number) {
    super('ERR_FOREMAN_RUNNING', `queue ${location}: a foreman is already running on it (pid ${pid})`);
    this.pid = pid;
  }
}

/** The error of a dead job (`queue.dead()`): the job ran `attempts` times; `.cause` is its last error, revived. */
export class JobFailedError extends BgWorkersError {
  declare readonly code: 'ERR_JOB_FAILED';
  readonly attempts: number;
  constructor(job: { readonly id: string; readonly name: string }, attempts: number, cause: unknown) {
    const what = cause instanceof Error ? cause.message : String(cause);
    super('ERR_JOB_FAILED', `job ${job.id} "${job.name}": dead after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${what}`, { cause });
    this.attempts = attempts;
  }
}

/** A job cannot be enqueued as given: the message names the field (`payload.when`, `options.priority`). */
export class InvalidJobError extends BgWorkersError {
  declare readonly code: 'ERR_INVALID_JOB';
  /** The offending field's path, e.g. 'payload.items[2]' or 'options.runAt'. */
  readonly field: string;
  constructor(field: string, message: string) {
    super('ERR_INVALID_JOB', `${field}: ${message}`);
    this.field = field;
  }
}
