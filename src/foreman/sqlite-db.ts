/**
 * Opening a SQLite queue file: the driver loaded lazily (the core never loads better-sqlite3; this module is reached
 * only from `SqliteQueue.open`), the pragmas every connection needs, and the migrations.
 *
 * Why each pragma:
 * - `busy_timeout`: enqueuers in other processes wait for the write lock instead of failing with SQLITE_BUSY.
 *   Set first, so the two below (which need the lock on a new file) wait too.
 * - `journal_mode = WAL`: readers never block the writer; every commit appends to `<file>-wal`.
 * - `synchronous = NORMAL`: WAL's durable-at-checkpoint mode; a power cut may lose the last commits, a crash of
 *   the process loses nothing.
 *
 * Migrations (src/foreman/sqlite-sql.ts): each in its own `BEGIN IMMEDIATE` transaction that re-reads the version
 * first, so two processes opening a new file at once apply each one exactly once.
 */
import { createRequire } from 'node:module';
import { QueueError } from '../errors.js';
import { MIGRATIONS, SQL } from './sqlite-sql.js';

/**
 * The part of a better-sqlite3 12 connection this queue uses, declared here rather than imported from its types:
 * src/ may name only its own dependencies (.dependency-cruiser.cjs), and better-sqlite3 is an optional peer.
 */
export interface Db {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  pragma(sql: string, options?: { simple?: boolean }): unknown;
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
  close(): void;
  readonly open: boolean;
  readonly inTransaction: boolean;
}

/** A prepared statement; `P` are its parameters, `R` its row. */
export interface Statement<P extends unknown[] = unknown[], R = unknown> {
  run(...params: P): { changes: number; lastInsertRowid: number | bigint };
  get(...params: P): R | undefined;
  all(...params: P): R[];
}

type Driver = new (path: string, options: { timeout: number }) => Db;

/** How long a connection waits for another process's write lock before SQLITE_BUSY (ms). */
export const BUSY_TIMEOUT_MS = 5000;

let driver: Driver | undefined;

function loadDriver(): Driver {
  if (driver) return driver;
  try {
    driver = createRequire(import.meta.url)('better-sqlite3') as Driver;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new QueueError('SqliteQueue needs the better-sqlite3 package: npm install better-sqlite3@12', e);
    }
    throw new QueueError('better-sqlite3 failed to load', e);
  }
  return driver;
}

/** Opens (creating if missing) and migrates the queue file at `path`; throws QueueError. */
export function openDb(path: string): Db {
  const Database = loadDriver();
  let db: Db | undefined;
  try {
    db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    const c = db;
    c.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    whileBusy(() => {
      c.pragma('journal_mode = WAL');
      c.pragma('synchronous = NORMAL');
      migrate(c);
    });
    return c;
  } catch (e) {
    db?.close();
    throw e instanceof QueueError ? e : new QueueError(`queue ${path}: cannot open`, e);
  }
}

/** Between retries of a busy first open (ms): short, the other opener holds the lock for a few ms at most. */
const BUSY_RETRY_MS = 5;

/**
 * Runs `fn`, again while it fails with SQLITE_BUSY, for up to BUSY_TIMEOUT_MS. The busy timeout does not cover
 * everything on a new file: switching to WAL while another process is doing the same (or is recovering the WAL)
 * returns SQLITE_BUSY at once, without calling the busy handler. `open` is synchronous, so it waits synchronously
 * (Atomics.wait), as the busy handler itself would.
 */
function whileBusy(fn: () => void): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (;;) {
    try {
      fn();
      return;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (typeof code !== 'string' || !code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, BUSY_RETRY_MS + Math.random() * BUSY_RETRY_MS);
    }
  }
}

function migrate(db: Db): void {
  db.exec(SQL.migrationsTable);
  const version = db.prepare(SQL.migrationVersion) as Statement<[], { v: number }>;
  const record = db.prepare(SQL.recordMigration);
  for (let v = 1; v <= MIGRATIONS.length; v++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      if (version.get()!.v < v) {
        db.exec(MIGRATIONS[v - 1]!);
        record.run(v, Date.now());
      }
      db.exec('COMMIT');
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
  }
  const applied = version.get()!.v;
  if (applied > MIGRATIONS.length) {
    throw new QueueError(`queue file is at schema version ${applied}, newer than this bgworkers knows (${MIGRATIONS.length})`);
  }
}

/** Runs `fn` in a `BEGIN IMMEDIATE` transaction (the write lock taken first: no upgrade deadlock). */
export function immediate<T>(db: Db, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const out = fn();
    db.exec('COMMIT');
    return out;
  } catch (e) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw e;
  }
}

const statements = new WeakMap<Db, Map<string, Statement>>();

/** `db.prepare(sql)`, prepared once per connection (preparing costs more than running the small statements here). */
export function prepared<P extends unknown[] = unknown[], R = unknown>(db: Db, sql: string): Statement<P, R> {
  let m = statements.get(db);
  if (!m) statements.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) m.set(sql, (s = db.prepare(sql)));
  return s as Statement<P, R>;
}
