// Figure: checkForInterrupts() with nothing pending, in ns per call, vs a bare Atomics.load loop (G12: <= 2x).
//
// Both loops accumulate into a value that is checked afterwards, so neither can be optimised away; the bare loop
// accumulates the loaded word itself. Ours is measured with a supervisor started (its interrupt source is
// registered, as in any real program), outside any scope and inside one (where the current scope frame is looked
// up through AsyncLocalStorage and its `aborted` flag read).
import { Supervisor, checkForInterrupts } from 'bgworkers';
import { check, interleave, ratioOf, result, series } from './lib.mjs';

export const name = 'check-for-interrupts';
export const title = 'checkForInterrupts(), nothing pending';
export const target = 'ns per call <= 2x a bare Atomics.load loop, inside and outside a scope';

const word = new Int32Array(new SharedArrayBuffer(8));
word[0] = 1;

function bareLoop(n) {
  const i32 = word;
  let acc = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) acc += Atomics.load(i32, 0);
  const ns = ((performance.now() - t0) * 1e6) / n;
  if (acc !== n) throw new Error(`bench: bare loop: accumulated ${acc}, expected ${n}`);
  return ns;
}

function oursLoop(n) {
  let acc = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    checkForInterrupts();
    acc += word[0];
  }
  const ns = ((performance.now() - t0) * 1e6) / n;
  if (acc !== n) throw new Error(`bench: checkForInterrupts loop: accumulated ${acc}, expected ${n}`);
  return ns;
}

export async function run({ quick }) {
  const calls = quick ? 1e6 : 2e7;
  const supervisor = await Supervisor.start({ logger: false });
  try {
    const samples = await interleave(
      {
        bare: () => bareLoop(calls),
        outside: () => oursLoop(calls),
        inside: () => supervisor.scope(() => oursLoop(calls)),
      },
      { warmup: 2, reps: quick ? 3 : 15 },
    );
    const ours = {
      outside: series('checkForInterrupts(), outside a scope', 'ns/call', samples.outside),
      inside: series('checkForInterrupts(), inside a scope', 'ns/call', samples.inside),
    };
    const baselines = { bare: series('bare Atomics.load loop', 'ns/call', samples.bare) };
    return result({
      unit: 'ns/call',
      ours,
      baselines,
      checks: [
        check('inside a scope / bare load', ratioOf(ours.inside, baselines.bare), 'x', '<=', 2),
        check('outside a scope / bare load', ratioOf(ours.outside, baselines.bare), 'x', '<=', 2),
      ],
      notes: [`${calls.toLocaleString('en-US')} calls per repetition; the ours loop also reads a plain Int32Array element per call (to accumulate), the bare loop the atomic one.`],
    });
  } finally {
    await supervisor.shutdown();
  }
}
