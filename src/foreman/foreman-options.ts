/**
 * Foreman.start()'s options and their validation: every option is checked before anything is attached or started,
 * and a bad one throws InvalidWorkerSpecError naming it (the rules of validate.ts). No state.
 */
import type { Logger } from 'pino';
import { invalidOption } from '../errors.js';
import { bag, bool, entryOf, int, ms } from '../validate.js';
import type { Supervisor } from '../registrant/client.js';
import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_MAX_BACKOFF_MS, type BackoffOptions } from './backoff.js';
import type { Delivery, JobQueue } from './queue.js';

/** Options of `Foreman.start()`. */
export interface ForemanOptions {
  /** The queue to take jobs from (SqliteQueue.open, PostgresQueue.connect). */
  readonly queue: JobQueue;
  /** Path or file: URL of the handlers module: its default export is `defineJobs({...})`. */
  readonly handlers: string | URL;
  /** Jobs run at once (pool workers at most). An integer from 1 to 4096. @default 4 */
  readonly concurrency?: number;
  /** @default 'at-least-once' */
  readonly delivery?: Delivery;
  /** at-least-once: a claim expires this long after its last renewal (ms, ≥ 30); renewed every leaseMs/3. @default 30000 */
  readonly leaseMs?: number;
  /** stop(): how long running jobs may go on before they are terminated (ms). @default 10000 */
  readonly gracefulTimeoutMs?: number;
  /** Whose workers run the jobs. @default a Supervisor of its own, shut down by stop() */
  readonly supervisor?: Supervisor;
  /** SIGINT/SIGTERM → stop(); the handlers are removed at stop. @default false */
  readonly handleSignals?: boolean;
  /** Jobs claimed per query at most. An integer from 1 to 10000. @default 64 */
  readonly batchSize?: number;
  /** @default 'thread' */
  readonly runtime?: 'thread' | 'process';
  /** A job running longer is aborted and its attempt fails: one value for all, or per job name. @default none */
  readonly timeoutMs?: number | Readonly<Record<string, number>>;
  /** Retry backoff of failed attempts. */
  readonly backoff?: BackoffOptions;
  /** Where the Foreman logs (lost jobs, store errors, take-overs). `false`: nowhere. @default a pino logger at 'warn' on stderr */
  readonly logger?: Logger | false;
  /** How long a job that ignores its aborted signal may go on before its worker is stopped (ms). @default 500 */
  readonly abortGraceMs?: number;
}

/** The options resolved. */
export interface ResolvedForemanOptions {
  readonly queue: JobQueue;
  readonly handlers: string;
  readonly concurrency: number;
  readonly delivery: Delivery;
  readonly leaseMs: number;
  readonly gracefulTimeoutMs: number;
  readonly supervisor: Supervisor | undefined;
  readonly handleSignals: boolean;
  readonly batchSize: number;
  readonly runtime: 'thread' | 'process';
  readonly timeoutMs: number | Readonly<Record<string, number>> | undefined;
  readonly backoffBaseMs: number;
  readonly maxBackoffMs: number;
  readonly logger: Logger | false | undefined;
  readonly abortGraceMs: number;
}

const KEYS = [
  'queue', 'handlers', 'concurrency', 'delivery', 'leaseMs', 'gracefulTimeoutMs', 'supervisor', 'handleSignals', 'batchSize', 'runtime',
  'timeoutMs', 'backoff', 'logger', 'abortGraceMs',
] as const;

/** Default jobs at once. */
export const DEFAULT_CONCURRENCY = 4;
/** Default lease of an at-least-once claim. */
export const DEFAULT_LEASE_MS = 30_000;
/** Default grace of running jobs at stop(). */
export const DEFAULT_FOREMAN_GRACE_MS = 10_000;
/** Default jobs per claim. */
export const DEFAULT_BATCH_SIZE = 64;

/** Checks every option of Foreman.start(); throws InvalidWorkerSpecError naming the first bad one. */
export function validateForemanOptions(options: unknown): ResolvedForemanOptions {
  if (options === undefined) throw invalidOption('options', 'an object with `queue` and `handlers`', options);
  const o = bag(options, 'options', 'Foreman.start', KEYS);
  const queue = o['queue'] as JobQueue | undefined;
  if (typeof queue !== 'object' || queue === null || typeof queue.attach !== 'function') throw invalidOption('queue', 'a job queue (SqliteQueue.open, PostgresQueue.connect)', queue);
  if (o['handlers'] === undefined) throw invalidOption('handlers', 'a path or file: URL of a handlers module (it is required)', undefined);
  const { href } = entryOf(o['handlers'], 'handlers');
  const delivery = o['delivery'] ?? 'at-least-once';
  if (delivery !== 'at-least-once' && delivery !== 'at-most-once') throw invalidOption('delivery', "'at-least-once' or 'at-most-once'", delivery);
  const runtime = o['runtime'] ?? 'thread';
  if (runtime !== 'thread' && runtime !== 'process') throw invalidOption('runtime', "'thread' or 'process'", runtime);
  const leaseMs = ms(o['leaseMs'], 'leaseMs') ?? DEFAULT_LEASE_MS;
  if (leaseMs < 30) throw invalidOption('leaseMs', 'a number of milliseconds >= 30', leaseMs);
  const supervisor = o['supervisor'];
  if (supervisor !== undefined && (typeof supervisor !== 'object' || supervisor === null || typeof (supervisor as Supervisor).scope !== 'function')) {
    throw invalidOption('supervisor', 'a Supervisor', supervisor);
  }
  const backoff = bag(o['backoff'] ?? {}, 'backoff', 'Foreman.start', ['baseMs', 'maxBackoffMs']);
  const logger = o['logger'];
  if (logger !== undefined && logger !== false && (typeof logger !== 'object' || logger === null || typeof (logger as Logger).warn !== 'function')) {
    throw invalidOption('logger', 'a pino Logger or false', logger);
  }
  return {
    queue,
    handlers: href,
    concurrency: int(o['concurrency'], 'concurrency', 1, 4096) ?? DEFAULT_CONCURRENCY,
    delivery,
    leaseMs,
    gracefulTimeoutMs: ms(o['gracefulTimeoutMs'], 'gracefulTimeoutMs') ?? DEFAULT_FOREMAN_GRACE_MS,
    supervisor: supervisor as Supervisor | undefined,
    handleSignals: bool(o['handleSignals'], 'handleSignals') ?? false,
    batchSize: int(o['batchSize'], 'batchSize', 1, 10_000) ?? DEFAULT_BATCH_SIZE,
    runtime,
    timeoutMs: timeouts(o['timeoutMs']),
    backoffBaseMs: ms(backoff['baseMs'], 'backoff.baseMs') ?? DEFAULT_BACKOFF_BASE_MS,
    maxBackoffMs: ms(backoff['maxBackoffMs'], 'backoff.maxBackoffMs') ?? DEFAULT_MAX_BACKOFF_MS,
    logger: logger as Logger | false | undefined,
    abortGraceMs: ms(o['abortGraceMs'], 'abortGraceMs') ?? 500,
  };
}

function timeouts(v: unknown): number | Readonly<Record<string, number>> | undefined {
  if (v === undefined || typeof v === 'number') return positive(v, 'timeoutMs');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalidOption('timeoutMs', 'a number of milliseconds > 0, or an object of them per job name', v);
  const out: Record<string, number> = {};
  for (const [name, t] of Object.entries(v)) out[name] = positive(t, `timeoutMs.${name}`)!;
  return Object.freeze(out);
}

function positive(v: unknown, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw invalidOption(field, 'a finite number of milliseconds > 0', v);
  return v;
}
