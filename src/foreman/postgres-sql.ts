/**
 * Every SQL statement of the PostgreSQL queue, and its numbered, append-only migrations (STYLE 17).
 *
 * Why one file: the queue's behaviour is its SQL; keeping it together lets one read the whole state machine of
 * queue.ts (queued → running → deleted | queued | dead; dead → queued) as the statements that make each move:
 *
 *   enqueue/enqueueMany  (producer)  INSERT … state 'queued'; ON CONFLICT (key) WHERE state = 'queued' replaces it
 *   claim                (foreman)   queued → running   (UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED))
 *   completeMany         (foreman)   running → deleted  (WHERE id AND fence AND state = 'running', a batch of them)
 *   fail                 (foreman)   running → queued (retryAt) | dead
 *   release              (foreman)   running → queued, attempt not counted (at-least-once only)
 *   takeover             (any foreman) running of a gone owner → queued (at-least-once) | dead 'lost' (at-most-once);
 *                                    running at-least-once with no owner row and an expired lease → queued
 *   requeueUnheld        (foreman)   running, its own, claimed by a claim whose reply it never got → queued,
 *                                    attempt not counted (the job never reached it, so never ran)
 *   retry                (producer)  dead → queued, attempts reset
 *
 * Time: every timestamp is BIGINT milliseconds since the epoch. "Now" for claims, leases, takeover and stats is
 * the database's clock (`clock_timestamp()`), never the client's: foremen on several machines with skewed clocks
 * then agree on what is runnable and what has expired. `runAt`/`retryAt` given by a caller are absolute instants.
 *
 * Key dedupe and requeueing: a partial unique index keeps at most one *queued* job per key. A job moved back to
 * queued (fail with retry, release, takeover, retry) while another queued job holds its key drops its key
 * (`requeuedKey`): both then run, nothing is lost.
 */

/** Largest schema name we accept: leaves room for the channel name suffix within PostgreSQL's 63 bytes. */
const MAX_SCHEMA_LENGTH = 48;
const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]*$/;

/** Whether `schema` is a schema name the queue accepts (lowercase letters, digits, underscores). */
export function isValidSchema(schema: unknown): schema is string {
  return typeof schema === 'string' && schema.length > 0 && schema.length <= MAX_SCHEMA_LENGTH && SCHEMA_PATTERN.test(schema);
}

/** Expression: the database's now in ms. */
const NOW = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/** The migrations, in order; index + 1 is the version. Append only: a deployed migration never changes. */
function migrations(s: string): readonly string[] {
  return [
    `CREATE TABLE ${s}.jobs (
       id BIGSERIAL PRIMARY KEY,
       name TEXT NOT NULL,
       payload TEXT NOT NULL,
       state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'dead')),
       run_at BIGINT NOT NULL,
       priority INTEGER NOT NULL DEFAULT 0,
       key TEXT,
       attempts INTEGER NOT NULL DEFAULT 0,
       max_attempts INTEGER NOT NULL,
       delivery TEXT CHECK (delivery IN ('at-most-once', 'at-least-once')),
       owner TEXT,
       lease_expires_at BIGINT,
       fence BIGINT NOT NULL DEFAULT 0,
       enqueued_at BIGINT NOT NULL,
       error TEXT,
       reason TEXT,
       died_at BIGINT
     );
     CREATE UNIQUE INDEX jobs_queued_key ON ${s}.jobs (key) WHERE state = 'queued';
     CREATE INDEX jobs_runnable ON ${s}.jobs (priority DESC, run_at, id) WHERE state = 'queued';
     CREATE INDEX jobs_running_owner ON ${s}.jobs (owner) WHERE state = 'running';
     CREATE INDEX jobs_dead ON ${s}.jobs (died_at DESC, id DESC) WHERE state = 'dead';
     CREATE TABLE ${s}.owners (
       id TEXT PRIMARY KEY,
       pid INTEGER NOT NULL,
       host TEXT NOT NULL,
       start_time BIGINT NOT NULL,
       lock_key BIGINT NOT NULL,
       attached_at BIGINT NOT NULL
     );`,
  ];
}

/** The key a job keeps when it becomes queued again (see the header): null when another queued job holds it. */
function requeuedKey(s: string): string {
  return `CASE WHEN j.key IS NOT NULL AND EXISTS (SELECT 1 FROM ${s}.jobs q WHERE q.key = j.key AND q.state = 'queued') THEN NULL ELSE j.key END`;
}

/** The statements of one queue schema, the schema quoted once here. */
export interface PgStatements {
  readonly schema: string;
  /** The LISTEN/NOTIFY channel (an identifier, quoted for LISTEN, plain text for pg_notify). */
  readonly channel: string;
  readonly listen: string;
  /** Run in one transaction: the advisory lock ($1 = lock id), then the schema and the migrations table. */
  readonly migrateLock: string;
  readonly migrateSetup: readonly string[];
  readonly appliedVersions: string;
  readonly recordVersion: string;
  readonly migrations: readonly string[];
  /** $1 names, $2 payloads, $3 run_ats, $4 priorities, $5 keys, $6 max_attempts; one NOTIFY. Returns ids in order. */
  readonly insertMany: string;
  /** $1 owner, $2 delivery, $3 lease ms, $4 limit. */
  readonly claim: string;
  /** $1 ids, $2 fences (one per job). Returns the ids deleted. */
  readonly completeMany: string;
  /** $1 id, $2 fence, $3 error json, $4 retry_at (null: dead), $5 reason. */
  readonly fail: string;
  /** $1 id, $2 fence. */
  readonly release: string;
  /** $1 ids, $2 fences, $3 lease ms. */
  readonly renew: string;
  /** $1 own id. The earliest queued run_at (t), and whether other owners hold running jobs (others). */
  readonly nextRunAt: string;
  /** $1 own id, $2 lost error json. Returns gone owners, released count, lost jobs. */
  readonly takeover: string;
  /** $1 own id, $2 ids of the claims it holds. Returns the ids queued again. */
  readonly requeueUnheld: string;
  /** $1 id, $2 pid, $3 host, $4 start time, $5 lock key. */
  readonly registerOwner: string;
  /** $1 id. */
  readonly unregisterOwner: string;
  readonly stats: string;
  /** $1 limit. */
  readonly dead: string;
  /** $1 id. Makes it queued and notifies. */
  readonly retry: string;
}

/** Builds the statements of schema `schema` (already validated by isValidSchema). */
export function statements(schema: string): PgStatements {
  const s = `"${schema}"`;
  const channel = `${schema}_jobs`;
  // An uncorrelated scalar subquery is an InitPlan: evaluated once per statement, and only when a row is returned.
  const notifyOnce = `(SELECT 1 FROM pg_notify('${channel}', '')) AS notified`;
  return {
    schema,
    channel,
    listen: `LISTEN "${channel}"`,
    migrateLock: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
    migrateSetup: [
      `CREATE SCHEMA IF NOT EXISTS ${s}`,
      `CREATE TABLE IF NOT EXISTS ${s}.migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`,
    ],
    appliedVersions: `SELECT version FROM ${s}.migrations ORDER BY version`,
    recordVersion: `INSERT INTO ${s}.migrations (version, applied_at) VALUES ($1, ${NOW})`,
    migrations: migrations(s),
    insertMany: `
      WITH ins AS (
        INSERT INTO ${s}.jobs AS j (name, payload, run_at, priority, key, max_attempts, enqueued_at)
        SELECT u.name, u.payload, u.run_at, u.priority, u.key, u.max_attempts, ${NOW}
          FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::text[], $6::int[])
               WITH ORDINALITY AS u(name, payload, run_at, priority, key, max_attempts, ord)
         ORDER BY u.ord
        ON CONFLICT (key) WHERE state = 'queued' DO UPDATE
          SET name = EXCLUDED.name, payload = EXCLUDED.payload, run_at = EXCLUDED.run_at,
              priority = EXCLUDED.priority, max_attempts = EXCLUDED.max_attempts
        RETURNING j.id
      )
      SELECT ins.id, ${notifyOnce} FROM ins`,
    claim: `
      WITH now AS (SELECT ${NOW} AS t)
      UPDATE ${s}.jobs AS j
         SET state = 'running', attempts = j.attempts + 1, fence = j.fence + 1, owner = $1, delivery = $2,
             lease_expires_at = CASE WHEN $2 = 'at-least-once' THEN (SELECT t FROM now) + $3::bigint END
       WHERE j.id IN (SELECT c.id FROM ${s}.jobs c
                       WHERE c.state = 'queued' AND c.run_at <= (SELECT t FROM now)
                       ORDER BY c.priority DESC, c.run_at, c.id
                       LIMIT $4 FOR UPDATE SKIP LOCKED)
      RETURNING j.id, j.name, j.payload, j.attempts, j.max_attempts, j.fence, j.enqueued_at, j.priority, j.run_at`,
    completeMany: `
      DELETE FROM ${s}.jobs AS j USING unnest($1::bigint[], $2::bigint[]) AS r(id, fence)
       WHERE j.id = r.id AND j.fence = r.fence AND j.state = 'running'
      RETURNING j.id`,
    fail: `
      UPDATE ${s}.jobs AS j
         SET state = CASE WHEN $4::bigint IS NULL OR j.attempts >= j.max_attempts THEN 'dead' ELSE 'queued' END,
             error = $3, reason = CASE WHEN $4::bigint IS NULL OR j.attempts >= j.max_attempts THEN $5 END,
             died_at = CASE WHEN $4::bigint IS NULL OR j.attempts >= j.max_attempts THEN ${NOW} END,
             run_at = COALESCE($4::bigint, j.run_at), owner = NULL, lease_expires_at = NULL,
             key = CASE WHEN $4::bigint IS NULL OR j.attempts >= j.max_attempts THEN j.key ELSE ${requeuedKey(s)} END
       WHERE j.id = $1 AND j.fence = $2 AND j.state = 'running'`,
    release: `
      WITH r AS (
        UPDATE ${s}.jobs AS j
           SET state = 'queued', attempts = j.attempts - 1, run_at = ${NOW}, owner = NULL, lease_expires_at = NULL,
               key = ${requeuedKey(s)}
         WHERE j.id = $1 AND j.fence = $2 AND j.state = 'running' AND j.delivery = 'at-least-once'
        RETURNING j.id
      )
      SELECT r.id, ${notifyOnce} FROM r`,
    renew: `
      UPDATE ${s}.jobs AS j SET lease_expires_at = ${NOW} + $3::bigint
        FROM unnest($1::bigint[], $2::bigint[]) AS r(id, fence)
       WHERE j.id = r.id AND j.fence = r.fence AND j.state = 'running' AND j.delivery = 'at-least-once'`,
    nextRunAt: `SELECT (SELECT min(run_at) FROM ${s}.jobs WHERE state = 'queued') AS t,
                       EXISTS (SELECT 1 FROM ${s}.jobs WHERE state = 'running' AND owner IS DISTINCT FROM $1) AS others`,
    takeover: `
      WITH gone AS (
        DELETE FROM ${s}.owners WHERE id <> $1 AND pg_try_advisory_xact_lock(lock_key) RETURNING id, pid, host
      ), released AS (
        UPDATE ${s}.jobs AS j
           SET state = 'queued', owner = NULL, lease_expires_at = NULL, key = ${requeuedKey(s)}
         WHERE j.state = 'running' AND j.delivery = 'at-least-once'
           AND (j.owner IN (SELECT id FROM gone)
                OR (j.lease_expires_at <= ${NOW} AND j.owner <> $1
                    AND NOT EXISTS (SELECT 1 FROM ${s}.owners o WHERE o.id = j.owner)))
        RETURNING j.id
      ), lost AS (
        UPDATE ${s}.jobs AS j
           SET state = 'dead', reason = 'lost', error = $2, died_at = ${NOW}, owner = NULL
         WHERE j.state = 'running' AND j.delivery = 'at-most-once' AND j.owner IN (SELECT id FROM gone)
        RETURNING j.id, j.name, j.owner
      )
      SELECT (SELECT coalesce(json_agg(json_build_object('id', id, 'pid', pid, 'host', host)), '[]') FROM gone) AS gone,
             (SELECT count(*) FROM released)::int AS released,
             (SELECT coalesce(json_agg(json_build_object('id', id::text, 'name', name)), '[]') FROM lost) AS lost`,
    requeueUnheld: `
      UPDATE ${s}.jobs AS j
         SET state = 'queued', attempts = j.attempts - 1, owner = NULL, lease_expires_at = NULL, key = ${requeuedKey(s)}
       WHERE j.state = 'running' AND j.owner = $1 AND NOT (j.id = ANY($2::bigint[]))
      RETURNING j.id`,
    registerOwner: `
      INSERT INTO ${s}.owners (id, pid, host, start_time, lock_key, attached_at) VALUES ($1, $2, $3, $4, $5, ${NOW})
      ON CONFLICT (id) DO UPDATE SET lock_key = EXCLUDED.lock_key`,
    unregisterOwner: `DELETE FROM ${s}.owners WHERE id = $1`,
    stats: `
      SELECT count(*) FILTER (WHERE state = 'queued' AND run_at <= ${NOW})::int AS queued,
             count(*) FILTER (WHERE state = 'running')::int AS running,
             count(*) FILTER (WHERE state = 'queued' AND run_at > ${NOW})::int AS scheduled,
             count(*) FILTER (WHERE state = 'dead')::int AS dead
        FROM ${s}.jobs`,
    dead: `
      SELECT id, name, payload, attempts, reason, error, died_at FROM ${s}.jobs
       WHERE state = 'dead' ORDER BY died_at DESC, id DESC LIMIT $1`,
    retry: `
      WITH r AS (
        UPDATE ${s}.jobs AS j
           SET state = 'queued', attempts = 0, run_at = ${NOW}, error = NULL, reason = NULL, died_at = NULL,
               owner = NULL, lease_expires_at = NULL, key = ${requeuedKey(s)}
         WHERE j.id = $1 AND j.state = 'dead'
        RETURNING j.id
      )
      SELECT r.id, ${notifyOnce} FROM r`,
  };
}
