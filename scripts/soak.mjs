#!/usr/bin/env node
/**
 * Soak (issue 4, part 2): runs many scope cycles against one supervisor and fails on a leak.
 *
 *   npm run soak                                  # 20,000 cycles (see the summary for the time it took)
 *   npm run soak -- --cycles 2000 --seed 42       # or SOAK_CYCLES=2000
 *   node --expose-gc scripts/soak.mjs --cycles 300 --json   # what CI runs (test/reliability/soak.test.ts)
 *
 * Each cycle is one scope (or an unscoped worker), chosen at random (seeded, printed) from a fixed menu: commit
 * with ephemeral and precious workers, a precious worker that fails or crashes (the scope must reject with
 * PreciousWorkerDiedError naming it), an explicit abort, a nested scope whose precious worker dies (the child
 * rejects, the parent commits), a worker terminated before it starts, an unscoped worker, a small pool. Workers
 * are test/fixtures/rel-actor.mjs, driven by their latch: no sleeps. One worker in PROCESS_EVERY cycles is a
 * process worker. Every cycle's outcome is checked.
 *
 * Checkpoints (every SAMPLE_EVERY cycles, with no cycle in flight): no slot used, no worker registered, no scope
 * active, the OS thread count (/proc/self/task) back to its level after warm-up, no child process left; RSS and
 * heap sampled after a GC. Fails (exit 1) on any wrong outcome or leak, or when RSS grows by more than the bound
 * (--rss-bound-mb, default RSS_BOUND_MB) from the end of warm-up (the first WARMUP_SHARE of cycles) to the end
 * (median of the last three samples). Prints the RSS figures at the end.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PreciousWorkerDiedError, Supervisor } from '../dist/index.js';
import { mulberry32 } from './prng.mjs';

/** Growth of RSS allowed after warm-up: V8 and glibc keep some pages after threads come and go. */
const RSS_BOUND_MB = 64;
/** Share of the cycles that warms up (heaps, JIT, malloc arenas) before the RSS baseline is taken. */
const WARMUP_SHARE = 0.1;
/** One process worker in this many cycles: a fork costs ~90 ms against ~30 ms for a thread. */
const PROCESS_EVERY = 50;
/** Cycles in flight at once: enough to overlap starts and stops on two cores. */
const CONCURRENCY = 4;
/** Thread workers kept warm, so the soak measures churn rather than thread start-up. */
const SPARES = 2;
/** How long a checkpoint waits for exited threads and processes to be gone before calling it a leak. */
const SETTLE_MS = 5000;
/** A cycle still in flight after this long is reported as hung (a hang detector, not a timing decision). */
const HUNG_CYCLE_MS = 30_000;

const { values: args } = parseArgs({
  options: {
    cycles: { type: 'string' },
    seed: { type: 'string' },
    concurrency: { type: 'string' },
    'rss-bound-mb': { type: 'string' },
    'process-every': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const CYCLES = Number(args.cycles ?? process.env.SOAK_CYCLES ?? 20_000);
const SEED = Number(args.seed ?? process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const INFLIGHT = Number(args.concurrency ?? CONCURRENCY);
const BOUND_MB = Number(args['rss-bound-mb'] ?? RSS_BOUND_MB);
const EVERY = Number(args['process-every'] ?? PROCESS_EVERY);
const SAMPLE_EVERY = Math.max(50, Math.round(CYCLES / 40));
const WARMUP = Math.max(SAMPLE_EVERY, Math.round(CYCLES * WARMUP_SHARE));
for (const [k, v] of Object.entries({ CYCLES, SEED, INFLIGHT, BOUND_MB, EVERY })) {
  if (!Number.isInteger(v) || v < (k === 'SEED' ? 0 : 1)) throw new Error(`soak: bad ${k}: ${v}`);
}

const ACTOR = fileURLToPath(new URL('../test/fixtures/rel-actor.mjs', import.meta.url));
const SQUARE = fileURLToPath(new URL('../test/fixtures/task-square.mjs', import.meta.url));
const MB = 1024 * 1024;

/** Seeded, so a failing soak can be replayed with --seed. */
const random = mulberry32(SEED);
const pick = (list) => list[Math.floor(random() * list.length)];

const threadCount = () => readdirSync('/proc/self/task').length;
function childPids() {
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === process.pid && rest[0] !== 'Z') out.push(Number(name));
    } catch {
      // it exited while we looked: not a leftover
    }
  }
  return out;
}
async function settle(predicate) {
  const deadline = performance.now() + SETTLE_MS;
  while (!predicate()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

// ---- the cycles ----------------------------------------------------------------------------------------------

const failures = [];
const counts = {};
/** Cycles in flight, with what they hold: what a hang report shows. */
const inflight = new Map();
function fail(kind, what) {
  failures.push(`${kind}: ${what}`);
}

/** Records a handle on the current cycle, for hang reports. */
function hold(n, h) {
  inflight.get(n)?.handles.push(h);
  return h;
}

function describeInflight() {
  const now = performance.now();
  return [...inflight.entries()].map(
    ([n, c]) => `cycle ${n} ${c.kind}/${c.runtime} for ${Math.round(now - c.at)} ms: ${c.handles.map((h) => `${h.name} ${h.state}`).join(', ') || 'no worker'}`,
  );
}

function spec(runtime, data, flags = {}) {
  return { entry: ACTOR, runtime, data: { onTerm: 'cooperate', ...data }, ...flags };
}

/** Each cycle returns nothing; it records a failure when an outcome is not what the guarantees say (docs/guide.md, "Guarantees"). */
const CYCLE_KINDS = {
  /** G3/G5: ephemeral workers are stopped at commit; a precious worker that completes aborts nothing. */
  async commit(sup, runtime, n) {
    let handles = [];
    const v = await sup.scope(async (scope) => {
      const eph = hold(n, scope.register(spec(runtime, { action: 'complete' }, { ephemeral: true })));
      const pre = hold(n, scope.register(spec('thread', { action: 'complete', result: 'done' }, { precious: true, ephemeral: random() < 0.5 })));
      handles = [eph, pre];
      pre.latch.set();
      return (await pre.waitForShutdown()).result;
    });
    if (v !== 'done') fail('commit', `resolved with ${v}`);
    if (handles.some((h) => h.state !== 'stopped')) fail('commit', 'a worker outlived its scope');
  },
  /** G4: a precious worker that fails or crashes rejects its scope with PreciousWorkerDiedError naming it. */
  async death(sup, runtime, n) {
    let dead;
    // (An uncaught exception in a process worker prints its stack on the shared stderr: threads only, for a quiet log.)
    const action = pick(runtime === 'process' ? ['fail', 'reject', 'crash'] : ['fail', 'reject', 'crash', 'uncaught']);
    const r = await sup
      .scope(async (scope) => {
        hold(n, scope.register(spec('thread', { action: 'complete' }, { ephemeral: true })));
        dead = hold(n, scope.register(spec(runtime, { action }, { precious: true })));
        dead.latch.set();
        await new Promise((resolve) => scope.signal.addEventListener('abort', resolve, { once: true }));
        return 'fn returned';
      })
      .then(
        (v) => ({ ok: true, v }),
        (e) => ({ ok: false, e }),
      );
    if (r.ok || !(r.e instanceof PreciousWorkerDiedError) || r.e.worker.id !== dead.id) fail('death', `${action}: settled with ${r.ok ? r.v : r.e}`);
    const exit = await dead.waitForShutdown();
    if (exit.reason !== (action === 'fail' || action === 'reject' ? 'failed' : 'crashed')) fail('death', `${action}: exit ${exit.reason}`);
  },
  /** G6b: an abort stops the scope's workers at once; the scope rejects with the reason. */
  async abort(sup, runtime, n) {
    const reason = new Error('soak abort');
    const handles = [];
    const r = await sup
      .scope(async (scope) => {
        handles.push(hold(n, scope.register(spec(runtime, { action: 'complete' }, { ephemeral: true }))));
        handles.push(hold(n, scope.register(spec('thread', { action: 'complete' }, { ephemeral: true, precious: true }))));
        await handles[0].waitForStartup();
        scope.abort(reason);
      })
      .then(
        () => undefined,
        (e) => e,
      );
    if (r !== reason) fail('abort', `settled with ${r}`);
    if (handles.some((h) => h.state !== 'stopped')) fail('abort', 'a worker outlived its scope');
  },
  /** G6/G11: a child's precious death aborts the child only; the parent commits. */
  async nested(sup, runtime, n) {
    const v = await sup.scope(async () => {
      const child = await sup
        .scope(async (scope) => {
          const h = hold(n, scope.register(spec(runtime, { action: 'fail' }, { precious: true, ephemeral: true })));
          h.latch.set();
          await h.waitForShutdown();
        })
        .then(
          () => 'child committed',
          (e) => (e instanceof PreciousWorkerDiedError ? 'child aborted' : `child: ${e}`),
        );
      return child;
    });
    if (v !== 'child aborted') fail('nested', v);
  },
  /** G2: terminated before it started: no user code; never-started (or terminated if a spare won the race). */
  async early(sup, runtime, n) {
    const r = await sup.scope(async (scope) => {
      const h = hold(n, scope.register(spec(runtime, { action: 'complete' }, { ephemeral: true })));
      h.terminate();
      return (await h.waitForShutdown()).reason;
    });
    if (r !== 'never-started' && r !== 'terminated') fail('early', r);
  },
  /** An unscoped worker runs to completion. */
  async unscoped(sup, runtime, n) {
    const h = hold(n, sup.register(spec(runtime, { action: 'complete', result: 'u' })));
    h.latch.set();
    const exit = await h.waitForShutdown();
    if (exit.reason !== 'completed' || exit.result !== 'u') fail('unscoped', `${exit.reason} ${exit.result}`);
  },
  /** A pool owned by a scope: results in order; its workers stop with the scope. */
  async pool(sup) {
    const v = await sup.scope((scope) => scope.pool({ entry: SQUARE, maxWorkers: 2, minWorkers: 1 }).map([1, 2, 3, 4]));
    if (JSON.stringify(v) !== '[1,4,9,16]') fail('pool', JSON.stringify(v));
  },
};
const KINDS = Object.keys(CYCLE_KINDS);

// ---- the run ------------------------------------------------------------------------------------------------------

// A cycle whose promise can never settle, with nothing left to keep the process alive, would otherwise end the
// run silently (exit 13, "unsettled top-level await"): report what was in flight instead.
process.on('beforeExit', () => {
  if (inflight.size === 0) return;
  console.error(`soak: FAILED: the event loop emptied with ${inflight.size} cycle(s) in flight (a promise that never settles):\n  ${describeInflight().join('\n  ')}`);
  console.error(`  supervisor: workers ${JSON.stringify(sup.workers())}, metrics ${JSON.stringify(sup.metrics())}`);
  process.exit(1);
});

const threadsAtStart = threadCount();
const childrenAtStart = childPids();
const unhandled = [];
process.on('unhandledRejection', (e) => unhandled.push(e));
const started = performance.now();
const sup = await Supervisor.start({ logger: false, maxWorkers: 4 * INFLIGHT + 4, spareWorkers: SPARES, gracefulTimeoutMs: 5000 });
const samples = [];
let threadsBaseline;
let done = 0;

function log(line) {
  if (!args.json) console.log(line);
}
log(`soak: ${CYCLES} cycles, seed ${SEED}, ${INFLIGHT} in flight, a process worker every ${EVERY} cycles, RSS bound ${BOUND_MB} MB after ${WARMUP} warm-up cycles`);

async function checkpoint() {
  const m = sup.metrics();
  if (m.slots.used !== 0) fail('leak', `${m.slots.used} slots used with no cycle in flight`);
  if (sup.workers().length !== 0) fail('leak', `${sup.workers().length} workers registered with no cycle in flight`);
  if (m.scopes.active !== 0) fail('leak', `${m.scopes.active} scopes active with no cycle in flight`);
  if (threadsBaseline !== undefined && !(await settle(() => threadCount() <= threadsBaseline))) fail('leak', `threads: ${threadCount()} > ${threadsBaseline} after warm-up`);
  if (!(await settle(() => childPids().every((p) => childrenAtStart.includes(p))))) fail('leak', 'a process worker outlived its cycle');
  globalThis.gc?.();
  const mem = process.memoryUsage();
  const s = { cycle: done, rssMb: mem.rss / MB, heapMb: mem.heapUsed / MB, threads: threadCount() };
  samples.push(s);
  log(`  ${String(done).padStart(6)} cycles  rss ${s.rssMb.toFixed(1)} MB  heap ${s.heapMb.toFixed(1)} MB  threads ${s.threads}  exits ${JSON.stringify(m.exits)}`);
}

let next = 0;
while (next < CYCLES && failures.length === 0) {
  const batchEnd = Math.min(CYCLES, next + SAMPLE_EVERY);
  const lanes = Array.from({ length: INFLIGHT }, async () => {
    while (next < batchEnd) {
      const n = next++;
      const kind = pick(KINDS);
      const runtime = n % EVERY === EVERY - 1 ? 'process' : 'thread';
      counts[kind] = (counts[kind] ?? 0) + 1;
      inflight.set(n, { kind, runtime, at: performance.now(), handles: [] });
      // Unref'd: it must not keep alive a process the library would let exit (the beforeExit report covers that).
      const hung = setTimeout(() => fail('hang', describeInflight().find((l) => l.startsWith(`cycle ${n} `))), HUNG_CYCLE_MS).unref();
      try {
        await CYCLE_KINDS[kind](sup, runtime, n);
      } catch (e) {
        fail(kind, `threw ${e?.stack ?? e}`);
      }
      clearTimeout(hung);
      inflight.delete(n);
      done++;
    }
  });
  await Promise.all(lanes);
  await checkpoint();
  if (threadsBaseline === undefined && done >= WARMUP) {
    // Spares are replenished asynchronously: take the level once they are back.
    await settle(() => threadCount() <= samples.at(-1).threads);
    threadsBaseline = threadCount();
  }
}

await sup.shutdown();
if (!(await settle(() => threadCount() <= threadsAtStart))) fail('leak', `threads after shutdown: ${threadCount()} > ${threadsAtStart}`);
if (sup.metrics().slots.used !== 0) fail('leak', 'slots used after shutdown');
if (unhandled.length > 0) fail('unhandled', unhandled.map(String).join('; '));

// ---- RSS verdict ---------------------------------------------------------------------------------------------------

const afterWarmup = samples.find((s) => s.cycle >= WARMUP) ?? samples.at(-1);
const tail = samples.slice(-3).map((s) => s.rssMb).sort((a, b) => a - b);
const endRss = tail[Math.floor(tail.length / 2)];
const peakRss = Math.max(...samples.filter((s) => s.cycle >= afterWarmup.cycle).map((s) => s.rssMb));
const growth = endRss - afterWarmup.rssMb;
if (done === CYCLES && growth > BOUND_MB) fail('rss', `grew ${growth.toFixed(1)} MB after warm-up (bound ${BOUND_MB} MB)`);

const result = {
  ok: failures.length === 0,
  cycles: done,
  seed: SEED,
  seconds: Math.round((performance.now() - started) / 100) / 10,
  rssMb: { start: samples[0]?.rssMb, afterWarmup: afterWarmup.rssMb, peak: peakRss, end: endRss, growth, bound: BOUND_MB },
  heapMb: { afterWarmup: afterWarmup.heapMb, end: samples.at(-1).heapMb },
  threads: { atStart: threadsAtStart, afterWarmup: threadsBaseline, end: threadCount() },
  kinds: counts,
  exits: sup.metrics().exits,
  failures: failures.slice(0, 20),
};
const f = (x) => (x === undefined ? '-' : `${x.toFixed(1)} MB`);
log(
  `soak: ${result.ok ? 'ok' : 'FAILED'}: ${done} cycles in ${result.seconds} s (seed ${SEED})\n` +
    `  RSS: first sample ${f(result.rssMb.start)}, after warm-up ${f(afterWarmup.rssMb)}, peak ${f(peakRss)}, end ${f(endRss)}; growth ${growth.toFixed(1)} MB (bound ${BOUND_MB} MB)\n` +
    `  heap: after warm-up ${f(afterWarmup.heapMb)}, end ${f(result.heapMb.end)}; threads: ${threadsAtStart} at start, ${threadsBaseline ?? '-'} after warm-up, ${threadCount()} after shutdown\n` +
    `  cycles by kind ${JSON.stringify(counts)}; exits ${JSON.stringify(result.exits)}` +
    (failures.length ? `\n  failures:\n    ${failures.slice(0, 20).join('\n    ')}` : ''),
);
if (args.json) console.log(`SOAK_RESULT ${JSON.stringify(result)}`);
process.exitCode = result.ok ? 0 : 1;
