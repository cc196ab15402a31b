// Figure: the cost of one holdInterrupts(fn) region over calling fn bare, in ns per region (G20: <= 50 ns).
//
// fn is one small function (it reads a word and returns it) called `regions` times per repetition: bare, as
// `fn()`, and as `holdInterrupts(fn)`. Both loops accumulate fn's value and check the sum afterwards, so neither can
// be optimised away; the region cost is the median ns per holdInterrupts(fn) minus the median ns per bare fn()
// (the loop and the call itself are in both). Ours is measured outside any scope and inside one (with a
// supervisor started either way), and nested one level inside another region (report only). Report only too: a
// bare AsyncLocalStorage.run(store, fn) of the figure's own storage, what a region is built on. Every repetition
// after the warm-up ones runs JIT-warm: the warm-up runs each variant twice with the full count.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Supervisor, holdInterrupts } from 'bgworkers';
import { check, interleave, result, series } from './lib.mjs';

export const name = 'hold-interrupts';
export const title = 'holdInterrupts() region';
export const target = 'ns per holdInterrupts(fn) region, over calling fn bare: <= 50 ns';

const word = new Int32Array(1);
word[0] = 1;
const fn = () => word[0];
const als = new AsyncLocalStorage();

function timed(what, n, loop) {
  const t0 = performance.now();
  const acc = loop(n);
  const ns = ((performance.now() - t0) * 1e6) / n;
  if (acc !== n) throw new Error(`bench: ${what}: accumulated ${acc}, expected ${n}`);
  return ns;
}

function bareLoop(n) {
  let acc = 0;
  for (let i = 0; i < n; i++) acc += fn();
  return acc;
}

function alsLoop(n) {
  let acc = 0;
  for (let i = 0; i < n; i++) acc += als.run(1, fn);
  return acc;
}

function heldLoop(n) {
  let acc = 0;
  for (let i = 0; i < n; i++) acc += holdInterrupts(fn);
  return acc;
}

export async function run({ quick }) {
  const regions = quick ? 2e5 : 5e6;
  const supervisor = await Supervisor.start({ logger: false });
  let samples;
  try {
    samples = await interleave(
      {
        bare: () => timed('bare fn()', regions, bareLoop),
        outside: () => timed('holdInterrupts(fn), outside a scope', regions, heldLoop),
        inside: () => supervisor.scope(() => timed('holdInterrupts(fn), inside a scope', regions, heldLoop)),
        als: () => timed('AsyncLocalStorage.run(1, fn)', regions, alsLoop),
        nested: () => holdInterrupts(() => timed('holdInterrupts(fn), nested in a region', regions, heldLoop)),
      },
      { warmup: 2, reps: quick ? 4 : 16 },
    );
  } finally {
    await supervisor.shutdown();
  }
  const u = 'ns/region';
  const ours = {
    outside: series('holdInterrupts(fn), outside a scope', u, samples.outside),
    inside: series('holdInterrupts(fn), inside a scope', u, samples.inside),
    nested: series('holdInterrupts(fn), nested in another region', u, samples.nested),
  };
  const baselines = {
    bare: series('fn() called bare', 'ns/call', samples.bare),
    als: series('AsyncLocalStorage.run(1, fn), bare (what a region is built on)', 'ns/call', samples.als),
  };
  const over = (s) => s.median - baselines.bare.median;
  return result({
    unit: u,
    ours,
    baselines,
    checks: [
      check('region cost inside a scope (median − bare median)', over(ours.inside), 'ns', '<=', 50),
      check('region cost outside a scope (median − bare median)', over(ours.outside), 'ns', '<=', 50),
      check('region cost nested in a region (median − bare median)', over(ours.nested), 'ns'),
      check('bare AsyncLocalStorage.run cost (median − bare median)', over(baselines.als), 'ns'),
    ],
    notes: [`${regions.toLocaleString('en-US')} regions (or bare calls) per repetition; fn reads an Int32Array element and returns it.`],
  });
}
