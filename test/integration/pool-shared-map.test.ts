/**
 * A shared map (src/pool/work.ts Call.shared): a precious thread pool's map of numbers is copied once into a
 * Float64Array on a SharedArrayBuffer; each batch is a view of it, and each worker writes a number result where
 * its input was, answering with a count instead of the values. What must hold:
 * - every result is its own input's, exact, over batches of every size (the first ones small, then up to
 *   MAX_SHARED_BATCH), and the ones that are not numbers, or come from a thenable, or fail, part-way through a
 *   batch written in place so far (the worker spills what it wrote, then goes on with an array);
 * - a task taken back from a worker (a steal) is sent its input, never another task's result: the slot of a task
 *   holds its input until the task has been called, and only the worker that claimed it writes there;
 * - a map's buffer goes to the next map (the pool's spare) only once no worker holds a task of it: a failed map's
 *   task still running on another worker writes its result into its own buffer, never into the next map's inputs.
 * Orders are decided through shared memory (test/fixtures/task-claims.mjs `numbers` counts starts and holds),
 * never by time.
 */
import { describe, expect, it } from 'vitest';
import { TaskFailedError } from '../../dist/index.js';
import { fixture, startSupervisor, until } from '../helpers.js';

const f = (n: number): number => 2 * n + 1;

/** Teaches the pool that `numbers` is trivial: its next maps go in whole batches claimed in long runs. */
async function measureTrivial(pool: { map: (xs: number[], o: { name: string }) => Promise<unknown[]> }): Promise<void> {
  for (let k = 0; k < 4; k++) await pool.map(Array.from({ length: 4096 }, (_, i) => 5000 + i), { name: 'numbers' });
}

/** The fixture's shared words (task-claims.mjs `numbers`): start counts, and release(k) lets hold k go. */
function words(): { sab: SharedArrayBuffer; i32: Int32Array; release: (k: number) => void } {
  const sab = new SharedArrayBuffer(16384 * 4);
  const i32 = new Int32Array(sab);
  const release = (k: number): void => {
    Atomics.store(i32, 8192 + k, 1);
    Atomics.notify(i32, 8192 + k);
  };
  return { sab, i32, release };
}

describe('a shared map of numbers (results written in place)', () => {
  it('every result is its own input’s, exact, in batches small and large; a string, a thenable and a failure part-way through a batch', { timeout: 60_000 }, async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = scope.pool<number, unknown>({ entry: fixture('task-claims.mjs'), maxWorkers: 2 });
      const odd = [-0, NaN, Infinity, -Infinity, 0.1, -1.5e300, 2 ** 53, -(2 ** 31) - 1, Number.MIN_VALUE];
      const inputs = Array.from({ length: 40_000 }, (_, i) => (i < odd.length ? odd[i]! : i * 1.25 - 3000));
      for (let rep = 0; rep < 3; rep++) {
        // Unmeasured first (batches of 16), then measured (up to 32,768 a batch).
        const out = await pool.map(inputs, { name: 'numbers' });
        expect(out.length).toBe(inputs.length);
        for (let i = 0; i < inputs.length; i++) if (!Object.is(out[i], f(inputs[i]!))) expect(out[i], `output ${i}`).toBe(f(inputs[i]!));
      }
      // Measured trivial now: one batch each of 3,000 per worker at most. A string at 1,500 and a thenable at 2,500:
      // the 1,500 written in place before the string are spilled, the rest goes by array.
      const mixed = Array.from({ length: 3000 }, (_, i) => (i === 1500 ? -1 : i === 2500 ? -2 : i));
      const out = await pool.map(mixed, { name: 'numbers' });
      expect(out).toEqual(mixed.map((n) => (n === -1 ? 'minus one' : n === -2 ? -3 : f(n))));
      // A thenable first (at 100), then numbers again: the results after it are right too.
      const early = Array.from({ length: 3000 }, (_, i) => (i === 100 ? -2 : i));
      expect(await pool.map(early, { name: 'numbers' })).toEqual(early.map((n) => (n === -2 ? -3 : f(n))));
      // A failure at 2,000, after 2,000 results in place: the map rejects with its index.
      const failing = Array.from({ length: 3000 }, (_, i) => (i === 2000 ? -4 : i));
      const err = (await pool.map(failing, { name: 'numbers' }).catch((e: unknown) => e)) as TaskFailedError;
      expect(err).toBeInstanceOf(TaskFailedError);
      expect(err.index).toBe(2000);
      expect((err.cause as Error).message).toBe('minus four');
      // And the pool goes on, in place again.
      const again = Array.from({ length: 20_000 }, (_, i) => i);
      expect(await pool.map(again, { name: 'numbers' })).toEqual(again.map(f));
      // The failed map's other batch may still be answered after this map (another worker's port): what that
      // worker had claimed when the map failed counts as running until then (a run each, results dropped).
      await pool.drained();
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
    });
  });

  it('an idle worker steals the unclaimed tail of a blocked shared batch: each stolen task gets its input and starts once', { timeout: 60_000 }, async () => {
    const sup = await startSupervisor();
    const { sab, i32, release } = words();
    const N = 600; // >= PACK_MIN: shared
    await sup.scope(async (scope) => {
      const pool = scope.pool<number, unknown>({ entry: fixture('task-claims.mjs'), maxWorkers: 2, data: { sab } });
      await measureTrivial(pool);
      // Worker H is held by a run(); the map goes whole to worker M, which blocks at input 31 (1,000,001).
      const held = pool.run(1_000_000, { name: 'numbers' });
      await until(() => Atomics.load(i32, 4096) === 1, 'the held run to start');
      const inputs = Array.from({ length: N }, (_, i) => (i === 31 ? 1_000_001 : i));
      const mapped = pool.map(inputs, { name: 'numbers' });
      await until(() => Atomics.load(i32, 4097) === 1, 'the map to block at input 31');
      // H goes idle and steals half of M's unclaimed tail, again and again, until only M's claimed run is left.
      release(0);
      expect(await held).toBe(f(1_000_000));
      const notStarted = (): number => inputs.filter((n, i) => i !== 31 && Atomics.load(i32, 1 + n) === 0).length;
      await until(() => pool.stats.queued <= 31 && notStarted() === pool.stats.queued, 'the idle worker to take every unclaimed task');
      release(1);
      const out = await mapped;
      // Every result is its own input's: a stolen task was sent its input, not a result written in its place.
      expect(out).toEqual(inputs.map(f));
      for (let i = 0; i < N; i++) if (i !== 31) expect(Atomics.load(i32, 1 + i), `starts of input ${i}`).toBe(1);
      expect(Atomics.load(i32, 4097)).toBe(1);
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
    });
  });

  it('a failed map whose task still runs keeps its buffer: the next map gets its own, and the late result lands in the old one', { timeout: 60_000 }, async () => {
    const sup = await startSupervisor();
    const { sab, i32, release } = words();
    await sup.scope(async (scope) => {
      const pool = scope.pool<number, unknown>({ entry: fixture('task-claims.mjs'), maxWorkers: 2, data: { sab } });
      await measureTrivial(pool);
      // Map A, 40,000 inputs (in two batches at least: MAX_SHARED_BATCH is 32,768): worker X, given the first
      // batch, blocks at input 5 (in its claimed run). Every input from 1,000 on blocks, then throws once released:
      // the other worker, Y, holds at the first of them it gets (its own batch, or a tail it took from X, whatever
      // the batches' sizes), and is released only once X is blocked, so A rejects while X still runs its task 5.
      const a = Array.from({ length: 40_000 }, (_, i) => (i === 5 ? 1_000_000 : i >= 1000 ? -5 : 4096 + i));
      const failed = pool.map(a, { name: 'numbers' }).catch((e: unknown) => e);
      await until(() => Atomics.load(i32, 4096) === 1 && Atomics.load(i32, 4098) === 1, 'input 5 of A and a failing input to block');
      release(2);
      const err = (await failed) as TaskFailedError;
      expect(err).toBeInstanceOf(TaskFailedError);
      expect(err.index).toBeGreaterThanOrEqual(1000);
      expect((err.cause as Error).message).toBe('minus five');
      // Map B, as small as fits in A's buffer: it goes to Y and blocks at its input 0 before reading any other.
      const b = Array.from({ length: 600 }, (_, i) => (i === 0 ? 1_000_001 : 3000 + i));
      const mapped = pool.map(b, { name: 'numbers' });
      await until(() => Atomics.load(i32, 4097) === 1, 'input 0 of B to block');
      // X's task 5 ends: its result, and those of the rest of its claimed run, are written where A's inputs were.
      release(0);
      await until(() => pool.stats.running === 1, "A's last tasks to end");
      release(1);
      expect(await mapped).toEqual(b.map(f));
      // And A's buffer, free now, serves the next map.
      expect(await pool.map(b.slice(1), { name: 'numbers' })).toEqual(b.slice(1).map(f));
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
    });
  });
});
