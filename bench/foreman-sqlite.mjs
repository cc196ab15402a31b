// Foreman on SQLite (G20): N trivial jobs queued first with enqueueMany, then drained by one foreman
// (concurrency 2, threads). Prints enqueueMany and drain throughput. BENCH_QUICK=1: a small smoke run.
// Run: npx tsc -p tsconfig.json && node bench/foreman-sqlite.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Foreman, SqliteQueue } from '../dist/foreman.js';

const quick = process.env.BENCH_QUICK === '1';
const n = Number(process.env.BENCH_JOBS ?? (quick ? 2000 : 100_000));
const delivery = process.env.BENCH_DELIVERY ?? 'at-least-once';
const dir = mkdtempSync(join(tmpdir(), 'bgw-bench-foreman-'));
const queue = SqliteQueue.open(join(dir, 'jobs.db'));
try {
  const jobs = Array.from({ length: n }, (_, i) => ({ name: 'noop', payload: { i } }));
  let t = performance.now();
  await queue.enqueueMany(jobs);
  const enqueueMs = performance.now() - t;
  const foreman = await Foreman.start({ queue, handlers: new URL('./foreman-jobs.mjs', import.meta.url), concurrency: 2, delivery, logger: false });
  t = performance.now();
  await foreman.drained();
  const drainMs = performance.now() - t;
  const stats = foreman.stats();
  await foreman.stop();
  if (stats.completed !== n) throw new Error(`completed ${stats.completed} of ${n}`);
  console.log(JSON.stringify({
    bench: 'foreman-sqlite', jobs: n, delivery, concurrency: 2,
    enqueueManyPerSec: Math.round(n / (enqueueMs / 1000)), drainPerSec: Math.round(n / (drainMs / 1000)),
    enqueueMs: Math.round(enqueueMs), drainMs: Math.round(drainMs),
  }));
} finally {
  await queue.close();
  rmSync(dir, { recursive: true, force: true });
}
