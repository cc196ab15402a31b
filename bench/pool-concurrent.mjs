// Figure: 160,000 concurrent run() calls (and 100,000, report only), ours against piscina and tinypool.
//
// Measured: the time from the first `run()` call to the settling of the last, for
// `Promise.all(inputs.map((i) => pool.run(i)))` over 160,000 (then 100,000) trivial inputs (n => n + 1,
// bench/fixtures/pool-inc.mjs): every task is submitted at once, one `run()` per input, on every pool alike.
// Fairness: like with like, the very same call pattern and task module on each pool, every result checked;
// 2 threads everywhere (minThreads = maxThreads = 2; ours maxWorkers: 2), every other option at its default (piscina's
// and tinypool's maxQueue default to Infinity; ours is left at its default too, which must admit them all). This is
// the case a user who does not know about map() writes; the queueing and dispatch of many pending run()s is what
// is measured, not the task. Every pool is created and warmed up (10,000 runs) before anything is measured and
// lives for the whole figure; the variants rotate order repetition by repetition (lib.mjs interleave()). A
// repetition takes seconds per variant (piscina ~17 k runs/s, tinypool ~5.5 k/s measured here), so the 160,000
// case gets 2 repetitions (one in each direction; piscina runs in the middle of both) and the 100,000 case, ours
// and piscina only, 2 (tinypool's 100,000 concurrent runs of the same task are pool-chunked's "tinypool default").
// Target: ours' time for 160,000 concurrent runs <= piscina's (ratio of medians); the rest is reported.
import { Piscina } from 'piscina';
import { Tinypool } from 'tinypool';
import { Supervisor } from 'bgworkers';
import { check, fixture, interleave, ratioOf, result, series, within } from './lib.mjs';

export const name = 'pool-concurrent';
export const title = '160,000 concurrent pool.run() calls vs piscina and tinypool';
export const target = '160,000 concurrent run()s: ours time <= piscina';

const THREADS = 2;
const STEP_TIMEOUT_MS = 150_000;

/** Every input's run() at once; resolves with the elapsed ms once all settled, after checking every output. */
async function concurrentRuns(what, pool, inputs) {
  const t0 = performance.now();
  const out = await within(Promise.all(inputs.map((i) => pool.run(i))), STEP_TIMEOUT_MS, what);
  const ms = performance.now() - t0;
  if (out.length !== inputs.length) throw new Error(`bench: ${what}: ${out.length} results for ${inputs.length} runs`);
  for (let i = 0; i < out.length; i++) if (out[i] !== inputs[i] + 1) throw new Error(`bench: ${what}: wrong result ${out[i]} for input ${inputs[i]}`);
  return ms;
}

export async function run({ quick }) {
  const big = quick ? 4_000 : 160_000;
  const small = quick ? 2_500 : 100_000;
  const warm = quick ? 500 : 10_000;
  const range = (n) => Array.from({ length: n }, (_, i) => i);
  const inputs = { big: range(big), small: range(small), warm: range(warm) };

  const opts = { filename: fixture('pool-inc.mjs').href, minThreads: THREADS, maxThreads: THREADS };
  const piscina = new Piscina(opts);
  const tinypool = new Tinypool(opts);

  const supervisor = await Supervisor.start({ logger: false });
  let samples;
  try {
    samples = await supervisor.scope(async (scope) => {
      const ours = scope.pool({ entry: fixture('pool-inc.mjs'), maxWorkers: THREADS });
      const variants = (size) => {
        const v = (id, pool) => (round) => concurrentRuns(`${id}, ${size}`, pool, round < 0 ? inputs.warm : inputs[size]);
        return { ours: v('ours', ours), piscina: v('piscina', piscina), tinypool: v('tinypool', tinypool) };
      };
      const bigSamples = await interleave(variants('big'), { warmup: 1, reps: quick ? 1 : 2 });
      const { ours: o, piscina: p } = variants('small');
      const smallSamples = await interleave({ ours: o, piscina: p }, { warmup: 0, reps: quick ? 1 : 2 });
      return { big: bigSamples, small: smallSamples };
    });
  } finally {
    await supervisor.shutdown();
    await Promise.all([piscina.destroy(), tinypool.destroy()]);
  }

  const B = big.toLocaleString('en-US');
  const S = small.toLocaleString('en-US');
  const ours = {
    big: series(`${B} concurrent run()s`, 'ms', samples.big.ours),
    small: series(`${S} concurrent run()s`, 'ms', samples.small.ours),
  };
  const baselines = {
    piscinaBig: series(`piscina: ${B} concurrent run()s`, 'ms', samples.big.piscina),
    tinypoolBig: series(`tinypool: ${B} concurrent run()s`, 'ms', samples.big.tinypool),
    piscinaSmall: series(`piscina: ${S} concurrent run()s`, 'ms', samples.small.piscina),
  };
  return result({
    unit: 'ms',
    ours,
    baselines,
    checks: [
      check(`${B} runs: time / piscina`, ratioOf(ours.big, baselines.piscinaBig), 'x', '<=', 1),
      check(`${B} runs: time / tinypool`, ratioOf(ours.big, baselines.tinypoolBig), 'x'),
      check(`${S} runs: time / piscina`, ratioOf(ours.small, baselines.piscinaSmall), 'x'),
      check(`${B} runs: ours, runs/s (from the median time)`, (big * 1000) / ours.big.median, 'runs/s'),
      check(`${B} runs: piscina, runs/s (from the median time)`, (big * 1000) / baselines.piscinaBig.median, 'runs/s'),
    ],
    notes: [
      `Each variant: Promise.all of one run() per input, every input submitted at once (n => n + 1, bench/fixtures/pool-inc.mjs); ${samples.big.ours.length} repetition(s) of ${B} after a warm-up of ${warm.toLocaleString('en-US')}, then ${samples.small.ours.length} of ${S}.`,
      `piscina and tinypool: minThreads = maxThreads = ${THREADS}, every other option at its default; ours: maxWorkers: ${THREADS}.`,
    ],
  });
}
