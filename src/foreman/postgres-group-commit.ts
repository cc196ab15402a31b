/**
 * Group commit for the finishing calls of a PostgreSQL session (complete, fail, release): the calls that arrive
 * while one batch is in flight go to the server together, as one transaction, once it returns.
 *
 * Why: each finishing call alone is a commit (a WAL flush) and a round trip, which cost far more than the one-row
 * statement inside; a foreman finishing thousands of short jobs a second would pay them per job (measured before:
 * ~1.6k claims+completes/s). Batching adapts by itself: an idle session sends a call at once (at the next
 * setImmediate, with the others of that event-loop turn); a busy one sends everything that arrived during the
 * previous round trip.
 *
 * States of a PgGroupCommit (moved only by add() and its own drain loop):
 *
 *   idle ──add()──► scheduled (a setImmediate pending) ──► flushing (one batch in flight, others pending)
 *   flushing ──batch settled, calls pending──► flushing (the next batch at once) ──nothing pending──► idle
 *
 * A batch and its statements:
 *  - only completes: one `DELETE … USING unnest(ids, fences) … RETURNING id` (one statement is one transaction);
 *  - with fails or releases: BEGIN, that DELETE, then each fail/release statement in call order, COMMIT — one
 *    transaction; several releases' pg_notify calls of one transaction are delivered as one notification.
 *
 * Invariants:
 *  1. Per-call results are those of the same calls made one by one: a call is true exactly when its own row
 *     (id and fence, state running) was changed. A batch holds at most one call per job id; a second call for the
 *     same id waits for the next batch, so it sees the first one's effect (a repeated complete is false).
 *  2. Fencing is in every statement (`WHERE id AND fence AND state = 'running'`): a late call for a claim that was
 *     taken over changes nothing, whatever else its batch holds.
 *  3. A call settles only after its batch committed. A failing statement (or BEGIN/COMMIT) rolls the whole batch
 *     back and rejects every call of it with a QueueError naming that call's operation: none of them happened.
 */
import type pg from 'pg';
import { QueueError } from '../errors.js';
import type { PgStatements } from './postgres-sql.js';
import type { ClaimRef, DeadReason } from './queue.js';

/** Most calls in one batch: bounds a statement's arrays (a larger backlog goes in the next batch, at once). */
export const MAX_BATCH = 1_000;

/** What a finishing call does to its claim. */
export type Finish =
  | { readonly kind: 'complete' }
  | { readonly kind: 'fail'; readonly error: string; readonly retryAt: number | null; readonly reason: DeadReason }
  | { readonly kind: 'release' };

/** What the group needs of its queue. */
export interface GroupContext {
  readonly pool: pg.Pool;
  readonly sql: PgStatements;
  readonly location: string;
}

interface Call {
  readonly ref: ClaimRef;
  readonly finish: Finish;
  readonly resolve: (changed: boolean) => void;
  readonly reject: (e: unknown) => void;
}

/** One session's group of finishing calls. */
export class PgGroupCommit {
  readonly #ctx: GroupContext;
  #pending: Call[] = [];
  #scheduled = false;
  #flushing = false;
  readonly #idleWaiters: (() => void)[] = [];

  constructor(ctx: GroupContext) {
    this.#ctx = ctx;
  }

  /** Runs `finish` on claim `ref` in the next batch; resolves with whether it changed the claim's row. */
  add(ref: ClaimRef, finish: Finish): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#pending.push({ ref, finish, resolve, reject });
      if (this.#flushing || this.#scheduled) return;
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        void this.#drain();
      });
    });
  }

  /** Resolves once every call added so far has settled (detach waits for it before giving the owner up). */
  settled(): Promise<void> {
    if (!this.#flushing && !this.#scheduled && this.#pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #drain(): Promise<void> {
    this.#flushing = true;
    while (this.#pending.length > 0) await this.#run(this.#take());
    this.#flushing = false;
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  /** The next batch: calls in arrival order, at most one per job id (invariant 1), at most MAX_BATCH. */
  #take(): Call[] {
    const ids = new Set<string>();
    const batch: Call[] = [];
    const rest: Call[] = [];
    for (const c of this.#pending) {
      if (batch.length < MAX_BATCH && !ids.has(c.ref.id)) {
        ids.add(c.ref.id);
        batch.push(c);
      } else {
        rest.push(c);
      }
    }
    this.#pending = rest;
    return batch;
  }

  /** Runs one batch and settles its calls. Never rejects. */
  async #run(batch: Call[]): Promise<void> {
    let changed: boolean[];
    try {
      changed = batch.every((c) => c.finish.kind === 'complete') ? await this.#completeAll(this.#ctx.pool, batch) : await this.#inTransaction(batch);
    } catch (e) {
      for (const c of batch) c.reject(new QueueError(`postgres queue ${this.#ctx.location}: ${c.finish.kind} failed`, e));
      return;
    }
    batch.forEach((c, i) => c.resolve(changed[i]!));
  }

  /** One DELETE for the completes of `calls`; returns, per call, whether it deleted (others of `calls`: false). */
  async #completeAll(on: pg.Pool | pg.PoolClient, calls: readonly Call[]): Promise<boolean[]> {
    const completes = calls.filter((c) => c.finish.kind === 'complete');
    if (completes.length === 0) return calls.map(() => false);
    const { rows } = await on.query<{ id: string }>(this.#ctx.sql.completeMany, [completes.map((c) => c.ref.id), completes.map((c) => c.ref.fence)]);
    const deleted = new Set(rows.map((r) => r.id));
    return calls.map((c) => c.finish.kind === 'complete' && deleted.has(c.ref.id));
  }

  async #inTransaction(batch: readonly Call[]): Promise<boolean[]> {
    const client = await this.#ctx.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const changed = await this.#completeAll(client, batch);
      for (const [i, c] of batch.entries()) {
        const f = c.finish;
        if (f.kind === 'fail') changed[i] = (await client.query(this.#ctx.sql.fail, [c.ref.id, c.ref.fence, f.error, f.retryAt, f.reason])).rowCount === 1;
        else if (f.kind === 'release') changed[i] = (await client.query(this.#ctx.sql.release, [c.ref.id, c.ref.fence])).rowCount === 1;
      }
      await client.query('COMMIT');
      return changed;
    } catch (e) {
      broken = await client.query('ROLLBACK').then(() => undefined, (r: unknown) => r);
      throw e;
    } finally {
      // A connection whose ROLLBACK failed is in an unknown state: the pool discards it.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }
}
