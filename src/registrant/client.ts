/**
 * Supervisor: the public registrant-side facade. The engine is SupervisorCore (core.ts); the thread that starts
 * and stops workers is the supervisor loop (loop.ts, on the thread thread.ts starts).
 */
import type { AnyWorkerDefinition, WorkerData, WorkerResult } from '../entry-types.js';
import type { WorkerHandle } from '../handle.js';
import { validateShutdownOptions, validateSupervisorOptions, type ScopeOptions, type SupervisorOptions, type WorkerSpec } from '../options.js';
import type { Scope } from '../scope/scope.js';
import { SupervisorClosedError, invalidOption } from '../errors.js';
import { runScope } from '../scope/run.js';
import { SupervisorCore } from './core.js';
import type { SupervisorMetrics, WorkerFilter, WorkerInfo } from './registry.js';
import type { WorkerExit } from '../shared/exit.js';
import type { TaskFilter } from '../task/filter.js';
import type { TaskExit, TaskInfo } from '../task/task.js';
import type { ShutdownOptions } from './filtered-shutdown.js';
import { relayable } from './signals.js';

/** @internal Lets tests reach the engine (e.g. to kill the supervisor thread). Not part of the API. */
export const kCore = Symbol('bgworkers.core');

/**
 * Owns every worker's start and stop, like PostgreSQL's postmaster: it runs in its own thread, so a registrant
 * busy in synchronous code never delays a start, a stop or the detection of a death.
 *
 * `Symbol.asyncDispose` calls `shutdown()`, but Node 20 runs `await using` only when a compiler lowers it, so the
 * example uses `try`/`finally`. The entry is a URL relative to this module, not to the process's cwd.
 *
 * @example
 * ```ts
 * // main.ts (the registrant; sum.ts is defineWorker's example)
 * import { Supervisor } from 'bgworkers';
 *
 * const supervisor = await Supervisor.start();
 * try {
 *   const total = await supervisor.scope(async (scope) => {
 *     const entry = new URL('./sum.js', import.meta.url);
 *     const h = scope.register<{ n: number }, number>({ entry, data: { n: 1000 }, precious: true, ephemeral: true });
 *     return (await h.waitForShutdown()).result;
 *   });
 *   console.log(total); // prints: 499500
 * } finally {
 *   await supervisor.shutdown();
 * }
 * ```
 */
export class Supervisor implements AsyncDisposable {
  readonly #core: SupervisorCore;

  private constructor(options: SupervisorOptions | undefined) {
    this.#core = new SupervisorCore(this, validateSupervisorOptions(options));
  }

  /**
   * Starts the supervisor (its own thread) and resolves once it is ready.
   * @throws InvalidWorkerSpecError for a bad option (before anything starts).
   */
  static async start(options?: SupervisorOptions): Promise<Supervisor> {
    const supervisor = new Supervisor(options);
    await supervisor.#core.ready();
    return supervisor;
  }

  /**
   * Runs `fn` in a new scope. Called inside an active scope of this supervisor, the new scope is its child.
   * Resolves with fn's value once fn settled and teardown is done (ephemeral and precious workers stopped, child
   * scopes settled); rejects with the abort reason if the scope was aborted — also when fn caught it.
   */
  scope<T>(fn: (scope: Scope) => T | PromiseLike<T>, options?: ScopeOptions): Promise<T> {
    if (this.#core.closed) return Promise.reject(new SupervisorClosedError('scope'));
    return runScope(this.#core, fn, options);
  }

  /**
   * Registers an unscoped worker: it lives until it stops or the supervisor shuts down. `ephemeral` and
   * `precious` are rejected here (register in a scope for those).
   *
   * Types: `register<typeof import('./sum.js').default>(spec)` checks `data` against the entry's `defineWorker`
   * and types `exit.result` with its main's result; `register<D, R>(spec)` states them by hand.
   * @throws WorkerCapacityError, InvalidWorkerSpecError, SupervisorClosedError. Nothing is registered when it throws.
   */
  register<W extends AnyWorkerDefinition = never>(spec: WorkerSpec<WorkerData<W>>): WorkerHandle<WorkerResult<W>>;
  register<D = unknown, R = unknown>(spec: WorkerSpec<D>): WorkerHandle<R>;
  register(spec: WorkerSpec): WorkerHandle {
    return this.#core.registerIn(undefined, spec);
  }

  /** Registry snapshot of the workers that hold a slot (not yet stopped), optionally filtered. */
  workers(filter?: WorkerFilter): WorkerInfo[] {
    return this.#core.registry.list(filter);
  }

  /** The in-thread tasks (scope.spawn) of this supervisor's scopes that have not stopped, optionally filtered. */
  tasks(filter?: TaskFilter): TaskInfo[] {
    return this.#core.tasks.list(filter);
  }

  /**
   * Terminates every worker that matches `filter` now (kind, every given label, state, scopeId, name), all at once,
   * and resolves with their exits once all have stopped (G14). After `complainAfterMs` (1 s) and then every
   * `complainEveryMs` (60 s) it logs "still waiting for <name> to shut down" (info) for each one still running;
   * after `timeoutMs` (default: as long as it takes) the rest are stopped by force. Workers registered while it
   * runs are not included; workers that do not match are untouched.
   * @throws InvalidWorkerSpecError (rejects) for a bad filter or option.
   */
  shutdownWorkers(filter: WorkerFilter, options?: ShutdownOptions): Promise<WorkerExit[]> {
    try {
      return this.#core.shutdownWorkers(filter, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The same for in-thread tasks: cancels every matching task at once and waits for all, complaining the same way.
   * Tasks cannot be forced: after `timeoutMs` it resolves, and each task still running is reported with
   * `stillRunning: true` and a TaskCancelledError that says so.
   */
  shutdownTasks(filter: TaskFilter, options?: ShutdownOptions): Promise<TaskExit<unknown>[]> {
    try {
      return this.#core.tasks.shutdown(filter, options, this.#core.logger);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Hands `signal` to every worker running now, once: thread workers' `ctx.onSignal` listeners, and process
   * workers the real signal. `handleSignals.relay` does this for signals the process receives.
   * @throws InvalidWorkerSpecError for a signal that cannot be relayed (one of SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT).
   */
  relaySignal(signal: NodeJS.Signals): void {
    this.#core.relay(relayable(signal, 'signal'));
  }

  /** Counters and gauges since start; `{ reset: true }` starts the latency histograms again after this reading. */
  metrics(options?: { reset?: boolean }): SupervisorMetrics {
    const reset = options?.reset;
    if (reset !== undefined && typeof reset !== 'boolean') throw invalidOption('reset', 'a boolean', reset);
    return this.#core.registry.metrics(reset === true);
  }

  /**
   * Aborts every active scope (SupervisorShutdownError), terminates every worker (graceful, then forced), stops the
   * supervisor thread. Idempotent. Does not wait for scope functions still running; after it resolves no worker is
   * alive and every slot is free.
   *
   * Grace: each worker gets its own (the spec's `gracefulTimeoutMs`, else the supervisor's). `timeoutMs` caps it:
   * no worker gets longer than `timeoutMs` (a forced stop already scheduled is brought forward, never put back).
   * Without `timeoutMs` (or with `Infinity`) there is no cap. To drain long jobs ("wait as long as it takes"),
   * give those workers, or the supervisor, `gracefulTimeoutMs: Infinity` and call `shutdown()` (or
   * `shutdown({ timeoutMs })` to bound the wait: a second call returns the first one's promise and bound).
   */
  shutdown(options?: { timeoutMs?: number }): Promise<void> {
    let timeoutMs: number;
    try {
      timeoutMs = validateShutdownOptions(options, Infinity);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#core.shutdown(timeoutMs);
  }

  /** Same as shutdown(). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** True once shutdown() was called or the supervisor thread died. */
  get closed(): boolean {
    return this.#core.closed;
  }

  /** @internal */
  get [kCore](): SupervisorCore {
    return this.#core;
  }
}
