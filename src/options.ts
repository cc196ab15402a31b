/**
 * Public option types and their validation at the boundary, with one message template (errors.ts
 * `invalidOption`): ``Expected `maxWorkers` to be an integer >= 1, got `0` (number)``. Validation runs before
 * anything is registered or started, so a bad spec leaves nothing behind (G1).
 *
 * Why ~270 lines: the option types are the public reference (their TSDoc is what users read in the API docs), and
 * each validator sits next to the type it checks; splitting types from their checks would let them drift.
 */
import { availableParallelism } from 'node:os';
import { basename, extname } from 'node:path';
import type { ResourceLimits } from 'node:worker_threads';
import type { Logger } from 'pino';
import { invalidOption } from './errors.js';
import { bag, bool, entryOf, graceMs, int, ms, sendable, str, stringArray, stringRecord } from './validate.js';
import { MAX_SLOTS } from './shared/layout.js';
import type { RestartBackoff } from './shared/protocol.js';
import { validateHandleSignals, type HandleSignalsOptions, type ResolvedSignals } from './registrant/signals.js';

/** Options of `Supervisor.start()`. */
export interface SupervisorOptions {
  /**
   * Worker slots, like PostgreSQL's max_worker_processes: at most this many workers hold a slot at once
   * (registered and not yet stopped). An integer from 1 to 4096.
   * @default max(16, 4 × os.availableParallelism())
   */
  maxWorkers?: number;
  /**
   * Grace between a termination request and a forced stop, in ms (>= 0). `Infinity`: never forced — a worker
   * stops only when its main returns (or when a `shutdown({ timeoutMs })` with a finite timeout forces it).
   * @default 5000
   */
  gracefulTimeoutMs?: number;
  /**
   * Thread workers kept started in advance (bootstrap loaded, no entry imported), so register() → running skips
   * the thread start. Each costs ~8 MB of RSS. An integer from 0 to 64. Specs with `resourceLimits` never use a
   * spare (limits are fixed when a thread starts). @default 0
   */
  spareWorkers?: number;
  /**
   * Where lifecycle events are logged (registered, started, stopped, precious death, forced stop), and the lines of
   * every worker's `ctx.logger`, with the worker's id, name, kind, scope id and runtime as bindings (`workerPid`
   * for a process worker). `false` silences the library and the workers' `ctx.logger`.
   * @default a pino logger at level 'warn' on stderr
   */
  logger?: Logger | false;
  /**
   * Opt-in process signal handling (registrant side): `true` for the defaults, or which signals. The first
   * SIGINT/SIGTERM aborts every scope with ShutdownSignalError and shuts the supervisor down, a second forces every
   * worker; SIGUSR2 logs one metrics line; `exit` sets `process.exitCode` to 128 + the signal's number. Every
   * handler is removed at shutdown. @default false (no handler installed)
   */
  handleSignals?: boolean | HandleSignalsOptions;
}

/** Options of `supervisor.scope()`. */
export interface ScopeOptions {
  /** Shown in errors and logs. */
  name?: string;
  /** Aborting it aborts the scope, with the signal's reason. An already aborted signal rejects at once. */
  signal?: AbortSignal;
}

/** What to run in a worker and how: the options of `register()` (docs/guide.md, "Workers"). */
export interface WorkerSpec<D = unknown> {
  /**
   * Path or file: URL of a module whose default export is `defineWorker(...)`. A relative path resolves against
   * `process.cwd()`. Workers inherit the registrant's execArgv, so a TypeScript loader applies to .ts entries.
   */
  entry: string | URL;
  /** @default the entry's base name + '#' + id */
  name?: string;
  /** Free-form class of work, for the registry and filters. */
  kind?: string;
  /** Free-form string labels, for the registry and filters. */
  labels?: Readonly<Record<string, string>>;
  /**
   * Handed to the worker as `ctx.data`. Must be structured-cloneable (no functions, symbols, class identity); for
   * `runtime: 'process'` also serializable by v8.serialize (no SharedArrayBuffer, no MessagePort). Checked at
   * register(): InvalidWorkerSpecError with `field: 'data'`.
   */
  data?: D;
  /**
   * Where the worker runs: a worker thread, or a child process (child_process.fork) for work that may crash the
   * process natively or must be isolated from the registrant's heap. Same API and guarantees; a process worker's
   * latches and port are relayed by the supervisor (~0.1 ms more per hop) and it exits by itself within a second
   * of its registrant process dying, even by SIGKILL. @default 'thread'
   */
  runtime?: 'thread' | 'process';
  /** Process workers only: the child's environment. @default the registrant's `process.env` */
  env?: Readonly<Record<string, string>>;
  /** Process workers only: Node options of the child. @default the registrant's `process.execArgv`, without `-e`/`--eval`/`-p`/`--print`/`-i`/`-c`/`--test` (they would replace the worker's bootstrap) */
  execArgv?: readonly string[];
  /**
   * Unscoped, unflagged workers only: start again after a failed or crashed run, `delayMs` after the first
   * failure, the delay growing by `factor` per consecutive restart up to `maxDelayMs` (reset by a run that lasted
   * `withinMs`); more than `maxRestarts` restarts within `withinMs` stop it for good (reason `failed`, error a
   * RestartIntensityError). @default 'never'
   */
  restart?: 'never' | RestartOptions;
  /** Overrides the supervisor's grace between a termination request and a forced stop (`Infinity`: never forced). */
  gracefulTimeoutMs?: number;
  /**
   * V8 heap limits of the worker; exceeding them kills the worker (reason `crashed`). For a process worker only
   * `maxOldGenerationSizeMb` applies (as --max-old-space-size).
   */
  resourceLimits?: ResourceLimits;
}

/** A spec registered in a scope: flags tie the worker's life to the scope. */
export interface ScopedWorkerSpec<D = unknown> extends WorkerSpec<D> {
  /** Terminated when the registering scope ends, by commit or abort (G3). @default false */
  ephemeral?: boolean;
  /** Its unexpected death (failed or crashed) aborts the registering scope (G4). @default false */
  precious?: boolean;
}

/** Defaults, each with why. */
export const DEFAULT_GRACEFUL_TIMEOUT_MS = 5000; // long enough for a worker to finish a unit of work and clean up
export const DEFAULT_SPARE_WORKERS = 0; // spares cost ~8 MB each: opt in
export const MAX_SPARE_WORKERS = 64; // more spares than this is a configuration mistake, not a speed-up
export const defaultMaxWorkers = (): number => Math.max(16, 4 * availableParallelism());

export interface ResolvedSupervisorOptions {
  maxWorkers: number;
  gracefulTimeoutMs: number;
  spareWorkers: number;
  logger: Logger | false | undefined;
  handleSignals: ResolvedSignals | undefined;
}

/** A validated spec: everything the registrant and the supervisor need, in plain values. */
/** A worker's restart policy (see `WorkerSpec.restart`). */
export interface RestartOptions {
  /** The delay before the first restart, in ms. */
  delayMs: number;
  /** The delay grows to at most this. @default Infinity when `factor` > 1, else `delayMs` */
  maxDelayMs?: number;
  /** Each consecutive restart multiplies the delay by this (>= 1). @default 1 (a constant delay) */
  factor?: number;
  /** More restarts than this within `withinMs` stop the worker for good. @default Infinity */
  maxRestarts?: number;
  /** The intensity window, in ms; a run that lasted this long also resets the delay to `delayMs`. @default 60000 */
  withinMs?: number;
}

/** `withinMs` when not given: a minute, as a window for "restarting too often" and for "ran fine for a while". */
export const DEFAULT_RESTART_WITHIN_MS = 60_000;

export interface ResolvedSpec {
  entry: string; // file: URL href
  entryPath: string;
  name: string | undefined;
  kind: string | undefined;
  labels: Readonly<Record<string, string>>;
  data: unknown;
  restartDelayMs: number; // -1: never
  restartBackoff: RestartBackoff;
  gracefulTimeoutMs: number | undefined;
  resourceLimits: ResourceLimits | undefined;
  runtime: 'thread' | 'process';
  env: Record<string, string> | undefined;
  execArgv: string[] | undefined;
  ephemeral: boolean;
  precious: boolean;
}

const SUPERVISOR_KEYS = ['maxWorkers', 'gracefulTimeoutMs', 'spareWorkers', 'logger', 'handleSignals'] as const;
const SCOPE_KEYS = ['name', 'signal'] as const;
const SPEC_KEYS = ['entry', 'name', 'kind', 'labels', 'data', 'runtime', 'env', 'execArgv', 'restart', 'gracefulTimeoutMs', 'resourceLimits'] as const;
const SCOPED_SPEC_KEYS = [...SPEC_KEYS, 'ephemeral', 'precious'] as const;
const LIMIT_KEYS = ['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

export function validateSupervisorOptions(options: unknown): ResolvedSupervisorOptions {
  const o = bag(options, 'options', 'supervisor', SUPERVISOR_KEYS);
  const logger = o['logger'];
  if (logger !== undefined && logger !== false && !isLogger(logger)) throw invalidOption('logger', 'a pino Logger or false', logger);
  return {
    maxWorkers: int(o['maxWorkers'], 'maxWorkers', 1, MAX_SLOTS) ?? defaultMaxWorkers(),
    gracefulTimeoutMs: graceMs(o['gracefulTimeoutMs'], 'gracefulTimeoutMs') ?? DEFAULT_GRACEFUL_TIMEOUT_MS,
    spareWorkers: int(o['spareWorkers'], 'spareWorkers', 0, MAX_SPARE_WORKERS) ?? DEFAULT_SPARE_WORKERS,
    logger: logger as Logger | false | undefined,
    handleSignals: validateHandleSignals(o['handleSignals']),
  };
}

export function validateScopeOptions(options: unknown): { name: string | undefined; signal: AbortSignal | undefined } {
  const o = bag(options, 'options', 'scope', SCOPE_KEYS);
  const signal = o['signal'];
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidOption('signal', 'an AbortSignal', signal);
  return { name: str(o['name'], 'name'), signal };
}

/** `shutdown()`'s options: its `timeoutMs` (`Infinity` allowed: no cap), else `fallbackMs`. */
export function validateShutdownOptions(options: unknown, fallbackMs: number): number {
  const o = bag(options, 'options', 'shutdown', ['timeoutMs']);
  return graceMs(o['timeoutMs'], 'timeoutMs') ?? fallbackMs;
}

/** Validates a spec. `scoped`: registered in a scope (flags allowed, restart not). */
export function validateSpec(spec: unknown, scoped: boolean): ResolvedSpec {
  const o = bag(spec, 'spec', scoped ? 'scoped worker spec' : 'worker spec', scoped ? SCOPED_SPEC_KEYS : SPEC_KEYS, scoped ? [] : ['ephemeral', 'precious']);
  const { href, path } = entryOf(o['entry']);
  const runtime = o['runtime'] === undefined ? 'thread' : o['runtime'];
  if (runtime !== 'thread' && runtime !== 'process') throw invalidOption('runtime', "'thread' or 'process'", runtime);
  const env = o['env'] === undefined ? undefined : stringRecord(o['env'], 'env');
  const execArgv = o['execArgv'] === undefined ? undefined : stringArray(o['execArgv'], 'execArgv');
  if (runtime === 'thread') {
    // Threads share the registrant's environment and options; a silently ignored env would be a trap.
    if (env !== undefined) throw invalidOption('env', "absent for a thread worker (threads share the registrant's process.env; use runtime: 'process')", o['env']);
    if (execArgv !== undefined) throw invalidOption('execArgv', "absent for a thread worker (use runtime: 'process')", o['execArgv']);
  }
  const ephemeral = bool(o['ephemeral'], 'ephemeral') ?? false;
  const precious = bool(o['precious'], 'precious') ?? false;
  const { delayMs: restartDelayMs, backoff: restartBackoff } = restartOf(o['restart'], scoped);
  // A thread's data is checked by the post of the register request itself (registration.ts); a process's travels
  // on from the supervisor thread over IPC, where a failure would only show as a failed start.
  if (runtime === 'process') sendable(o['data'], 'data', runtime);
  return {
    entry: href,
    entryPath: path,
    name: str(o['name'], 'name'),
    kind: str(o['kind'], 'kind'),
    labels: labelsOf(o['labels']),
    data: o['data'],
    restartDelayMs,
    restartBackoff,
    gracefulTimeoutMs: graceMs(o['gracefulTimeoutMs'], 'gracefulTimeoutMs'),
    resourceLimits: limitsOf(o['resourceLimits']),
    runtime,
    env,
    execArgv,
    ephemeral,
    precious,
  };
}

/** The default worker name: the entry's base name without extension, '#', the id. */
export function defaultName(entryPath: string, id: string): string {
  return `${basename(entryPath, extname(entryPath))}#${id}`;
}

const NO_RESTART: RestartBackoff = Object.freeze({ maxDelayMs: 0, factor: 1, maxRestarts: 0, withinMs: DEFAULT_RESTART_WITHIN_MS });

function restartOf(restart: unknown, scoped: boolean): { delayMs: number; backoff: RestartBackoff } {
  if (restart === undefined || restart === 'never') return { delayMs: -1, backoff: NO_RESTART };
  if (scoped) throw invalidOption('restart', "'never' in a scope (restart is for unscoped, unflagged workers)", restart);
  if (typeof restart !== 'object' || restart === null) throw invalidOption('restart', "'never' or { delayMs, maxDelayMs?, factor?, maxRestarts?, withinMs? }", restart);
  const r = bag(restart, 'restart', 'restart', ['delayMs', 'maxDelayMs', 'factor', 'maxRestarts', 'withinMs']);
  const delayMs = ms(r['delayMs'], 'restart.delayMs', true) ?? 0;
  const factor = r['factor'] === undefined ? 1 : r['factor'];
  if (typeof factor !== 'number' || !Number.isFinite(factor) || factor < 1) throw invalidOption('restart.factor', 'a finite number >= 1', factor);
  const maxDelayMs = r['maxDelayMs'] === undefined ? (factor > 1 ? Infinity : delayMs) : r['maxDelayMs'];
  if (typeof maxDelayMs !== 'number' || Number.isNaN(maxDelayMs) || maxDelayMs < delayMs) throw invalidOption('restart.maxDelayMs', `a number of milliseconds >= delayMs (${delayMs}), or Infinity`, maxDelayMs);
  const maxRestarts = r['maxRestarts'] === undefined ? Infinity : r['maxRestarts'];
  if (typeof maxRestarts !== 'number' || !(maxRestarts === Infinity || (Number.isInteger(maxRestarts) && maxRestarts >= 0))) throw invalidOption('restart.maxRestarts', 'an integer >= 0, or Infinity', maxRestarts);
  const withinMs = r['withinMs'] === undefined ? DEFAULT_RESTART_WITHIN_MS : r['withinMs'];
  if (typeof withinMs !== 'number' || !Number.isFinite(withinMs) || withinMs <= 0) throw invalidOption('restart.withinMs', 'a finite number of milliseconds > 0', withinMs);
  return { delayMs, backoff: { maxDelayMs, factor, maxRestarts, withinMs } };
}

function labelsOf(labels: unknown): Readonly<Record<string, string>> {
  return Object.freeze(labels === undefined ? {} : stringRecord(labels, 'labels'));
}

function limitsOf(limits: unknown): ResourceLimits | undefined {
  if (limits === undefined) return undefined;
  const o = bag(limits, 'resourceLimits', 'resourceLimits', LIMIT_KEYS);
  const out: ResourceLimits = {};
  for (const key of LIMIT_KEYS) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw invalidOption(`resourceLimits.${key}`, 'a finite number > 0', v);
    out[key] = v;
  }
  return out;
}

function isLogger(v: unknown): v is Logger {
  const l = v as Partial<Logger> | null;
  return typeof l === 'object' && l !== null && typeof l.child === 'function' && typeof l.info === 'function' && typeof l.level === 'string';
}
