/**
 * The foreman's half of a SQLite queue (QueueSession of src/foreman/queue.ts): claims, finishing calls with
 * fencing, lease renewal, wake-ups. Made only by `SqliteQueue.attach` after takeOwnership (sqlite-attach.ts).
 *
 * States: attached → detached. detach() (by the foreman) or the queue's close() makes the move: the owner row is
 * deactivated if still ours, the wake watcher closed; every later call rejects with QueueError.
 *
 * claim and nextRunAt are one statement each, run at once (better-sqlite3 is synchronous: the promise is settled
 * with the result). The finishing calls (complete, fail, release, renew) are one statement each too, but run in
 * a group commit with the others of the same event-loop turn (sqlite-group-commit.ts): each settles after its
 * group committed. A driver error becomes a QueueError with it as cause.
 */
import { QueueError } from '../errors.js';
import type { SerializedError } from '../shared/protocol.js';
import type { AttachOptions, AttachReport, ClaimedJob, ClaimRef, DeadReason, QueueSession } from './queue.js';
import { giveUpOwnership } from './sqlite-attach.js';
import { GroupCommit } from './sqlite-group-commit.js';
import { prepared, type Db } from './sqlite-db.js';
import { SQL } from './sqlite-sql.js';
import { WakeWatcher } from './sqlite-wakeup.js';

/** What a session needs of its queue. */
export interface SessionHost {
  readonly location: string;
  /** The open connection, or a QueueError when the queue is closed. */
  db(what: string): Db;
  /** Called once when the session detaches. */
  detached(session: SqliteSession): void;
}

interface ClaimRow {
  id: number;
  name: string;
  payload: string;
  attempts: number;
  max_attempts: number;
  fence: number;
  enqueued_at: number;
  priority: number;
  run_at: number;
}

/** A SQLite queue attached by one foreman. */
export class SqliteSession implements QueueSession {
  readonly report: AttachReport;
  readonly #host: SessionHost;
  readonly #options: AttachOptions;
  readonly #watcher: WakeWatcher;
  readonly #group: GroupCommit;
  #attached = true;

  constructor(host: SessionHost, path: string, pollMs: number, options: AttachOptions, report: AttachReport) {
    this.#host = host;
    this.#options = options;
    this.report = report;
    this.#watcher = new WakeWatcher(path, host.db('attach'), pollMs);
    this.#group = new GroupCommit(host.location, (what) => host.db(what));
  }

  /** The queue's own enqueue/retry on this connection: data_version does not see it, so it wakes us directly. */
  wake(): void {
    this.#watcher.notify();
  }

  claim(limit: number): Promise<ClaimedJob[]> {
    return this.#run('claim', (db) => {
      if (!Number.isInteger(limit) || limit < 1) throw new QueueError(`claim: limit must be an integer ≥ 1, got ${String(limit)}`);
      const now = Date.now();
      const rows = prepared<[object], ClaimRow>(db, SQL.claim).all({
        owner: this.#options.owner.id,
        delivery: this.#options.delivery,
        lease: this.#options.delivery === 'at-least-once' ? now + this.#options.leaseMs : null,
        now,
        limit,
      });
      rows.sort((a, b) => b.priority - a.priority || a.run_at - b.run_at || a.id - b.id);
      return rows.map((r) => ({
        id: String(r.id),
        name: r.name,
        payloadText: r.payload,
        attempt: r.attempts,
        maxAttempts: r.max_attempts,
        fence: r.fence,
        enqueuedAt: new Date(r.enqueued_at),
      }));
    });
  }

  complete(job: ClaimRef): Promise<boolean> {
    return this.#grouped('complete', (db) => prepared(db, SQL.complete).run(toId(job.id), job.fence).changes === 1);
  }

  fail(job: ClaimRef, error: SerializedError, retryAt: Date | null, reason: DeadReason): Promise<boolean> {
    const retry = retryAt === null ? null : retryAt.getTime();
    if (retry !== null && !Number.isFinite(retry)) return Promise.reject(new QueueError(`queue ${this.#host.location}: fail: retryAt is an invalid Date`));
    const errorText = JSON.stringify(error);
    return this.#grouped('fail', (db) => prepared(db, SQL.fail).run({ id: toId(job.id), fence: job.fence, retryAt: retry, error: errorText, reason, now: Date.now() }).changes === 1);
  }

  release(job: ClaimRef): Promise<boolean> {
    return this.#grouped('release', (db) => prepared(db, SQL.release).run({ id: toId(job.id), fence: job.fence, now: Date.now() }).changes === 1);
  }

  renew(jobs: readonly ClaimRef[]): Promise<void> {
    const refs = jobs.map((j) => ({ id: toId(j.id), fence: j.fence }));
    return this.#grouped('renew', (db) => {
      const lease = Date.now() + this.#options.leaseMs;
      const stmt = prepared(db, SQL.renew);
      for (const j of refs) stmt.run({ ...j, lease });
    });
  }

  nextRunAt(): Promise<Date | null> {
    return this.#run('nextRunAt', (db) => {
      const t = prepared<[], { t: number | null }>(db, SQL.nextRunAt).get()!.t;
      return t === null ? null : new Date(t);
    });
  }

  onWakeup(listener: () => void): () => void {
    if (!this.#attached) throw new QueueError(`queue ${this.#host.location}: onWakeup after detach`);
    return this.#watcher.add(listener);
  }

  detach(): Promise<void> {
    if (!this.#attached) return Promise.resolve();
    return this.#run('detach', (db) => {
      this.#group.flush('detach');
      this.#attached = false;
      this.#watcher.close();
      this.#host.detached(this);
      giveUpOwnership(db, this.#options.owner.id);
    });
  }

  /** The queue is closing: give the file up while the connection is still open. */
  closeNow(db: Db): void {
    if (!this.#attached) return;
    this.#group.flush('close');
    this.#attached = false;
    this.#watcher.close();
    giveUpOwnership(db, this.#options.owner.id);
  }

  /** A finishing call: run in the next group commit (sqlite-group-commit.ts). */
  #grouped<T>(what: string, fn: (db: Db) => T): Promise<T> {
    if (!this.#attached) return Promise.reject(new QueueError(`queue ${this.#host.location}: ${what} after detach`));
    return this.#group.add(what, fn);
  }

  #run<T>(what: string, fn: (db: Db) => T): Promise<T> {
    try {
      if (!this.#attached) throw new QueueError(`queue ${this.#host.location}: ${what} after detach`);
      return Promise.resolve(fn(this.#host.db(what)));
    } catch (e) {
      return Promise.reject(e instanceof QueueError ? e : new QueueError(`queue ${this.#host.location}: ${what} failed`, e));
    }
  }
}

/** A job id as the store keys it (the integer rowid); a malformed id matches nothing. */
export function toId(id: string): number {
  return /^\d{1,15}$/.test(id) ? Number(id) : -1;
}
