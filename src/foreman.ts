/**
 * The Foreman: durable background jobs from a database queue, run on the supervisor's workers (G19).
 * SQLite (embedded, one machine) by default; PostgreSQL for many machines. Loads better-sqlite3 or pg only when a
 * queue of that kind is opened.
 * @packageDocumentation
 * @module bgworkers/foreman
 */
export type {
  AttachOptions, AttachReport, ClaimedJob, ClaimRef, DeadJob, DeadReason, Delivery, EnqueueOptions, JobQueue, JobSpec,
  QueueOwner, QueueSession, QueueStats,
} from './foreman/queue.js';
export { DEFAULT_MAX_ATTEMPTS, MAX_PAYLOAD_BYTES } from './foreman/queue.js';
export { ForemanRunningError, InvalidJobError, JobFailedError, QueueError } from './errors.js';
export { Foreman } from './foreman/foreman.js';
export type { ForemanState, ForemanStats } from './foreman/foreman.js';
export type { ForemanOptions } from './foreman/foreman-options.js';
export type { BackoffOptions } from './foreman/backoff.js';
export { SqliteQueue, type SqliteQueueOptions } from './foreman/sqlite-queue.js';
/** An error as the queue stores it (`QueueSession.fail`): name, message, stack, code, cause. */
export type { SerializedError } from './shared/protocol.js';
export { PostgresQueue, DEFAULT_PG_SCHEMA, type PgConnectOptions, type PgEnqueueOptions, type PgQueryable } from './foreman/postgres-queue.js';
export { TAKEOVER_INTERVAL_MS } from './foreman/postgres-session.js';
