// Figure: round trips per second between the main thread and one worker (G12).
//
// Ours: the registrant resets its latch (myLatch()), sets the worker's (handle.latch) and waits for its own; the
// worker (fixtures/pong.mjs) waits for its latch, resets it and sets the registrant's (ctx.registrantLatch) —
// both sides with waitSync(), both with waitSync({ timeoutMs }) (users pass timeouts: a deadline and a clock read
// per wait), or both with wait(). The same with a process worker (every set is relayed by the supervisor thread
// and a pipe), against a fork() IPC echo (bound 0.8x).
// Baselines, each a bare worker on raw shared memory or messages (fixtures/raw-pong.mjs, echo.mjs); each of ours
// is checked against the one that does the same work:
// - raw spin+wait: the best hand-written Atomics ping-pong (spin up to 2,000 loads, then Atomics.wait, notify only
//   when the other side sleeps) — for waitSync();
// - raw spin+wait with a timeout: the same, a deadline per wait and the time left given to Atomics.wait — for
//   waitSync({ timeoutMs });
// - raw spin+waitAsync: spin up to 200 loads (as wait() does), then Atomics.waitAsync as a counted sleeper — for
//   wait();
// - raw waitAsync: Atomics.waitAsync on both sides, no spinning (report only: what wait() gains by spinning);
// - postMessage: the worker posts every message back; the main thread awaits each reply;
// - process: a forked child that sends every IPC message back (for the process runtime's figure).
// Every repetition runs for REP_MS; the variants alternate repetition by repetition.
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { Supervisor, checkForInterrupts, myLatch } from 'bgworkers';
import { PING, PONG, SPIN_LOADS, SPIN_LOADS_ASYNC, TIMEOUT_MS, signal, waitChange, waitChangeAsync, waitChangeTimed } from './fixtures/raw-protocol.mjs';
import { check, fixture, interleave, ratioOf, result, series, within } from './lib.mjs';

export const name = 'latch-pingpong';
export const title = 'latch ping-pong, main thread <-> worker';
export const target = 'waitSync() >= 0.67x raw spin+wait and >= 10x postMessage; waitSync({ timeoutMs }) >= 0.67x raw timed spin+wait; wait() >= 0.67x raw spin+waitAsync; process worker >= 0.8x a fork() IPC echo';

/** Round trips between two clock reads. */
const BATCH = 64;
const STARTUP_TIMEOUT_MS = 30_000;

/** Runs `rounds(BATCH)` until `ms` have passed; returns round trips per second. */
async function timed(ms, rounds) {
  let done = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    const r = rounds(BATCH);
    if (r !== undefined) await r;
    done += BATCH;
    t = performance.now();
  }
  return done / ((t - t0) / 1000);
}

function oursSync(theirs, options) {
  const mine = myLatch();
  return (n) => {
    for (let i = 0; i < n; i++) {
      mine.reset();
      theirs.set();
      while (!mine.waitSync(options).latchSet) checkForInterrupts();
    }
  };
}

function oursAsync(theirs) {
  const mine = myLatch();
  return async (n) => {
    for (let i = 0; i < n; i++) {
      mine.reset();
      theirs.set();
      while (!(await mine.wait()).latchSet) checkForInterrupts();
    }
  };
}

/** A bare worker, once it said 'ready'; `w.exited` resolves when it exits (listened to from the start). */
async function bareWorker(file, workerData) {
  const w = new Worker(fixture(file), { workerData });
  w.exited = new Promise((resolve) => w.once('exit', resolve));
  await within(new Promise((resolve) => w.once('message', resolve)), STARTUP_TIMEOUT_MS, `${file}: ready`);
  return w;
}

export async function run({ quick }) {
  const repMs = quick ? 30 : 250;
  const reps = quick ? 2 : 12;

  // Raw spin+wait.
  const spinWords = new Int32Array(new SharedArrayBuffer(16));
  const spinWorker = await bareWorker('raw-pong.mjs', { sab: spinWords.buffer, mode: 'spin' });
  let spinSeq = 0;
  const rawSpin = (n) => {
    for (let i = 0; i < n; i++) {
      signal(spinWords, PING, ++spinSeq);
      waitChange(spinWords, PONG, spinSeq - 1, SPIN_LOADS);
    }
  };
  // Raw spin+wait with a timeout on every wait.
  const timedWords = new Int32Array(new SharedArrayBuffer(16));
  const timedWorker = await bareWorker('raw-pong.mjs', { sab: timedWords.buffer, mode: 'spin-timed' });
  let timedSeq = 0;
  const rawSpinTimed = (n) => {
    for (let i = 0; i < n; i++) {
      signal(timedWords, PING, ++timedSeq);
      waitChangeTimed(timedWords, PONG, timedSeq - 1, SPIN_LOADS, TIMEOUT_MS);
    }
  };
  // Raw spin+waitAsync.
  const spinAsyncWords = new Int32Array(new SharedArrayBuffer(16));
  const spinAsyncWorker = await bareWorker('raw-pong.mjs', { sab: spinAsyncWords.buffer, mode: 'spin-async' });
  let spinAsyncSeq = 0;
  const rawSpinAsync = async (n) => {
    for (let i = 0; i < n; i++) {
      signal(spinAsyncWords, PING, ++spinAsyncSeq);
      await waitChangeAsync(spinAsyncWords, PONG, spinAsyncSeq - 1, SPIN_LOADS_ASYNC);
    }
  };
  // Raw waitAsync.
  const asyncWords = new Int32Array(new SharedArrayBuffer(16));
  const asyncWorker = await bareWorker('raw-pong.mjs', { sab: asyncWords.buffer, mode: 'async' });
  let asyncSeq = 0;
  const rawAsync = async (n) => {
    for (let i = 0; i < n; i++) {
      Atomics.store(asyncWords, PING, ++asyncSeq);
      Atomics.notify(asyncWords, PING);
      while (Atomics.load(asyncWords, PONG) !== asyncSeq) {
        const r = Atomics.waitAsync(asyncWords, PONG, asyncSeq - 1);
        if (r.async) await r.value;
      }
    }
  };
  // postMessage.
  const echo = await bareWorker('echo.mjs');
  let answer;
  echo.on('message', (m) => answer(m));
  const postMessage = async (n) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => ((answer = resolve), echo.postMessage(i)));
  };
  // Fork IPC.
  const child = fork(fixture('echo-process.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await within(new Promise((resolve) => child.once('message', resolve)), STARTUP_TIMEOUT_MS, 'echo-process: ready');
  let ipcAnswer;
  child.on('message', (m) => ipcAnswer(m));
  const ipc = async (n) => {
    for (let i = 0; i < n; i++) await new Promise((resolve) => ((ipcAnswer = resolve), child.send(i)));
  };

  const supervisor = await Supervisor.start({ logger: false });
  let samples;
  try {
    samples = await supervisor.scope(async (scope) => {
      const reg = (wait, runtime, timeoutMs) => scope.register({ entry: fixture('pong.mjs'), data: { wait, timeoutMs }, runtime, ephemeral: true, precious: true });
      const syncW = reg('sync', 'thread');
      const timedW = reg('sync', 'thread', TIMEOUT_MS);
      const asyncW = reg('async', 'thread');
      const procW = reg('sync', 'process');
      await within(Promise.all([syncW, timedW, asyncW, procW].map((h) => h.waitForStartup())), STARTUP_TIMEOUT_MS, 'pong workers: startup');
      return interleave(
        {
          waitSync: () => timed(repMs, oursSync(syncW.latch)),
          rawSpin: () => timed(repMs, rawSpin),
          waitSyncTimed: () => timed(repMs, oursSync(timedW.latch, { timeoutMs: TIMEOUT_MS })),
          rawSpinTimed: () => timed(repMs, rawSpinTimed),
          wait: () => timed(repMs, oursAsync(asyncW.latch)),
          rawSpinAsync: () => timed(repMs, rawSpinAsync),
          rawAsync: () => timed(repMs, rawAsync),
          postMessage: () => timed(repMs, postMessage),
          process: () => timed(repMs, oursSync(procW.latch)),
          ipc: () => timed(repMs, ipc),
        },
        { warmup: 1, reps },
      );
    });
  } finally {
    await supervisor.shutdown();
    signal(spinWords, PING, -1);
    signal(timedWords, PING, -1);
    signal(spinAsyncWords, PING, -1);
    Atomics.store(asyncWords, PING, -1);
    Atomics.notify(asyncWords, PING);
    await echo.terminate();
    child.kill();
    await within(Promise.all([spinWorker.exited, timedWorker.exited, spinAsyncWorker.exited, asyncWorker.exited]), STARTUP_TIMEOUT_MS, 'raw-pong: exit');
  }

  const rt = 'round trips/s';
  const opts = { better: 'higher' };
  const ours = {
    waitSync: series('ours, waitSync() both sides', rt, samples.waitSync, opts),
    waitSyncTimed: series('ours, waitSync({ timeoutMs: 10000 }) both sides', rt, samples.waitSyncTimed, opts),
    wait: series('ours, wait() both sides', rt, samples.wait, opts),
    process: series('ours, process worker, waitSync() both sides', rt, samples.process, opts),
  };
  const baselines = {
    rawSpin: series('raw Atomics: spin 2,000 loads, then Atomics.wait', rt, samples.rawSpin, opts),
    rawSpinTimed: series('raw Atomics: spin 2,000 loads, then Atomics.wait with a 10 s timeout', rt, samples.rawSpinTimed, opts),
    rawSpinAsync: series('raw Atomics: spin 200 loads, then Atomics.waitAsync', rt, samples.rawSpinAsync, opts),
    rawAsync: series('raw Atomics.waitAsync (no spinning)', rt, samples.rawAsync, opts),
    postMessage: series('postMessage echo (worker thread)', rt, samples.postMessage, opts),
    ipc: series('fork() IPC echo (child process)', rt, samples.ipc, opts),
  };
  return result({
    unit: rt,
    ours,
    baselines,
    checks: [
      check('waitSync() / raw spin+wait', ratioOf(ours.waitSync, baselines.rawSpin), 'x', '>=', 0.67),
      check('waitSync() / postMessage', ratioOf(ours.waitSync, baselines.postMessage), 'x', '>=', 10),
      check('waitSync({ timeoutMs }) / raw timed spin+wait', ratioOf(ours.waitSyncTimed, baselines.rawSpinTimed), 'x', '>=', 0.67),
      check('waitSync({ timeoutMs }) / waitSync()', ratioOf(ours.waitSyncTimed, ours.waitSync), 'x'),
      check('wait() / raw spin+waitAsync', ratioOf(ours.wait, baselines.rawSpinAsync), 'x', '>=', 0.67),
      check('wait() / raw waitAsync (no spinning)', ratioOf(ours.wait, baselines.rawAsync), 'x'),
      check('process worker / fork() IPC echo', ratioOf(ours.process, baselines.ipc), 'x', '>=', 0.8),
    ],
    notes: [`${reps} repetitions of ${repMs} ms per variant, interleaved, after one warm-up repetition each.`],
  });
}
