/**
 * Supervisor: the public registrant-side facade. The engine is SupervisorCore (core.ts); the thread that starts
 * and stops workers is the supervisor loop (loop.ts, on the thread thread.ts starts).
 */
import type { AnyWorkerDefinition, WorkerData, WorkerResult } from '../entry-types.js';
import type { WorkerHandle } from '../handle.js';
import { validateShutdownOptions, validateSupervisorOptions, type ScopeOptions, type SupervisorOptions, type WorkerSpec } from '../options.js';
import type { Scope } from '../scope/scope.js';
import { SupervisorClosedError } from '../errors.js';
import { runScope } from '../scope/run.js';
import { SupervisorCore } from './core.js';
import type { SupervisorMetrics, WorkerFilter, WorkerInfo } from './registry.js';

/** @internal Lets tests reach the engine (e.g. to kill the supervisor thread). Not part of the API. */
export const kCore = Symbol('bgworkers.core');

/**
 * Owns every worker's start and stop, like PostgreSQL's postmaster: it runs in its own thread, so a registrant
 * busy in synchronous code never delays a start, a stop or the detection of a death.
 *
 * @example
 * ```ts
 * await using supervisor = await Supervisor.start();
 * const total = await supervisor.scope(async (scope) => {
 *   const h = scope.register<{ n: number }, number>({ entry: './sum.mjs', data: { n: 1e6 }, precious: true, ephemeral: true });
 *   return (await h.waitForShutdown()).result;
 * });
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
    return this.#core.registerIn(undefined, spec, true)!;
  }

  /** Registry snapshot of the workers that hold a slot (not yet stopped), optionally filtered. */
  workers(filter?: WorkerFilter): WorkerInfo[] {
    return this.#core.registry.list(filter);
  }

  metrics(): SupervisorMetrics {
    return this.#core.registry.metrics();
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
