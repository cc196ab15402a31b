/**
 * Pool options and their validation (same template as options.ts).
 */
import { basename, extname } from 'node:path';
import type { ResourceLimits } from 'node:worker_threads';
import { invalidOption } from '../errors.js';
import { bag, bool, entryOf, int, str } from '../validate.js';
import { MAX_SLOTS } from '../shared/layout.js';

/** Options of `scope.pool()`. */
export interface PoolOptions {
  /** Path or file: URL of a module whose default export is the task function (see `defineTask`). */
  entry: string | URL;
  /** Workers at most; each holds one of the supervisor's slots. An integer from 1 to 4096. */
  maxWorkers: number;
  /**
   * Workers started with the pool; the rest start when work queues up and a slot is free. Creating the pool
   * throws WorkerCapacityError if these cannot all get a slot (nothing is left registered). @default maxWorkers
   */
  minWorkers?: number;
  /** @default 'thread' */
  runtime?: 'thread' | 'process';
  /** A pool worker's unexpected death (not a task that throws) aborts the scope (G4). @default true */
  precious?: boolean;
  resourceLimits?: ResourceLimits;
  /** Names the pool in errors, logs and worker names. @default 'pool-' + the entry's base name */
  name?: string;
  /** @default 'pool' */
  kind?: string;
  /** Added to every pool worker's labels, with `pool: name`. */
  labels?: Readonly<Record<string, string>>;
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
}

const POOL_KEYS = ['entry', 'maxWorkers', 'minWorkers', 'runtime', 'precious', 'resourceLimits', 'name', 'kind', 'labels'] as const;

export function validatePoolOptions(options: unknown): ResolvedPoolOptions {
  const o = bag(options, 'options', 'pool', POOL_KEYS);
  const { href, path } = entryOf(o['entry']);
  const maxWorkers = int(o['maxWorkers'], 'maxWorkers', 1, MAX_SLOTS);
  if (maxWorkers === undefined) throw invalidOption('maxWorkers', 'an integer from 1 to 4096 (it is required)', undefined);
  const minWorkers = int(o['minWorkers'], 'minWorkers', 0, maxWorkers) ?? maxWorkers;
  const runtime = o['runtime'] === undefined ? 'thread' : o['runtime'];
  if (runtime !== 'thread' && runtime !== 'process') throw invalidOption('runtime', "'thread' or 'process'", runtime);
  const name = str(o['name'], 'name') ?? `pool-${basename(path, extname(path))}`;
  const labels = o['labels'];
  if (labels !== undefined && (typeof labels !== 'object' || labels === null)) throw invalidOption('labels', 'an object of strings', labels);
  return {
    entry: href,
    maxWorkers,
    minWorkers,
    runtime,
    precious: bool(o['precious'], 'precious') ?? true,
    // Checked in full when the workers are registered (validateSpec); kept as given here.
    resourceLimits: o['resourceLimits'] as ResourceLimits | undefined,
    name,
    kind: str(o['kind'], 'kind') ?? 'pool',
    labels: { ...(labels as Record<string, string> | undefined), pool: name },
  };
}

export function validateMapOptions(options: unknown): { concurrency: number } {
  const o = bag(options, 'options', 'map', ['concurrency']);
  return { concurrency: int(o['concurrency'], 'concurrency', 1, Number.MAX_SAFE_INTEGER) ?? Number.MAX_SAFE_INTEGER };
}

export function validateRunOptions(options: unknown): { signal: AbortSignal | undefined } {
  const o = bag(options, 'options', 'run', ['signal']);
  const signal = o['signal'];
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidOption('signal', 'an AbortSignal', signal);
  return { signal };
}
