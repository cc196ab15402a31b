/**
 * The queue contract: what every Foreman queue (SqliteQueue, PostgresQueue) implements, in two halves.
 *
 * - {@link JobQueue}, the producer's half: enqueue from any process, no supervisor needed; inspect; retry the dead.
 * - {@link QueueSession}, the foreman's half, from `queue.attach(...)`: claim, finish, renew, release, wake-ups.
 *   Only a Foreman calls it; it is public so a third queue can be written against it and run the contract suite
 *   (test/foreman/contract.ts).
 *
 * A job's states (a row's `state`), and who moves it:
 *
 *   queued ──claim (foreman, one transaction)──► running ──complete──► (deleted)
 *     ▲  ▲                                        │  │ └──fail, attempts left──► queued (run_at = retryAt)
 *     │  └──release (stop forced it off; lease    │  └──fail, none left / dead at once──► dead
 *     │     owner gone: takeover)─────────────────┘
 *     └──retry(id) (producer) ◄── dead
 *
 * - at-most-once: the claiming transaction takes the job out of the runnable set for good (snappea deletes it; we
 *   keep the row as `running` with `delivery = at-most-once` only so `stats().running` and the loss count can see
 *   it). No path (release, takeover, lease expiry) ever makes an at-most-once `running` job runnable again: a
 *   takeover finds it owned by a dead foreman and moves it to `dead` with reason 'lost' (logged, counted).
 *   A handler that *threw* ran to a known end, so `fail` may still retry it (maxAttempts); what at-most-once
 *   forbids is re-running a job whose outcome is unknown.
 * - at-least-once: a claim sets `owner`, `lease_expires_at` and a new `fence` (a per-job counter, incremented on
 *   every claim). complete/fail/release/renew act only `WHERE id = ? AND fence = ?`: a late completion of a job
 *   whose claim was taken over changes nothing (returns false). A running job is claimable again only when its
 *   owner is seen gone (SQLite: the owner's pid is dead or reused, by pid and process start time; PostgreSQL: the
 *   owner's session advisory lock is free) or, for an owner that cannot be checked, when its lease expired.
 *
 * Time: `runAt`, `retryAt` and leases are wall-clock milliseconds (Date.now()); the store keeps integers.
 */
import type { SerializedError } from '../shared/protocol.js';

/** How a claimed job is kept until it finishes (G19). */
export type Delivery = 'at-most-once' | 'at-least-once';

/** Options of one enqueued job. */
export interface EnqueueOptions {
  /** Not runnable before this time (default: now). */
  readonly runAt?: Date;
  /** Higher runs first among runnable jobs (default 0; an integer in ±2^31). Ties: earlier runAt, then id. */
  readonly priority?: number;
  /** Dedupe: enqueueing a key that is queued (not running) replaces that job's payload and options. */
  readonly key?: string;
  /** Attempts before the job is dead (default 5; an integer ≥ 1). */
  readonly maxAttempts?: number;
}

/** One job of `enqueueMany`. */
export interface JobSpec extends EnqueueOptions {
  readonly name: string;
  /** Anything JSON carries exactly (no undefined, functions, NaN, cycles, class instances but Date): checked, with the field named. */
  readonly payload?: unknown;
}

/** Counts of a queue's jobs. `queued` are runnable now; `scheduled` wait for their runAt. */
export interface QueueStats {
  readonly queued: number;
  readonly running: number;
  readonly scheduled: number;
  readonly dead: number;
}

/** Why a job is dead. */
export type DeadReason =
  | 'failed' // its handler threw (or timed out) on its last attempt
  | 'unknown-name' // the handlers module has no such job
  | 'bad-payload' // the stored payload does not decode
  | 'handlers-failed' // the handlers module failed to load
  | 'lost'; // at-most-once: its foreman or its worker died, or stop() forced it off, before it finished (outcome unknown)

/** A dead job, as `queue.dead()` lists it. */
export interface DeadJob {
  readonly id: string;
  readonly name: string;
  /** The decoded payload, or the stored text when it does not decode. */
  readonly payload: unknown;
  readonly attempts: number;
  readonly reason: DeadReason;
  /** A JobFailedError whose cause is the last error, revived (name, message, stack, code). */
  readonly error: Error;
  readonly diedAt: Date;
}

/** Who holds a claim: one running foreman. */
export interface QueueOwner {
  /** Unique per foreman run (a random UUID). */
  readonly id: string;
  readonly pid: number;
  /** The process's start time as the OS reports it (Linux: /proc/<pid>/stat starttime), to tell a reused pid; 0 if unknown. */
  readonly startTime: number;
  readonly host: string;
}

/** A job the foreman claimed. */
export interface ClaimedJob {
  readonly id: string;
  readonly name: string;
  /** The payload's stored JSON text; the foreman decodes it (a bad one is dead at once with 'bad-payload'). */
  readonly payloadText: string;
  /** This attempt, from 1. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The claim's fencing token. */
  readonly fence: number;
  readonly enqueuedAt: Date;
}

/** A claim as the finishing calls name it. */
export interface ClaimRef {
  readonly id: string;
  readonly fence: number;
}

/** Options of `queue.attach`. */
export interface AttachOptions {
  readonly owner: QueueOwner;
  readonly delivery: Delivery;
  /** at-least-once: a claim expires this long after its last renewal (ms). */
  readonly leaseMs: number;
  /** Warnings (a stale owner taken over, lost at-most-once jobs): pino-style `warn(obj, msg)`. */
  readonly logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void };
}

/** What taking ownership found. */
export interface AttachReport {
  /** The previous owner, if it was seen dead and taken over. */
  readonly tookOverFrom?: { readonly pid: number; readonly host: string };
  /** at-least-once jobs of dead owners made runnable again. */
  readonly released: number;
  /** at-most-once jobs of dead owners moved to dead ('lost'). */
  readonly lost: number;
}

/**
 * The foreman's half. Every call is atomic. claim and renew are one transaction each; the finishing calls
 * (complete, fail, release) may share one with others made at about the same time (group commit), each with its
 * own answer, settled only once that transaction committed. Finishing calls return false when the claim's fence
 * no longer matches (taken over): nothing changed.
 */
export interface QueueSession {
  readonly report: AttachReport;
  /** Claims up to `limit` runnable jobs (runAt ≤ now, highest priority first) in one transaction. */
  claim(limit: number): Promise<ClaimedJob[]>;
  /** The handler returned: the job is gone. */
  complete(job: ClaimRef): Promise<boolean>;
  /** The attempt failed: runnable again at `retryAt`, or dead (`retryAt` null, or no attempts left) with `reason`. */
  fail(job: ClaimRef, error: SerializedError, retryAt: Date | null, reason: DeadReason): Promise<boolean>;
  /** at-least-once, forced off by stop(): runnable again now; the attempt is not counted. */
  release(job: ClaimRef): Promise<boolean>;
  /** at-least-once: extends the leases of these claims to now + leaseMs (one statement). */
  renew(jobs: readonly ClaimRef[]): Promise<void>;
  /** The earliest runAt of a queued job (scheduled or retrying), to sleep until; null if none. */
  nextRunAt(): Promise<Date | null>;
  /** Calls `listener` soon after a job is enqueued (or retried) from any process; returns its remover. */
  onWakeup(listener: () => void): () => void;
  /** Gives ownership up (SQLite: the queue file is free for another foreman). Claims still held stay as they are. */
  detach(): Promise<void>;
}

/** The producer's half: what `SqliteQueue.open` and `PostgresQueue.connect` return. */
export interface JobQueue {
  /** 'sqlite' or 'postgres'. */
  readonly kind: string;
  /** The file path, or the URL without its password. */
  readonly location: string;
  /** Enqueues one job; resolves with its id (the replaced job's id when `key` deduped it). */
  enqueue(name: string, payload?: unknown, options?: EnqueueOptions): Promise<string>;
  /** Enqueues many in one transaction (all or none), one wake-up; resolves with their ids in order. */
  enqueueMany(jobs: Iterable<JobSpec>): Promise<string[]>;
  stats(): Promise<QueueStats>;
  dead(options?: { readonly limit?: number }): Promise<DeadJob[]>;
  /** Makes a dead job runnable now with its attempts reset; QueueError if there is no dead job with that id. */
  retry(id: string): Promise<void>;
  /** Takes the foreman's half. SQLite: ForemanRunningError when a live foreman holds the file. */
  attach(options: AttachOptions): Promise<QueueSession>;
  close(): Promise<void>;
}

/** Default attempts of a job. */
export const DEFAULT_MAX_ATTEMPTS = 5;
/** Largest payload, as JSON text (bytes of UTF-8). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
