// Figure: I/O-bound async tasks (each awaits a 5 ms timer), 16 at a time per worker, ours against piscina and
// tinypool: throughput.
//
// Measured: 4,000 tasks (bench/fixtures/pool-sleep.mjs: `await setTimeout(5)`, then return), all submitted at once
// with one `run()` each; throughput = tasks / time from the first call to the last resolution. With 2 workers
// running 16 tasks each at a time, the ideal is 2 x 16 tasks per 5 ms = 6,400 tasks/s (625 ms for 4,000).
// Fairness: like with like, the same task module, inputs and call pattern on every pool, and the same
// concurrency: 2 threads everywhere (minThreads = maxThreads = 2; ours maxWorkers: 2), and 16 tasks per worker
// at a time everywhere: ours `concurrentTasksPerWorker: 16`, piscina `concurrentTasksPerWorker: 16`, and tinypool
// `concurrentTasksPerWorker: 16` too (tinypool 2 has the option, inherited from piscina, and honours it: 1,000
// such tasks take ~3 s with its default of 1 and ~0.25 s with 16). Every other option at its default. tinypool with
// its default (1 task per worker at a time, ~400 tasks/s, ~10 s a repetition) is reported as well, marked as
// such, for what a user who does not set the option gets. Every pool is created and warmed up before anything is
// measured and lives for the whole figure; the variants rotate order repetition by repetition (lib.mjs
// interleave()).
// Target: ours' throughput >= 0.9x piscina's (ratio of medians); tinypool is reported.
import { Piscina } from 'piscina';
import { Tinypool } from 'tinypool';
import { Supervisor } from 'bgworkers';
import { STEP_TIMEOUT_MS, check, fixture, interleave, ratioOf, result, series, within } from './lib.mjs';

export const name = 'pool-async';
export const title = 'async I/O-bound tasks (5 ms timer), 16 per worker: throughput vs piscina and tinypool';
export const target = 'throughput >= 0.9x piscina (both with concurrentTasksPerWorker: 16)';

const THREADS = 2;
const PER_WORKER = 16;
const SLEEP_MS = 5;

/** Every task's run() at once; resolves with the elapsed ms once all resolved, after checking every output. */
async function submitAll(what, pool, n) {
  const t0 = performance.now();
  const pending = new Array(n);
  for (let i = 0; i < n; i++) pending[i] = pool.run(SLEEP_MS);
  const out = await within(Promise.all(pending), STEP_TIMEOUT_MS, what);
  const ms = performance.now() - t0;
  if (out.length !== n || out.some((o) => o !== SLEEP_MS)) throw new Error(`bench: ${what}: wrong results`);
  return ms;
}

export async function run({ quick }) {
  const n = quick ? 400 : 4_000;
  const warmN = quick ? 100 : 400;
  const file = fixture('pool-sleep.mjs').href;
  const piscina = new Piscina({ filename: file, minThreads: THREADS, maxThreads: THREADS, concurrentTasksPerWorker: PER_WORKER });
  const tinypool = new Tinypool({ filename: file, minThreads: THREADS, maxThreads: THREADS, concurrentTasksPerWorker: PER_WORKER });
  const tinypoolDefault = new Tinypool({ filename: file, minThreads: THREADS, maxThreads: THREADS });

  const supervisor = await Supervisor.start({ logger: false });
  let main;
  let defaults;
  try {
    ({ main, defaults } = await supervisor.scope(async (scope) => {
      const ours = scope.pool({ entry: fixture('pool-sleep.mjs'), maxWorkers: THREADS, concurrentTasksPerWorker: PER_WORKER });
      const v = (id, pool, warm = warmN) => (round) => submitAll(id, pool, round < 0 ? warm : n);
      const main = await interleave(
        { ours: v('ours', ours), piscina: v('piscina', piscina), tinypool: v('tinypool', tinypool) },
        { warmup: 1, reps: quick ? 1 : 12 }, // 2 x the 6 orders of 3 variants (~0.7 s a repetition)
      );
      // tinypool's default: ~10 s a repetition at 4,000 tasks, so a small warm-up and 2 repetitions.
      const defaults = await interleave({ tinypoolDefault: v('tinypool default', tinypoolDefault, 40) }, { warmup: 1, reps: quick ? 1 : 2 });
      return { main, defaults };
    }));
  } finally {
    await supervisor.shutdown();
    await Promise.all([piscina.destroy(), tinypool.destroy(), tinypoolDefault.destroy()]);
  }

  const perSecond = (ms) => (n * 1000) / ms;
  const hi = { better: 'higher' };
  const t = 'tasks/s';
  const N = n.toLocaleString('en-US');
  const ours = {
    run: series(`${N} async tasks (${SLEEP_MS} ms timer), concurrentTasksPerWorker: ${PER_WORKER}`, t, main.ours.map(perSecond), hi),
  };
  const baselines = {
    piscina: series(`piscina, concurrentTasksPerWorker: ${PER_WORKER}`, t, main.piscina.map(perSecond), hi),
    tinypool: series(`tinypool, concurrentTasksPerWorker: ${PER_WORKER}`, t, main.tinypool.map(perSecond), hi),
    tinypoolDefault: series('tinypool DEFAULT (1 task per worker at a time; not like with like)', t, defaults.tinypoolDefault.map(perSecond), hi),
  };
  const ideal = (THREADS * PER_WORKER * 1000) / SLEEP_MS;
  return result({
    unit: t,
    ours,
    baselines,
    checks: [
      check('throughput / piscina', ratioOf(ours.run, baselines.piscina), 'x', '>=', 0.9),
      check('throughput / tinypool', ratioOf(ours.run, baselines.tinypool), 'x'),
      check('throughput / tinypool default (not like with like)', ratioOf(ours.run, baselines.tinypoolDefault), 'x'),
      check(`throughput / ideal (${THREADS} x ${PER_WORKER} per ${SLEEP_MS} ms)`, ours.run.median / ideal, 'x'),
      check('piscina throughput / ideal', baselines.piscina.median / ideal, 'x'),
    ],
    notes: [
      `${N} tasks, each awaiting a ${SLEEP_MS} ms timer (bench/fixtures/pool-sleep.mjs), all submitted at once with run(); ideal ${ideal.toLocaleString('en-US')} tasks/s.`,
      `ours: maxWorkers: ${THREADS}, concurrentTasksPerWorker: ${PER_WORKER}; piscina and tinypool: minThreads = maxThreads = ${THREADS}, concurrentTasksPerWorker: ${PER_WORKER} (tinypool 2 has the option too), every other option at its default.`,
      `tinypool DEFAULT: the same pool without concurrentTasksPerWorker (1 task per worker at a time), ${defaults.tinypoolDefault.length} repetition(s), report only.`,
    ],
  });
}
