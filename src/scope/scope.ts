/**
 * Scope: the public face of a ScopeNode (node.ts holds the state machine). Created by `supervisor.scope()`,
 * never directly.
 */
import { toAbortReason } from '../errors.js';
import type { AnyWorkerDefinition, WorkerData, WorkerResult } from '../entry-types.js';
import type { WorkerHandle } from '../handle.js';
import type { ScopedWorkerSpec } from '../options.js';
import type { PoolOptions } from '../pool/options.js';
import type { ScopedPool } from '../pool/scoped-pool.js';
import type { Supervisor } from '../registrant/client.js';
import type { SpawnOptions, SpawnedTask, TaskHandle } from '../task/task.js';
import { interruptsHeld } from './hold.js';
import { pollInterrupts } from './interrupts.js';
import { currentFrame } from './context.js';
import { ScopeNode, nearestOpen, type ScopeState } from './node.js';

/** What a scope needs from its supervisor to register workers. */
export interface ScopeRegistrar {
  readonly supervisor: Supervisor;
  /** Registers a worker in `node`; throws WorkerCapacityError when no slot is free. */
  registerIn<D, R>(node: ScopeNode, spec: ScopedWorkerSpec<D>): WorkerHandle<R>;
  /** Like registerIn(), but undefined when no slot is free. */
  tryRegisterIn<D, R>(node: ScopeNode, spec: ScopedWorkerSpec<D>): WorkerHandle<R> | undefined;
  createPool<I, O>(node: ScopeNode, options: PoolOptions): ScopedPool<I, O>;
  spawnIn<T>(node: ScopeNode, fn: (task: SpawnedTask) => T | PromiseLike<T>, options: SpawnOptions | undefined): TaskHandle<T>;
}

/** The public Scope of `node`; undefined only for a node no Scope was made for. */
export function scopeOf(node: ScopeNode): Scope | undefined {
  return node.facade as Scope | undefined;
}

/** A transaction-like unit of work; workers registered in it are tied to it by their flags. */
export class Scope {
  readonly #node: ScopeNode;
  readonly #registrar: ScopeRegistrar;
  readonly #parent: Scope | undefined;

  /** @internal */
  constructor(node: ScopeNode, registrar: ScopeRegistrar, parent: Scope | undefined) {
    this.#node = node;
    this.#registrar = registrar;
    this.#parent = parent;
    node.facade = this;
  }

  /** Unique within the process. */
  get id(): number {
    return this.#node.id;
  }
  get name(): string | undefined {
    return this.#node.name;
  }
  /** The enclosing scope of the same supervisor, if any. */
  get parent(): Scope | undefined {
    return this.#parent;
  }
  get supervisor(): Supervisor {
    return this.#registrar.supervisor;
  }
  /** Aborts when this scope or an ancestor aborts; `reason` is the abort reason. Pass it to timers and I/O. */
  get signal(): AbortSignal {
    return this.#node.signal;
  }
  get state(): ScopeState {
    return this.#node.state;
  }

  /**
   * Registers a worker in this scope. Returns at once with the handle in state `pending`.
   * @throws WorkerCapacityError when no slot is free; ScopeClosedError when the scope is no longer active;
   *   InvalidWorkerSpecError for a bad spec. Nothing is registered when it throws.
   *
   * Types: `register<typeof import('./sum.js').default>(spec)` checks `data` against the entry's `defineWorker`
   * and types `exit.result` with its main's result; `register<D, R>(spec)` states them by hand.
   */
  register<W extends AnyWorkerDefinition = never>(spec: ScopedWorkerSpec<WorkerData<W>>): WorkerHandle<WorkerResult<W>>;
  register<D = unknown, R = unknown>(spec: ScopedWorkerSpec<D>): WorkerHandle<R>;
  register(spec: ScopedWorkerSpec): WorkerHandle {
    return this.#registrar.registerIn(this.#node, spec);
  }

  /** Like register(), but returns undefined instead of throwing when no slot is free. Typed the same way. */
  tryRegister<W extends AnyWorkerDefinition = never>(spec: ScopedWorkerSpec<WorkerData<W>>): WorkerHandle<WorkerResult<W>> | undefined;
  tryRegister<D = unknown, R = unknown>(spec: ScopedWorkerSpec<D>): WorkerHandle<R> | undefined;
  tryRegister(spec: ScopedWorkerSpec): WorkerHandle | undefined {
    return this.#registrar.tryRegisterIn(this.#node, spec);
  }

  /**
   * Creates a fan-out pool owned by this scope: its workers are ephemeral (they stop when the scope ends, and
   * queued tasks then reject with the abort reason or ScopeClosedError) and, unless `precious: false`, precious
   * (a pool worker's unexpected death aborts the scope). Pool workers hold supervisor slots.
   * @throws WorkerCapacityError when `minWorkers` (default `maxWorkers`) slots are not free; nothing is left registered.
   *
   * @example
   * ```ts
   * // squares.ts (square.ts is defineTask's example)
   * import { Supervisor } from 'bgworkers';
   *
   * const supervisor = await Supervisor.start();
   * try {
   *   const entry = new URL('./square.js', import.meta.url);
   *   const squares = await supervisor.scope((scope) => scope.pool<number, number>({ entry, maxWorkers: 2 }).map([1, 2, 3]));
   *   console.log(squares); // prints: [ 1, 4, 9 ]
   * } finally {
   *   await supervisor.shutdown();
   * }
   * ```
   */
  pool<I = unknown, O = unknown>(options: PoolOptions): ScopedPool<I, O> {
    return this.#registrar.createPool<I, O>(this.#node, options);
  }

  /**
   * Spawns an in-thread task owned by this scope (G13): `fn` runs on a microtask, on this thread, with `task.signal`
   * as its cancellation token and `currentTask()` set inside it. A commit waits for it (ephemeral: cancels it); an
   * abort cancels it; the scope settles only once it has settled. A precious task's failure aborts the scope.
   * @throws ScopeClosedError when the scope is no longer active; InvalidWorkerSpecError for bad options.
   *
   * @example
   * ```ts
   * // spawn.ts
   * import { Supervisor, currentTask } from 'bgworkers';
   *
   * const supervisor = await Supervisor.start();
   * try {
   *   const exit = await supervisor.scope(async (scope) => {
   *     const flush = scope.spawn(async (task) => {
   *       await new Promise((resolve) => setTimeout(resolve, 5));
   *       return task.signal.aborted ? 'cancelled' : `flushed by ${currentTask()?.name}`;
   *     }, { name: 'flush', kind: 'flush', labels: { tenant: 'a' } });
   *     return flush.result(); // the scope would wait for it anyway: it is not ephemeral
   *   });
   *   console.log(exit.reason, exit.result); // prints: completed flushed by flush
   * } finally {
   *   await supervisor.shutdown();
   * }
   * ```
   */
  spawn<T>(fn: (task: SpawnedTask) => T | PromiseLike<T>, options?: SpawnOptions): TaskHandle<T> {
    return this.#registrar.spawnIn<T>(this.#node, fn, options);
  }

  /**
   * Aborts this scope and its active descendants. The reason is `reason` when it is an Error, else a
   * ScopeAbortedError carrying it as `cause`. No-op once the scope is aborting or settled.
   */
  abort(reason?: unknown): void {
    this.#node.abort(toAbortReason(reason));
  }

  /** Throws this scope's abort reason if this scope or an ancestor is aborted (processing pending interrupts). */
  checkForInterrupts(): void {
    pollInterrupts();
    if (this.#node.aborted && !interruptsHeld()) throw this.#node.reason;
  }
}

/**
 * The innermost scope of the calling async context that has not settled, or undefined outside any scope.
 * (Async code can outlive its scope; it then sees the nearest enclosing scope still open.)
 */
export function currentScope(): Scope | undefined {
  const frame = currentFrame();
  return frame instanceof ScopeNode ? scopeOfOpen(frame) : undefined;
}

function scopeOfOpen(frame: ScopeNode): Scope | undefined {
  const open = nearestOpen(frame);
  return open === undefined ? undefined : (open.facade as Scope | undefined);
}
