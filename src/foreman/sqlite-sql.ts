/**
 * Every SQL text of the SQLite queue, in one file (STYLE 17): the numbered, append-only migrations and the
 * statements that move a job between its states (src/foreman/queue.ts has the state diagram and who moves what).
 *
 * Tables:
 * - `bgworkers_migrations(version, applied_at)`: one row per applied migration; a migration runs in its own
 *   `BEGIN IMMEDIATE` transaction that first re-reads the highest version, so two processes opening a new file at
 *   once apply each migration exactly once (the second waits on the write lock, then sees it done).
 * - `bgworkers_jobs`: one row per job. `state` is 'queued' | 'running' | 'dead' (complete deletes the row).
 *   `attempts` counts claims not released; `fence` is incremented by every claim; `owner` and `lease_expires_at`
 *   are set while running; `error`, `reason`, `died_at` while dead.
 * - `bgworkers_owners`: every foreman run that may still hold claims, by (id, pid, start_time, host). At most one
 *   row has `active = 1`: the foreman that holds the file now. detach() clears `active`; a row whose foreman is gone
 *   and holds no running job is deleted at the next attach.
 *
 * Invariants:
 * 1. At most one queued job per key (partial unique index). A job that goes back to queued (release, fail with a
 *    retry, takeover, retry(id)) while a newer queued job holds its key loses its key (`keepKeyUnlessTaken`):
 *    both run, none is lost.
 * 2. An at-most-once running job is never made queued again: release and renew match only at-least-once claims;
 *    a takeover moves them to dead ('lost').
 * 3. Finishing statements match `id = ? AND fence = ? AND state = 'running'`: a stale claim changes nothing.
 */

/** Migrations by version (1-based, append-only: never edit one that shipped). */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE bgworkers_jobs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'dead')),
    run_at INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    key TEXT,
    max_attempts INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    fence INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    delivery TEXT,
    lease_expires_at INTEGER,
    enqueued_at INTEGER NOT NULL,
    error TEXT,
    reason TEXT,
    died_at INTEGER
  );
  CREATE INDEX bgworkers_jobs_claim ON bgworkers_jobs (priority DESC, run_at, id) WHERE state = 'queued';
  CREATE INDEX bgworkers_jobs_run_at ON bgworkers_jobs (run_at) WHERE state = 'queued';
  CREATE UNIQUE INDEX bgworkers_jobs_key ON bgworkers_jobs (key) WHERE state = 'queued' AND key IS NOT NULL;
  CREATE INDEX bgworkers_jobs_owner ON bgworkers_jobs (owner) WHERE state = 'running';
  CREATE INDEX bgworkers_jobs_dead ON bgworkers_jobs (died_at DESC, id DESC) WHERE state = 'dead';
  CREATE TABLE bgworkers_owners (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    host TEXT NOT NULL,
    attached_at INTEGER NOT NULL,
    active INTEGER NOT NULL CHECK (active IN (0, 1))
  );
  CREATE UNIQUE INDEX bgworkers_owners_active ON bgworkers_owners (active) WHERE active = 1;
  `,
];

export const SQL = {
  migrationsTable: `CREATE TABLE IF NOT EXISTS bgworkers_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
  migrationVersion: `SELECT COALESCE(MAX(version), 0) AS v FROM bgworkers_migrations`,
  recordMigration: `INSERT INTO bgworkers_migrations (version, applied_at) VALUES (?, ?)`,

  insert: `INSERT INTO bgworkers_jobs (name, payload, state, run_at, priority, key, max_attempts, enqueued_at)
           VALUES (@name, @payloadText, 'queued', @runAt, @priority, NULL, @maxAttempts, @now)`,
  /** Invariant 1: a queued job with this key is replaced (payload and options), keeping its id and attempts. */
  upsertKeyed: `INSERT INTO bgworkers_jobs (name, payload, state, run_at, priority, key, max_attempts, enqueued_at)
           VALUES (@name, @payloadText, 'queued', @runAt, @priority, @key, @maxAttempts, @now)
           ON CONFLICT (key) WHERE state = 'queued' AND key IS NOT NULL DO UPDATE SET
             name = excluded.name, payload = excluded.payload, run_at = excluded.run_at,
             priority = excluded.priority, max_attempts = excluded.max_attempts
           RETURNING id`,

  /** The claim: runnable now, by priority DESC, run_at, id; RETURNING order is unspecified, so the caller sorts. */
  claim: `UPDATE bgworkers_jobs SET state = 'running', owner = @owner, delivery = @delivery,
            lease_expires_at = @lease, fence = fence + 1, attempts = attempts + 1
          WHERE id IN (SELECT id FROM bgworkers_jobs WHERE state = 'queued' AND run_at <= @now
                       ORDER BY priority DESC, run_at, id LIMIT @limit)
          RETURNING id, name, payload, attempts, max_attempts, fence, enqueued_at, priority, run_at`,
  complete: `DELETE FROM bgworkers_jobs WHERE id = ? AND fence = ? AND state = 'running'`,
  /** Dead when `retryAt` is null or no attempts are left; else queued again at `retryAt` (invariant 1 on its key). */
  fail: `UPDATE bgworkers_jobs SET
           state = CASE WHEN @retryAt IS NULL OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
           run_at = CASE WHEN @retryAt IS NULL OR attempts >= max_attempts THEN run_at ELSE @retryAt END,
           error = CASE WHEN @retryAt IS NULL OR attempts >= max_attempts THEN @error ELSE error END,
           reason = CASE WHEN @retryAt IS NULL OR attempts >= max_attempts THEN @reason ELSE NULL END,
           died_at = CASE WHEN @retryAt IS NULL OR attempts >= max_attempts THEN @now ELSE NULL END,
           key = CASE WHEN @retryAt IS NULL OR attempts >= max_attempts THEN key ELSE ${keepKeyUnlessTaken()} END,
           owner = NULL, lease_expires_at = NULL
         WHERE id = @id AND fence = @fence AND state = 'running'`,
  /** Invariant 2: only at-least-once claims are released; the attempt is not counted. */
  release: `UPDATE bgworkers_jobs SET state = 'queued', run_at = @now, attempts = attempts - 1,
              owner = NULL, lease_expires_at = NULL, key = ${keepKeyUnlessTaken()}
            WHERE id = @id AND fence = @fence AND state = 'running' AND delivery = 'at-least-once'`,
  renew: `UPDATE bgworkers_jobs SET lease_expires_at = @lease
          WHERE id = @id AND fence = @fence AND state = 'running' AND delivery = 'at-least-once'`,
  nextRunAt: `SELECT MIN(run_at) AS t FROM bgworkers_jobs WHERE state = 'queued'`,

  stats: `SELECT
            COALESCE(SUM(state = 'queued' AND run_at <= @now), 0) AS queued,
            COALESCE(SUM(state = 'running'), 0) AS running,
            COALESCE(SUM(state = 'queued' AND run_at > @now), 0) AS scheduled,
            COALESCE(SUM(state = 'dead'), 0) AS dead
          FROM bgworkers_jobs`,
  dead: `SELECT id, name, payload, attempts, reason, error, died_at FROM bgworkers_jobs WHERE state = 'dead'
         ORDER BY died_at DESC, id DESC LIMIT ?`,
  retry: `UPDATE bgworkers_jobs SET state = 'queued', run_at = @now, attempts = 0, error = NULL, reason = NULL,
            died_at = NULL, owner = NULL, delivery = NULL, lease_expires_at = NULL, key = ${keepKeyUnlessTaken()}
          WHERE id = @id AND state = 'dead'`,

  activeOwner: `SELECT id, pid, start_time, host FROM bgworkers_owners WHERE active = 1`,
  owner: `SELECT id, pid, start_time, host FROM bgworkers_owners WHERE id = ?`,
  ownersOfRunning: `SELECT DISTINCT owner FROM bgworkers_jobs WHERE state = 'running'`,
  runningOf: `SELECT id, name, delivery, lease_expires_at FROM bgworkers_jobs WHERE state = 'running' AND owner IS ?`,
  /** A takeover's release of one at-least-once job: queued now, fence unchanged until the next claim. */
  takeBack: `UPDATE bgworkers_jobs SET state = 'queued', run_at = @now, attempts = attempts - 1, owner = NULL,
               lease_expires_at = NULL, key = ${keepKeyUnlessTaken()}
             WHERE id = @id AND state = 'running'`,
  lose: `UPDATE bgworkers_jobs SET state = 'dead', reason = 'lost', error = @error, died_at = @now, owner = NULL,
           lease_expires_at = NULL
         WHERE id = @id AND state = 'running'`,
  deactivateOwners: `UPDATE bgworkers_owners SET active = 0 WHERE active = 1`,
  dropOwner: `DELETE FROM bgworkers_owners WHERE id = ?`,
  /** Owners that hold no running job and are not the active one are forgotten. */
  dropIdleOwners: `DELETE FROM bgworkers_owners WHERE active = 0
                   AND id NOT IN (SELECT owner FROM bgworkers_jobs WHERE state = 'running' AND owner IS NOT NULL)`,
  /** The same owner attaching again (after a detach that left claims) takes its row back. */
  addOwner: `INSERT INTO bgworkers_owners (id, pid, start_time, host, attached_at, active) VALUES (@id, @pid, @startTime, @host, @now, 1)
             ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, start_time = excluded.start_time, host = excluded.host,
               attached_at = excluded.attached_at, active = 1`,
  detach: `UPDATE bgworkers_owners SET active = 0 WHERE id = ? AND active = 1`,
} as const;

/**
 * The key a job keeps when it goes back to queued: its own, unless another queued job holds it now (invariant 1).
 * Used in single-row statements only, so the subquery sees every earlier change of the same transaction.
 */
function keepKeyUnlessTaken(): string {
  return `CASE WHEN key IS NOT NULL AND EXISTS (SELECT 1 FROM bgworkers_jobs q WHERE q.state = 'queued' AND q.key = bgworkers_jobs.key AND q.id <> bgworkers_jobs.id) THEN NULL ELSE key END`;
}
