// Scale-out on PostgreSQL (issue 15): N foreman *processes* on one queue drain BENCH_JOBS trivial jobs (the no-op
// of bench/foreman-jobs.mjs, concurrency 2 each, threads), queued first with enqueueMany in chunks of 10k (not
// timed). Each run: a fresh schema bgw_fpg_scale (dropped after), N children forked (this script, `child`),
// each connected and ready; then all are told to go at once: each starts its Foreman and waits for drained().
// The drain is timed from the go to the last child's drained() (every job completed in the database: a foreman
// drains only when it holds nothing and a claim found nothing runnable); afterwards the queue is checked empty
// and the children's completed counts must sum to BENCH_JOBS.
//
// Also measured over each drain: the CPU of every `postgres` process (server, backends: /proc utime+stime, see
// bench/lib.mjs cpuSecondsOf) and of the foreman processes (process.cpuUsage(), worker threads included), each
// as cores used = CPU seconds / drain seconds; and the load average just before (the machine may be shared, and
// the server's CPU then includes other clients' work).
//
// Env: BGWORKERS_PG_URL (default postgres://postgres@127.0.0.1:5432/test), BENCH_JOBS (default 100000),
// BENCH_PROCS (default 1,2,4), BENCH_DELIVERY (at-least-once | at-most-once | both; default at-least-once),
// BENCH_BATCH (the foremen's batchSize; default: the Foreman's, 64), REPS (default 3; interleaved rounds, bench/lib.mjs interleave), BENCH_QUICK=1 (2000 jobs, 1 rep).
// Prints one JSON line per drain, then one summary line per delivery (medians; scale = jobs/s over N=1's).
// Run: npx tsc -p tsconfig.json && node bench/foreman-pg-scale.mjs
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { cpuSecondsOf, interleave, median, now } from './lib.mjs';

const URL_ = process.env.BGWORKERS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SCHEMA = 'bgw_fpg_scale';
const CHUNK = 10_000;
const CONCURRENCY = 2;
/** The foremen's batchSize (BENCH_BATCH; unset: the Foreman's default). */
const BATCH = process.env.BENCH_BATCH === undefined ? undefined : Number(process.env.BENCH_BATCH);
const self = fileURLToPath(import.meta.url);

if (process.argv[2] === 'child') await child(process.argv[3]);
else await main();

/** A foreman process: connects, says ready; on 'go' drains and reports; on 'stop' stops and exits. */
async function child(delivery) {
  const { Foreman, PostgresQueue } = await import('../dist/foreman.js');
  const queue = await PostgresQueue.connect(URL_, { schema: SCHEMA });
  let foreman;
  process.on('message', async (m) => {
    if (m === 'go') {
      const cpu0 = process.cpuUsage();
      foreman = await Foreman.start({ queue, handlers: new URL('./foreman-jobs.mjs', import.meta.url), concurrency: CONCURRENCY, delivery, logger: false, ...(BATCH ? { batchSize: BATCH } : {}) });
      await foreman.drained();
      const drainedAt = now();
      const cpu = process.cpuUsage(cpu0);
      process.send({ drainedAt, cpuS: (cpu.user + cpu.system) / 1e6, completed: foreman.stats().completed });
    } else if (m === 'stop') {
      await foreman?.stop();
      await queue.close();
      process.disconnect();
    }
  });
  process.send('ready');
}

/** Forks `procs` children and resolves with their handles once each is ready. */
async function startChildren(procs, delivery) {
  return Promise.all(Array.from({ length: procs }, () => new Promise((resolve, reject) => {
    const c = fork(self, ['child', delivery], { stdio: 'inherit' });
    c.once('message', (m) => (m === 'ready' ? resolve(c) : reject(new Error(`child said ${String(m)}`))));
    c.once('exit', (code) => reject(new Error(`child exited ${code} before it was ready`)));
  })));
}

/** One drain by `procs` foreman processes; resolves with its figures. */
async function drain(n, procs, delivery) {
  const { PostgresQueue } = await import('../dist/foreman.js');
  const pg = (await import('pg')).default;
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  const queue = await PostgresQueue.connect(URL_, { schema: SCHEMA });
  try {
    for (let i = 0; i < n; i += CHUNK) {
      await queue.enqueueMany(Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => ({ name: 'noop', payload: { i: i + j } })));
    }
    const children = await startChildren(procs, delivery);
    const load = loadavg()[0];
    const pg0 = await cpuSecondsOf('postgres');
    const t0 = now();
    const reports = await Promise.all(children.map((c) => new Promise((resolve) => {
      c.once('message', resolve);
      c.send('go');
    })));
    const pg1 = await cpuSecondsOf('postgres');
    const drainS = (Math.max(...reports.map((r) => r.drainedAt)) - t0) / 1000;
    const exited = children.map((c) => new Promise((resolve) => c.once('exit', resolve)));
    for (const c of children) c.send('stop');
    await Promise.all(exited);
    const completed = reports.reduce((a, r) => a + r.completed, 0);
    const left = await queue.stats();
    if (completed !== n || left.queued + left.running + left.dead !== 0) {
      throw new Error(`drain by ${procs}: completed ${completed} of ${n}, left ${JSON.stringify(left)}`);
    }
    return {
      perSec: n / drainS, drainS,
      pgCores: pg0 === null ? null : (pg1 - pg0) / drainS,
      foremanCores: reports.reduce((a, r) => a + r.cpuS, 0) / drainS,
      perProcess: reports.map((r) => r.completed), load1: load,
    };
  } finally {
    await queue.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
    await admin.end();
  }
}

async function main() {
  const quick = process.env.BENCH_QUICK === '1';
  const n = Number(process.env.BENCH_JOBS ?? (quick ? 2000 : 100_000));
  const reps = Number(process.env.REPS ?? (quick ? 1 : 3));
  const procsList = (process.env.BENCH_PROCS ?? '1,2,4').split(',').map(Number);
  const d = process.env.BENCH_DELIVERY ?? 'at-least-once';
  const deliveries = d === 'both' ? ['at-least-once', 'at-most-once'] : [d];
  const round = (x, k = 2) => (x === null ? null : Number(x.toFixed(k)));
  for (const delivery of deliveries) {
    const runs = Object.fromEntries(procsList.map((p) => [p, []]));
    await interleave(Object.fromEntries(procsList.map((p) => [`${p}`, async () => {
      const r = await drain(n, p, delivery);
      runs[p].push(r);
      console.log(JSON.stringify({
        bench: 'foreman-pg-scale', delivery, procs: p, jobs: n, perSec: Math.round(r.perSec), drainS: round(r.drainS),
        pgCores: round(r.pgCores), foremanCores: round(r.foremanCores), perProcess: r.perProcess, load1: round(r.load1, 1),
      }));
      return r.perSec;
    }])), { warmup: 0, reps });
    const med = (p, k) => median(runs[p].map((r) => r[k]));
    const one = procsList.includes(1) ? med(1, 'perSec') : undefined;
    console.log(JSON.stringify({
      bench: 'foreman-pg-scale', summary: true, delivery, jobs: n, reps, concurrency: CONCURRENCY, batchSize: BATCH ?? 'default',
      medians: Object.fromEntries(procsList.map((p) => [p, {
        perSec: Math.round(med(p, 'perSec')), scale: one === undefined ? null : round(med(p, 'perSec') / one),
        pgCores: round(med(p, 'pgCores')), foremanCores: round(med(p, 'foremanCores')), load1: round(med(p, 'load1'), 1),
      }])),
    }));
  }
}
