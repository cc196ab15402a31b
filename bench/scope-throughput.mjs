// Figure: scopes per second (report only: G12 sets no bound).
//
// - empty scopes, one after the other: `await supervisor.scope(() => 1)` (sync body) and
//   `await supervisor.scope(async () => 1)` (async body), against the least a hand-written structured scope
//   does: a new AbortController, AsyncLocalStorage.run() of the body, and an await of its result;
// - scopes with one ephemeral worker: register it, wait until it runs, return; the scope's end terminates it and
//   waits until it stopped. Baseline: a bare `new Worker()` → first message → terminate() → 'exit'.
// Variants alternate repetition by repetition; a repetition runs for REP_MS (empty scopes) or a fixed number of
// worker scopes.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Worker } from 'node:worker_threads';
import { Supervisor } from 'bgworkers';
import { check, fixture, interleave, ratioOf, result, series, within } from './lib.mjs';

export const name = 'scope-throughput';
export const title = 'scopes per second';
export const target = 'report only (no bound in G12)';

const STEP_TIMEOUT_MS = 30_000;
const als = new AsyncLocalStorage();

/** Runs `once()` until `ms` have passed; returns runs per second. */
async function perSecond(ms, once) {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    await once();
    n++;
    t = performance.now();
  }
  return n / ((t - t0) / 1000);
}

/** Runs `once()` `count` times; returns runs per second. */
async function countPerSecond(count, once) {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await once();
  return count / ((performance.now() - t0) / 1000);
}

async function rawScope(fn) {
  const controller = new AbortController();
  return await als.run({ signal: controller.signal }, fn);
}

async function bareWorkerOnce() {
  const w = new Worker(fixture('bare-idle.mjs'));
  const exited = new Promise((resolve) => w.once('exit', resolve));
  await within(new Promise((resolve) => w.once('message', resolve)), STEP_TIMEOUT_MS, 'bare worker: first message');
  void w.terminate();
  await within(exited, STEP_TIMEOUT_MS, 'bare worker: exit');
}

export async function run({ quick }) {
  const repMs = quick ? 50 : 500;
  const workerScopes = quick ? 2 : 10;
  const supervisor = await Supervisor.start({ logger: false });
  let empty;
  let workers;
  try {
    const sync = () => 1;
    const asyncBody = async () => 1;
    empty = await interleave(
      {
        sync: () => perSecond(repMs, () => supervisor.scope(sync)),
        async: () => perSecond(repMs, () => supervisor.scope(asyncBody)),
        rawSync: () => perSecond(repMs, () => rawScope(sync)),
        rawAsync: () => perSecond(repMs, () => rawScope(asyncBody)),
      },
      { warmup: 1, reps: quick ? 2 : 10 },
    );
    const withWorker = async (scope) => {
      const h = scope.register({ entry: fixture('idle.mjs'), ephemeral: true });
      await h.waitForStartup();
    };
    workers = await interleave(
      {
        ours: () => countPerSecond(workerScopes, () => within(supervisor.scope(withWorker), STEP_TIMEOUT_MS, 'worker scope')),
        bare: () => countPerSecond(workerScopes, bareWorkerOnce),
      },
      { warmup: 1, reps: quick ? 1 : 5 },
    );
  } finally {
    await supervisor.shutdown();
  }
  const u = 'scopes/s';
  const hi = { better: 'higher' };
  const ours = {
    sync: series('empty scope, sync body', u, empty.sync, hi),
    async: series('empty scope, async body', u, empty.async, hi),
    worker: series('scope with one ephemeral worker (started, then stopped)', u, workers.ours, hi),
  };
  const baselines = {
    rawSync: series('AbortController + ALS.run + await, sync body', u, empty.rawSync, hi),
    rawAsync: series('AbortController + ALS.run + await, async body', u, empty.rawAsync, hi),
    bare: series('bare new Worker → first message → terminate → exit', 'workers/s', workers.bare, hi),
  };
  return result({
    unit: u,
    ours,
    baselines,
    checks: [
      check('empty scope, sync body / raw', ratioOf(ours.sync, baselines.rawSync), 'x'),
      check('empty scope, async body / raw', ratioOf(ours.async, baselines.rawAsync), 'x'),
      check('worker scope / bare worker start+stop', ratioOf(ours.worker, baselines.bare), 'x'),
    ],
    notes: [`Empty scopes: repetitions of ${repMs} ms; worker scopes: ${workerScopes} per repetition, no spare workers.`],
  });
}
