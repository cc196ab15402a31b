// Figure: the Foreman on SQLite (issue 14's bar, G19–G20).
//
// - Drain: 100k trivial jobs (`noop`, payload { i }) queued first with enqueueMany, then drained by one foreman
//   (concurrency 2, worker threads), against plainjob 0.0.14 (two worker processes: its best setup here) on the
//   same job. Each drain runs on a fresh temp file in a child process of its own (bench/foreman-peers-sqlite.mjs
//   `variant <name>`, whose header says why each setup is that peer's best fair one); variants interleaved, medians.
//   Bounds: ours ≥ 15,000 jobs/s and ≥ 1.2x plainjob. at-most-once (claims only for free workers: no claim-ahead,
//   so one claim transaction per job or two) is reported beside it, not bounded. liteque 0.8.0 cannot dequeue with
//   better-sqlite3 12 and Sidequest's SQLite backend cannot be installed here (docs/benchmarks.md says why).
// - enqueueMany: 100k jobs in one call on a fresh file, jobs/s. Bound ≥ 50,000/s.
// - Enqueue in another process → the job's handler starts, on an idle foreman: a child process enqueues one
//   `stamp` job at a time and reports the wall-clock time just before its enqueue; the handler (a worker thread of
//   the foreman) appends its own start time to a file; both clocks are performance.timeOrigin + now() on one
//   machine. Between jobs the foreman is left idle (asleep on its wake-ups) for 20 ms. The first WARMUP jobs are not
//   kept: they start the pool's workers (on demand). Bounds p50 ≤ 2 ms,
//   p99 ≤ 10 ms.
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check, fixture, forkVariant, interleave, ratioOf, result, series, sleep, within } from './lib.mjs';

export const name = 'foreman-sqlite';
export const title = 'Foreman on SQLite: drain 100k jobs vs plainjob, enqueueMany, enqueue → start';
export const target = 'drain ≥ 15,000 jobs/s and ≥ 1.2x plainjob; enqueueMany ≥ 50,000 jobs/s; enqueue → start p50 ≤ 2 ms, p99 ≤ 10 ms';

const PEERS = fileURLToPath(new URL('./foreman-peers-sqlite.mjs', import.meta.url));
const STEP_TIMEOUT_MS = 300_000;
/** enqueue → start samples not kept: the first jobs start the pool's workers (minWorkers 0: on demand). */
const WARMUP = 5;

export async function run({ quick }) {
  const n = quick ? 2000 : 100_000;
  process.env.BENCH_JOBS = String(n); // read by the variant children
  const reps = quick ? 1 : 3;
  const drains = await interleave(Object.fromEntries(['ours', 'ours-at-most-once', 'plainjob'].map((id) => [id, async () => {
    const r = await within(forkVariant(PEERS, id), STEP_TIMEOUT_MS, `${id} drain`);
    if (r.capped || r.done !== n) throw new Error(`${id}: drained ${r.done} of ${n} (capped: ${r.capped})`);
    return r.perSec;
  }])), { warmup: 0, reps });
  const enqueue = [];
  for (let r = 0; r < reps; r++) enqueue.push(await enqueueManyRate(n));
  const wake = await enqueueToStart(quick ? 20 : 300);

  const ours = {
    drain: series(`drain ${n} jobs, at-least-once (default)`, 'jobs/s', drains.ours, { better: 'higher' }),
    drainAtMostOnce: series(`drain ${n} jobs, at-most-once`, 'jobs/s', drains['ours-at-most-once'], { better: 'higher' }),
    enqueueMany: series(`enqueueMany(${n} jobs)`, 'jobs/s', enqueue, { better: 'higher' }),
    enqueueToStart: series('enqueue (other process) → handler starts, idle foreman', 'ms', wake, { percentiles: true }),
  };
  const baselines = { plainjob: series(`plainjob 0.0.14, 2 worker processes, drain ${n} jobs`, 'jobs/s', drains.plainjob, { better: 'higher' }) };
  return result({
    unit: 'jobs/s',
    ours,
    baselines,
    checks: [
      check('drain: ours / plainjob', ratioOf(ours.drain, baselines.plainjob), 'x', '>=', 1.2),
      check('drain (at-least-once)', ours.drain.median, 'jobs/s', '>=', 15_000),
      check('drain (at-most-once)', ours.drainAtMostOnce.median, 'jobs/s'),
      check('enqueueMany', ours.enqueueMany.median, 'jobs/s', '>=', 50_000),
      check('enqueue → start p50', ours.enqueueToStart.median, 'ms', '<=', 2),
      check('enqueue → start p99', ours.enqueueToStart.p99, 'ms', '<=', 10),
    ],
    notes: [
      `${reps} drain(s) per variant, each in its own process on a fresh file; ${wake.length} enqueue → start samples.`,
      'liteque 0.8.0 is not run: its dequeue throws "Transaction function cannot return a promise" with better-sqlite3 12; Sidequest cannot be installed (its @sidequest/core version is missing from the registry).',
    ],
  });
}

async function enqueueManyRate(n) {
  const { SqliteQueue } = await import('bgworkers/foreman');
  const dir = mkdtempSync(join(tmpdir(), 'bgw-bench-enqueue-'));
  const queue = SqliteQueue.open(join(dir, 'jobs.db'));
  try {
    const jobs = Array.from({ length: n }, (_, i) => ({ name: 'noop', payload: { i } }));
    const t = performance.now();
    const ids = await queue.enqueueMany(jobs);
    const ms = performance.now() - t;
    if (ids.length !== n) throw new Error(`enqueueMany returned ${ids.length} ids for ${n} jobs`);
    return n / (ms / 1000);
  } finally {
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `count` samples of enqueue (in a child process) → the handler's start on a SQLite queue, in ms. */
async function enqueueToStart(count) {
  const { SqliteQueue } = await import('bgworkers/foreman');
  const dir = mkdtempSync(join(tmpdir(), 'bgw-bench-wake-'));
  const db = join(dir, 'jobs.db');
  try {
    return await startLatency(SqliteQueue.open(db), [db], join(dir, 'stamps'), count);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs a foreman (concurrency 2) on `queue`, and a child process (bench/fixtures/sqlite-enqueuer.mjs with
 * `where` = [file] or [url, schema]) that enqueues one `stamp` job at a time; returns `count` samples (after
 * WARMUP) of the child's time before its enqueue → the handler's start, in ms. Closes the queue.
 */
export async function startLatency(queue, where, stamps, count) {
  const { Foreman } = await import('bgworkers/foreman');
  writeFileSync(stamps, '');
  const foreman = await Foreman.start({ queue, handlers: new URL('./foreman-jobs.mjs', import.meta.url), concurrency: 2, logger: false });
  const child = fork(fileURLToPath(fixture('sqlite-enqueuer.mjs')), [where[0], JSON.stringify({ name: 'stamp', payload: { file: stamps } }), ...where.slice(1)]);
  let ended = () => {};
  const onEnd = (m) => {
    if (m.outcome !== 'completed') throw new Error(`stamp job ended ${m.outcome}`);
    ended();
  };
  subscribe('bgworkers:job:end', onEnd);
  try {
    await within(new Promise((r) => child.once('message', r)), 30_000, 'enqueuer ready');
    const samples = [];
    for (let i = 0; i < count + WARMUP; i++) {
      await sleep(20); // let the foreman go idle: its claim found nothing and it sleeps on its wake-ups
      const done = new Promise((r) => (ended = r));
      const sent = new Promise((r) => child.once('message', r));
      child.send('go');
      const [from] = await within(Promise.all([sent, done]), 30_000, 'a stamp job');
      const lines = readFileSync(stamps, 'utf8').trim().split('\n');
      if (lines.length !== i + 1) throw new Error(`${lines.length} stamps after ${i + 1} jobs`);
      if (i >= WARMUP) samples.push(Number(lines[i]) - from);
    }
    return samples;
  } finally {
    unsubscribe('bgworkers:job:end', onEnd);
    child.send('exit');
    await new Promise((r) => child.once('exit', r));
    await foreman.stop();
    await queue.close();
  }
}
