// Figure: in-thread tasks (G13) — spawn → settled for a trivial task, and the heap left behind by many tasks and
// child scopes under one long-lived scope (issue 12's bar).
//
// Everything runs inside one long-lived scope of one supervisor, opened once for the whole figure.
//
// (a) Latency: `await scope.spawn(fn).result()`, one task after the other, in µs per task. Baseline: what a
//     hand-written cancellable task costs at least — a new AbortController, fn run on a microtask
//     (`Promise.resolve().then(() => fn(signal))`), awaited. Report only: the same baseline also listening on the
//     long-lived parent's signal while it runs (a hand-built token tree; a task needs none: its scope's teardown
//     cancels it). Target:
//     within 2x of the bare chain.
// (b) Heap growth: HEAP_TASKS tasks spawned in batches of BATCH (each batch awaited before the next), and,
//     separately, HEAP_TASKS child scopes (`supervisor.scope(() => 1)` called inside the long-lived scope, so
//     each is its child), all finished; then heapUsed after forced GCs, minus heapUsed after forced GCs before
//     them. Baseline: the same count of hand-built tokens (AbortController + a listener on the long-lived
//     parent's signal, removed when fn settled), which must grow by nothing. Report only: tokens made with
//     `AbortSignal.any([parent])`, which Node retains as long as the parent lives (nodejs/node#54614), so the
//     figure shows what a leak looks like. Target: <= 1 MB each. The child needs `global.gc`: run.mjs forks
//     this figure with --expose-gc (EXEC_ARGV there).
// The heap checks take the worst repetition, not the median: growth that happens once (a collection's capacity
// kept after its entries died) shows in the first repetition only, and is still growth the bar forbids.
// Each heap repetition is preceded by the interleave's warm-up round, which runs WARM items of its variant (so
// code, inline caches and the collections' capacities are in place before anything is measured).
import { setMaxListeners } from 'node:events';
import { setImmediate as yieldMacrotask } from 'node:timers/promises';
import { Supervisor } from 'bgworkers';
import { check, interleave, ratioOf, result, series, within } from './lib.mjs';

export const name = 'tasks';
export const title = 'in-thread tasks: spawn → settled, and heap left by 10^6 tasks and child scopes';
export const target = 'spawn → settled <= 2x a bare AbortController + Promise.resolve().then(fn); heap growth after GC <= 1 MB per 10^6 tasks and per 10^6 child scopes';

const MB = 2 ** 20;
const BATCH = 1000;
const STEP_TIMEOUT_MS = 120_000;
const fn = () => 1;

/** Runs `once()` (which resolves with fn's value) `n` times in sequence; returns µs per run. */
async function usPer(what, n, once) {
  let acc = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) acc += await once();
  const us = ((performance.now() - t0) * 1e3) / n;
  if (acc !== n) throw new Error(`bench: ${what}: accumulated ${acc}, expected ${n}`);
  return us;
}

/** heapUsed after full collections (twice, with a macrotask between, so weak references and finalizers are done). */
async function settledHeap() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await yieldMacrotask();
  }
  return process.memoryUsage().heapUsed;
}

/** Runs `count` items of `one()` in batches of BATCH, all awaited; returns heap growth in MB across them. */
async function heapGrowth(what, count, one) {
  const before = await settledHeap();
  let acc = 0;
  for (let done = 0; done < count; done += BATCH) {
    const batch = [];
    for (let i = 0; i < BATCH && done + i < count; i++) batch.push(one());
    for (const v of await within(Promise.all(batch), STEP_TIMEOUT_MS, `${what}: one batch`)) acc += v;
  }
  if (acc !== count) throw new Error(`bench: ${what}: accumulated ${acc}, expected ${count}`);
  return ((await settledHeap()) - before) / MB;
}

export async function run({ quick }) {
  if (typeof globalThis.gc !== 'function') throw new Error('bench: tasks: needs --expose-gc (run it through bench/run.mjs)');
  const latencyTasks = quick ? 2_000 : 50_000;
  const heapTasks = quick ? 20_000 : 1_000_000;
  const warm = quick ? 5_000 : 50_000;
  const leakTokens = quick ? 5_000 : 100_000;
  // Node's warnings (MaxListenersExceededWarning on a signal with many listeners) are kept as notes of the result.
  const warnings = new Set();
  const onWarning = (w) => warnings.add(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);
  const supervisor = await Supervisor.start({ logger: false });
  let lat;
  let heap;
  let leak;
  try {
    await supervisor.scope(async (scope) => {
      const parent = scope.signal;
      setMaxListeners(0, parent); // the hand-built baseline puts a batch's worth of listeners on it
      const task = async () => (await scope.spawn(fn).result()).result;
      const bare = () => {
        const c = new AbortController();
        return Promise.resolve().then(() => fn(c.signal));
      };
      const bareTree = () => {
        const c = new AbortController();
        const cancel = () => c.abort(parent.reason);
        parent.addEventListener('abort', cancel);
        return Promise.resolve()
          .then(() => fn(c.signal))
          .finally(() => parent.removeEventListener('abort', cancel));
      };
      const child = () =>
        supervisor.scope((s) => {
          if (s.parent !== scope) throw new Error('bench: tasks: the child scope is not a child of the long-lived scope');
          return fn();
        });
      lat = await interleave(
        {
          ours: () => usPer('scope.spawn(fn).result()', latencyTasks, task),
          bare: () => usPer('AbortController + Promise.resolve().then(fn)', latencyTasks, bare),
          bareTree: () => usPer('the same + a listener on the parent signal', latencyTasks, bareTree),
        },
        { warmup: 2, reps: quick ? 3 : 12 },
      );
      const n = (round) => (round < 0 ? warm : heapTasks);
      heap = await interleave(
        {
          tasks: (round) => heapGrowth('tasks', n(round), task),
          scopes: (round) => heapGrowth('child scopes', n(round), child),
          bare: (round) => heapGrowth('hand-built tokens', n(round), bareTree),
        },
        { warmup: 1, reps: quick ? 1 : 2 },
      );
      const anyToken = () => {
        const signal = AbortSignal.any([parent]);
        return Promise.resolve().then(() => fn(signal));
      };
      leak = await heapGrowth('AbortSignal.any tokens', leakTokens, anyToken);
    });
  } finally {
    await supervisor.shutdown();
    process.off('warning', onWarning);
  }
  const us = 'µs/task';
  const ours = {
    spawn: series('scope.spawn(fn) → result() settled, one after the other', us, lat.ours),
    heapTasks: series(`heap growth after GC, ${heapTasks.toLocaleString('en-US')} tasks`, 'MB', heap.tasks),
    heapScopes: series(`heap growth after GC, ${heapTasks.toLocaleString('en-US')} child scopes`, 'MB', heap.scopes),
  };
  const baselines = {
    bare: series('new AbortController + Promise.resolve().then(fn), awaited', us, lat.bare),
    bareTree: series('the same + a listener on the parent signal, removed at settle', us, lat.bareTree),
    heapBare: series(`heap growth after GC, ${heapTasks.toLocaleString('en-US')} hand-built tokens (listener on the parent)`, 'MB', heap.bare),
    heapAny: series(`heap growth after GC, ${leakTokens.toLocaleString('en-US')} AbortSignal.any([parent]) tokens (nodejs/node#54614)`, 'MB', [leak]),
  };
  return result({
    unit: us,
    ours,
    baselines,
    checks: [
      check('spawn → settled / bare AbortController + then(fn)', ratioOf(ours.spawn, baselines.bare), 'x', '<=', 2),
      check('spawn → settled / the same + parent listener', ratioOf(ours.spawn, baselines.bareTree), 'x'),
      check(`heap growth, ${heapTasks.toLocaleString('en-US')} tasks (worst repetition)`, ours.heapTasks.max, 'MB', '<=', 1),
      check(`heap growth, ${heapTasks.toLocaleString('en-US')} child scopes (worst repetition)`, ours.heapScopes.max, 'MB', '<=', 1),
      check(`heap growth, ${heapTasks.toLocaleString('en-US')} hand-built tokens (worst repetition)`, baselines.heapBare.max, 'MB'),
    ],
    notes: [
      `Latency: ${latencyTasks.toLocaleString('en-US')} tasks per repetition, one after the other, all in one long-lived scope.`,
      ...[...warnings].map((w) => `Node warned during the run: ${w}`),
      `Heap: per repetition ${heapTasks.toLocaleString('en-US')} items in batches of ${BATCH}, each batch awaited; growth = heapUsed after 3 forced GCs, after minus before; the warm-up round runs ${warm.toLocaleString('en-US')} items of each variant.`,
    ],
  });
}
