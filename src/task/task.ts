/**
 * In-thread tasks (G13): `scope.spawn(fn)`, neon's task_mgr::spawn on this library's scopes. A task is an async
 * function run on the registrant's own thread, owned by a scope like a worker is, with a cancellation token
 * (`task.signal`), a registry entry (`supervisor.tasks()`), and `currentTask()` inside it.
 *
 * ## States (all transitions on the registrant thread)
 *
 * | state      | meaning                                           | entered by                                   |
 * |------------|---------------------------------------------------|----------------------------------------------|
 * | running    | spawned; fn is queued (a microtask) or running    | spawn()                                      |
 * | cancelling | its signal aborted; fn has not settled yet        | cancel(), its scope's abort, a shutdown, the scope's end (ephemeral) |
 * | stopped    | settled: `completed`, `failed` or `cancelled`     | fn settled; or cancelled before fn started   |
 *
 * ## Rules
 * 1. fn starts on a microtask after spawn(), inside the scope's context and the task's own (currentTask()). A task
 *    cancelled before that never runs a line of fn (as G2 for workers): `cancelled`.
 * 2. The exit: fn resolved → `completed` (even after a cancel: it finished anyway); fn threw or rejected with its
 *    signal aborted → `cancelled`; otherwise → `failed`. result() never rejects; a failure never becomes an
 *    unhandled rejection (G11).
 * 3. A precious task that ends `failed` aborts its scope with PreciousTaskFailedError, synchronously in the
 *    rejection's callback, so the next checkForInterrupts() of the thread throws it (G4's path). On one thread
 *    "at once" means: as soon as the task's own code has run to its rejection.
 * 4. The scope waits for every task before it settles: a commit waits for non-ephemeral tasks and cancels
 *    ephemeral ones; an abort cancels all with the abort reason (close(reason), called by the scope's teardown).
 * 5. The token tree does not leak: a task does not listen on its scope's signal at all (the scope's abort closes
 *    its members, tasks included, synchronously: node.ts's teardown), and it leaves the scope's members and the
 *    registry when it stops. AbortSignal.any would keep every child of a long-lived parent alive
 *    (nodejs/node#54614); a listener per task would also trip Node's MaxListenersExceededWarning at 11 tasks.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { PreciousTaskFailedError, TaskCancelledError, invalidOption, type TaskRef } from '../errors.js';
import { runInFrame } from '../scope/context.js';
import type { ScopeNode, ScopeResource } from '../scope/node.js';
import { bag, bool, str, stringRecord } from '../validate.js';

/** Options of `scope.spawn()`. */
export interface SpawnOptions {
  /** For logs, `supervisor.tasks()` and shutdown filters. @default fn.name, or 'task', + '#' + id */
  name?: string;
  kind?: string;
  labels?: Readonly<Record<string, string>>;
  /** Cancelled when the scope ends (commit or abort); otherwise a commit waits for it. @default false */
  ephemeral?: boolean;
  /** Its failure (a rejection that is not its own cancellation) aborts the scope. @default false */
  precious?: boolean;
}

/** What a task's function receives, and what `currentTask()` returns inside it. */
export interface SpawnedTask {
  readonly id: string;
  readonly name: string;
  readonly kind: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** The cancellation token: aborts on cancel(), the scope's abort or end (ephemeral), or a shutdown. */
  readonly signal: AbortSignal;
}

/** How a task ended. */
export interface TaskExit<T = unknown> {
  reason: 'completed' | 'failed' | 'cancelled';
  result?: T;
  error?: Error;
  /** Only in a shutdownTasks() result: the task did not stop within the timeout and is still running (tasks cannot be forced). */
  stillRunning?: true;
}

export type TaskState = 'running' | 'cancelling' | 'stopped';

/** A registry entry: a snapshot of one task that has not stopped. */
export interface TaskInfo {
  id: string;
  name: string;
  kind: string | undefined;
  labels: Readonly<Record<string, string>>;
  state: TaskState;
  ephemeral: boolean;
  precious: boolean;
  scopeId: number;
  /** ms since epoch. */
  spawnedAt: number;
}

const SPAWN_KEYS = ['name', 'kind', 'labels', 'ephemeral', 'precious'] as const;
const current = new AsyncLocalStorage<SpawnedTask>();
let nextId = 1;

/** The task whose code is running (in it and everything it awaits), or undefined outside any task. */
export function currentTask(): SpawnedTask | undefined {
  return current.getStore();
}

/** The engine of one task; a ScopeResource of its scope. */
export class TaskCore<T = unknown> implements ScopeResource {
  readonly ref: TaskRef;
  readonly closesWithScope = true;
  readonly id: string;
  readonly name: string;
  readonly kind: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly ephemeral: boolean;
  readonly precious: boolean;
  readonly scopeId: number;
  readonly spawnedAt = Date.now();
  readonly closed: Promise<TaskExit<T>>;
  state: TaskState = 'running';
  exit: TaskExit<T> | undefined;
  readonly #controller = new AbortController();
  readonly #node: ScopeNode;
  readonly #onStopped: (task: TaskCore<T>) => void;
  #resolve!: (exit: TaskExit<T>) => void;
  #started = false;

  constructor(node: ScopeNode, fn: (task: SpawnedTask) => T | PromiseLike<T>, options: SpawnOptions | undefined, onStopped: (task: TaskCore<T>) => void) {
    if (typeof fn !== 'function') throw invalidOption('fn', 'a function', fn);
    const o = bag(options ?? {}, 'options', 'spawn', SPAWN_KEYS);
    this.id = `t${nextId++}`;
    this.name = str(o['name'], 'name') ?? `${fn.name || 'task'}#${this.id}`;
    this.kind = str(o['kind'], 'kind');
    this.labels = Object.freeze(o['labels'] === undefined ? {} : stringRecord(o['labels'], 'labels'));
    this.ephemeral = bool(o['ephemeral'], 'ephemeral') ?? false;
    this.precious = bool(o['precious'], 'precious') ?? false;
    this.ref = { id: this.id, name: this.name };
    this.scopeId = node.id;
    this.#node = node;
    this.#onStopped = onStopped;
    this.closed = new Promise((resolve) => (this.#resolve = resolve));
    const task: SpawnedTask = Object.freeze({ id: this.id, name: this.name, kind: this.kind, labels: this.labels, signal: this.#controller.signal });
    // Rule 1: fn starts on a microtask, in the scope's context and the task's own.
    queueMicrotask(() => {
      if (this.#controller.signal.aborted) return this.#finish({ reason: 'cancelled', error: asError(this.#controller.signal.reason) });
      this.#started = true;
      let r: T | PromiseLike<T>;
      try {
        r = current.run(task, () => runInFrame(node, () => fn(task)));
      } catch (err) {
        return this.#failed(err);
      }
      Promise.resolve(r).then(
        (result) => this.#finish({ reason: 'completed', result }),
        (err: unknown) => this.#failed(err),
      );
    });
  }

  /** Whether fn has been called. */
  get started(): boolean {
    return this.#started;
  }

  /** Aborts the task's signal (synchronous, idempotent). `reason` defaults to a TaskCancelledError. */
  cancel(reason?: unknown, why?: string): void {
    if (this.state !== 'running') return;
    this.state = 'cancelling';
    this.#controller.abort(reason ?? new TaskCancelledError(this.ref, why));
  }

  blocksCommit(): boolean {
    return false;
  }

  /** Scope teardown: an abort cancels it (its signal also follows the scope's); a commit cancels only ephemeral tasks. */
  close(reason: unknown): void {
    if (reason !== undefined) this.cancel(reason);
    else if (this.ephemeral) this.cancel(undefined, 'cancelled: its scope ended');
  }

  #failed(err: unknown): void {
    if (this.#controller.signal.aborted) return this.#finish({ reason: 'cancelled', error: asError(err) });
    this.#finish({ reason: 'failed', error: asError(err) });
    if (this.precious) this.#node.abort(new PreciousTaskFailedError(this.ref, err)); // rule 3
  }

  #finish(exit: TaskExit<T>): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.exit = exit;
    this.#node.members.delete(this);
    this.#onStopped(this);
    this.#resolve(exit);
  }

  info(): TaskInfo {
    return { id: this.id, name: this.name, kind: this.kind, labels: this.labels, state: this.state, ephemeral: this.ephemeral, precious: this.precious, scopeId: this.scopeId, spawnedAt: this.spawnedAt };
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(`non-error thrown: ${String(value)}`, { cause: value });
}

/** A spawned task, as its spawner holds it. */
export class TaskHandle<T = unknown> {
  readonly #core: TaskCore<T>;

  /** @internal Made by scope.spawn(). */
  constructor(core: TaskCore<T>) {
    this.#core = core;
  }

  get id(): string {
    return this.#core.id;
  }
  get name(): string {
    return this.#core.name;
  }
  get kind(): string | undefined {
    return this.#core.kind;
  }
  get labels(): Readonly<Record<string, string>> {
    return this.#core.labels;
  }
  get ephemeral(): boolean {
    return this.#core.ephemeral;
  }
  get precious(): boolean {
    return this.#core.precious;
  }
  get state(): TaskState {
    return this.#core.state;
  }

  /** Aborts the task's signal with `reason` (default: a TaskCancelledError). Synchronous and idempotent. */
  cancel(reason?: unknown): void {
    this.#core.cancel(reason);
  }

  /** Resolves with how it ended; never rejects. */
  result(): Promise<TaskExit<T>> {
    return this.#core.closed;
  }
}
