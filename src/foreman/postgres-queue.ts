/**
 * PostgresQueue: the JobQueue of queue.ts on PostgreSQL through node-postgres (`pg`), for foremen on many machines.
 *
 * Why: SQLite serves one machine and one foreman; PostgreSQL lets any number of foremen share one queue, claiming
 * with `FOR UPDATE SKIP LOCKED` so they never wait on each other, and waking with LISTEN/NOTIFY.
 *
 * States of the queue object: open ──close()──► closed (pool ended, every attached session's link closed; calls
 * then throw QueueError). Job states and the statements that move them: postgres-sql.ts. The foreman's half:
 * postgres-session.ts. Time: BIGINT ms, "now" taken from the database's clock (see postgres-sql.ts).
 *
 * - `pg` is loaded inside connect() only (a dynamic import), so `bgworkers/foreman` works without it for SQLite.
 * - connect() migrates the schema in one transaction under `pg_advisory_xact_lock`: two foremen starting at once
 *   on a new schema serialise, the second finds the migrations applied.
 * - One NOTIFY per enqueue transaction, never per row: enqueueMany is one INSERT … SELECT FROM unnest(…) whose
 *   pg_notify runs once (an InitPlan). With `{ client }` the statement runs in the caller's transaction, so the
 *   job and its NOTIFY both appear exactly at the caller's COMMIT, and neither on ROLLBACK.
 */
import type pg from 'pg';
import { InvalidJobError, JobFailedError, QueueError } from '../errors.js';
import { reviveError, type SerializedError } from '../shared/protocol.js';
import { toStoredJob, toStoredJobs, type StoredJobSpec } from './job-spec.js';
import { isValidSchema, statements } from './postgres-sql.js';
import { PgSession, query, type PgSessionContext } from './postgres-session.js';
import type { AttachOptions, DeadJob, DeadReason, EnqueueOptions, JobQueue, JobSpec, QueueSession, QueueStats } from './queue.js';

/** Connections of the statement pool: a foreman's claims and finishes are short; more only queue on the server. */
const POOL_MAX = 4;
/** Startup options of the pool's connections: see connect(). */
const CLAIM_PLANNER_OPTIONS = '-c enable_bitmapscan=off';
/** dead() lists this many unless told. */
const DEFAULT_DEAD_LIMIT = 100;
/** The schema used unless told. */
export const DEFAULT_PG_SCHEMA = 'bgworkers';

/** Something that runs a statement: a node-postgres Client or PoolClient (on which the caller ran BEGIN). */
export interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Options of PostgresQueue's enqueue: those of every queue, plus the caller's transaction. */
export interface PgEnqueueOptions extends EnqueueOptions {
  /**
   * A node-postgres Client or PoolClient inside a transaction the caller began: the job exists exactly when the
   * caller commits (and its wake-up is sent then).
   * Warning: without BEGIN on it, the job commits at once, like any single statement.
   */
  readonly client?: PgQueryable;
}

/** Options of PostgresQueue.connect. */
export interface PgConnectOptions {
  /** The schema of the queue's tables: lowercase letters, digits, underscores, at most 48 characters. @default 'bgworkers' */
  readonly schema?: string;
}

/**
 * A job queue in a PostgreSQL schema, shared by any number of producers and foremen.
 * @example
 * const queue = await PostgresQueue.connect('postgres://app@db/app', { schema: 'bgworkers' });
 * await queue.enqueue('thumbnail', { path: '/x.png' });
 */
export class PostgresQueue implements JobQueue {
  readonly kind = 'postgres';
  readonly location: string;
  readonly #ctx: PgSessionContext;
  readonly #sessions = new Set<PgSession>();
  #closed = false;

  private constructor(ctx: PgSessionContext) {
    this.#ctx = ctx;
    this.location = ctx.location;
  }

  /** Connects to `url` (postgres:// or postgresql://), creating or migrating the schema; QueueError if that fails. */
  static async connect(url: string, options: PgConnectOptions = {}): Promise<PostgresQueue> {
    if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) {
      throw new QueueError(`postgres queue: Expected \`url\` to be a postgres:// URL, got \`${typeof url === 'string' ? url.replace(/:[^:@/]*@/, ':***@') : String(url)}\` (${typeof url})`);
    }
    if (typeof options !== 'object' || options === null) throw new QueueError(`postgres queue: Expected \`options\` to be an object, got \`${String(options)}\``);
    const schema = options.schema ?? DEFAULT_PG_SCHEMA;
    if (!isValidSchema(schema)) {
      throw new QueueError(`postgres queue: Expected \`schema\` to be lowercase letters, digits and underscores (at most 48, not starting with a digit), got \`${String(schema)}\``);
    }
    const location = withoutPassword(url);
    const pgModule = await loadPg();
    const config: pg.ClientConfig = { connectionString: url };
    // The pool runs only this queue's statements. Without fresh statistics (a queue just filled) the planner picks a
    // bitmap scan for the claim and sorts every queued row on each claim (measured: ~750 claims+completes/s at
    // 100k queued); the ordered partial index (jobs_runnable) with LIMIT reads only the rows it claims.
    const pool = new pgModule.Pool({ ...config, max: POOL_MAX, options: CLAIM_PLANNER_OPTIONS });
    // An idle pooled client whose connection drops emits 'error' on the pool; the pool discards it and the next
    // statement gets a fresh connection (and reports its own error), so there is nothing else to do here.
    pool.on('error', () => undefined);
    const ctx: PgSessionContext = { pg: pgModule, config, pool, sql: statements(schema), location };
    try {
      await migrate(ctx);
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw e instanceof QueueError ? e : new QueueError(`postgres queue ${location}: migrating schema ${schema} failed`, e);
    }
    return new PostgresQueue(ctx);
  }

  /** Enqueues one job; with `options.client`, inside that client's transaction. */
  async enqueue(name: string, payload?: unknown, options?: PgEnqueueOptions): Promise<string> {
    this.#check();
    let client: PgQueryable | undefined;
    let rest: unknown = options;
    if (typeof options === 'object' && options !== null && !Array.isArray(options) && 'client' in options) {
      ({ client, ...rest } = options);
      if (client !== undefined && (typeof client !== 'object' || client === null || typeof client.query !== 'function')) {
        throw new InvalidJobError('options.client', 'expected a node-postgres Client or PoolClient');
      }
    }
    const job = toStoredJob(name, payload, rest);
    const [id] = await this.#insert([job], client);
    return id!;
  }

  async enqueueMany(jobs: Iterable<JobSpec>): Promise<string[]> {
    this.#check();
    return this.#insert(toStoredJobs(jobs));
  }

  async stats(): Promise<QueueStats> {
    this.#check();
    const { rows } = await query<QueueStats>(this.#ctx, 'stats', this.#ctx.sql.stats, []);
    const r = rows[0]!;
    return { queued: r.queued, running: r.running, scheduled: r.scheduled, dead: r.dead };
  }

  async dead(options: { readonly limit?: number } = {}): Promise<DeadJob[]> {
    this.#check();
    const limit = options.limit ?? DEFAULT_DEAD_LIMIT;
    if (!Number.isInteger(limit) || limit < 1) throw new QueueError(`postgres queue: Expected \`limit\` to be an integer >= 1, got \`${String(limit)}\``);
    type Row = { id: string; name: string; payload: string; attempts: number; reason: DeadReason; error: string | null; died_at: string };
    const { rows } = await query<Row>(this.#ctx, 'dead', this.#ctx.sql.dead, [limit]);
    return rows.map((r) => ({
      id: r.id, name: r.name, payload: decode(r.payload), attempts: r.attempts, reason: r.reason,
      error: new JobFailedError(r, r.attempts, reviveStored(r.error)), diedAt: new Date(Number(r.died_at)),
    }));
  }

  async retry(id: string): Promise<void> {
    this.#check();
    const found = typeof id === 'string' && /^[1-9][0-9]{0,18}$/.test(id)
      ? (await query(this.#ctx, 'retry', this.#ctx.sql.retry, [id])).rowCount === 1
      : false;
    if (!found) throw new QueueError(`postgres queue ${this.location}: no dead job with id ${String(id)}`);
  }

  async attach(options: AttachOptions): Promise<QueueSession> {
    this.#check();
    // The queue detaches what is still attached when it closes; a session leaves that set when it detaches.
    const session = await PgSession.attach(this.#ctx, options, (s) => this.#sessions.delete(s));
    this.#sessions.add(session);
    return session;
  }

  /** Detaches every session still attached and ends the pool; QueueError when already closed. */
  async close(): Promise<void> {
    this.#check();
    this.#closed = true;
    const errors: unknown[] = [];
    for (const s of [...this.#sessions]) await s.detach().catch((e: unknown) => errors.push(e));
    await this.#ctx.pool.end().catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw new QueueError(`postgres queue ${this.location}: close failed`, errors.length === 1 ? errors[0] : new AggregateError(errors));
  }

  #check(): void {
    if (this.#closed) throw new QueueError(`postgres queue ${this.location}: closed`);
  }

  /** One INSERT for all of `jobs`; keys repeated within the batch collapse to their last job, as dedupe would. */
  async #insert(jobs: readonly StoredJobSpec[], client?: PgQueryable): Promise<string[]> {
    if (jobs.length === 0) return [];
    const lastOfKey = new Map<string, number>();
    jobs.forEach((j, i) => { if (j.key !== null) lastOfKey.set(j.key, i); });
    const rows: StoredJobSpec[] = [];
    const rowOf: number[] = [];
    const rowOfIndex = new Map<number, number>();
    jobs.forEach((j, i) => {
      if (j.key === null || lastOfKey.get(j.key) === i) {
        rowOfIndex.set(i, rows.length);
        rows.push(j);
      }
    });
    jobs.forEach((j, i) => rowOf.push(rowOfIndex.get(j.key === null ? i : lastOfKey.get(j.key)!)!));
    const values = [rows.map((r) => r.name), rows.map((r) => r.payloadText), rows.map((r) => r.runAt), rows.map((r) => r.priority), rows.map((r) => r.key), rows.map((r) => r.maxAttempts)];
    let result: { rows: unknown[] };
    if (client) {
      try {
        result = await client.query(this.#ctx.sql.insertMany, values);
      } catch (e) {
        throw new QueueError(`postgres queue ${this.location}: enqueue in the caller's transaction failed`, e);
      }
    } else {
      result = await query(this.#ctx, 'enqueue', this.#ctx.sql.insertMany, values);
    }
    const ids = (result.rows as { id: string }[]).map((r) => r.id);
    if (ids.length !== rows.length) throw new QueueError(`postgres queue ${this.location}: enqueue returned ${ids.length} ids for ${rows.length} jobs`);
    return rowOf.map((r) => ids[r]!);
  }
}

/** Applies the missing migrations in one transaction under an advisory lock (two connects at once serialise). */
async function migrate(ctx: PgSessionContext): Promise<void> {
  const { sql } = ctx;
  let client: pg.PoolClient;
  try {
    client = await ctx.pool.connect();
  } catch (e) {
    throw new QueueError(`postgres queue ${ctx.location}: cannot connect`, e);
  }
  try {
    await client.query('BEGIN');
    await client.query(sql.migrateLock, [`bgworkers:migrate:${sql.schema}`]);
    for (const s of sql.migrateSetup) await client.query(s);
    const applied = new Set((await client.query<{ version: number }>(sql.appliedVersions)).rows.map((r) => r.version));
    for (const [i, m] of sql.migrations.entries()) {
      if (applied.has(i + 1)) continue;
      await client.query(m);
      await client.query(sql.recordVersion, [i + 1]);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new QueueError(`postgres queue ${ctx.location}: migrating schema ${sql.schema} failed`, e);
  } finally {
    client.release();
  }
}

/** `pg`, loaded on first use; QueueError saying how to install it when it is missing. */
async function loadPg(): Promise<typeof pg> {
  try {
    return (await import('pg')).default;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new QueueError('postgres queue: the pg package is not installed (npm install pg)', e);
    }
    throw new QueueError('postgres queue: loading pg failed', e);
  }
}

function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '';
    return u.toString();
  } catch {
    // Not parseable as a WHATWG URL (pg accepts some such strings): strip what looks like a password.
    return url.replace(/:[^:@/]*@/, '@');
  }
}

function decode(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function reviveStored(text: string | null): Error {
  if (text === null) return new Error('no error recorded');
  try {
    return reviveError(JSON.parse(text) as SerializedError);
  } catch {
    return new Error(text);
  }
}
