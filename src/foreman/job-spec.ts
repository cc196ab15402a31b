/**
 * Checks one job as a producer gave it and turns it into what every queue stores: the payload as JSON text, the
 * options as integers. Shared by every queue so that SQLite and PostgreSQL accept and refuse exactly the same input.
 *
 * The payload must survive JSON unchanged: plain objects, arrays, strings, finite numbers, booleans, null, and
 * Dates (stored as their ISO string, which is what a handler then sees). Anything JSON would drop or alter —
 * undefined, functions, symbols, bigint, NaN/Infinity, cycles, Map/Set/class instances, sparse arrays — is an
 * InvalidJobError naming the field (`payload.items[2]`).
 */
import { InvalidJobError } from '../errors.js';
import { DEFAULT_MAX_ATTEMPTS, MAX_PAYLOAD_BYTES, type EnqueueOptions, type JobSpec } from './queue.js';

/** A job ready to store. */
export interface StoredJobSpec {
  readonly name: string;
  readonly payloadText: string;
  /** ms since the epoch. */
  readonly runAt: number;
  readonly priority: number;
  readonly key: string | null;
  readonly maxAttempts: number;
}

const MAX_NAME = 200;
const MAX_KEY = 500;
const INT32 = 2 ** 31;

/** Checks `name`, `payload` and `options` (field names prefixed with `at`, e.g. 'jobs[3].'); throws InvalidJobError. */
export function toStoredJob(name: unknown, payload: unknown, options: unknown, at = '', now = Date.now()): StoredJobSpec {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME) {
    throw new InvalidJobError(`${at}name`, `expected a non-empty string of at most ${MAX_NAME} characters, got ${describe(name)}`);
  }
  if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
    throw new InvalidJobError(`${at}options`, `expected an object, got ${describe(options)}`);
  }
  const o = (options ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!['runAt', 'priority', 'key', 'maxAttempts'].includes(k)) throw new InvalidJobError(`${at}options.${k}`, 'unknown option (runAt, priority, key, maxAttempts)');
  }
  let runAt = now;
  if (o.runAt !== undefined) {
    if (!(o.runAt instanceof Date) || Number.isNaN(o.runAt.getTime())) throw new InvalidJobError(`${at}options.runAt`, `expected a valid Date, got ${describe(o.runAt)}`);
    runAt = o.runAt.getTime();
  }
  let priority = 0;
  if (o.priority !== undefined) {
    if (!Number.isInteger(o.priority) || Math.abs(o.priority as number) >= INT32) throw new InvalidJobError(`${at}options.priority`, `expected an integer in ±2^31, got ${describe(o.priority)}`);
    priority = o.priority as number;
  }
  let key: string | null = null;
  if (o.key !== undefined) {
    if (typeof o.key !== 'string' || o.key.length === 0 || o.key.length > MAX_KEY) throw new InvalidJobError(`${at}options.key`, `expected a non-empty string of at most ${MAX_KEY} characters, got ${describe(o.key)}`);
    key = o.key;
  }
  let maxAttempts = DEFAULT_MAX_ATTEMPTS;
  if (o.maxAttempts !== undefined) {
    if (!Number.isInteger(o.maxAttempts) || (o.maxAttempts as number) < 1 || (o.maxAttempts as number) >= INT32) throw new InvalidJobError(`${at}options.maxAttempts`, `expected an integer ≥ 1, got ${describe(o.maxAttempts)}`);
    maxAttempts = o.maxAttempts as number;
  }
  checkJson(payload === undefined ? null : payload, `${at}payload`, new Set());
  const payloadText = JSON.stringify(payload === undefined ? null : payload);
  if (Buffer.byteLength(payloadText) > MAX_PAYLOAD_BYTES) {
    throw new InvalidJobError(`${at}payload`, `${Buffer.byteLength(payloadText)} bytes as JSON, over the limit of ${MAX_PAYLOAD_BYTES}`);
  }
  return { name, payloadText, runAt, priority, key, maxAttempts };
}

/** Checks a whole `enqueueMany` argument; field names are 'jobs[i].…'. */
export function toStoredJobs(jobs: unknown, now = Date.now()): StoredJobSpec[] {
  if (jobs === null || typeof jobs !== 'object' || typeof (jobs as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new InvalidJobError('jobs', `expected an iterable of { name, payload, ...options }, got ${describe(jobs)}`);
  }
  const out: StoredJobSpec[] = [];
  let i = 0;
  for (const j of jobs as Iterable<unknown>) {
    const at = `jobs[${i++}].`;
    if (j === null || typeof j !== 'object') throw new InvalidJobError(at.slice(0, -1), `expected { name, payload, ...options }, got ${describe(j)}`);
    const { name, payload, ...options } = j as JobSpec & Record<string, unknown>;
    out.push(toStoredJob(name, payload, options satisfies EnqueueOptions, at, now));
  }
  return out;
}

function checkJson(v: unknown, path: string, seen: Set<object>): void {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(v)) throw new InvalidJobError(path, `${v} does not survive JSON`);
      return;
    case 'object':
      break;
    default:
      throw new InvalidJobError(path, `a ${typeof v} does not survive JSON`);
  }
  if (v === null || v instanceof Date) {
    if (v instanceof Date && Number.isNaN(v.getTime())) throw new InvalidJobError(path, 'an invalid Date does not survive JSON');
    return;
  }
  if (seen.has(v)) throw new InvalidJobError(path, 'a cycle does not survive JSON');
  seen.add(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) throw new InvalidJobError(`${path}[${i}]`, 'a hole in a sparse array does not survive JSON');
      checkJson(v[i], `${path}[${i}]`, seen);
    }
  } else {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new InvalidJobError(path, `a ${proto?.constructor?.name ?? 'class'} instance does not survive JSON (plain objects, arrays and Dates only)`);
    }
    if (typeof (v as { toJSON?: unknown }).toJSON === 'function') throw new InvalidJobError(path, 'an object with toJSON does not survive JSON unchanged');
    for (const k of Object.keys(v)) checkJson((v as Record<string, unknown>)[k], `${path}.${k}`, seen);
    if (Object.getOwnPropertySymbols(v).length > 0) throw new InvalidJobError(path, 'symbol keys do not survive JSON');
  }
  seen.delete(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return Array.isArray(v) ? 'an array' : (Object.getPrototypeOf(v)?.constructor?.name ?? 'an object');
  return `${typeof v} ${String(v)}`;
}
