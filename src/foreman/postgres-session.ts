/**
 * The foreman's half of the PostgreSQL queue (QueueSession of queue.ts): claim, finish, renew, release, wake-ups,
 * and the takeover of gone owners.
 *
 * Why its own file: the queue (postgres-queue.ts) is the producer's half and needs no connection of its own; a
 * session adds the owner's link (postgres-owner-link.ts) and the takeover rule.
 *
 * States: attached ──detach()──► detached (the link closed: lock released, owner row deleted). Calls after
 * detach throw QueueError (detach first lets the finishing calls made before it settle). Job states are moved by
 * the statements of postgres-sql.ts: claim, renew and takeover one transaction each; the finishing calls
 * (complete, fail, release) in batches, one transaction per batch (postgres-group-commit.ts).
 *
 * Takeover (any number of foremen share the queue, so every one of them does it):
 *  - an owner whose row exists and whose advisory lock is free (pg_try_advisory_xact_lock succeeds) is gone: its
 *    at-least-once running jobs are queued again, its at-most-once running jobs dead with reason 'lost' (logged);
 *  - an owner whose lock is held is alive: its jobs are never taken over, whatever their leases say (a job longer
 *    than its lease never runs twice while its foreman lives);
 *  - at-least-once jobs whose owner has no row (detached, or a row deleted by hand) fall back to lease expiry.
 * It runs at attach, and on claim at most once per TAKEOVER_INTERVAL_MS or whenever a claim finds nothing. An idle
 * foreman claims again at least every TAKEOVER_INTERVAL_MS while other owners hold running jobs (nextRunAt), so a
 * foreman that dies while the others are idle is taken over within about a second, without an enqueue.
 * claim() returns nothing while the owner's link is reconnecting (its lock is not held then).
 *
 * Claims whose reply was lost: a claim statement that fails may still have committed (the server crashed, or the
 * connection dropped, between its commit and its reply), leaving jobs running under this live owner that the
 * foreman never got — nobody would ever run them. So the session keeps the claims it handed out and not yet
 * finished (`#held`, id → fence); after a claim failed, the next claim first queues again (requeueUnheld) every
 * running job of this owner not in `#held`, with no other claim of this session in flight (whose rows would not be
 * in `#held` yet). Those jobs never reached the foreman, so never ran: even at-most-once may run them now.
 */
import type pg from 'pg';
import { JobFailedError, QueueError } from '../errors.js';
import type { SerializedError } from '../shared/protocol.js';
import { PgGroupCommit, type Finish } from './postgres-group-commit.js';
import { PgOwnerLink } from './postgres-owner-link.js';
import type { PgStatements } from './postgres-sql.js';
import type { AttachOptions, AttachReport, ClaimedJob, ClaimRef, DeadReason, QueueSession } from './queue.js';

/** Shortest time between two takeover checks by one session while claims keep finding work. */
export const TAKEOVER_INTERVAL_MS = 1_000;

/** What the session needs of its queue. */
export interface PgSessionContext {
  readonly pg: typeof pg;
  readonly config: pg.ClientConfig;
  readonly pool: pg.Pool;
  readonly sql: PgStatements;
  readonly location: string;
}

interface TakeoverRow {
  gone: { id: string; pid: number; host: string }[];
  released: number;
  lost: { id: string; name: string }[];
}

interface ClaimRow {
  id: string;
  name: string;
  payload: string;
  attempts: number;
  max_attempts: number;
  fence: string;
  enqueued_at: string;
  priority: number;
  run_at: string;
}

/** A foreman attached to a PostgreSQL queue. */
export class PgSession implements QueueSession {
  readonly report: AttachReport;
  readonly #ctx: PgSessionContext;
  readonly #options: AttachOptions;
  readonly #link: PgOwnerLink;
  readonly #onDetach: (s: PgSession) => void;
  readonly #group: PgGroupCommit;
  #lastTakeover = 0;
  #detached = false;
  /** Claims handed out and not yet finished: id → fence. */
  readonly #held = new Map<string, number>();
  /** A claim statement failed since the last requeueUnheld: some of its jobs may be running unheld. */
  #unheldPossible = false;
  /** Claims of this session in flight (requeueUnheld waits for none). */
  #claiming = 0;
  #requeueing: Promise<void> | undefined;

  private constructor(ctx: PgSessionContext, options: AttachOptions, link: PgOwnerLink, report: AttachReport, onDetach: (s: PgSession) => void) {
    this.#ctx = ctx;
    this.#onDetach = onDetach;
    this.#options = options;
    this.#link = link;
    this.report = report;
    this.#group = new PgGroupCommit(ctx);
  }

  /** Registers the owner (lock, row, LISTEN), then takes over gone owners. */
  static async attach(ctx: PgSessionContext, options: AttachOptions, onDetach: (s: PgSession) => void): Promise<PgSession> {
    checkAttachOptions(options);
    const { rows } = await query<{ k: string }>(ctx, 'attach', 'SELECT hashtextextended($1, 0)::text AS k', [`${ctx.sql.schema}:${options.owner.id}`]);
    const link = await PgOwnerLink.open(ctx.pg, ctx.config, ctx.sql, options, rows[0]!.k);
    try {
      const t = await takeover(ctx, options);
      const from = t.gone[0];
      const session = new PgSession(ctx, options, link, { released: t.released, lost: t.lost.length, ...(from ? { tookOverFrom: { pid: from.pid, host: from.host } } : {}) }, onDetach);
      session.#lastTakeover = Date.now();
      return session;
    } catch (e) {
      await link.close();
      throw e;
    }
  }

  async claim(limit: number): Promise<ClaimedJob[]> {
    this.#check();
    if (!Number.isInteger(limit) || limit < 1) throw new QueueError(`postgres queue: Expected \`limit\` to be an integer >= 1, got \`${String(limit)}\``);
    // No claims while the owner's lock is not held: this owner may be seen gone meanwhile, and a claim made then
    // would belong to no registered owner. The link's reconnect wakes the foreman to claim again.
    if (!this.#link.ready) return [];
    await this.#beginClaim();
    let rows: ClaimRow[];
    try {
      let tookOver = false;
      if (Date.now() - this.#lastTakeover >= TAKEOVER_INTERVAL_MS) {
        await this.#takeover();
        tookOver = true;
      }
      rows = await this.#claimOnce(limit);
      if (rows.length === 0 && !tookOver) {
        const t = await this.#takeover();
        if (t.released > 0) rows = await this.#claimOnce(limit);
      }
    } finally {
      this.#claiming--;
    }
    for (const r of rows) this.#held.set(r.id, Number(r.fence));
    // RETURNING has no order: the claim order is priority, then runAt, then id.
    rows.sort((a, b) => b.priority - a.priority || Number(a.run_at) - Number(b.run_at) || Number(a.id) - Number(b.id));
    return rows.map((r) => ({
      id: r.id, name: r.name, payloadText: r.payload, attempt: r.attempts, maxAttempts: r.max_attempts,
      fence: Number(r.fence), enqueuedAt: new Date(Number(r.enqueued_at)),
    }));
  }

  complete(job: ClaimRef): Promise<boolean> {
    return this.#finish(job, { kind: 'complete' });
  }

  fail(job: ClaimRef, error: SerializedError, retryAt: Date | null, reason: DeadReason): Promise<boolean> {
    const retry = retryAt === null ? null : retryAt.getTime();
    if (retry !== null && !Number.isFinite(retry)) return Promise.reject(new QueueError(`postgres queue ${this.#ctx.location}: fail: retryAt is an invalid Date`));
    return this.#finish(job, { kind: 'fail', error: JSON.stringify(error), retryAt: retry, reason });
  }

  release(job: ClaimRef): Promise<boolean> {
    return this.#finish(job, { kind: 'release' });
  }

  async renew(jobs: readonly ClaimRef[]): Promise<void> {
    this.#check();
    const live = jobs.filter(isClaimRef);
    if (live.length === 0) return;
    await query(this.#ctx, 'renew', this.#ctx.sql.renew, [live.map((j) => j.id), live.map((j) => j.fence), this.#options.leaseMs]);
  }

  /**
   * The earliest runAt of a queued job; and while other owners hold running jobs, at most TAKEOVER_INTERVAL_MS
   * from now: a foreman that dies wakes nobody, so an idle foreman looks again (its next claim runs the takeover).
   */
  async nextRunAt(): Promise<Date | null> {
    this.#check();
    const { rows } = await query<{ t: string | null; others: boolean }>(this.#ctx, 'nextRunAt', this.#ctx.sql.nextRunAt, [this.#options.owner.id]);
    const t = rows[0]?.t;
    const at = t === null || t === undefined ? null : Number(t);
    const look = rows[0]?.others === true ? Date.now() + TAKEOVER_INTERVAL_MS : null;
    const next = at === null ? look : look === null ? at : Math.min(at, look);
    return next === null ? null : new Date(next);
  }

  onWakeup(listener: () => void): () => void {
    return this.#link.onWakeup(listener);
  }

  async detach(): Promise<void> {
    if (this.#detached) return;
    this.#detached = true;
    this.#onDetach(this);
    try {
      await this.#group.settled(); // the calls made before detach still run, and settle, on a live owner
      await query(this.#ctx, 'detach', this.#ctx.sql.unregisterOwner, [this.#options.owner.id]);
    } finally {
      await this.#link.close();
    }
  }

  #check(): void {
    if (this.#detached) throw new QueueError(`postgres queue ${this.#ctx.location}: the session is detached`);
  }

  /** A finishing call: run in the next batch of the group commit (postgres-group-commit.ts). */
  #finish(job: ClaimRef, finish: Finish): Promise<boolean> {
    try {
      this.#check();
    } catch (e) {
      return Promise.reject(e);
    }
    if (!isClaimRef(job)) return Promise.resolve(false);
    return this.#group.add(job, finish).then((done) => {
      this.#finished(job); // committed: the claim is no longer held
      return done;
    });
  }

  async #claimOnce(limit: number): Promise<ClaimRow[]> {
    const o = this.#options;
    try {
      const { rows } = await query<ClaimRow>(this.#ctx, 'claim', this.#ctx.sql.claim, [o.owner.id, o.delivery, o.leaseMs, limit]);
      return rows;
    } catch (e) {
      this.#unheldPossible = true;
      throw e;
    }
  }

  /** A finishing call reached the store: the claim is no longer held (unless the job was claimed again since). */
  #finished(job: ClaimRef): void {
    if (this.#held.get(job.id) === job.fence) this.#held.delete(job.id);
  }

  /**
   * Counts a claim in flight; first, after a failed claim and with no claim in flight, queues again this owner's
   * running jobs it does not hold (see the header). The count is taken in the same turn as the check.
   */
  async #beginClaim(): Promise<void> {
    for (;;) {
      while (this.#requeueing) await this.#requeueing;
      if (!this.#unheldPossible || this.#claiming > 0) {
        this.#claiming++;
        return;
      }
      this.#requeueing = (async () => {
        const { rows } = await query<{ id: string }>(this.#ctx, 'requeue unheld claims', this.#ctx.sql.requeueUnheld, [this.#options.owner.id, [...this.#held.keys()]]);
        this.#unheldPossible = false;
        if (rows.length > 0) this.#options.logger.info({ jobs: rows.map((r) => r.id) }, 'postgres queue: jobs of a claim whose reply was lost queued again');
      })().finally(() => (this.#requeueing = undefined));
      await this.#requeueing;
    }
  }

  async #takeover(): Promise<TakeoverRow> {
    this.#lastTakeover = Date.now();
    return takeover(this.#ctx, this.#options);
  }
}

function checkAttachOptions(o: AttachOptions): void {
  const bad = (field: string, expected: string, got: unknown): never => {
    throw new QueueError(`postgres queue: Expected \`${field}\` to be ${expected}, got \`${String(got)}\` (${typeof got})`);
  };
  if (typeof o !== 'object' || o === null) bad('options', 'an object', o);
  if (o.delivery !== 'at-least-once' && o.delivery !== 'at-most-once') bad('delivery', "'at-least-once' or 'at-most-once'", o.delivery);
  if (!Number.isSafeInteger(o.leaseMs) || o.leaseMs < 1) bad('leaseMs', 'an integer >= 1', o.leaseMs);
  if (typeof o.owner !== 'object' || o.owner === null) bad('owner', 'a QueueOwner', o.owner);
  if (typeof o.owner.id !== 'string' || o.owner.id.length === 0) bad('owner.id', 'a non-empty string', o.owner.id);
  if (!Number.isSafeInteger(o.owner.pid)) bad('owner.pid', 'an integer', o.owner.pid);
  if (typeof o.owner.host !== 'string') bad('owner.host', 'a string', o.owner.host);
  if (typeof o.logger?.warn !== 'function' || typeof o.logger.info !== 'function') bad('logger', 'a logger with warn and info', o.logger);
}

/** Largest BIGSERIAL id. */
const MAX_ID = 2n ** 63n - 1n;

/**
 * Whether `job` can name a claim of this queue (ids are BIGSERIAL digits): others match no row, so finish nothing.
 * Checked before a call joins a batch, so one bad ref cannot fail the statement of the others.
 */
function isClaimRef(job: ClaimRef): boolean {
  return typeof job.id === 'string' && /^[1-9][0-9]{0,18}$/.test(job.id) && BigInt(job.id) <= MAX_ID && Number.isSafeInteger(job.fence);
}

/** One takeover pass (see the header); logs what it took over. */
async function takeover(ctx: PgSessionContext, options: AttachOptions): Promise<TakeoverRow> {
  const lostError: SerializedError = {
    name: 'Error', message: 'its foreman died before it finished (at-most-once: not run again)', stack: undefined,
    code: 'ERR_JOB_LOST', nonError: false,
  };
  const { rows } = await query<TakeoverRow>(ctx, 'takeover', ctx.sql.takeover, [options.owner.id, JSON.stringify(lostError)]);
  const t = rows[0]!;
  for (const g of t.gone) options.logger.warn({ owner: g.id, pid: g.pid, host: g.host }, 'postgres queue: a gone foreman was taken over');
  if (t.released > 0) options.logger.info({ released: t.released }, 'postgres queue: jobs of gone foremen queued again');
  for (const j of t.lost) {
    options.logger.warn({ job: j.id, name: j.name, err: new JobFailedError(j, 0, new Error(lostError.message)) }, 'postgres queue: at-most-once job lost with its foreman');
  }
  return t;
}

/** Runs one statement on the pool; pg errors become QueueError naming the operation. */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(ctx: Pick<PgSessionContext, 'pool' | 'location'>, what: string, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
  try {
    return await ctx.pool.query<R>(text, values);
  } catch (e) {
    throw new QueueError(`postgres queue ${ctx.location}: ${what} failed`, e);
  }
}
