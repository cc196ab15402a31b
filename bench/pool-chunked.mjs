// Figure: map over 100,000 trivial inputs (n => n + 1), ours against piscina and tinypool chunked by hand.
//
// Measured: the time from the call to the last output in input order, as tasks/s, for
// - ours: `pool.map(inputs)` on pool-inc.mjs (the pool batches by itself);
// - piscina and tinypool chunked by hand: pool-inc-chunk.mjs takes an array of inputs and returns the array of
//   outputs; the inputs are sliced into chunks, one `run()` per chunk, all at once (Promise.all), and the outputs
//   copied back into one array in input order (what `map` gives);
// - piscina and tinypool with their defaults, one `run()` per input (Promise.all), report only.
// Fairness: like with like, every variant takes the same 100,000 inputs and ends with the same 100,000 outputs in
// order; slicing the inputs and assembling the outputs are inside the timing for the chunked baselines as ours
// does both inside map(). 2 threads everywhere (minThreads = maxThreads = 2; ours maxWorkers: 2), every other
// option at its default. Each chunked baseline gets its best setup: a calibration step in this same run
// interleaves the candidate sizes (100, 1,000, 5,000, and 25,000 = 2 chunks per thread), each in two
// representations — a plain array, and a Float64Array packed from the inputs and sent in the run()'s
// transferList (its outputs come back as a Float64Array, one block of memory to clone), what ours does for a
// batch of numbers — and keeps, per baseline, the setup with the best median; the main measurement then
// interleaves ours with both winners. Every pool is created and warmed up before anything is measured and lives
// for the whole figure; before the main measurement ours runs as many maps as each baseline pool ran in the
// calibration, so all are equally warm (a fresh pool's first maps run unoptimised code: reported in a note).
// Target: ours >= 1x the best hand-chunked piscina and >= 1x the best hand-chunked tinypool (ratio of medians).
import { Piscina } from 'piscina';
import { Tinypool } from 'tinypool';
import { Supervisor } from 'bgworkers';
import { check, fixture, fmt, interleave, percentile, ratioOf, result, runEach, series, timeIt } from './lib.mjs';

export const name = 'pool-chunked';
export const title = 'pool.map (automatic batching) vs piscina and tinypool chunked by hand';
export const target = 'trivial map >= 1x the best hand-chunked piscina and >= 1x the best hand-chunked tinypool';

const THREADS = 2;

/**
 * One run() per chunk of `size` inputs, all at once; the outputs copied back into one array in input order.
 * `f64`: each chunk is packed into a Float64Array (inside the timing, as ours packs) and transferred.
 */
async function chunked(pool, inputs, size, f64 = false) {
  const parts = [];
  for (let i = 0; i < inputs.length; i += size) {
    if (!f64) {
      parts.push(pool.run(inputs.slice(i, i + size)));
      continue;
    }
    const chunk = new Float64Array(Math.min(size, inputs.length - i));
    for (let j = 0; j < chunk.length; j++) chunk[j] = inputs[i + j];
    parts.push(pool.run(chunk, { transferList: [chunk.buffer] }));
  }
  const outs = await Promise.all(parts);
  const out = new Array(inputs.length);
  let k = 0;
  for (const part of outs) for (let j = 0; j < part.length; j++) out[k++] = part[j];
  return out;
}

export async function run({ quick }) {
  const n = quick ? 5_000 : 100_000;
  const inputs = Array.from({ length: n }, (_, i) => i);
  const warmInputs = inputs.slice(0, Math.min(n, 10_000));
  const twoPerThread = Math.ceil(n / (THREADS * 2));
  const sizes = [...new Set([100, 1_000, 5_000, twoPerThread].filter((s) => s <= twoPerThread))];
  const verify = (len) => (out) => {
    if (out.length !== len || out[0] !== 1 || out[len - 1] !== len) throw new Error(`bench: wrong results of a map (${out.length} results)`);
  };

  const opts = (file) => ({ filename: fixture(file).href, minThreads: THREADS, maxThreads: THREADS });
  const piscina = { one: new Piscina(opts('pool-inc.mjs')), chunk: new Piscina(opts('pool-inc-chunk.mjs')) };
  const tinypool = { one: new Tinypool(opts('pool-inc.mjs')), chunk: new Tinypool(opts('pool-inc-chunk.mjs')) };
  const baselinePools = { piscina: piscina.chunk, tinypool: tinypool.chunk };

  const supervisor = await Supervisor.start({ logger: false });
  let calib;
  let main;
  let defaults;
  let warmOurs;
  try {
    ({ calib, main, defaults, warmOurs } = await supervisor.scope(async (scope) => {
      const ours = scope.pool({ entry: fixture('pool-inc.mjs'), maxWorkers: THREADS });

      // 1. Calibration: every candidate chunk size of both baselines, interleaved.
      const calibVariants = {};
      for (const [id, pool] of Object.entries(baselinePools)) {
        for (const size of sizes) {
          calibVariants[`${id}@${size}`] = () => timeIt(`${id} chunks of ${size}`, () => chunked(pool, inputs, size), verify(n));
          calibVariants[`${id}@f64:${size}`] = () => timeIt(`${id} Float64Array chunks of ${size}`, () => chunked(pool, inputs, size, true), verify(n));
        }
      }
      const calibReps = quick ? 1 : 2 * Object.keys(calibVariants).length;
      const calib = await interleave(calibVariants, { warmup: 1, reps: calibReps });

      // 1b. Ours as warm as the baselines: each baseline pool ran (1 + calibReps) x its variants maps in calibration
      //     (its task function optimised, its heap grown); ours runs as many maps before the main measurement. A
      //     fresh pool's first maps run unoptimised code and are several times slower (reported below).
      const warmOurs = [];
      for (let k = 0; k < (1 + calibReps) * sizes.length * 2; k++) warmOurs.push(await timeIt('ours warm-up', () => ours.map(inputs), verify(n)));

      // 2. Ours against the best setup of each baseline (the bound), and against its best plain-array setup
      //    (reported: the figure as it was measured before the Float64Array setups were added).
      const best = {};
      const bestPlain = {};
      const setups = sizes.flatMap((size) => [{ size, f64: false }, { size, f64: true }]);
      const key = (id, { size, f64 }) => `${id}@${f64 ? 'f64:' : ''}${size}`;
      const fastest = (id, list) => list.reduce((a, b) => (median(calib[key(id, b)]) < median(calib[key(id, a)]) ? b : a));
      for (const id of Object.keys(baselinePools)) {
        best[id] = fastest(id, setups);
        bestPlain[id] = fastest(id, setups.filter((x) => !x.f64));
      }
      const run = (id, setup) => () => timeIt(`${id} chunked`, () => chunked(baselinePools[id], inputs, setup.size, setup.f64), verify(n));
      const main = await interleave(
        {
          ours: () => timeIt('ours map', () => ours.map(inputs), verify(n)),
          piscina: run('piscina', best.piscina),
          tinypool: run('tinypool', best.tinypool),
          piscinaPlain: run('piscina', bestPlain.piscina),
          tinypoolPlain: run('tinypool', bestPlain.tinypool),
        },
        { warmup: 1, reps: quick ? 2 : 20 }, // 2 x the 10 orders of 5 variants (a repetition takes ~10-30 ms)
      );

      // 3. The defaults (one run() per input), report only: ~4-8 s a repetition each, so a small warm-up and
      //    two repetitions (one in each order).
      const one = (id, pool) => (round) => {
        const list = round < 0 ? warmInputs : inputs;
        return timeIt(`${id} default`, () => runEach(pool, list), verify(list.length));
      };
      const defaults = await interleave({ piscina: one('piscina', piscina.one), tinypool: one('tinypool', tinypool.one) }, { warmup: 1, reps: quick ? 1 : 2 });
      return { calib: { samples: calib, best, bestPlain }, main, defaults, warmOurs };
    }));
  } finally {
    await supervisor.shutdown();
    await Promise.all([...Object.values(piscina), ...Object.values(tinypool)].map((p) => p.destroy()));
  }

  const perSecond = (ms) => (n * 1000) / ms;
  const hi = { better: 'higher' };
  const t = 'tasks/s';
  const N = n.toLocaleString('en-US');
  const chunkLabel = ({ size, f64 }) => `${size.toLocaleString('en-US')} inputs a chunk${f64 ? ' as Float64Arrays' : ''}, ${Math.ceil(n / size).toLocaleString('en-US')} run()s`;
  const ours = {
    map: series(`map, ${N} trivial tasks`, t, main.ours.map(perSecond), hi),
  };
  const baselines = {
    piscinaChunked: series(`piscina chunked by hand (best: ${chunkLabel(calib.best.piscina)})`, t, main.piscina.map(perSecond), { ...hi, extra: { chunk: calib.best.piscina.size, float64: calib.best.piscina.f64 } }),
    tinypoolChunked: series(`tinypool chunked by hand (best: ${chunkLabel(calib.best.tinypool)})`, t, main.tinypool.map(perSecond), { ...hi, extra: { chunk: calib.best.tinypool.size, float64: calib.best.tinypool.f64 } }),
    piscinaPlain: series(`piscina chunked by hand, plain arrays only (best: ${chunkLabel(calib.bestPlain.piscina)})`, t, main.piscinaPlain.map(perSecond), hi),
    tinypoolPlain: series(`tinypool chunked by hand, plain arrays only (best: ${chunkLabel(calib.bestPlain.tinypool)})`, t, main.tinypoolPlain.map(perSecond), hi),
    piscinaDefault: series(`piscina default: Promise.all of ${N} run()s`, t, defaults.piscina.map(perSecond), hi),
    tinypoolDefault: series(`tinypool default: Promise.all of ${N} run()s`, t, defaults.tinypool.map(perSecond), hi),
  };
  const calibNote = (id) =>
    `${id} calibration (median tasks/s by chunk size, plain array / Float64Array, ${calib.samples[`${id}@${sizes[0]}`].length} repetitions each): ${sizes
      .map((s) => `${s.toLocaleString('en-US')}: ${fmt(perSecond(median(calib.samples[`${id}@${s}`])))} / ${fmt(perSecond(median(calib.samples[`${id}@f64:${s}`])))}`)
      .join(', ')}; used ${chunkLabel(calib.best[id])}.`;
  return result({
    unit: t,
    ours,
    baselines,
    checks: [
      check('map / best hand-chunked piscina', ratioOf(ours.map, baselines.piscinaChunked), 'x', '>=', 1),
      check('map / best hand-chunked tinypool', ratioOf(ours.map, baselines.tinypoolChunked), 'x', '>=', 1),
      check('map / best plain-array hand-chunked piscina', ratioOf(ours.map, baselines.piscinaPlain), 'x'),
      check('map / best plain-array hand-chunked tinypool', ratioOf(ours.map, baselines.tinypoolPlain), 'x'),
      check('map / piscina default', ratioOf(ours.map, baselines.piscinaDefault), 'x'),
      check('map / tinypool default', ratioOf(ours.map, baselines.tinypoolDefault), 'x'),
      check('piscina chunked / piscina default', ratioOf(baselines.piscinaChunked, baselines.piscinaDefault), 'x'),
      check('tinypool chunked / tinypool default', ratioOf(baselines.tinypoolChunked, baselines.tinypoolDefault), 'x'),
    ],
    notes: [
      calibNote('piscina'),
      calibNote('tinypool'),
      'Chunked baselines: slicing (or packing) the inputs and copying the outputs back into one array (input order) are timed, as map() does both; chunk task: bench/fixtures/pool-inc-chunk.mjs.',
      `piscina and tinypool: minThreads = maxThreads = ${THREADS}, every other option at its default; ours: maxWorkers: ${THREADS}. The defaults (one run() per input) ran ${defaults.piscina.length} repetition(s) each, after a warm-up of ${warmInputs.length.toLocaleString('en-US')} inputs.`,
      `Warm-up: each baseline pool ran ${warmOurs.length} maps in calibration before the main measurement, and ours as many (its first maps, in a fresh pool: ${warmOurs.slice(0, 5).map((ms) => `${ms.toFixed(1)}`).join(', ')} ms; its last five: ${warmOurs.slice(-5).map((ms) => `${ms.toFixed(1)}`).join(', ')} ms).`,
    ],
  });
}

/** The median as series() computes it (nearest rank). */
const median = (samples) => percentile([...samples].sort((a, b) => a - b), 50);
