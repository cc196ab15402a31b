// Foreman on PostgreSQL: a job enqueued by another process → its handler starts, on an idle foreman (issue 15's
// bound: p50 ≤ 5 ms). The same measurement as the foreman-sqlite figure's (bench/foreman-sqlite.mjs
// startLatency): a child enqueues one `stamp` job at a time, the handler stamps its start, 20 ms idle between jobs,
// the first jobs (worker start) not kept. Prints one JSON line. A fresh schema, dropped after.
// Env: BGWORKERS_PG_URL (default postgres://postgres@127.0.0.1:5432/test), SAMPLES (default 300).
// Run: npx tsc -p tsconfig.json && node bench/foreman-pg-wake.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresQueue } from '../dist/foreman.js';
import { startLatency } from './foreman-sqlite.mjs';
import { percentile } from './lib.mjs';

const url = process.env.BGWORKERS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const samples = Number(process.env.SAMPLES ?? 300);
const schema = `bgw_bench_wake_${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'bgw-bench-pg-wake-'));
try {
  const queue = await PostgresQueue.connect(url, { schema });
  const ms = (await startLatency(queue, [url, schema], join(dir, 'stamps'), samples)).sort((a, b) => a - b);
  const r = (x) => Math.round(x * 1000) / 1000;
  console.log(JSON.stringify({ bench: 'foreman-pg-wake', n: ms.length, p50: r(percentile(ms, 50)), p90: r(percentile(ms, 90)), p99: r(percentile(ms, 99)), max: r(ms[ms.length - 1]) }));
} finally {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
  rmSync(dir, { recursive: true, force: true });
}
