/**
 * Run claims (src/pool/gate.ts): a worker claims a map batch's tasks a run at a time (runs of 1, 2, 4, ... up to
 * the pool's run length, MAX_RUN for a task measured trivial), so a task that blocks at input 31 of a batch has
 * inputs 32-62 claimed behind it (the run 31-62) and the rest of the batch unclaimed. Every order is decided
 * through shared memory (test/fixtures/task-claims.mjs counts each input's starts and can hold a task), never a
 * time:
 * - steal racing a claim: an idle worker takes every unclaimed task back, never a claimed one (each input starts
 *   exactly once), and stats count the claimed tasks that have not started as queued;
 * - a failing map: its worker stops the batch at the failed input (the rest never starts);
 * - death with claimed tasks: a non-precious pool's worker dies at input 31 with 32-62 claimed; the map rejects
 *   with PoolWorkerDiedError, nothing is left counted, and the pool goes on.
 * The claim word's own races (a CAS against the pool's cut, on two threads) are in test/unit/pool-claims.test.ts.
 * And a map batch of numbers, which goes packed as a Float64Array both ways: every number exact.
 */
import { describe, expect, it } from 'vitest';
import { PoolWorkerDiedError, TaskFailedError } from '../../dist/index.js';
import { fixture, startSupervisor, until } from '../helpers.js';

const N = 200;

function words(): { sab: SharedArrayBuffer; starts: (tag: number) => number; notStarted: () => number[]; release: (hold: number) => void } {
  const sab = new SharedArrayBuffer(2048 * 4);
  const i32 = new Int32Array(sab);
  return {
    sab,
    starts: (tag) => Atomics.load(i32, 1 + tag),
    notStarted: () => Array.from({ length: N }, (_, t) => t).filter((t) => Atomics.load(i32, 1 + t) === 0),
    release: (hold) => {
      Atomics.store(i32, 1024 + hold, 1);
      Atomics.notify(i32, 1024 + hold);
    },
  };
}

/** Teaches the pool that the task function is trivial: its next maps get long runs and whole batches. */
async function measureTrivial(pool: { map: (xs: number[]) => Promise<unknown[]> }): Promise<void> {
  // Several maps: the first batches run cold code, and the measured time decays over batches.
  for (let k = 0; k < 4; k++) await pool.map(Array.from({ length: 4096 }, (_, i) => i));
}

describe('numbers in a map batch (packed as a Float64Array, protocol.ts packNumbers)', () => {
  it('every number comes back exactly (-0, NaN, infinities, fractions, beyond int32), and a mix of numbers and other values as well', { timeout: 30_000 }, async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = scope.pool<unknown, unknown>({ entry: fixture('task-claims.mjs'), maxWorkers: 2 });
      const odd = [-0, 0, NaN, Infinity, -Infinity, 0.1, -1.5e300, 2 ** 53, -(2 ** 31) - 1, Number.MIN_VALUE];
      const inputs = Array.from({ length: 5000 }, (_, i) => (i < odd.length ? odd[i] : i * 1.25 - 3000));
      for (let rep = 0; rep < 2; rep++) {
        // Twice: unmeasured (small first batches, sent as they are), then measured (whole segments, packed).
        const out = await pool.map(inputs, { name: 'same' });
        expect(out.length).toBe(inputs.length);
        for (let i = 0; i < inputs.length; i++) if (!Object.is(out[i], inputs[i])) expect(out[i], `output ${i}`).toBe(inputs[i]);
      }
      // Numbers in, a string out for 7 (the results go unpacked); a string among the inputs (the inputs go unpacked).
      const nums = Array.from({ length: 1000 }, (_, i) => i);
      expect(await pool.map(nums, { name: 'same' })).toEqual(nums.map((i) => (i === 7 ? 'seven' : i)));
      const mixed: unknown[] = nums.map((i) => (i === 500 ? 'str' : i));
      expect(await pool.map(mixed, { name: 'same' })).toEqual(nums.map((i) => (i === 500 ? 'a string' : i === 7 ? 'seven' : i)));
    });
  });
});

describe('run claims (thread pools)', () => {
  it('an idle worker steals every unclaimed task behind a blocked one, never a claimed one; claimed ones count as queued', { timeout: 30_000 }, async () => {
    const sup = await startSupervisor();
    const w = words();
    await sup.scope(async (scope) => {
      const pool = scope.pool<unknown, unknown>({ entry: fixture('task-claims.mjs'), maxWorkers: 2 });
      await measureTrivial(pool);
      // Worker H is held by a run(); the map goes whole (a trivial task's batch is not cut into fair shares) to
      // worker M, which blocks at input 31: the first of the run 31-62 (runs 1, 2, 4, 8, 16, then 32).
      const held = pool.run({ sab: w.sab, tag: N, hold: 1 });
      await until(() => w.starts(N) === 1, 'the held run to start');
      const mapped = pool.map(Array.from({ length: N }, (_, tag) => ({ sab: w.sab, tag, hold: tag === 31 ? 2 : undefined })));
      await until(() => w.starts(31) === 1, 'the map to block at input 31');
      expect(w.notStarted()[0]).toBe(32); // 0-30 ran before it, in order
      // H goes idle: it steals half of M's unclaimed tail, again and again, until none is left.
      w.release(1);
      await held;
      // Done once only the run claimed with input 31 is left (31 inputs, 32-62; fewer if the run is shorter),
      // read in one snapshot: M blocked (0-31 started, answered with the batch: running), H idle, and
      // stats.queued counting exactly the inputs not started.
      let left: number[] = [];
      let snap = pool.stats;
      await until(() => {
        snap = pool.stats;
        left = w.notStarted();
        return snap.running === 32 && left.length === snap.queued && snap.queued <= 31;
      }, 'the idle worker to take every unclaimed task');
      // What is left was claimed with input 31: contiguous after it, not started, counted as queued.
      expect(left.length).toBeGreaterThan(0);
      expect(left).toEqual(Array.from({ length: left.length }, (_, i) => 32 + i));
      expect(snap).toMatchObject({ queued: left.length, running: 32 });
      w.release(2);
      const out = await mapped;
      expect(out).toEqual(Array.from({ length: N }, (_, tag) => tag));
      // Every input started exactly once: none was both claimed by M and taken back for H.
      for (let tag = 0; tag < N; tag++) expect(w.starts(tag), `starts of input ${tag}`).toBe(1);
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
    });
  });

  it("a failing map's worker stops its batch at the failed input: the inputs after it in the batch never start", { timeout: 30_000 }, async () => {
    const sup = await startSupervisor();
    const w = words();
    await sup.scope(async (scope) => {
      const pool = scope.pool<unknown, unknown>({ entry: fixture('task-claims.mjs'), maxWorkers: 1 });
      await measureTrivial(pool);
      // One batch of 200 on the one worker (measured trivial: not cut); input 50 throws.
      const err = (await pool.map(Array.from({ length: N }, (_, tag) => ({ sab: w.sab, tag, throws: tag === 50 }))).catch((e: unknown) => e)) as TaskFailedError;
      expect(err).toBeInstanceOf(TaskFailedError);
      expect(err.index).toBe(50);
      expect(w.notStarted()).toEqual(Array.from({ length: N - 51 }, (_, i) => 51 + i));
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
      expect(await pool.map([1, 2, 3])).toEqual([1, 2, 3]);
    });
  });

  it('non-precious: a worker dying at input 31, a run claimed behind it, fails the map with PoolWorkerDiedError; nothing is left counted; the pool goes on', { timeout: 30_000 }, async () => {
    const sup = await startSupervisor();
    const w = words();
    await sup.scope(async (scope) => {
      const pool = scope.pool<unknown, unknown>({ entry: fixture('task-claims.mjs'), maxWorkers: 1, precious: false });
      await measureTrivial(pool);
      const mapped = pool.map(Array.from({ length: N }, (_, tag) => ({ sab: w.sab, tag, hold: tag === 31 ? 1 : undefined, exit: tag === 31 })));
      await until(() => w.starts(31) === 1 && pool.stats.done === 4 * 4096 + 31, 'the map to block at input 31, 0-30 answered');
      // Claimed behind 31 or not claimed, none started: counted as queued (0-30 are answered one by one).
      expect(pool.stats).toMatchObject({ running: 1 });
      expect(pool.stats.queued).toBe(N - 32);
      w.release(1);
      await expect(mapped).rejects.toBeInstanceOf(PoolWorkerDiedError);
      expect(w.notStarted()).toEqual(Array.from({ length: N - 32 }, (_, i) => 32 + i));
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
      expect(await pool.map([1, 2, 3])).toEqual([1, 2, 3]);
    });
    expect(sup.metrics().preciousDeaths).toBe(0);
  });
});
