// Figure: round trips per second between the main thread and one worker (G12).
//
// Ours: the registrant resets its latch (myLatch()), sets the worker's (handle.latch) and waits for its own; the
// worker (fixtures/pong.mjs) waits for its latch, resets it, calls checkForInterrupts() and sets the registrant's
// (ctx.registrantLatch) — both sides with waitSync(), both with waitSync({ timeoutMs }) (users pass timeouts: a
// deadline and a clock read per wait), or both with wait(). The same with a process worker (the registrant writes
// each set into the child's control pipe; the child's answer comes up its signal pipe, through the supervisor
// thread), against a fork() IPC echo (bound 0.8x).
// Baselines, each a bare worker on raw shared memory or messages (fixtures/raw-pong.mjs, echo.mjs). The bounds
// are against the hand-written latch (raw-protocol.mjs): exactly the API's protocol — a flag word reset by its
// owner and set by the other side, a sleeper count, the same checks, spins and sleeps as src/shared/latch.ts —
// without the library's hooks:
// - hand latch, spin+wait: for waitSync();
// - hand latch, spin+wait with a timeout (a deadline per wait, the clock read as ours reads it, the time left
//   given to Atomics.wait): for waitSync({ timeoutMs });
// - hand latch, spin+waitAsync (spin as wait() does, then Atomics.waitAsync as a counted sleeper): for wait().
// Reported only:
// - raw one-word handoff: a sequence word per direction (nothing to reset), spin then Atomics.wait — the least
//   any ping-pong can do, below what a latch promises;
// - raw waitAsync: Atomics.waitAsync on both sides, no spinning (what wait() gains by spinning);
// - postMessage: the worker posts every message back; the main thread awaits each reply;
// - process: a forked child that sends every IPC message back (for the process runtime's figure).
// Warm: every repetition runs for REP_MS on one long-lived worker per variant. Cold: a fresh worker per sample
// (started outside the measured window), timed over its first COLD_ROUNDS round trips — what a short run sees,
// with the worker's latch code not yet optimised. The variants alternate repetition by repetition.
import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { Supervisor, checkForInterrupts, myLatch } from 'bgworkers';
import { LATCH_INTS, LATCH_PING, LATCH_PONG, LATCH_STOP, PING, PONG, SPIN_LOADS, SPIN_LOADS_ASYNC, TIMEOUT_MS, latchReset, latchSet, latchWait, latchWaitAsync, latchWaitTimed, signal, waitChange } from './fixtures/raw-protocol.mjs';
import { check, fixture, interleave, ratioOf, result, series, within } from './lib.mjs';

export const name = 'latch-pingpong';
export const title = 'latch ping-pong, main thread <-> worker';
export const target = 'waitSync() and waitSync({ timeoutMs }) >= 0.8x the hand-written latch, cold and warm; wait() >= 1x the hand-written spin+waitAsync latch; waitSync() >= 10x postMessage; process worker >= 0.8x a fork() IPC echo';

/** Round trips between two clock reads. */
const BATCH = 64;
/** Round trips of a cold sample: the first ones of a fresh worker. */
const COLD_ROUNDS = 30_000;
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

/** Round trips per second over exactly `n` round trips (the cold samples). */
function timedRounds(n, rounds) {
  const t0 = performance.now();
  rounds(n);
  return n / ((performance.now() - t0) / 1000);
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

/** The main thread's side of the hand-written latch ping-pong (raw-protocol.mjs): reset mine, set theirs, wait. */
function handSync(i32, timedOut) {
  return (n) => {
    for (let i = 0; i < n; i++) {
      latchReset(i32, LATCH_PONG);
      latchSet(i32, LATCH_PING);
      if (timedOut === undefined) latchWait(i32, LATCH_PONG, SPIN_LOADS);
      else while (!latchWaitTimed(i32, LATCH_PONG, SPIN_LOADS, TIMEOUT_MS)) timedOut();
    }
  };
}

function handAsync(i32) {
  return async (n) => {
    for (let i = 0; i < n; i++) {
      latchReset(i32, LATCH_PONG);
      latchSet(i32, LATCH_PING);
      await latchWaitAsync(i32, LATCH_PONG, SPIN_LOADS_ASYNC);
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

/** A bare worker playing the hand-written latch (mode 'latch', 'latch-timed' or 'latch-async'), and its stop. */
async function handWorker(mode) {
  const i32 = new Int32Array(new SharedArrayBuffer(LATCH_INTS * 4));
  const w = await bareWorker('raw-pong.mjs', { sab: i32.buffer, mode });
  const stop = async () => {
    Atomics.store(i32, LATCH_STOP, 1);
    latchSet(i32, LATCH_PING);
    await within(w.exited, STARTUP_TIMEOUT_MS, `raw-pong ${mode}: exit`);
  };
  return { i32, stop };
}

const tooSlow = () => {
  throw new Error(`bench: a timed wait of ${TIMEOUT_MS} ms expired in a ping-pong`);
};

export async function run({ quick }) {
  const repMs = quick ? 30 : 250;
  const reps = quick ? 2 : 12;
  const coldRounds = quick ? 1_000 : COLD_ROUNDS;

  // Raw one-word handoff: spin+wait on a sequence word per direction.
  const spinWords = new Int32Array(new SharedArrayBuffer(16));
  const spinWorker = await bareWorker('raw-pong.mjs', { sab: spinWords.buffer, mode: 'spin' });
  let spinSeq = 0;
  const rawSpin = (n) => {
    for (let i = 0; i < n; i++) {
      signal(spinWords, PING, ++spinSeq);
      waitChange(spinWords, PONG, spinSeq - 1, SPIN_LOADS);
    }
  };
  // The hand-written latch, warm: one long-lived worker per kind of wait.
  const hand = await handWorker('latch');
  const handTimed = await handWorker('latch-timed');
  const handAsyncW = await handWorker('latch-async');
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
      const started = async (h) => (await within(h.waitForStartup(), STARTUP_TIMEOUT_MS, 'pong worker: startup'), h);
      // Cold, ours: a fresh worker per sample, stopped (on request: a precious worker aborts nothing) afterwards.
      const oursCold = async (timeoutMs) => {
        const h = await started(reg('sync', 'thread', timeoutMs));
        const rate = timedRounds(coldRounds, oursSync(h.latch, timeoutMs === undefined ? undefined : { timeoutMs }));
        h.terminate();
        await within(h.waitForShutdown(), STARTUP_TIMEOUT_MS, 'pong worker: shutdown');
        return rate;
      };
      const handCold = async (mode) => {
        const w = await handWorker(mode);
        const rate = timedRounds(coldRounds, handSync(w.i32, mode === 'latch' ? undefined : tooSlow));
        await w.stop();
        return rate;
      };
      const [syncW, timedW, asyncW, procW] = await Promise.all([reg('sync', 'thread'), reg('sync', 'thread', TIMEOUT_MS), reg('async', 'thread'), reg('sync', 'process')].map(started));
      return interleave(
        {
          waitSync: () => timed(repMs, oursSync(syncW.latch)),
          hand: () => timed(repMs, handSync(hand.i32)),
          rawSpin: () => timed(repMs, rawSpin),
          waitSyncTimed: () => timed(repMs, oursSync(timedW.latch, { timeoutMs: TIMEOUT_MS })),
          handTimed: () => timed(repMs, handSync(handTimed.i32, tooSlow)),
          wait: () => timed(repMs, oursAsync(asyncW.latch)),
          handAsync: () => timed(repMs, handAsync(handAsyncW.i32)),
          rawAsync: () => timed(repMs, rawAsync),
          postMessage: () => timed(repMs, postMessage),
          process: () => timed(repMs, oursSync(procW.latch)),
          ipc: () => timed(repMs, ipc),
          coldWaitSync: () => oursCold(undefined),
          coldHand: () => handCold('latch'),
          coldWaitSyncTimed: () => oursCold(TIMEOUT_MS),
          coldHandTimed: () => handCold('latch-timed'),
        },
        { warmup: 1, reps },
      );
    });
  } finally {
    await supervisor.shutdown();
    signal(spinWords, PING, -1);
    Atomics.store(asyncWords, PING, -1);
    Atomics.notify(asyncWords, PING);
    await Promise.all([hand.stop(), handTimed.stop(), handAsyncW.stop()]);
    await echo.terminate();
    child.kill();
    await within(Promise.all([spinWorker.exited, asyncWorker.exited]), STARTUP_TIMEOUT_MS, 'raw-pong: exit');
  }

  const rt = 'round trips/s';
  const opts = { better: 'higher' };
  const cold = `first ${coldRounds.toLocaleString('en-US')} round trips of a fresh worker`;
  const ours = {
    waitSync: series('ours, waitSync() both sides (warm)', rt, samples.waitSync, opts),
    coldWaitSync: series(`ours, waitSync() both sides (cold: ${cold})`, rt, samples.coldWaitSync, opts),
    waitSyncTimed: series('ours, waitSync({ timeoutMs: 10000 }) both sides (warm)', rt, samples.waitSyncTimed, opts),
    coldWaitSyncTimed: series(`ours, waitSync({ timeoutMs: 10000 }) both sides (cold: ${cold})`, rt, samples.coldWaitSyncTimed, opts),
    wait: series('ours, wait() both sides', rt, samples.wait, opts),
    process: series('ours, process worker, waitSync() both sides', rt, samples.process, opts),
  };
  const baselines = {
    hand: series('hand-written latch: spin 2,000 loads, then Atomics.wait (warm)', rt, samples.hand, opts),
    coldHand: series(`hand-written latch: spin 2,000 loads, then Atomics.wait (cold: ${cold})`, rt, samples.coldHand, opts),
    handTimed: series('hand-written latch: the same with a 10 s timeout per wait (warm)', rt, samples.handTimed, opts),
    coldHandTimed: series(`hand-written latch: the same with a 10 s timeout per wait (cold: ${cold})`, rt, samples.coldHandTimed, opts),
    handAsync: series('hand-written latch: spin 200 loads, then Atomics.waitAsync', rt, samples.handAsync, opts),
    rawSpin: series('raw one-word handoff: spin 2,000 loads, then Atomics.wait', rt, samples.rawSpin, opts),
    rawAsync: series('raw Atomics.waitAsync (no spinning)', rt, samples.rawAsync, opts),
    postMessage: series('postMessage echo (worker thread)', rt, samples.postMessage, opts),
    ipc: series('fork() IPC echo (child process)', rt, samples.ipc, opts),
  };
  return result({
    unit: rt,
    ours,
    baselines,
    checks: [
      check('waitSync() / hand latch, warm', ratioOf(ours.waitSync, baselines.hand), 'x', '>=', 0.8),
      check('waitSync() / hand latch, cold', ratioOf(ours.coldWaitSync, baselines.coldHand), 'x', '>=', 0.8),
      check('waitSync({ timeoutMs }) / hand timed latch, warm', ratioOf(ours.waitSyncTimed, baselines.handTimed), 'x', '>=', 0.8),
      check('waitSync({ timeoutMs }) / hand timed latch, cold', ratioOf(ours.coldWaitSyncTimed, baselines.coldHandTimed), 'x', '>=', 0.8),
      check('wait() / hand latch, spin+waitAsync', ratioOf(ours.wait, baselines.handAsync), 'x', '>=', 1),
      check('waitSync() / postMessage', ratioOf(ours.waitSync, baselines.postMessage), 'x', '>=', 10),
      check('waitSync() / raw one-word handoff', ratioOf(ours.waitSync, baselines.rawSpin), 'x'),
      check('hand latch / raw one-word handoff', ratioOf(baselines.hand, baselines.rawSpin), 'x'),
      check('waitSync({ timeoutMs }) / waitSync()', ratioOf(ours.waitSyncTimed, ours.waitSync), 'x'),
      check('wait() / raw waitAsync (no spinning)', ratioOf(ours.wait, baselines.rawAsync), 'x'),
      check('process worker / fork() IPC echo', ratioOf(ours.process, baselines.ipc), 'x', '>=', 0.8),
    ],
    notes: [
      `Warm: ${reps} repetitions of ${repMs} ms per variant on one worker each, interleaved, after one warm-up repetition each.`,
      `Cold: ${reps} samples per variant (after one discarded), each the first ${coldRounds.toLocaleString('en-US')} round trips of a fresh worker, started outside the measured window; the main thread's side is warm after the first.`,
    ],
  });
}
