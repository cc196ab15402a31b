/**
 * How a pool worker runs a batch (src/pool/pool-worker.ts): tasks that return plain values run in a plain loop,
 * a thenable is awaited and the loop goes on after it; every input of a batch gets its own result or its own
 * error, in input order, whatever the mix (test/fixtures/task-mixed.mjs). Both runtimes, precious pools (one
 * answer per batch) and non-precious ones (one answer per input). And a map's inputs as the pool holds them, in
 * segments of 4,096 (src/pool/work.ts): batches inside one, a whole one, across a boundary.
 */
import { describe, expect, it } from 'vitest';
import { TaskFailedError } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';

const SEGMENT = 4096;

type How = 'sync' | 'promise' | 'thenable' | 'throw' | 'reject' | 'bad-then';
const cycle = (hows: How[], n: number): [number, How][] => Array.from({ length: n }, (_, i) => [i, hows[i % hows.length]!]);

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  it('map over inputs across segment boundaries: arrays and iterables, whole and partial batches, straddling ones', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = scope.pool<number, number>({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 2 });
      const n = 3 * SEGMENT + 17;
      const list = Array.from({ length: n }, (_, i) => i);
      const squares = list.map((i) => i * i);
      // Twice: the first map ramps up from 16 (batches across boundaries), the second starts at the batch size
      // the first one learned (whole segments).
      expect(await pool.map(list)).toEqual(squares);
      expect(await pool.map(list)).toEqual(squares);
      function* gen(): Generator<number> {
        yield* list;
      }
      expect(await pool.map(gen())).toEqual(squares);
      // At most 3 in flight: batches of 1 to 3 inputs, some of them across the boundary at 4,096.
      const near = Array.from({ length: SEGMENT + 8 }, (_, i) => i);
      expect(await pool.map(near, { concurrency: 3 })).toEqual(near.map((i) => i * i));
    });
  });

  describe.each([true, false])('precious: %s', (precious) => {
    it('a map mixing plain values, promises and thenables in one batch gets every result in input order', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        // One worker: its batches (16 inputs and more) hold every kind, runs of plain values between awaits.
        const pool = scope.pool<[number, How], number>({ runtime, precious, entry: fixture('task-mixed.mjs'), maxWorkers: 1 });
        const inputs = cycle(['sync', 'sync', 'promise', 'sync', 'thenable', 'thenable', 'sync', 'sync', 'sync'], 300);
        expect(await pool.map(inputs)).toEqual(inputs.map(([n]) => n * 2));
        // A batch that starts and ends with a thenable, and one with only thenables.
        expect(await pool.map(cycle(['promise', 'sync', 'thenable'], 40))).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
        expect(await pool.map(cycle(['thenable'], 20))).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
      });
    });

    it('a task throwing in the middle of a plain-value batch fails the map at its index; the pool goes on', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<[number, How], number>({ runtime, precious, entry: fixture('task-mixed.mjs'), maxWorkers: 1 });
        for (const [bad, name] of [['throw', 'RangeError'], ['reject', 'TypeError'], ['bad-then', 'SyntaxError']] as const) {
          const inputs = cycle(['sync'], 40);
          inputs[7] = [7, bad];
          const err = (await pool.map(inputs).catch((e: unknown) => e)) as TaskFailedError;
          expect(err).toBeInstanceOf(TaskFailedError);
          expect(err.index).toBe(7);
          expect(err.cause).toMatchObject({ name });
        }
        expect(await pool.map(cycle(['sync', 'promise'], 30))).toEqual(Array.from({ length: 30 }, (_, i) => i * 2));
      });
    });

    it('run()s sharing batches each get their own result or error, whatever the mix around them', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<[number, How], number>({ runtime, precious, entry: fixture('task-mixed.mjs'), maxWorkers: 1 });
        // Measured trivial first, so queued run()s go out many to a batch.
        for (let i = 0; i < 20; i++) await pool.run([i, 'sync']);
        const inputs = cycle(['sync', 'throw', 'sync', 'promise', 'reject', 'sync', 'thenable', 'bad-then', 'sync', 'sync'], 200);
        const settled = await Promise.allSettled(inputs.map((x) => pool.run(x)));
        const names = { throw: 'RangeError', reject: 'TypeError', 'bad-then': 'SyntaxError' } as Record<How, string>;
        settled.forEach((s, i) => {
          const [n, how] = inputs[i]!;
          if (names[how] === undefined) expect(s).toEqual({ status: 'fulfilled', value: n * 2 });
          else {
            expect(s.status).toBe('rejected');
            expect((s as PromiseRejectedResult).reason).toMatchObject({ name: names[how], message: expect.stringContaining(` ${n}`) });
          }
        });
      });
    });
  });
});
