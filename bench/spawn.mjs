// Figure: starting and stopping one worker (G12).
//
// - cold: register() → waitForStartup() resolved (the worker's main is running), against a bare
//   `new Worker()` of an ESM module → its first message (posted at the top of the module);
// - warm spare: the same with `spareWorkers: 1`; before each measurement the supervisor is left alone for
//   SPARE_SETTLE_MS, so the spare (started again right after each assignment) has loaded;
// - terminate: terminate() → waitForShutdown() resolved, for a running worker that stops when asked
//   (fixtures/idle.mjs returns when ctx.signal aborts), against a bare `worker.terminate()` → 'exit';
// - process runtime: register() → running against a bare child_process.fork() → its first IPC message (bound
//   1.15x), and the stops likewise (report only).
// One supervisor per configuration, started before anything is measured; variants alternate repetition by
// repetition.
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { Supervisor } from 'bgworkers';
import { check, fixture, interleave, ratioOf, result, series, sleep, within } from './lib.mjs';

export const name = 'spawn';
export const title = 'register → running, and terminate → stopped';
export const target = 'thread, cold: <= 1.15x a bare new Worker() → first message; with a warm spare: <= 0.2x; process: <= 1.15x a bare fork() → first IPC message';

/** A spare loads in ~30 ms here; leave it ample time before a warm-spare measurement. */
const SPARE_SETTLE_MS = 250;
/** Pause before each repetition, so the previous worker's teardown does not overlap the next measurement. */
const PAUSE_MS = 10;
const STEP_TIMEOUT_MS = 30_000;

/** Registers an idle worker; returns [ms to running, ms from terminate() to stopped]. */
async function oursOnce(supervisor, runtime) {
  await sleep(PAUSE_MS);
  const t0 = performance.now();
  const h = supervisor.register({ entry: fixture('idle.mjs'), runtime });
  await within(h.waitForStartup(), STEP_TIMEOUT_MS, `${runtime} worker: startup`);
  const t1 = performance.now();
  h.terminate();
  const exit = await within(h.waitForShutdown(), STEP_TIMEOUT_MS, `${runtime} worker: shutdown`);
  const t2 = performance.now();
  if (exit.reason !== 'completed') throw new Error(`bench: idle worker stopped as ${exit.reason}, expected completed`);
  return [t1 - t0, t2 - t1];
}

/** A bare worker thread or forked child; returns [ms to first message, ms from terminate/kill to 'exit']. */
async function bareOnce(runtime) {
  await sleep(PAUSE_MS);
  const t0 = performance.now();
  const w =
    runtime === 'thread'
      ? new Worker(fixture('bare-idle.mjs'))
      : fork(fixture('bare-idle-process.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((resolve) => w.once('exit', resolve));
  await within(new Promise((resolve) => w.once('message', resolve)), STEP_TIMEOUT_MS, `bare ${runtime}: first message`);
  const t1 = performance.now();
  if (runtime === 'thread') void w.terminate();
  else w.kill('SIGTERM');
  await within(exited, STEP_TIMEOUT_MS, `bare ${runtime}: exit`);
  return [t1 - t0, performance.now() - t1];
}

export async function run({ quick }) {
  const cold = await Supervisor.start({ logger: false });
  const warm = await Supervisor.start({ logger: false, spareWorkers: 1 });
  const stops = { ours: [], bare: [], oursProcess: [], bareProcess: [] };
  const keepStop = (key, pair) => (stops[key].push(pair[1]), pair[0]);
  let thread;
  let proc;
  try {
    await sleep(SPARE_SETTLE_MS);
    thread = await interleave(
      {
        cold: async () => keepStop('ours', await oursOnce(cold, 'thread')),
        spare: async () => {
          await sleep(SPARE_SETTLE_MS);
          return (await oursOnce(warm, 'thread'))[0];
        },
        bare: async () => keepStop('bare', await bareOnce('thread')),
      },
      { warmup: 1, reps: quick ? 2 : 25 },
    );
    proc = await interleave(
      {
        ours: async () => keepStop('oursProcess', await oursOnce(cold, 'process')),
        bare: async () => keepStop('bareProcess', await bareOnce('process')),
      },
      { warmup: 1, reps: quick ? 1 : 12 },
    );
  } finally {
    await Promise.all([cold.shutdown(), warm.shutdown()]);
  }
  // The warm-up's stops are in `stops` too; drop them (the first of each list).
  for (const list of Object.values(stops)) list.shift();
  const ours = {
    cold: series('thread: register → running (cold)', 'ms', thread.cold),
    spare: series('thread: register → running (warm spare)', 'ms', thread.spare),
    terminate: series('thread: terminate() → stopped', 'ms', stops.ours),
    process: series('process: register → running', 'ms', proc.ours),
    processStop: series('process: terminate() → stopped', 'ms', stops.oursProcess),
  };
  const baselines = {
    bare: series('new Worker(ESM) → first message', 'ms', thread.bare),
    bareTerminate: series('worker.terminate() → exit', 'ms', stops.bare),
    fork: series('fork() → first IPC message', 'ms', proc.bare),
    forkStop: series("child.kill('SIGTERM') → exit", 'ms', stops.bareProcess),
  };
  return result({
    unit: 'ms',
    ours,
    baselines,
    checks: [
      check('cold / bare new Worker()', ratioOf(ours.cold, baselines.bare), 'x', '<=', 1.15),
      check('warm spare / bare new Worker()', ratioOf(ours.spare, baselines.bare), 'x', '<=', 0.2),
      check('terminate → stopped / bare terminate → exit', ratioOf(ours.terminate, baselines.bareTerminate), 'x'),
      check('process: register → running / fork → first message', ratioOf(ours.process, baselines.fork), 'x', '<=', 1.15),
      check('process: terminate → stopped / kill → exit', ratioOf(ours.processStop, baselines.forkStop), 'x'),
    ],
    notes: [`Warm spare: the supervisor was left alone ${SPARE_SETTLE_MS} ms before each measurement (a spare loads in ~30 ms).`],
  });
}
