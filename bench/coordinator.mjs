// Figure: what the coordinator (issue 13) costs when nobody looks, and what looking costs.
//
// - register → exit with no diagnostics_channel subscriber, against the same library with the channels compiled
//   out: a copy of dist/ (bench/.nodiag/, regenerated each run) whose three publishing sites are removed — the
//   lifecycle subscriber in registrant/core.js, the tracing branch in scope/run.js, the task publishes in
//   task/registry.js (each patch must apply, or the figure fails). Both copies run in this process on their own
//   supervisors, repetitions interleaved. One operation: a scope that registers one ephemeral worker that returns
//   at once and waits for its exit (no spares, so every start is a fresh thread). Bound (G20): ≤ 1.05x.
//   The two worker entries are written side by side in bench/.nodiag/ from one template and differ only in which
//   copy they import the worker API from, each by relative path to its file (../../dist/worker.js, ./dist/worker.js).
//   Neither imports `bgworkers/worker`: a fresh thread resolving the package specifier pays for reading and
//   matching package.json exports (about 1.5 ms here), which is the entry's cost, not the coordinator's, and would
//   land on one side only.
// - metrics() and workers() with 64 running workers: median time per call over many calls. Bound: metrics() ≤ 1 ms.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Supervisor } from 'bgworkers';
import { check, fixture, interleave, ratioOf, result, series, within } from './lib.mjs';

export const name = 'coordinator';
export const title = 'coordinator: diagnostics off vs compiled out; metrics() with 64 workers';
export const target = 'register→exit ≤ 1.05x without channels; metrics() on 64 workers ≤ 1 ms (G20)';

const STEP_TIMEOUT_MS = 30_000;
const DIST = new URL('../dist/', import.meta.url);
const COPY = new URL('./.nodiag/', import.meta.url);

/** Replaces `from` by `to` in the copy's `file`; throws if `from` is not there (the source changed: update it). */
function patch(file, from, to) {
  const path = fileURLToPath(new URL(`dist/${file}`, COPY));
  const text = readFileSync(path, 'utf8');
  if (!text.includes(from)) throw new Error(`coordinator figure: cannot compile the channels out of ${file}: "${from}" not found`);
  writeFileSync(path, text.replace(from, to));
}

/** A worker entry that returns at once, importing the worker API from `workerJs` (a path relative to COPY). */
function entry(file, workerJs) {
  const url = new URL(file, COPY);
  writeFileSync(url, `import { defineWorker } from '${workerJs}';\nexport default defineWorker(() => 1);\n`);
  return url;
}

/**
 * Makes bench/.nodiag/: dist/ without its diagnostics_channel publishing, and the two worker entries, one importing
 * dist/ (ours) and one importing the copy, both by relative path.
 */
function compiledOut() {
  rmSync(COPY, { recursive: true, force: true });
  mkdirSync(COPY, { recursive: true });
  cpSync(DIST, new URL('dist/', COPY), { recursive: true });
  patch('registrant/core.js', 'this.events.subscribe(publishLifecycle);', '');
  patch('scope/run.js', 'scopeTrace.hasSubscribers ? scopeTrace.tracePromise(async (s) => fn(s), { scopeId: node.id, name: node.name }, undefined, scope) : fn(scope)', 'fn(scope)');
  patch('task/registry.js', 'if (taskEnd.hasSubscribers)', 'if (false)');
  patch('task/registry.js', 'if (taskStart.hasSubscribers)', 'if (false)');
  return {
    lib: new URL('dist/index.js', COPY),
    oursEntry: entry('returns-ours.mjs', '../../dist/worker.js'),
    entry: entry('returns-compiled-out.mjs', './dist/worker.js'),
  };
}

/** `count` register → exit operations; returns operations per second. */
async function registerToExit(supervisor, entry, count) {
  const once = (scope) => scope.register({ entry, ephemeral: true }).waitForShutdown();
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await within(supervisor.scope(once), STEP_TIMEOUT_MS, 'register → exit');
  return count / ((performance.now() - t0) / 1000);
}

/** Median µs per call of `fn` over `calls` calls, in batches of 10. */
function perCall(fn, calls) {
  const samples = [];
  for (let i = 0; i < calls / 10; i++) {
    const t0 = performance.now();
    for (let k = 0; k < 10; k++) fn();
    samples.push(((performance.now() - t0) * 1000) / 10);
  }
  return samples;
}

export async function run({ quick }) {
  const out = compiledOut();
  const bare = await import(out.lib.href);
  const ops = quick ? 3 : 40;
  const ours = await Supervisor.start({ logger: false, spareWorkers: 0 });
  const without = await bare.Supervisor.start({ logger: false, spareWorkers: 0 });
  let exits;
  let calls;
  try {
    exits = await interleave(
      {
        ours: () => registerToExit(ours, out.oursEntry, ops),
        compiledOut: () => registerToExit(without, out.entry, ops),
      },
      // 24 repetitions: a repetition of 40 fresh-thread starts ranged over 19.5-27 ops/s on 2026-12-03 (both
      // variants alike), and with 12 the ratio of the medians moved a few percent either way of 1 by noise alone.
      { warmup: 1, reps: quick ? 2 : 24 },
    );
    const n = quick ? 4 : 64;
    const many = await Supervisor.start({ logger: false, maxWorkers: n });
    try {
      const handles = Array.from({ length: n }, () => many.register({ entry: fixture('idle.mjs') }));
      await within(Promise.all(handles.map((h) => h.waitForStartup())), STEP_TIMEOUT_MS, `${n} workers running`);
      if (many.workers().length !== n) throw new Error(`expected ${n} workers, saw ${many.workers().length}`);
      const c = quick ? 100 : 5000;
      calls = { metrics: perCall(() => many.metrics(), c), workers: perCall(() => many.workers(), c), n };
      handles.forEach((h) => h.terminate());
      await within(Promise.all(handles.map((h) => h.waitForShutdown())), STEP_TIMEOUT_MS, 'workers stopped');
    } finally {
      await many.shutdown();
    }
  } finally {
    await ours.shutdown();
    await without.shutdown();
    rmSync(COPY, { recursive: true, force: true });
  }
  const hi = { better: 'higher' };
  const oursS = {
    exit: series('register → exit, channels in, no subscriber', 'ops/s', exits.ours, hi),
    metrics: series(`metrics() with ${calls.n} running workers`, 'µs', calls.metrics),
    workers: series(`workers() with ${calls.n} running workers`, 'µs', calls.workers),
  };
  const baselines = { exit: series('register → exit, channels compiled out', 'ops/s', exits.compiledOut, hi) };
  return result({
    unit: 'ops/s',
    ours: oursS,
    baselines,
    checks: [
      check('register→exit: compiled out / channels in (time per op)', ratioOf(baselines.exit, oursS.exit), 'x', '<=', 1.05),
      check(`metrics() with ${calls.n} workers`, oursS.metrics.median / 1000, 'ms', '<=', 1),
      check(`workers() with ${calls.n} workers`, oursS.workers.median / 1000, 'ms'),
    ],
    notes: [`register → exit: ${ops} operations per repetition, interleaved, no spare threads.`],
  });
}
