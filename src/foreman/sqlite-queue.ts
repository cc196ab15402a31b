/**
 * SqliteQueue: the embedded Foreman queue, one file on one machine (JobQueue of src/foreman/queue.ts), on
 * better-sqlite3 12 loaded lazily by `open`.
 *
 * States: open → closed. close() (by its user) makes the move: an attached session gives the file up, watchers
 * close, the connection closes; every later call rejects with QueueError. At most one session (attach) at a time.
 *
 * Any number of processes may open the same file and enqueue (WAL: readers do not block the writer; the busy
 * timeout makes writers wait for each other). Only one foreman attaches (sqlite-attach.ts). After a commit that
 * made a job runnable (enqueue, enqueueMany, retry) the queue rings the file's wake-up bell (sqlite-wakeup.ts) and
 * wakes its own session directly.
 *
 * better-sqlite3 is synchronous: every method runs its statements at once and returns a settled promise; a driver
 * error becomes a QueueError with the driver's error as `cause`; bad input an InvalidJobError before the store is
 * touched.
 */
import { resolve } from 'node:path';
import { ForemanRunningError, InvalidJobError, JobFailedError, QueueError } from '../errors.js';
import { reviveError, type SerializedError } from '../shared/protocol.js';
import { toStoredJob, toStoredJobs, type StoredJobSpec } from './job-spec.js';
import type { AttachOptions, DeadJob, DeadReason, EnqueueOptions, JobQueue, JobSpec, QueueSession, QueueStats } from './queue.js';
import { takeOwnership } from './sqlite-attach.js';
import { immediate, openDb, prepared, type Db } from './sqlite-db.js';
import { SqliteSession, toId } from './sqlite-session.js';
import { SQL } from './sqlite-sql.js';
import { SAFETY_POLL_MS, WakeBell } from './sqlite-wakeup.js';

/** Options of {@link SqliteQueue.open}. */
export interface SqliteQueueOptions {
  /**
   * How often an attached foreman also checks for commits of other connections (`PRAGMA data_version`), in case
   * a wake-up file event was lost (ms, an integer ≥ 10).
   * @default 1000
   */
  readonly safetyPollMs?: number;
}

interface DeadRow {
  id: number;
  name: string;
  payload: string;
  attempts: number;
  reason: DeadReason;
  error: string | null;
  died_at: number;
}

/**
 * A job queue in one SQLite file (WAL mode, created if missing). Any process may open it and enqueue; one foreman
 * attaches.
 *
 * @example
 * ```ts
 * // sqlite-enqueue.ts
 * import { SqliteQueue } from 'bgworkers/foreman';
 *
 * const queue = SqliteQueue.open('./jobs.db');
 * try {
 *   const id = await queue.enqueue('thumbnail', { path: 'a.png' }, { priority: 1 });
 *   console.log(id, await queue.stats()); // prints: 1 { queued: 1, running: 0, scheduled: 0, dead: 0 }
 * } finally {
 *   await queue.close();
 * }
 * ```
 */
export class SqliteQueue implements JobQueue {
  /** Always 'sqlite'. */
  readonly kind = 'sqlite';
  /** The queue file's absolute path. */
  readonly location: string;
  #db: Db | undefined;
  readonly #bell: WakeBell;
  #session: SqliteSession | undefined;

  readonly #pollMs: number;

  private constructor(location: string, db: Db, bell: WakeBell, pollMs: number) {
    this.location = location;
    this.#pollMs = pollMs;
    this.#db = db;
    this.#bell = bell;
  }

  /**
   * Opens the queue file at `path`, creating and migrating it if needed. Synchronous.
   * @throws QueueError when better-sqlite3 is not installed or the file cannot be opened.
   */
  static open(path: string, options?: SqliteQueueOptions): SqliteQueue {
    if (typeof path !== 'string' || path.length === 0) throw new InvalidJobError('path', `expected a file path, got ${typeof path}`);
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw new InvalidJobError('options', 'expected an object');
    for (const k of Object.keys(options ?? {})) if (k !== 'safetyPollMs') throw new InvalidJobError(`options.${k}`, 'unknown option (safetyPollMs)');
    const pollMs = options?.safetyPollMs ?? SAFETY_POLL_MS;
    if (!Number.isInteger(pollMs) || pollMs < 10) throw new InvalidJobError('options.safetyPollMs', `expected an integer ≥ 10, got ${String(pollMs)}`);
    const location = resolve(path);
    const db = openDb(location);
    let bell: WakeBell;
    try {
      bell = new WakeBell(location);
    } catch (e) {
      db.close();
      throw new QueueError(`queue ${location}: cannot create its wake-up file`, e);
    }
    return new SqliteQueue(location, db, bell, pollMs);
  }

  enqueue(name: string, payload?: unknown, options?: EnqueueOptions): Promise<string> {
    return this.#run('enqueue', (db) => {
      const job = toStoredJob(name, payload, options);
      const id = insert(db, job, Date.now());
      this.#woke();
      return id;
    });
  }

  enqueueMany(jobs: Iterable<JobSpec>): Promise<string[]> {
    return this.#run('enqueueMany', (db) => {
      const stored = toStoredJobs(jobs);
      if (stored.length === 0) return [];
      const now = Date.now();
      const ids = immediate(db, () => stored.map((j) => insert(db, j, now)));
      this.#woke();
      return ids;
    });
  }

  stats(): Promise<QueueStats> {
    return this.#run('stats', (db) => ({ ...prepared<[object], QueueStats>(db, SQL.stats).get({ now: Date.now() })! }));
  }

  dead(options?: { readonly limit?: number }): Promise<DeadJob[]> {
    return this.#run('dead', (db) => {
      const limit = options?.limit;
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new InvalidJobError('options.limit', `expected an integer ≥ 1, got ${String(limit)}`);
      return prepared<[number], DeadRow>(db, SQL.dead).all(limit ?? -1).map(toDeadJob);
    });
  }

  retry(id: string): Promise<void> {
    return this.#run('retry', (db) => {
      const changed = prepared(db, SQL.retry).run({ id: typeof id === 'string' ? toId(id) : -1, now: Date.now() }).changes;
      if (changed !== 1) throw new QueueError(`queue ${this.location}: no dead job with id ${JSON.stringify(id)}`);
      this.#woke();
    });
  }

  attach(options: AttachOptions): Promise<QueueSession> {
    return this.#run('attach', (db) => {
      if (this.#session) throw new QueueError(`queue ${this.location}: attached already (one session per queue)`);
      const report = takeOwnership(db, this.location, options);
      const session = new SqliteSession(
        { location: this.location, db: (what) => this.#open(what), detached: (s) => this.#session === s && (this.#session = undefined) },
        this.location,
        this.#pollMs,
        options,
        report,
      );
      this.#session = session;
      return session;
    });
  }

  close(): Promise<void> {
    return this.#run('close', (db) => {
      try {
        this.#session?.closeNow(db); // flushes its group commit: needs the connection still open
      } finally {
        this.#db = undefined;
        this.#session = undefined;
        this.#bell.close();
        db.close();
      }
    });
  }

  /** After a commit that made a job runnable: other processes by the bell, our own session directly. */
  #woke(): void {
    this.#bell.ring();
    this.#session?.wake();
  }

  #open(what: string): Db {
    if (!this.#db) throw new QueueError(`queue ${this.location}: ${what} after close`);
    return this.#db;
  }

  #run<T>(what: string, fn: (db: Db) => T): Promise<T> {
    try {
      return Promise.resolve(fn(this.#open(what)));
    } catch (e) {
      const known = e instanceof QueueError || e instanceof InvalidJobError || e instanceof ForemanRunningError;
      return Promise.reject(known ? e : new QueueError(`queue ${this.location}: ${what} failed`, e));
    }
  }
}

function insert(db: Db, job: StoredJobSpec, now: number): string {
  if (job.key === null) return String(prepared<[object]>(db, SQL.insert).run({ ...job, now }).lastInsertRowid);
  return String(prepared<[object], { id: number }>(db, SQL.upsertKeyed).get({ ...job, now })!.id);
}

function toDeadJob(r: DeadRow): DeadJob {
  let payload: unknown;
  try {
    payload = JSON.parse(r.payload);
  } catch {
    payload = r.payload; // DeadJob.payload: the stored text when it does not decode
  }
  let cause: Error;
  try {
    cause = reviveError(JSON.parse(r.error ?? 'null') as SerializedError);
  } catch {
    cause = new Error(r.error ?? 'no error recorded');
  }
  const id = String(r.id);
  return { id, name: r.name, payload, attempts: r.attempts, reason: r.reason, error: new JobFailedError({ id, name: r.name }, r.attempts, cause), diedAt: new Date(r.died_at) };
}
