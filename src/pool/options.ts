/**
 * Pool options and their validation, with the same template and the same rules as `register()` (options.ts):
 * everything is checked at `scope.pool()`, before a worker is registered — the pool worker spec is built and
 * passed through `validateSpec` there, so `resourceLimits`, `env`, `execArgv` and `data` fail at `pool()` even
 * with `minWorkers: 0`, and never on a later `run()`.
 */
import { basename, extname } from 'node:path';
import type { ResourceLimits, Transferable } from 'node:worker_threads';
import { invalidOption } from '../errors.js';
import { validateSpec } from '../options.js';
import { bag, bool, entryOf, int, ms, sendable, str } from '../validate.js';
import { MAX_SLOTS } from '../shared/layout.js';

/** Options of `scope.pool()`. */
export interface PoolOptions<D = unknown> {
  /** Path or file: URL of a module whose default export is the task function (see `defineTask`); named exports are tasks too (`run(x, { name })`). */
  entry: string | URL;
  /** Workers at most; each holds one of the supervisor's slots. An integer from 1 to 4096. */
  maxWorkers: number;
  /**
   * Workers started with the pool and kept for its life; the rest start when work queues up and a slot is free.
   * Creating the pool throws WorkerCapacityError if these cannot all get a slot (nothing is left registered).
   * @default maxWorkers
   */
  minWorkers?: number;
  /** @default 'thread' */
  runtime?: 'thread' | 'process';
  /** A pool worker's unexpected death (not a task that throws, not a stop the pool asked for) aborts the scope (G4). @default true */
  precious?: boolean;
  /** V8 heap limits of every pool worker, as for `register()`. */
  resourceLimits?: ResourceLimits;
  /** Names the pool in errors, logs and worker names. @default 'pool-' + the entry's base name */
  name?: string;
  /** @default 'pool' */
  kind?: string;
  /** Added to every pool worker's labels, with `pool: name`. */
  labels?: Readonly<Record<string, string>>;
  /**
   * Handed to every task as `task.data` (copied once per worker: structured-cloned for threads, v8.serialize for
   * `runtime: 'process'`). Checked at `scope.pool()`: InvalidWorkerSpecError with `field: 'data'`.
   */
  data?: D;
  /** Process pools only: the workers' environment, as for `register()`. */
  env?: Readonly<Record<string, string>>;
  /** Process pools only: the workers' Node options, as for `register()`. */
  execArgv?: readonly string[];
  /**
   * Tasks (or batches of tasks) a worker runs at once: with more than 1, a worker starts the next task while
   * earlier ones await (I/O-bound tasks). An integer from 1 to 1024. @default 1
   */
  concurrentTasksPerWorker?: number;
  /**
   * Calls (`run()`s, and `map()`s counted as one each) that may wait for a worker; one more rejects at once with
   * PoolQueueFullError. `'auto'`: maxWorkers². @default Infinity
   */
  maxQueue?: number | 'auto';
  /** Workers above `minWorkers` stop after this long without work (ms), and come back on demand. @default never */
  idleTimeoutMs?: number;
  /**
   * How long a task whose run was aborted (its signal, its timeout) may go on after its `task.signal` aborted
   * before its worker is asked to stop and is replaced; the stop itself is forced after as long again.
   * @default 500
   */
  abortGraceMs?: number;
  /** Default per-task timeout (ms, from when the task is sent to a worker); see `run(x, { timeoutMs })`. @default none */
  timeoutMs?: number;
  /**
   * Thread pools: a worker that has just run out of work waits for its next batch in `Atomics.wait`, woken by the
   * pool through its latch, for up to this long (ms); then it waits in its event loop. A wake-up by
   * `Atomics.notify` skips the worker's event loop: a `run()` awaited before the next takes about half as long
   * (docs/benchmarks.md, "The idle wait"). While it sleeps the worker's event loop does not run, so a timer or I/O
   * callback a task left behind runs at most this late, once. 0: the worker waits in its event loop only
   * (piscina's `atomics: 'disabled'`); `Infinity`: in `Atomics.wait` until the next batch (piscina's `'sync'`).
   * Process pools always wait in their event loop. @default 20
   */
  idleWaitMs?: number;
}

export interface ResolvedPoolOptions {
  entry: string;
  maxWorkers: number;
  minWorkers: number;
  runtime: 'thread' | 'process';
  precious: boolean;
  resourceLimits: ResourceLimits | undefined;
  name: string;
  kind: string;
  labels: Readonly<Record<string, string>>;
  data: unknown;
  env: Readonly<Record<string, string>> | undefined;
  execArgv: readonly string[] | undefined;
  concurrentTasksPerWorker: number;
  maxQueue: number;
  idleTimeoutMs: number;
  abortGraceMs: number;
  timeoutMs: number | undefined;
  /** 0 for a process pool. */
  idleWaitMs: number;
}

/** Default grace for an aborted task: long enough to notice its signal at the next await, short enough to free the worker soon. */
export const DEFAULT_ABORT_GRACE_MS = 500;
/** How long a thread pool worker that ran out of work waits in Atomics.wait before it waits in its event loop (PoolOptions.idleWaitMs). */
export const DEFAULT_IDLE_WAIT_MS = 20;
/** Tasks a worker may run at once at most: more is a configuration mistake (use more workers). */
export const MAX_CONCURRENT_TASKS_PER_WORKER = 1024;

const POOL_KEYS = [
  'entry', 'maxWorkers', 'minWorkers', 'runtime', 'precious', 'resourceLimits', 'name', 'kind', 'labels', 'data', 'env', 'execArgv',
  'concurrentTasksPerWorker', 'maxQueue', 'idleTimeoutMs', 'abortGraceMs', 'timeoutMs', 'idleWaitMs',
] as const;

export function validatePoolOptions(options: unknown): ResolvedPoolOptions {
  const o = bag(options, 'options', 'pool', POOL_KEYS);
  const { href, path } = entryOf(o['entry']);
  const maxWorkers = int(o['maxWorkers'], 'maxWorkers', 1, MAX_SLOTS);
  if (maxWorkers === undefined) throw invalidOption('maxWorkers', 'an integer from 1 to 4096 (it is required)', undefined);
  const minWorkers = int(o['minWorkers'], 'minWorkers', 0, maxWorkers) ?? maxWorkers;
  const name = str(o['name'], 'name') ?? `pool-${basename(path, extname(path))}`;
  // The workers' spec, checked now by register()'s own rules (runtime, env/execArgv per runtime, resourceLimits,
  // labels, kind), so a bad one fails here and not at the first worker started on demand; nothing of these is
  // checked twice. The pool's own label is added after, over any `pool` label the user gave.
  const spec = validateSpec(
    {
      entry: href,
      kind: o['kind'] ?? 'pool',
      ...(o['labels'] === undefined ? {} : { labels: o['labels'] }),
      ...(o['runtime'] === undefined ? {} : { runtime: o['runtime'] }),
      ...(o['resourceLimits'] === undefined ? {} : { resourceLimits: o['resourceLimits'] }),
      ...(o['env'] === undefined ? {} : { env: o['env'] }),
      ...(o['execArgv'] === undefined ? {} : { execArgv: o['execArgv'] }),
    },
    true,
  );
  const data = o['data'];
  sendable(data, 'data', spec.runtime);
  const maxQueue = o['maxQueue'];
  let queue: number;
  if (maxQueue === undefined) queue = Infinity;
  else if (maxQueue === 'auto') queue = maxWorkers * maxWorkers;
  else if (typeof maxQueue === 'number' && (maxQueue === Infinity || (Number.isInteger(maxQueue) && maxQueue >= 0))) queue = maxQueue;
  else throw invalidOption('maxQueue', "an integer >= 0, Infinity or 'auto'", maxQueue);
  return {
    entry: href,
    maxWorkers,
    minWorkers,
    runtime: spec.runtime,
    precious: bool(o['precious'], 'precious') ?? true,
    resourceLimits: spec.resourceLimits,
    name,
    kind: spec.kind ?? 'pool',
    labels: Object.freeze({ ...spec.labels, pool: name }),
    data,
    env: spec.env,
    execArgv: spec.execArgv,
    concurrentTasksPerWorker: int(o['concurrentTasksPerWorker'], 'concurrentTasksPerWorker', 1, MAX_CONCURRENT_TASKS_PER_WORKER) ?? 1,
    maxQueue: queue,
    idleTimeoutMs: ms(o['idleTimeoutMs'], 'idleTimeoutMs') ?? Infinity,
    abortGraceMs: ms(o['abortGraceMs'], 'abortGraceMs') ?? DEFAULT_ABORT_GRACE_MS,
    timeoutMs: timeout(o['timeoutMs']),
    idleWaitMs: idleWait(o['idleWaitMs'], spec.runtime),
  };
}

/** PoolOptions.idleWaitMs, checked for every runtime; a process pool's workers always wait in their event loop (0). */
function idleWait(v: unknown, runtime: 'thread' | 'process'): number {
  if (v !== undefined && (typeof v !== 'number' || Number.isNaN(v) || v < 0)) throw invalidOption('idleWaitMs', 'a number of milliseconds >= 0 (0: wait in the event loop; Infinity: in Atomics.wait only)', v);
  return runtime === 'process' ? 0 : (v ?? DEFAULT_IDLE_WAIT_MS);
}

function timeout(v: unknown, field = 'timeoutMs'): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw invalidOption(field, 'a finite number of milliseconds > 0', v);
  return v;
}

function signalOf(v: unknown): AbortSignal | undefined {
  if (v !== undefined && !(v instanceof AbortSignal)) throw invalidOption('signal', 'an AbortSignal', v);
  return v;
}

/** A task function's export name: undefined for the default export. */
function taskName(v: unknown): string | undefined {
  if (v === undefined || v === 'default') return undefined;
  return str(v, 'name');
}

export interface RunOptions {
  signal: AbortSignal | undefined;
  name: string | undefined;
  transfer: readonly Transferable[] | undefined;
  timeoutMs: number | undefined;
}

export function validateRunOptions(options: unknown, poolTimeoutMs: number | undefined): RunOptions {
  const o = bag(options, 'options', 'run', ['signal', 'name', 'transfer', 'timeoutMs']);
  const transfer = o['transfer'];
  if (transfer !== undefined && !Array.isArray(transfer)) throw invalidOption('transfer', 'an array of ArrayBuffers or MessagePorts', transfer);
  return { signal: signalOf(o['signal']), name: taskName(o['name']), transfer: transfer as Transferable[] | undefined, timeoutMs: timeout(o['timeoutMs']) ?? poolTimeoutMs };
}

export interface MapOptions {
  concurrency: number;
  signal: AbortSignal | undefined;
  name: string | undefined;
  timeoutMs: number | undefined;
}

export function validateMapOptions(options: unknown, poolTimeoutMs: number | undefined): MapOptions {
  const o = bag(options, 'options', 'map', ['concurrency', 'signal', 'name', 'timeoutMs']);
  return {
    concurrency: int(o['concurrency'], 'concurrency', 1, Number.MAX_SAFE_INTEGER) ?? Number.MAX_SAFE_INTEGER,
    signal: signalOf(o['signal']),
    name: taskName(o['name']),
    timeoutMs: timeout(o['timeoutMs']) ?? poolTimeoutMs,
  };
}
