/**
 * The PostgreSQL server the foreman's PostgreSQL tests use: BGWORKERS_PG_URL, default the local one. When it is
 * unreachable: with CI or BGWORKERS_PG_URL set, importing this throws (the run fails, never skips); otherwise the
 * suites that use `pgDescribe` are skipped with one line saying how to run them.
 */
import pg from 'pg';
import { describe } from 'vitest';

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
export const PG_URL = process.env.BGWORKERS_PG_URL ?? DEFAULT_PG_URL;

async function reachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Whether the server answers. */
export const pgUp = await reachable(PG_URL);
if (!pgUp && (process.env.CI !== undefined || process.env.BGWORKERS_PG_URL !== undefined)) {
  throw new Error(`PostgreSQL at ${PG_URL.replace(/:[^:@/]*@/, '@')} is unreachable (CI or BGWORKERS_PG_URL set: failing, not skipping)`);
}

/** `describe` when the server answers, else `describe.skip` after one line saying how to run the suite. */
export function pgDescribe(what: string): typeof describe | typeof describe.skip {
  if (!pgUp) console.log(`${what} skipped: no PostgreSQL at ${DEFAULT_PG_URL}; set BGWORKERS_PG_URL=postgres://user@host:port/db to run them`);
  return pgUp ? describe : describe.skip;
}
