// The Foreman on SQLite against peer SQLite job queues: the same trivial job (a no-op handler, payload { i }),
// the same machine, one run. N jobs are queued first (not timed), then drained (timed, from the moment the
// consumers are started and ready until the last job is recorded as done). Each variant runs on a fresh temp SQLite
// file in its own child process (this script forked with the variant's name); variants are interleaved over REPS
// rounds (rotations, bench/lib.mjs interleave, no warm-up round); the median drain jobs/s per variant is printed as
// one JSON line each, then a summary line with the ratios ours/peer.
//
// Variants and why each is its best fair setup:
// - ours: Foreman + SqliteQueue (../dist/foreman.js), handlers bench/foreman-jobs.mjs, concurrency 2 (two worker
//   threads), at-least-once, jobs queued with enqueueMany. Drain = foreman.drained(). Same as bench/foreman-sqlite.mjs.
// - ours-at-most-once: the same with delivery at-most-once (not run by default here; the foreman-sqlite figure of
//   bench/run.mjs runs it).
// - plainjob (0.0.14, better-sqlite3 connection via its `better()`): it has no concurrency knob — a worker runs one
//   job at a time, and its README's way to scale is one worker process per core ("Multi-process Workers"). So:
//   2 worker processes (= our 2 threads), each with its own connection and defineQueue, one defineWorker('noop').
//   pollIntervall 1 ms (default 1000; it only sleeps when it found no job, so this only shortens the tail).
//   Logger silenced (its default is console, which would print a debug line per job). Jobs queued with addMany
//   (one transaction). Its queue settings are its defaults (WAL, synchronous=1, busy_timeout 5000; done jobs are
//   kept, status = done). Drain ends when this process, polling every 5 ms on its own read connection, sees no
//   pending or processing job (plainjob's own processAll() does the same every 50 ms).
// - plainjob-1proc: the same with one worker process, for reference (two processes contend for SQLite's write
//   lock through busy_timeout sleeps; whichever is faster on this machine is plainjob's best).
// - liteque (0.8.0): SKIPPED by default — it cannot dequeue here (not a Node 20 problem): its attemptDequeue passes
//   an async callback to drizzle-orm's (0.33.0) better-sqlite3 transaction, and better-sqlite3 12 (the version
//   installed; liteque's peer range is >=7) throws "Transaction function cannot return a promise" on the first
//   dequeue. Older better-sqlite3 ran such a callback's awaited queries after the commit, i.e. not in the
//   transaction at all; no fair workaround without patching liteque. Its variant is kept and runs with
//   BENCH_VARIANTS=liteque (it fails as described); its setup would be: buildDBClient with runMigrations (WAL,
//   synchronous NORMAL), Runner concurrency 2 (= ours), pollIntervalMs 1 (README shows 1000), timeoutSecs 60, no
//   validator, jobs queued with enqueue one by one (no bulk enqueue), drain = runner.runUntilEmpty().
// A variant whose drain exceeds BENCH_CAP_S seconds (default 300) is stopped
// and reported with capped: true, its rate being the jobs done within the cap over the cap's time.
//
// Measured 2026-12-02 on the shared 2-core machine (load average up to ~7 from other agents), 100k jobs, REPS=3
// medians: ours 13448, plainjob (2 processes) 6016, plainjob-1proc 3714 jobs/s (ours/plainjob 2.24).
// Env: BENCH_JOBS (default 100000), BENCH_QUICK=1 (2000 jobs, 1 rep), REPS (default 3, quick 1),
// BENCH_VARIANTS=ours,plainjob,... (a subset), BENCH_CAP_S.
// Run: npx tsc -p tsconfig.json && node bench/foreman-peers-sqlite.mjs
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drainOurs, forkVariant, interleave, median, sleep } from './lib.mjs';

const quick = process.env.BENCH_QUICK === '1';
const n = Number(process.env.BENCH_JOBS ?? (quick ? 2000 : 100_000));
const reps = Number(process.env.REPS ?? (quick ? 1 : 3));
const capMs = Number(process.env.BENCH_CAP_S ?? 300) * 1000;
const self = fileURLToPath(import.meta.url);
const payloads = () => Array.from({ length: n }, (_, i) => ({ i }));

/** Each variant: queue n jobs into a fresh db at `file`, then drain; resolves with { drainMs, done, capped }. */
const variants = {
  ours: (file) => ours(file, 'at-least-once'),
  /** The same with delivery at-most-once (claims only for free workers: no claim-ahead). Not a peer comparison. */
  'ours-at-most-once': (file) => ours(file, 'at-most-once'),
  plainjob: (file) => plainjob(file, 2),
  'plainjob-1proc': (file) => plainjob(file, 1),
  async liteque(file) {
    const { buildDBClient, SqliteQueue, Runner } = await import('liteque');
    const db = buildDBClient(file, { runMigrations: true });
    const queue = new SqliteQueue('bench', db, { defaultJobArgs: { numRetries: 0 }, keepFailedJobs: false });
    for (const p of payloads()) await queue.enqueue(p);
    let done = 0;
    const runner = new Runner(queue, { run: async () => undefined, onComplete: async () => { done++; } },
      { concurrency: 2, pollIntervalMs: 1, timeoutSecs: 60 });
    const t = performance.now();
    let timer;
    const capped = await Promise.race([
      runner.runUntilEmpty().then(() => false),
      new Promise((r) => { timer = setTimeout(() => { runner.stop(); r(true); }, capMs); }),
    ]);
    const drainMs = performance.now() - t;
    clearTimeout(timer);
    if (capped) await runner.runUntilEmpty().catch(() => undefined); // stopping: returns after in-flight jobs
    db.$client.close();
    return { drainMs, done, capped };
  },
};

/** The Foreman with `delivery`, concurrency 2 (threads). */
async function ours(file, delivery) {
  const { SqliteQueue } = await import('../dist/foreman.js');
  const queue = SqliteQueue.open(file);
  try {
    await queue.enqueueMany(payloads().map((payload) => ({ name: 'noop', payload })));
    return await drainOurs(queue, capMs, { delivery });
  } finally {
    await queue.close();
  }
}

const silent = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {}, log: () => {} };

/** plainjob with `procs` worker processes (this script forked as `plainjob-worker <file>`). */
async function plainjob(file, procs) {
  const { default: Database } = await import('better-sqlite3');
  const { better, defineQueue, JobStatus } = await import('plainjob');
  const queue = defineQueue({ connection: better(new Database(file)), logger: silent });
  queue.addMany('noop', payloads());
  queue.close();
  const workers = Array.from({ length: procs }, () => fork(self, ['plainjob-worker', file], { stdio: 'inherit' }));
  await Promise.all(workers.map((w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('exit', (code) => reject(new Error(`plainjob worker exited ${code}`)));
  })));
  const reader = new Database(file, { readonly: true });
  const left = reader.prepare(`SELECT COUNT(*) AS c FROM plainjob_jobs WHERE status IN (${JobStatus.Pending}, ${JobStatus.Processing})`);
  const doneStmt = reader.prepare(`SELECT COUNT(*) AS c FROM plainjob_jobs WHERE status = ${JobStatus.Done}`);
  const t = performance.now();
  for (const w of workers) w.send('go');
  let capped = false;
  while (left.get().c > 0) {
    if (performance.now() - t > capMs) { capped = true; break; }
    await sleep(5);
  }
  const drainMs = performance.now() - t;
  const done = doneStmt.get().c;
  reader.close();
  const exits = workers.map((w) => new Promise((r) => w.once('exit', r)));
  for (const w of workers) w.send('stop');
  await Promise.all(exits);
  return { drainMs, done, capped };
}

async function plainjobWorker(file) {
  const { default: Database } = await import('better-sqlite3');
  const { better, defineQueue, defineWorker } = await import('plainjob');
  const queue = defineQueue({ connection: better(new Database(file)), logger: silent });
  const worker = defineWorker('noop', () => undefined, { queue, pollIntervall: 1, logger: silent });
  let running;
  process.on('message', async (m) => {
    if (m === 'go') running = worker.start();
    if (m === 'stop') {
      await worker.stop();
      await running;
      queue.close();
      process.disconnect();
    }
  });
  process.send('ready');
}

/** In a child: one variant on a fresh temp file; sends its result to the parent. */
async function child(name) {
  const dir = mkdtempSync(join(tmpdir(), `bgw-peers-${name}-`));
  try {
    const r = await variants[name](join(dir, 'jobs.db'));
    if (!r.capped && r.done !== n) throw new Error(`${name}: done ${r.done} of ${n}`);
    process.send({ ...r, perSec: r.done / (r.drainMs / 1000) });
  } catch (e) {
    console.error(e);
    process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const runChild = (name) => forkVariant(self, name);

if (process.argv[2] === 'variant') { await child(process.argv[3]); process.exit(); }
else if (process.argv[2] === 'plainjob-worker') await plainjobWorker(process.argv[3]);
else {
  const names = process.env.BENCH_VARIANTS?.split(',') ?? Object.keys(variants).filter((id) => id !== 'liteque' && id !== 'ours-at-most-once');
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
      bench: 'foreman-peers-sqlite', variant: id, jobs: n, reps, drainPerSecMedian: medians[id],
      drainPerSec: samples[id].map(Math.round), drainMs: runs[id].map((r) => Math.round(r.drainMs)),
      capped: runs[id].some((r) => r.capped),
    }));
  }
  const ratios = Object.fromEntries(names.filter((id) => id !== 'ours' && medians.ours)
    .map((id) => [`ours/${id}`, Number((medians.ours / medians[id]).toFixed(2))]));
  console.log(JSON.stringify({ bench: 'foreman-peers-sqlite', summary: true, jobs: n, reps, medians, ratios }));
}
