// The Foreman on PostgreSQL against peer PostgreSQL job queues: the same trivial job (a no-op handler, payload
// { i }), the same machine and server, one run. N jobs are queued first (not timed), then drained (timed: from the
// moment the consumers are started until the last job is recorded as done in the database). Each variant runs in
// its own child process (this script forked with the variant's name) on its own fresh schema bgw_peers_<variant>,
// dropped after; variants are interleaved over REPS rounds (rotations, bench/lib.mjs interleave, no warm-up
// round); the median drain jobs/s per variant is printed as one JSON line each, then a summary line with the
// ratios ours/peer.
//
// Variants and why each is its best fair setup:
// - ours: Foreman + PostgresQueue.connect(url, { schema }), handlers bench/foreman-jobs.mjs, concurrency 2 (two
//   worker threads), at-least-once, default claim batch (64). Jobs queued with enqueueMany in chunks of 10k.
//   Drain = foreman.drained() (it resolves once every job is completed in the database).
// - graphile-worker (0.17.3): run() with concurrency 2 (= ours), unbatched (no localQueue, no complete/fail batch
//   delays: its defaults), pollInterval 10 ms (default 2000; it uses LISTEN/NOTIFY and polls only when it found no
//   job, so this only shortens the tail), noHandleSignals, logger silenced. Migrated first (runMigrations), jobs
//   queued with bulk SQL `<schema>.add_jobs(json_populate_recordset(...))` in chunks of 10k (faster than addJob
//   per job; not timed). Drain ends when its events counted N job:success and its jobs table is empty (it deletes a
//   job on success).
// - pg-boss (10.4.2): v10 has no teamSize/teamConcurrency (removed in v10; parallelism = calling work() more than
//   once, a handler gets an array of batchSize jobs). So: 2 work() calls (= our 2 workers), each batchSize
//   BENCH_PGBOSS_BATCH (default 1000), pollingIntervalSeconds 0.5 (its minimum). Why a large batch: its worker loop
//   sleeps (interval − fetch+handler time) after every fetch, even a full one, when that is over 100 ms, so its rate
//   is bounded by about 2 × batchSize / 0.5 s; batchSize 64 (our claim batch) would cap it at ~256 jobs/s. Its
//   supervise/schedule are off (maintenance, not work), migrate on. Queue created with createQueue('noop'); jobs
//   queued with insert() in chunks of 10k. Drain ends when its handlers saw N jobs and no job of the queue is
//   left in a state other than completed. Not like for like, say so next to its numbers: its handler is called once
//   per batch (here a no-op over the array) and a batch is completed by one statement, while ours and
//   graphile-worker run and complete every job on its own (ours in a worker thread). Measured on the shared
//   machine: batchSize 1000 → ~4.0–4.2k jobs/s (= the 2 × 1000 / 0.5 s bound), batchSize 64 → 256 jobs/s (5k jobs),
//   batchSize 5000 → 29.5k jobs/s (20k jobs, i.e. four fetches): the knob, not the database, sets its rate, so the
//   ours/pg-boss ratio says more about the chosen batch than about either queue.
// Measured 2026-12-02 on the shared 2-core machine (load average 3–8 from other agents), PostgreSQL 15, fsync and
// synchronous_commit on: 100k jobs, REPS=1: ours 2937, graphile-worker 1031, pg-boss 4028 jobs/s; 20k jobs,
// REPS=3 medians: ours 2186, graphile-worker 1108, pg-boss 4208 jobs/s.
//
// Env: BGWORKERS_PG_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_JOBS (default 100000),
// BENCH_QUICK=1 (2000 jobs, 1 rep), REPS (default 3, quick 1), BENCH_VARIANTS=ours,graphile-worker,pg-boss,
// BENCH_PGBOSS_BATCH, BENCH_CAP_S (default 300: a drain over it is stopped and reported with capped: true).
// Run: npx tsc -p tsconfig.json && node bench/foreman-peers-pg.mjs
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { drainOurs, forkVariant, interleave, median, sleep } from './lib.mjs';

const URL_ = process.env.BGWORKERS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const quick = process.env.BENCH_QUICK === '1';
const n = Number(process.env.BENCH_JOBS ?? (quick ? 2000 : 100_000));
const reps = Number(process.env.REPS ?? (quick ? 1 : 3));
const capMs = Number(process.env.BENCH_CAP_S ?? 300) * 1000;
const bossBatch = Number(process.env.BENCH_PGBOSS_BATCH ?? 1000);
const CHUNK = 10_000;
const self = fileURLToPath(import.meta.url);
const chunks = function* () {
  for (let i = 0; i < n; i += CHUNK) yield Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => ({ i: i + j }));
};
/** Resolves true once `done()` resolves true (polled every 10 ms), false at the cap. */
async function until(done, t0) {
  while (!(await done())) {
    if (performance.now() - t0 > capMs) return false;
    await sleep(10);
  }
  return true;
}

const variants = {
  async ours(schema, admin) {
    const { PostgresQueue } = await import('../dist/foreman.js');
    const queue = await PostgresQueue.connect(URL_, { schema });
    try {
      for (const c of chunks()) await queue.enqueueMany(c.map((payload) => ({ name: 'noop', payload })));
      return await drainOurs(queue, capMs);
    } finally {
      await queue.close();
    }
  },
  async 'graphile-worker'(schema, admin) {
    const { run, runMigrations, Logger } = await import('graphile-worker');
    const logger = new Logger(() => () => {});
    const common = { connectionString: URL_, schema, logger };
    await runMigrations(common);
    for (const c of chunks()) {
      await admin.query(
        `SELECT ${schema}.add_jobs(ARRAY(SELECT json_populate_recordset(NULL::${schema}.job_spec, $1::json)))`,
        [JSON.stringify(c.map((payload) => ({ identifier: 'noop', payload })))],
      );
    }
    let done = 0;
    const runner = await run({
      ...common, concurrency: 2, pollInterval: 10, noHandleSignals: true,
      taskList: { noop: async () => undefined },
    });
    runner.events.on('job:success', () => { done++; });
    const t = performance.now();
    const ok = await until(async () => done >= n
      && Number((await admin.query(`SELECT count(*) AS c FROM ${schema}._private_jobs`)).rows[0].c) === 0, t);
    const drainMs = performance.now() - t;
    await runner.stop();
    return { drainMs, done, capped: !ok };
  },
  async 'pg-boss'(schema, admin) {
    const { default: PgBoss } = await import('pg-boss');
    const boss = new PgBoss({ connectionString: URL_, schema, supervise: false, schedule: false, migrate: true });
    boss.on('error', (e) => console.error('pg-boss error', e));
    await boss.start();
    await boss.createQueue('noop');
    for (const c of chunks()) await boss.insert(c.map((data) => ({ name: 'noop', data })));
    let seen = 0;
    const t = performance.now();
    for (let w = 0; w < 2; w++) {
      await boss.work('noop', { batchSize: bossBatch, pollingIntervalSeconds: 0.5 }, async (jobs) => { seen += jobs.length; });
    }
    const ok = await until(async () => seen >= n && Number((await admin.query(
      `SELECT count(*) AS c FROM ${schema}.job WHERE name = 'noop' AND state <> 'completed'`)).rows[0].c) === 0, t);
    const drainMs = performance.now() - t;
    const done = Number((await admin.query(
      `SELECT count(*) AS c FROM ${schema}.job WHERE name = 'noop' AND state = 'completed'`)).rows[0].c);
    await boss.stop({ graceful: true, wait: true, timeout: 10_000 });
    return { drainMs, done, capped: !ok };
  },
};

/** In a child: one variant on a fresh schema; sends its result to the parent; drops the schema after. */
async function child(name) {
  const schema = `bgw_peers_${name.replace(/-/g, '_')}`;
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    const r = await variants[name](schema, admin);
    if (!r.capped && r.done !== n) throw new Error(`${name}: done ${r.done} of ${n}`);
    process.send({ ...r, perSec: r.done / (r.drainMs / 1000) });
  } catch (e) {
    console.error(e);
    process.exitCode = 1;
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((e) => console.error(e));
    await admin.end();
  }
}

const runChild = (name) => forkVariant(self, name);

if (process.argv[2] === 'variant') { await child(process.argv[3]); process.exit(); }
else {
  const names = process.env.BENCH_VARIANTS?.split(',') ?? Object.keys(variants);
  const runs = Object.fromEntries(names.map((id) => [id, []]));
  const samples = await interleave(Object.fromEntries(names.map((id) => [id, async () => {
    const r = await runChild(id);
    runs[id].push(r);
    return r.perSec;
  }])), { warmup: 0, reps });
  const medians = {};
  for (const id of names) {
    medians[id] = Math.round(median(samples[id]));
    console.log(JSON.stringify({
      bench: 'foreman-peers-pg', variant: id, jobs: n, reps, drainPerSecMedian: medians[id],
      drainPerSec: samples[id].map(Math.round), drainMs: runs[id].map((r) => Math.round(r.drainMs)),
      capped: runs[id].some((r) => r.capped), ...(id === 'pg-boss' ? { batchSize: bossBatch, workers: 2 } : {}),
    }));
  }
  const ratios = Object.fromEntries(names.filter((id) => id !== 'ours' && medians.ours)
    .map((id) => [`ours/${id}`, Number((medians.ours / medians[id]).toFixed(2))]));
  console.log(JSON.stringify({ bench: 'foreman-peers-pg', summary: true, jobs: n, reps, medians, ratios }));
}
