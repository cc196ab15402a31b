// Figure: fan-out (G12): ours `scope.pool()` against raw piscina and raw tinypool, each with its defaults except
// the thread count (2 threads: minThreads = maxThreads = 2; ours maxWorkers: 2), all fed the same inputs:
// - map of 100,000 trivial tasks (n => n + 1): ours `pool.map(inputs)`, theirs
//   `Promise.all(inputs.map((i) => pool.run(i)))` — report only: that compares our batching with one message per
//   task, not pools (bench/pool-chunked.mjs gives them the same chunking by hand);
// - map of 2,000 CPU tasks of ~1 ms each (a fixed amount of xorshift work, not a wall-clock wait), against the
//   ideal: tasks x the task's own cost / 2 threads, where the task's cost is measured in a bare worker thread in
//   the same run, interleaved with the maps — target: ours <= 1.1x the ideal;
// - 2,000 `run()`s one at a time (each awaited before the next) — target: ours >= 0.9x piscina;
// - the process runtime's map of the trivial tasks (report only).
// Every pool is created and warmed up before anything is measured and lives for the whole figure; the variants
// rotate through every order repetition by repetition (lib.mjs interleave()).
import { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { Tinypool } from 'tinypool';
import { Supervisor } from 'bgworkers';
import cpuTask from './fixtures/task-cpu.mjs';
import { STEP_TIMEOUT_MS, check, fixture, interleave, ratioOf, result, runEach, series, timeIt, within } from './lib.mjs';

export const name = 'pool';
export const title = 'pool.map / pool.run vs piscina and tinypool';
export const target = '1 ms CPU map <= 1.1x the ideal (work / 2 threads); sequential run >= 0.9x piscina (the trivial map against one run() per input is report only: it measures batching, not pools; pool-chunked.mjs compares like with like)';

const THREADS = 2;
const CPU_TASK_MS = 1;

/** Rounds of the CPU task that take about CPU_TASK_MS on this machine (measured on the main thread). */
function calibrateCpuTask() {
  let k = 100_000;
  for (let i = 0; i < 5; i++) cpuTask(k); // warm up
  for (;;) {
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) cpuTask(k);
    const ms = (performance.now() - t0) / 10;
    if (ms >= CPU_TASK_MS / 4) return Math.round((k * CPU_TASK_MS) / ms);
    k *= 4;
  }
}

export async function run({ quick }) {
  const trivialN = quick ? 2_000 : 100_000;
  const cpuN = quick ? 100 : 2_000;
  const runN = quick ? 200 : 2_000;
  const trivial = Array.from({ length: trivialN }, (_, i) => i);
  const runInputs = trivial.slice(0, runN);
  const k = calibrateCpuTask();
  const cpuInputs = new Array(cpuN).fill(k);
  const expectedCpu = cpuTask(k);

  const verifyTrivial = (n) => (out) => {
    if (out.length !== n || out[0] !== 1 || out[n - 1] !== n) throw new Error(`bench: wrong results of a trivial map (${out.length} results)`);
  };
  const verifyCpu = (out) => {
    if (out.length !== cpuN || out[cpuN - 1] !== expectedCpu) throw new Error('bench: wrong results of a CPU map');
  };
  const trivialFile = fixture('task-trivial.mjs').href;
  const cpuFile = fixture('task-cpu.mjs').href;
  const piscina = { trivial: new Piscina({ filename: trivialFile, minThreads: THREADS, maxThreads: THREADS }), cpu: new Piscina({ filename: cpuFile, minThreads: THREADS, maxThreads: THREADS }) };
  const tinypool = { trivial: new Tinypool({ filename: trivialFile, minThreads: THREADS, maxThreads: THREADS }), cpu: new Tinypool({ filename: cpuFile, minThreads: THREADS, maxThreads: THREADS }) };
  const calibrator = new Worker(fixture('cpu-calibrate.mjs'));
  const calibratorExited = new Promise((resolve) => calibrator.once('exit', resolve));
  await within(new Promise((resolve) => calibrator.once('message', resolve)), STEP_TIMEOUT_MS, 'calibrator: ready');
  const calibrate = () =>
    within(
      new Promise((resolve) => {
        calibrator.once('message', (m) => resolve(m.msPerTask));
        calibrator.postMessage({ k, n: Math.max(50, Math.round(cpuN / 10)) });
      }),
      STEP_TIMEOUT_MS,
      'calibrator',
    );
  const sequential = async (pool) => {
    const out = [];
    for (const i of runInputs) out.push(await pool.run(i));
    return out;
  };

  const supervisor = await Supervisor.start({ logger: false });
  let maps;
  let cpu;
  let runs;
  try {
    ({ maps, cpu, runs } = await supervisor.scope(async (scope) => {
      const ours = {
        trivial: scope.pool({ entry: fixture('task-trivial.mjs'), maxWorkers: THREADS }),
        cpu: scope.pool({ entry: fixture('task-cpu.mjs'), maxWorkers: THREADS }),
        process: scope.pool({ entry: fixture('task-trivial.mjs'), maxWorkers: THREADS, runtime: 'process' }),
      };
      const reps = quick ? 1 : 5;
      const v = (n) => verifyTrivial(n);
      const maps = await interleave(
        {
          ours: () => timeIt('ours map', () => ours.trivial.map(trivial), v(trivialN)),
          piscina: () => timeIt('piscina map', () => runEach(piscina.trivial, trivial), v(trivialN)),
          tinypool: () => timeIt('tinypool map', () => runEach(tinypool.trivial, trivial), v(trivialN)),
          process: () => timeIt('ours process map', () => ours.process.map(trivial), v(trivialN)),
        },
        { warmup: 1, reps },
      );
      const cpu = await interleave(
        {
          ideal: async () => (cpuN * (await calibrate())) / THREADS,
          ours: () => timeIt('ours cpu map', () => ours.cpu.map(cpuInputs), verifyCpu),
          piscina: () => timeIt('piscina cpu map', () => runEach(piscina.cpu, cpuInputs), verifyCpu),
          tinypool: () => timeIt('tinypool cpu map', () => runEach(tinypool.cpu, cpuInputs), verifyCpu),
        },
        { warmup: 1, reps },
      );
      const runs = await interleave(
        {
          ours: () => timeIt('ours run', () => sequential(ours.trivial), v(runN)),
          piscina: () => timeIt('piscina run', () => sequential(piscina.trivial), v(runN)),
          tinypool: () => timeIt('tinypool run', () => sequential(tinypool.trivial), v(runN)),
        },
        { warmup: 1, reps: quick ? 1 : 48 }, // 8 x the 6 orders of 3 variants (24 gave ratios from 0.82x to 1.11x run to run: each repetition is a latency chain)
      );
      return { maps, cpu, runs };
    }));
  } finally {
    await supervisor.shutdown();
    await Promise.all([...Object.values(piscina), ...Object.values(tinypool)].map((p) => p.destroy()));
    await calibrator.terminate();
    await calibratorExited;
  }

  const perSecond = (n) => (ms) => (n * 1000) / ms;
  const hi = { better: 'higher' };
  const t = 'tasks/s';
  const ours = {
    map: series(`map, ${trivialN.toLocaleString('en-US')} trivial tasks`, t, maps.ours.map(perSecond(trivialN)), hi),
    cpu: series(`map, ${cpuN.toLocaleString('en-US')} CPU tasks of ~${CPU_TASK_MS} ms`, 'ms', cpu.ours),
    run: series(`run, ${runN.toLocaleString('en-US')} one at a time`, t, runs.ours.map(perSecond(runN)), hi),
    processMap: series(`process runtime: map, ${trivialN.toLocaleString('en-US')} trivial tasks`, t, maps.process.map(perSecond(trivialN)), hi),
  };
  const baselines = {
    piscinaMap: series('piscina: Promise.all(run) trivial', t, maps.piscina.map(perSecond(trivialN)), hi),
    tinypoolMap: series('tinypool: Promise.all(run) trivial', t, maps.tinypool.map(perSecond(trivialN)), hi),
    ideal: series('ideal CPU map: tasks x task cost (bare worker) / 2', 'ms', cpu.ideal),
    piscinaCpu: series('piscina: Promise.all(run) CPU', 'ms', cpu.piscina),
    tinypoolCpu: series('tinypool: Promise.all(run) CPU', 'ms', cpu.tinypool),
    piscinaRun: series('piscina: run one at a time', t, runs.piscina.map(perSecond(runN)), hi),
    tinypoolRun: series('tinypool: run one at a time', t, runs.tinypool.map(perSecond(runN)), hi),
  };
  return result({
    unit: t,
    ours,
    baselines,
    checks: [
      // Report only: our batching against their one message per task (see pool-chunked.mjs for like with like).
      check('trivial map / piscina one run() per input', ratioOf(ours.map, baselines.piscinaMap), 'x'),
      check('trivial map / tinypool one run() per input', ratioOf(ours.map, baselines.tinypoolMap), 'x'),
      check('CPU map / ideal', ratioOf(ours.cpu, baselines.ideal), 'x', '<=', 1.1),
      check('piscina CPU map / ideal', ratioOf(baselines.piscinaCpu, baselines.ideal), 'x'),
      check('tinypool CPU map / ideal', ratioOf(baselines.tinypoolCpu, baselines.ideal), 'x'),
      check('run one at a time / piscina', ratioOf(ours.run, baselines.piscinaRun), 'x', '>=', 0.9),
      check('run one at a time / tinypool', ratioOf(ours.run, baselines.tinypoolRun), 'x'),
      check('process runtime map / thread map (ours)', ratioOf(ours.processMap, ours.map), 'x'),
    ],
    notes: [
      `CPU task: ${k.toLocaleString('en-US')} xorshift rounds (calibrated to ~${CPU_TASK_MS} ms on the main thread); its cost is re-measured in a bare worker thread each repetition, and the ideal is ${cpuN.toLocaleString('en-US')} x that / ${THREADS}.`,
      'piscina and tinypool: minThreads = maxThreads = 2, every other option at its default (one task per worker at a time).',
    ],
  });
}
