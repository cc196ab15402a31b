// Figure: uneven CPU tasks, 90% short (0.1 ms) and 10% long (20 ms), each submitted with run(), ours against
// piscina and tinypool: per-task latency (p50, p99) and total time.
//
// Measured: 2,000 tasks (bench/fixtures/task-cpu.mjs: k rounds of xorshift, a fixed amount of CPU work, with k
// calibrated on this machine in this run for 0.1 ms and 20 ms), all submitted at once with one `run()` each, in a
// fixed order: 200 long tasks placed among the 1,800 short ones by a seeded shuffle (the same order for every
// variant and every repetition). A task's latency is the time from its `run()` call to its promise's resolution;
// per repetition the figure takes the p50 and p99 over the 2,000 tasks, and the total time from the first call to
// the last resolution.
// Fairness: like with like, the same task module, the same inputs in the same order, the same call pattern (one
// run() per task, all at once) on every pool; 2 threads everywhere (minThreads = maxThreads = 2; ours
// maxWorkers: 2), every other option at its default (one task per worker at a time on all three, the right setting
// for CPU-bound work). A task's work is counted in rounds rather than timed against the clock, so a scheduler that
// puts two tasks on one thread cannot hide behind a busy-wait that ends on time anyway. Every pool is created and
// warmed up before anything is measured and lives for the whole figure; the variants rotate order repetition by
// repetition (lib.mjs interleave()). The check compares medians over the repetitions of each repetition's p99.
// Target: ours' p99 latency <= piscina's p99 (ratio of medians of the per-repetition p99); p50, total time and
// tinypool are reported.
import { Piscina } from 'piscina';
import { Tinypool } from 'tinypool';
import { Supervisor } from 'bgworkers';
import cpu from './fixtures/task-cpu.mjs';
import { STEP_TIMEOUT_MS, check, fixture, fmt, interleave, percentile, ratioOf, result, series, within } from './lib.mjs';
import { mulberry32, shuffle } from '../scripts/prng.mjs';

export const name = 'pool-uneven';
export const title = 'uneven tasks (90% 0.1 ms, 10% 20 ms) with run(): latency p50/p99 vs piscina and tinypool';
export const target = 'p99 latency <= piscina p99';

const THREADS = 2;
const SHORT_MS = 0.1;
const LONG_MS = 20;
const LONG_FRACTION = 0.1;
const SEED = 0x5eed;

/** xorshift rounds per ms on this machine: the best of 5 timings of at least 5 ms each, on the main thread. */
function roundsPerMs() {
  let k = 100_000;
  for (let i = 0; i < 5; i++) cpu(k); // warm up
  for (;;) {
    let best = Infinity;
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      cpu(k);
      best = Math.min(best, performance.now() - t0);
    }
    if (best >= 5) return k / best;
    k *= 2;
  }
}

/** `n` flags, `round(n * LONG_FRACTION)` of them true (long), in a seeded Fisher-Yates order. */
function pattern(n) {
  const longs = Math.round(n * LONG_FRACTION);
  return shuffle(Array.from({ length: n }, (_, i) => i < longs), mulberry32(SEED));
}

/**
 * Submits every input with run() at once; resolves with { total, latencies } (ms), after checking every output
 * against `expected`.
 */
async function submitAll(what, pool, inputs, expected) {
  const latencies = new Array(inputs.length);
  const t0 = performance.now();
  const pending = new Array(inputs.length);
  for (let i = 0; i < inputs.length; i++) {
    const t = performance.now();
    pending[i] = pool.run(inputs[i]).then((out) => {
      latencies[i] = performance.now() - t;
      if (out !== expected[i]) throw new Error(`bench: ${what}: wrong result for task ${i}`);
    });
  }
  await within(Promise.all(pending), STEP_TIMEOUT_MS, what);
  return { total: performance.now() - t0, latencies };
}

export async function run({ quick }) {
  const n = quick ? 400 : 2_000;
  const warmN = quick ? 100 : 200;
  const perMs = roundsPerMs();
  const kShort = Math.max(1, Math.round(perMs * SHORT_MS));
  const kLong = Math.round(perMs * LONG_MS);
  const outShort = cpu(kShort);
  const outLong = cpu(kLong);
  const flags = pattern(n);
  const inputs = flags.map((long) => (long ? kLong : kShort));
  const expected = flags.map((long) => (long ? outLong : outShort));
  const longs = flags.filter(Boolean).length;

  const opts = { filename: fixture('task-cpu.mjs').href, minThreads: THREADS, maxThreads: THREADS };
  const piscina = new Piscina(opts);
  const tinypool = new Tinypool(opts);
  const ids = ['ours', 'piscina', 'tinypool'];
  const reps = Object.fromEntries(ids.map((id) => [id, []])); // per repetition: { total, latencies }

  const supervisor = await Supervisor.start({ logger: false });
  try {
    await supervisor.scope(async (scope) => {
      const pools = { ours: scope.pool({ entry: fixture('task-cpu.mjs'), maxWorkers: THREADS }), piscina, tinypool };
      const variant = (id) => async (round) => {
        // The warm-up runs the first warmN tasks of the same pattern (long ones among them).
        const r = await submitAll(id, pools[id], round < 0 ? inputs.slice(0, warmN) : inputs, round < 0 ? expected.slice(0, warmN) : expected);
        if (round >= 0) reps[id].push(r);
        return r.total;
      };
      await interleave(Object.fromEntries(ids.map((id) => [id, variant(id)])), { warmup: 1, reps: quick ? 1 : 6 }); // 6 = the 6 orders of 3 variants
    });
  } finally {
    await supervisor.shutdown();
    await Promise.all([piscina.destroy(), tinypool.destroy()]);
  }

  const sorted = (a) => [...a].sort((x, y) => x - y);
  const perRep = (id, p) => reps[id].map((r) => percentile(sorted(r.latencies), p));
  const of = (id, prefix) => ({
    latency: series(`${prefix}latency per task (${n.toLocaleString('en-US')} tasks x ${reps[id].length} repetitions pooled)`, 'ms', reps[id].flatMap((r) => r.latencies), { percentiles: true }),
    p50: series(`${prefix}p50 latency of a repetition`, 'ms', perRep(id, 50)),
    p99: series(`${prefix}p99 latency of a repetition`, 'ms', perRep(id, 99)),
    total: series(`${prefix}total time of a repetition`, 'ms', reps[id].map((r) => r.total)),
  });
  const ours = of('ours', '');
  const p = of('piscina', 'piscina: ');
  const t = of('tinypool', 'tinypool: ');
  const baselines = {
    piscinaLatency: p.latency,
    piscinaP50: p.p50,
    piscinaP99: p.p99,
    piscinaTotal: p.total,
    tinypoolLatency: t.latency,
    tinypoolP50: t.p50,
    tinypoolP99: t.p99,
    tinypoolTotal: t.total,
  };
  const idealTotal = ((n - longs) * (kShort / perMs) + longs * (kLong / perMs)) / THREADS;
  return result({
    unit: 'ms',
    ours,
    baselines,
    checks: [
      check('p99 latency / piscina', ratioOf(ours.p99, p.p99), 'x', '<=', 1),
      check('p99 latency / tinypool', ratioOf(ours.p99, t.p99), 'x'),
      check('p50 latency / piscina', ratioOf(ours.p50, p.p50), 'x'),
      check('p50 latency / tinypool', ratioOf(ours.p50, t.p50), 'x'),
      check('total time / piscina', ratioOf(ours.total, p.total), 'x'),
      check('total time / tinypool', ratioOf(ours.total, t.total), 'x'),
      check('total time / ideal (work / 2 threads)', ours.total.median / idealTotal, 'x'),
    ],
    notes: [
      `${n.toLocaleString('en-US')} tasks: ${(n - longs).toLocaleString('en-US')} of ${kShort.toLocaleString('en-US')} xorshift rounds (~${SHORT_MS} ms) and ${longs} of ${kLong.toLocaleString('en-US')} (~${LONG_MS} ms), calibrated at ${fmt(perMs * 1000)} rounds/s on the main thread; the long ones placed by a seeded shuffle (seed ${SEED}), the same order for every variant; ideal total ${fmt(idealTotal)} ms (the work / ${THREADS} threads).`,
      `All tasks submitted at once with run(); latency = run() call to resolution. The p50/p99 checks compare medians over the ${reps.ours.length} repetition(s) of each repetition's own percentile; the pooled latency rows show p50 (median) and p99 over every task of every repetition.`,
      `piscina and tinypool: minThreads = maxThreads = ${THREADS}, every other option at its default; ours: maxWorkers: ${THREADS}.`,
    ],
  });
}
