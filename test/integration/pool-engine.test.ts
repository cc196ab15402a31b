/**
 * The pool engine (src/pool/pool.ts) on real threads, with every order decided through shared memory
 * (test/fixtures/task-gated.mjs): a task records that it started and may block until the test releases it, so
 * each assertion reads exact counts (pool.stats, the fixture's start counter) at a known point, never a time.
 * - cancel: a task sent ahead to a busy worker and aborted never starts (the gate's CAS, pool.ts invariant 5);
 * - look-ahead and stealing: a task queued behind a long one runs on the worker that goes idle first;
 * - batching and fair share: a map's batches are at most a fair share of what is queued, on idle and on busy
 *   workers alike, so a map is split instead of sent whole to the first worker — until its task function has
 *   been measured: a map then starts at the batch size learned by the last one, and is not cut into shares
 *   smaller than MIN_SHARE_MICROS of measured time.
 * The parts that need no thread (deque, gate words, batch helpers, stats) are in test/unit/pool-parts.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { fixture, startSupervisor, until } from '../helpers.js';

/** The shared words of task-gated.mjs: started count, per-tag start flags, per-hold release words. */
function words(): { sab: SharedArrayBuffer; started: () => number; hasStarted: (tag: number) => boolean; release: (hold: number) => void } {
  const sab = new SharedArrayBuffer(128 * 4);
  const i32 = new Int32Array(sab);
  return {
    sab,
    started: () => Atomics.load(i32, 0),
    hasStarted: (tag) => Atomics.load(i32, 1 + tag) === 1,
    release: (hold) => {
      Atomics.store(i32, 64 + hold, 1);
      Atomics.notify(i32, 64 + hold);
    },
  };
}

describe('pool engine (thread pools)', () => {
  it('a task sent ahead to a busy worker and then aborted never starts; stats count it queued, then gone', async () => {
    const sup = await startSupervisor();
    const w = words();
    await sup.scope(async (scope) => {
      const pool = scope.pool<object, number>({ entry: fixture('task-gated.mjs'), maxWorkers: 1 });
      const long = pool.run({ sab: w.sab, tag: 0, hold: 1 });
      await until(() => w.hasStarted(0), 'the long task to start');
      expect(pool.stats).toMatchObject({ queued: 0, running: 1, done: 0, workers: 1 });

      const ac = new AbortController();
      const ahead = pool.run({ sab: w.sab, tag: 1 }, { signal: ac.signal });
      // Sent ahead (the only worker is busy): not started, so counted as queued, and in the worker's gate.
      expect(pool.stats).toMatchObject({ queued: 1, running: 1 });
      const reason = new Error('changed my mind');
      ac.abort(reason);
      await expect(ahead).rejects.toBe(reason);
      expect(pool.stats).toMatchObject({ queued: 0, running: 1 });

      w.release(1);
      expect(typeof (await long)).toBe('number');
      // The next task runs; the cancelled one never did: exactly two tasks ever started.
      await pool.run({ sab: w.sab, tag: 2 });
      expect(w.hasStarted(1)).toBe(false);
      expect(w.started()).toBe(2);
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
    });
  });

  it('a task waiting behind a long one runs on the worker that goes idle first, while the long one still runs', async () => {
    const sup = await startSupervisor();
    const w = words();
    await sup.scope(async (scope) => {
      const pool = scope.pool<object, number>({ entry: fixture('task-gated.mjs'), maxWorkers: 2 });
      const long1 = pool.run({ sab: w.sab, tag: 0, hold: 1 });
      const long2 = pool.run({ sab: w.sab, tag: 1, hold: 2 });
      await until(() => w.hasStarted(0) && w.hasStarted(1), 'both long tasks to start');
      // Both workers are busy: the next task goes ahead to one of them.
      const short = pool.run({ sab: w.sab, tag: 2 });
      expect(pool.stats).toMatchObject({ queued: 1, running: 2 });
      w.release(2); // the second worker ends its task; the first is still blocked
      const [second, ran] = await Promise.all([long2, short]);
      expect(ran).toBe(second); // ran on the worker that went idle (stolen back if it had been sent to the other)
      expect(w.hasStarted(2)).toBe(true);
      expect(pool.stats).toMatchObject({ queued: 0, running: 1 }); // the first long task, still blocked
      w.release(1);
      expect(await long1).not.toBe(second);
    });
  });

  it("a map's first batches on idle workers are fair shares: the second worker starts at input 10 of 40", async () => {
    const sup = await startSupervisor();
    const w = words();
    await sup.scope(async (scope) => {
      const pool = scope.pool<object, number>({ entry: fixture('task-gated.mjs'), maxWorkers: 2 });
      // Every task blocks once it started: each worker starts exactly the first task of the batch it got first.
      const inputs = Array.from({ length: 40 }, (_, i) => ({ sab: w.sab, tag: i, hold: 1 }));
      const mapped = pool.map(inputs);
      // A first map batch is at most 16, and at most a fair share of what is queued: 40 over 2 workers x 2
      // batches = 10. So the first worker gets inputs 0-9 and the second starts at 10 (at 16 without the share).
      await until(() => w.started() === 2, 'each worker to start its first task');
      expect(inputs.map((_, i) => i).filter((i) => w.hasStarted(i))).toEqual([0, 10]);
      expect(pool.stats).toMatchObject({ queued: 38, running: 2 });
      w.release(1);
      expect(await mapped).toHaveLength(40);
      expect(w.started()).toBe(40);
    });
  });

  it('a map of a task measured trivial starts at the learned batch size and is not cut into tiny fair shares', async () => {
    const sup = await startSupervisor();
    const w = words();
    await sup.scope(async (scope) => {
      const pool = scope.pool<object, number>({ entry: fixture('task-gated.mjs'), maxWorkers: 1 });
      // 40 inputs; the first blocks until `hold` is released, so nothing is answered while the test looks.
      const map40 = (hold: number): Promise<number[]> => pool.map(Array.from({ length: 40 }, (_, i) => ({ sab: w.sab, tag: 0, hold: i === 0 ? hold : undefined })));
      // Unmeasured: a first batch of 16, a look-ahead one of a fair share (12 of the 24 left), the rest queued.
      const first = map40(1);
      expect(pool.queueSize).toBe(1);
      w.release(1);
      expect(await first).toHaveLength(40);
      // Measured trivial (these ~2,000 inputs): the next map starts at the learned size (thousands), and a fair
      // share (20 of 40 for the one worker) would be far below MIN_SHARE_MICROS: all 40 go in one batch at once.
      await pool.map(Array.from({ length: 2000 }, () => ({ sab: w.sab, tag: 0 })));
      const second = map40(2);
      expect(pool.queueSize).toBe(0);
      w.release(2);
      expect(await second).toHaveLength(40);
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
    });
  });

  it('a map over busy workers is split into fair shares, not sent whole to the first worker', async () => {
    const sup = await startSupervisor();
    const w = words();
    await sup.scope(async (scope) => {
      const pool = scope.pool<object, number>({ entry: fixture('task-gated.mjs'), maxWorkers: 2 });
      const holds = [pool.run({ sab: w.sab, tag: 0, hold: 1 }), pool.run({ sab: w.sab, tag: 1, hold: 2 })];
      await until(() => w.hasStarted(0) && w.hasStarted(1), 'both long tasks to start');
      // Every map task blocks on release word 3 once it started, so the first map task a worker starts shows
      // where that worker's share begins.
      const inputs = Array.from({ length: 40 }, (_, i) => ({ sab: w.sab, tag: 2 + i, hold: 3 }));
      const mapped = pool.map(inputs);
      expect(pool.stats).toMatchObject({ queued: 40, running: 2 });
      // Both workers are busy, so each gets a look-ahead share: the first (ties go to the first worker) a fair
      // share of 40 queued inputs over 2 workers x 2 batches = 10, inputs 0-9; the second the next ones, from 10.
      // Sent whole (a first map batch is 16), the second worker's share would start at 16.
      w.release(2);
      await holds[1];
      await until(() => w.started() === 3, 'the second worker to start its first map task');
      const first = inputs.findIndex((_, i) => w.hasStarted(2 + i));
      expect(first).toBe(10);
      w.release(3);
      w.release(1);
      await holds[0];
      expect(await mapped).toHaveLength(40);
      expect(w.started()).toBe(42);
    });
  });
});
