// Shared helpers of the benchmark suite: interleaved repetitions, statistics, checks against targets.
//
// A figure module exports `{ name, title, target, run({ quick }) }`; run() resolves with a result built from
// `series()` and `check()` (see run.mjs for how results are printed and stored).
import { setTimeout as sleep } from 'node:timers/promises';
import { fork } from 'node:child_process';

export { sleep };

/** A fixture's URL (bench/fixtures/<name>). */
export const fixture = (name) => new URL(`./fixtures/${name}`, import.meta.url);

/** Wall-clock instant comparable across threads and processes (ms since epoch, sub-µs resolution). */
export const now = () => performance.timeOrigin + performance.now();

/**
 * Runs every variant `warmup` times (results discarded), then `reps` rounds of one repetition each. The rounds
 * cycle through every rotation of the variants and its reverse (A B C, C B A, B C A, A C B, ...): every variant runs
 * in every position equally often, and with up to three variants (where that is every permutation) right after
 * every other one equally often. Measured why it matters: with a fixed A B C / C B A alternation, B always ran next
 * to C, and a pool run right after tinypool's ran ~35% faster (ours 12.5 k/s at the ends, 17 k/s in the middle;
 * piscina likewise), which decided the pool's run() ratio. Use a multiple of 2n rounds for a balanced design. Each
 * variant is `async (round) => sample` (round -1 while warming up; the sample is a number, or an array of numbers,
 * possibly empty). Returns `{ id: number[] }`.
 */
export async function interleave(variants, { warmup = 1, reps }) {
  const ids = Object.keys(variants);
  for (let w = 0; w < warmup; w++) for (const id of ids) await variants[id](-1);
  const orders = [];
  for (let k = 0; k < ids.length; k++) {
    const rotation = [...ids.slice(k), ...ids.slice(0, k)];
    orders.push(rotation, [...rotation].reverse());
  }
  const samples = Object.fromEntries(ids.map((id) => [id, []]));
  for (let r = 0; r < reps; r++) {
    for (const id of orders[r % orders.length]) {
      const s = await variants[id](r);
      if (Array.isArray(s)) samples[id].push(...s);
      else samples[id].push(s);
    }
  }
  return samples;
}

/** The p-th percentile (0..100) of sorted numbers, nearest-rank. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * A measured series: `label` as printed, `unit`, and `better: 'higher' | 'lower'`. With `percentiles`, the p50
 * and p99 are kept too (latency figures).
 */
export function series(label, unit, samples, { better = 'lower', percentiles = false, extra } = {}) {
  const sorted = [...samples].sort((a, b) => a - b);
  const s = {
    label,
    unit,
    better,
    n: sorted.length,
    min: sorted[0],
    median: percentile(sorted, 50),
    max: sorted[sorted.length - 1],
  };
  if (percentiles) s.p99 = percentile(sorted, 99);
  if (extra) Object.assign(s, extra);
  return s;
}

/**
 * A check against a target. `value` is what is compared: a ratio of medians (unit 'x', from ratioOf(), which also
 * records the two medians compared, for the summary table) or an absolute figure. `op` is '<=' or '>='. `met` is
 * null when the check is report-only (no bound).
 */
export function check(name, value, unit, op, bound) {
  const ratio = typeof value === 'object' && value !== null ? value : undefined;
  const v = ratio === undefined ? value : ratio.value;
  const met = bound === undefined ? null : op === '<=' ? v <= bound : v >= bound;
  const target = bound === undefined ? 'report' : `${op} ${bound}${unit === 'x' ? 'x' : ` ${unit}`}`;
  const c = { name, value: v, unit, target, met };
  if (ratio !== undefined) Object.assign(c, { ours: ratio.ours, baseline: ratio.baseline });
  return c;
}

/** Ratio of medians of two series, with both medians (`{ median, unit }`) kept for the summary table. */
export const ratioOf = (a, b) => ({
  value: a.median / b.median,
  ours: { median: a.median, unit: a.unit },
  baseline: { median: b.median, unit: b.unit },
});

/**
 * Assembles a figure's result. `ours` and `baselines` map ids to series; `checks` is a list of check(); the
 * headline `ratio` is the first check's value when it is a ratio. `met` is true when every bounded check is met,
 * null when the figure only reports.
 */
export function result({ unit, ours, baselines, checks, notes = [] }) {
  const bounded = checks.filter((c) => c.met !== null);
  const headline = checks.find((c) => c.unit === 'x');
  return {
    unit,
    ours,
    baselines,
    ratio: headline ? headline.value : null,
    checks,
    met: bounded.length === 0 ? null : bounded.every((c) => c.met),
    notes,
  };
}

/** A number for tables: 3 significant digits, thousands separated. */
export function fmt(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(3);
}

/** Spins (no yield) for `ms` milliseconds. */
export function spinFor(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** Resolves on the next turn of the event loop (after I/O callbacks). */
export const yieldLoop = () => new Promise((resolve) => setImmediate(resolve));

/** Rejects when `promise` takes longer than `ms` (a benchmark must end by itself, never hang). */
export function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`bench: ${what}: no answer within ${ms} ms`)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** How long one step of a figure may take before it fails (a benchmark must end by itself, never hang). */
export const STEP_TIMEOUT_MS = 120_000;

/** Times `fn()` in ms, failing after `timeoutMs`, and checks its results with `verify`. */
export async function timeIt(what, fn, verify, timeoutMs = STEP_TIMEOUT_MS) {
  const t0 = performance.now();
  const out = await within(Promise.resolve(fn()), timeoutMs, what);
  const ms = performance.now() - t0;
  verify(out);
  return ms;
}

/** One `run()` per input, all at once (how piscina and tinypool map): resolves with the outputs in input order. */
export const runEach = (pool, inputs) => Promise.all(inputs.map((i) => pool.run(i)));

/**
 * Runs one variant of a side-by-side script in a child process of its own: forks `script` with
 * `variant <name>` and resolves with the one message the child sends, or rejects if it exits without one.
 */
export function forkVariant(script, name) {
  return new Promise((resolve, reject) => {
    const c = fork(script, ['variant', name], { stdio: 'inherit' });
    let result;
    c.on('message', (m) => { result = m; });
    c.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`${name} child exited ${code}`))));
  });
}

/** The median of numbers (the lower middle one for an even count). */
export const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times (100 on every mainstream build). */
const CLOCK_TICKS = 100;

/**
 * CPU seconds used so far by the processes named `comm` (Linux /proc; e.g. 'postgres': the server and its
 * backends): the sum of utime + stime of each, plus cutime + cstime (its reaped children, so a backend that
 * exits between two readings still counts, in its postmaster). The difference of two readings over the wall time
 * between them is the cores used meanwhile. null where /proc is not there.
 */
export async function cpuSecondsOf(comm) {
  const { readdir, readFile } = await import('node:fs/promises');
  let pids;
  try {
    pids = (await readdir('/proc')).filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  let ticks = 0;
  for (const pid of pids) {
    let stat;
    try {
      stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (stat.slice(open + 1, close) !== comm) continue;
    const f = stat.slice(close + 2).split(' '); // f[0] is field 3 (state): utime is field 14
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / CLOCK_TICKS;
}

/**
 * The Foreman peer scripts' drain of ours: starts a foreman (concurrency 2, threads) on `queue` with jobs already
 * queued, times foreman.drained() (stopped waiting after `capMs`), stops it; resolves with { drainMs, done, capped }.
 */
export async function drainOurs(queue, capMs, options = {}) {
  const { Foreman } = await import('../dist/foreman.js');
  const foreman = await Foreman.start({ queue, handlers: new URL('./foreman-jobs.mjs', import.meta.url), concurrency: 2, logger: false, ...options });
  const t = performance.now();
  let timer;
  const capped = await Promise.race([foreman.drained().then(() => false), new Promise((r) => (timer = setTimeout(() => r(true), capMs)))]);
  clearTimeout(timer);
  const drainMs = performance.now() - t;
  const done = foreman.stats().completed;
  await foreman.stop();
  return { drainMs, done, capped };
}
