/**
 * Group commit for the finishing calls of a SQLite session (complete, fail, release, renew): the calls made in one
 * turn of the event loop run in one `BEGIN IMMEDIATE` transaction at the next `setImmediate`, and each promise
 * settles only after that transaction committed.
 *
 * Why: a commit costs far more than the one-row statement inside it (WAL frames, the checkpoint's fsync every
 * ~1000 pages); a foreman finishing many jobs at once would otherwise pay it per job. Each call is still one
 * statement, atomic by itself, with its own result (a fence mismatch is false for that call only), and nothing is
 * reported done before it is durable as `synchronous = NORMAL` makes it.
 *
 * States of a GroupCommit: idle (nothing pending) → pending (calls queued, a flush scheduled) → idle (flush ran).
 * A statement that throws rejects its own call only (SQLite undoes just that statement); a failing BEGIN or
 * COMMIT rejects every call of the group (the transaction is rolled back: none of them happened).
 */
import { QueueError } from '../errors.js';
import type { Db } from './sqlite-db.js';

interface Pending {
  readonly run: (db: Db) => unknown;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
}

/** One session's group of finishing calls. */
export class GroupCommit {
  readonly #db: (what: string) => Db;
  readonly #location: string;
  #pending: Pending[] = [];

  constructor(location: string, db: (what: string) => Db) {
    this.#location = location;
    this.#db = db;
  }

  /** Runs `run` in the next group transaction; resolves with its result once that transaction committed. */
  add<T>(what: string, run: (db: Db) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#pending.length === 0) setImmediate(() => this.flush(what));
      this.#pending.push({ run, resolve: resolve as (v: unknown) => void, reject: (e) => reject(toQueueError(this.#location, what, e)) });
    });
  }

  /** Runs the pending calls now (detach and close call it before they give the connection up). */
  flush(what: string): void {
    if (this.#pending.length === 0) return;
    const group = this.#pending;
    this.#pending = [];
    const results: { ok: boolean; value: unknown }[] = [];
    let db: Db;
    try {
      db = this.#db(what);
      db.exec('BEGIN IMMEDIATE');
    } catch (e) {
      for (const p of group) p.reject(e);
      return;
    }
    for (const p of group) {
      try {
        results.push({ ok: true, value: p.run(db) });
      } catch (e) {
        results.push({ ok: false, value: e });
      }
    }
    try {
      db.exec('COMMIT');
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      for (const p of group) p.reject(e);
      return;
    }
    group.forEach((p, i) => (results[i]!.ok ? p.resolve(results[i]!.value) : p.reject(results[i]!.value)));
  }
}

function toQueueError(location: string, what: string, e: unknown): QueueError {
  return e instanceof QueueError ? e : new QueueError(`queue ${location}: ${what} failed`, e);
}
