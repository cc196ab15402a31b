// Figure: Poison checkAndArm() + disarm() around a trivial update, in ns per update, vs a bare try/finally around
// the same update (G20: <= 2x).
//
// Ours is the shape `using guard = poison.checkAndArm(); update(guard.data); guard.disarm();` lowers to, written
// out: arm, update through the guard, disarm, and dispose in `finally` (a no-op after disarm(), the poisoning
// path when the update threw). The baseline is the same update of the same object inside a bare
// `try { } finally { }` whose finally does one trivial write (a completion count), so neither side's finally is
// empty. Both loops update an object that is checked afterwards, so neither can be optimised away. Report only:
// `poison.use(fn)` (a closure call, and a thenable test on its value) and SharedPoison (one Atomics CAS and one
// store per update, the state in shared memory) on the same update.
import { Poison, SharedPoison } from 'bgworkers';
import { check, interleave, ratioOf, result, series } from './lib.mjs';

export const name = 'poison';
export const title = 'Poison checkAndArm() + disarm()';
export const target = 'ns per guarded update <= 2x a bare try/finally around the same update';

/** Runs `loop(n)` (which returns the object it updated) and checks the count; returns ns per update. */
function timed(what, n, loop) {
  const t0 = performance.now();
  const d = loop(n);
  const ns = ((performance.now() - t0) * 1e6) / n;
  if (d.n !== n || d.done !== n) throw new Error(`bench: ${what}: ${d.n} updates and ${d.done} completions, expected ${n} each`);
  return ns;
}

function bareLoop(n) {
  const d = { n: 0, done: 0 };
  for (let i = 0; i < n; i++) {
    try {
      d.n++;
    } finally {
      d.done++;
    }
  }
  return d;
}

function guardLoop(n) {
  const d = { n: 0, done: 0 };
  const p = new Poison('bench value', d);
  for (let i = 0; i < n; i++) {
    const guard = p.checkAndArm();
    try {
      guard.data.n++;
      guard.disarm();
    } finally {
      guard[Symbol.dispose]();
      d.done++;
    }
  }
  if (p.poisoned) throw new Error('bench: the poison was poisoned by a clean update');
  return d;
}

const update = (d) => {
  d.n++;
  d.done++;
};

function useLoop(n) {
  const d = { n: 0, done: 0 };
  const p = new Poison('bench value', d);
  for (let i = 0; i < n; i++) p.use(update);
  if (p.poisoned) throw new Error('bench: the poison was poisoned by a clean use()');
  return d;
}

function sharedLoop(n) {
  const p = new SharedPoison('bench value');
  const d = { n: 0, done: 0 };
  for (let i = 0; i < n; i++) {
    const guard = p.checkAndArm();
    try {
      d.n++;
      guard.disarm();
    } finally {
      guard[Symbol.dispose]();
      d.done++;
    }
  }
  if (p.poisoned) throw new Error('bench: the shared poison was poisoned by a clean update');
  return d;
}

export async function run({ quick }) {
  const updates = quick ? 1e6 : 2e7;
  const samples = await interleave(
    {
      bare: () => timed('bare try/finally', updates, bareLoop),
      guard: () => timed('checkAndArm() + disarm()', updates, guardLoop),
      use: () => timed('poison.use(fn)', updates, useLoop),
      shared: () => timed('SharedPoison checkAndArm() + disarm()', updates, sharedLoop),
    },
    { warmup: 2, reps: quick ? 4 : 16 },
  );
  const u = 'ns/update';
  const ours = {
    guard: series('checkAndArm(), update, disarm(), dispose in finally', u, samples.guard),
    use: series('poison.use(fn), same update', u, samples.use),
    shared: series('SharedPoison: checkAndArm(), update, disarm(), dispose in finally', u, samples.shared),
  };
  const baselines = { bare: series('bare try/finally around the same update', u, samples.bare) };
  return result({
    unit: u,
    ours,
    baselines,
    checks: [
      check('checkAndArm() + disarm() / bare try/finally', ratioOf(ours.guard, baselines.bare), 'x', '<=', 2),
      check('poison.use(fn) / bare try/finally', ratioOf(ours.use, baselines.bare), 'x'),
      check('SharedPoison / bare try/finally', ratioOf(ours.shared, baselines.bare), 'x'),
    ],
    notes: [`${updates.toLocaleString('en-US')} updates per repetition; each update increments two fields of a plain object (one in the guarded region, one in the finally; use() does both in its fn), read back and checked after the loop.`],
  });
}
