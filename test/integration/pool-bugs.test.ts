/**
 * Regression tests for the pool engine rewrite: one test per bug fixed, each failing if its bug comes back.
 * Tasks block on a file-system latch (fileLatch below) so one mechanism serves both runtimes; order, latches and
 * synchronous reads of pool state decide every test, never a wall-clock window (STYLE.md rule 13).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  InvalidWorkerSpecError,
  PoolWorkerDiedError,
  TaskCloneError,
  TaskFailedError,
  checkForInterrupts,
  type PoolOptions,
  type Scope,
  type ScopedPool,
} from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor, until } from '../helpers.js';

const TASK = fixture('pb-task.mjs');

const tmp = mkdtempSync(join(tmpdir(), 'pb-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let latches = 0;

/** A latch both runtimes can share with a task: the task writes `started` and waits until `release` exists. */
function fileLatch(kind: 'block' | 'spin' = 'block') {
  const dir = join(tmp, String(++latches));
  mkdirSync(dir);
  return {
    input: { [kind]: dir },
    started: () => until(() => existsSync(join(dir, 'started')), `task on ${dir} started`),
    release: () => writeFileSync(join(dir, 'release'), ''),
  };
}

function taskPool(scope: Scope, options: Omit<PoolOptions, 'entry'>): ScopedPool<unknown, unknown> {
  return scope.pool<unknown, unknown>({ entry: TASK, ...options });
}

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  it('1. an Error of another realm keeps its message: thrown by a task, and by a defineWorker main', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = taskPool(scope, { runtime, maxWorkers: 1 });
      const err = (await pool.run('realm').catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe('Error');
      expect(err.message).toBe('foo');
      const failed = (await pool.map([1, 'realm']).catch((e: unknown) => e)) as TaskFailedError;
      expect(failed).toBeInstanceOf(TaskFailedError);
      expect((failed.cause as Error).message).toBe('foo');
    });
    const exit = await sup.register({ runtime, entry: fixture('pb-realm-main.mjs') }).waitForShutdown();
    expect(exit.reason).toBe('failed');
    expect(exit.error!.message).toBe('foo');
  });

  it('2. a run aborted while queued behind a running task never starts', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = taskPool(scope, { runtime, maxWorkers: 1 });
      const latch = fileLatch();
      const blocker = pool.run(latch.input);
      await latch.started();
      const ac = new AbortController();
      const aborted = pool.run('inc', { signal: ac.signal });
      // Thread: it went ahead into the busy worker's look-ahead batch (not waiting in the pool, not started: the
      // gate says so). Process: a process pool never sends a cancellable task ahead, so it waits in the pool.
      expect(pool.queueSize).toBe(runtime === 'thread' ? 0 : 1);
      expect(pool.stats).toMatchObject({ queued: 1, running: 1 });
      const reason = new Error('cancelled');
      ac.abort(reason);
      await expect(aborted).rejects.toBe(reason);
      latch.release();
      expect(await blocker).toBe('released');
      // The only worker reports how often 'inc' ran: never for the aborted run; once for a run that was not.
      expect(await pool.run('count')).toEqual({ ran: 0, blocking: 0 });
      expect(await pool.run('inc')).toBe(1);
    });
  });

  it('3. one long-lived signal over many runs leaves no abort listener behind', async () => {
    const sup = await startSupervisor();
    const ac = new AbortController();
    // 100 pending runs share one listener on the user's signal (pool/signal-fanout.ts): no listener limit to raise,
    // and no MaxListenersExceededWarning.
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    await sup.scope(async (scope) => {
      const pool = taskPool(scope, { runtime, maxWorkers: 2 });
      const runs = Array.from({ length: 100 }, (_, i) => pool.run(i % 10 === 0 ? 'realm' : i, { signal: ac.signal }).catch((e: unknown) => e));
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(1); // one for all the pending runs
      const out = await Promise.all(runs);
      expect(out[1]).toBe(1);
      expect(out[10]).toBeInstanceOf(Error); // settled by a task error: its listener goes too
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      for (let i = 0; i < 20; i++) await pool.run(i, { signal: ac.signal });
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      // An abort reaches every pending run through the one listener.
      const other = new AbortController();
      const slow = taskPool(scope, { runtime, maxWorkers: 1 });
      const latch = fileLatch('block'); // never released: the running one ignores its signal, the rest wait behind it
      const pending = Array.from({ length: 30 }, () => slow.run(latch.input, { signal: other.signal }).catch((e: unknown) => e));
      expect(getEventListeners(other.signal, 'abort')).toHaveLength(1);
      const reason = new Error('stop them all');
      other.abort(reason);
      expect(new Set(await Promise.all(pending))).toEqual(new Set([reason]));
      expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
    });
    process.off('warning', onWarning);
    expect(warnings).toEqual([]);
  });

  it('4. inputs that cannot be cloned reject without jamming a 1-worker pool', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = taskPool(scope, { runtime, maxWorkers: 1 });
      await expect(pool.run(() => 1)).rejects.toBeInstanceOf(TaskCloneError);
      await expect(pool.run({ f() {} })).rejects.toBeInstanceOf(TaskCloneError);
      expect(await pool.run(3)).toBe(9);
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
      expect(pool.queueSize).toBe(0);
    });
  });

  it('9. a non-cloneable input rejects with TaskCloneError (what: input); for map with the bad index', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = taskPool(scope, { runtime, maxWorkers: 1 });
      const one = (await pool.run(Symbol('x')).catch((e: unknown) => e)) as TaskCloneError;
      expect(one).toBeInstanceOf(TaskCloneError);
      expect(one).toMatchObject({ code: 'ERR_TASK_CLONE', what: 'input', index: undefined });
      const many = (await pool.map([1, 2, 3, () => 4, 5]).catch((e: unknown) => e)) as TaskCloneError;
      expect(many).toBeInstanceOf(TaskCloneError);
      expect(many).toMatchObject({ code: 'ERR_TASK_CLONE', what: 'input', index: 3 });
      expect(await pool.map([1, 2])).toEqual([1, 4]);
      await pool.drained();
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
    });
  });

  it('5. bad resourceLimits throw InvalidWorkerSpecError at pool(), even with minWorkers: 0', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const cases: [unknown, string, number?][] = [
        [0, 'resourceLimits'],
        [null, 'resourceLimits'],
        [{ maxOldGenerationSizeMb: -1 }, 'resourceLimits.maxOldGenerationSizeMb', 0],
        [{ maxOldGenerationSizeMb: -1 }, 'resourceLimits.maxOldGenerationSizeMb'],
      ];
      for (const [resourceLimits, field, minWorkers] of cases) {
        let thrown: unknown;
        try {
          taskPool(scope, { runtime, maxWorkers: 1, minWorkers, resourceLimits } as never);
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(InvalidWorkerSpecError);
        expect(thrown).toMatchObject({ code: 'ERR_INVALID_WORKER_SPEC', field });
      }
      expect(sup.workers()).toEqual([]); // nothing was registered
    });
  });

  describe('6. a worker whose running task was aborted gets no new work until the task ends', () => {
    it('a following run waits for the abandoned task (which ignores its signal) to end', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        // Room for two tasks at once: were the worker given new work, the probe would run beside the abandoned task.
        const pool = taskPool(scope, { runtime, maxWorkers: 1, concurrentTasksPerWorker: 2, abortGraceMs: 60_000 });
        const latch = fileLatch();
        const ac = new AbortController();
        const abandoned = pool.run(latch.input, { signal: ac.signal });
        await latch.started();
        const reason = new Error('cancelled');
        ac.abort(reason);
        await expect(abandoned).rejects.toBe(reason);
        const probe = pool.run('count');
        // Decided now: the probe was not sent to the only worker, whose abandoned task is still running.
        expect(pool.queueSize).toBe(1);
        expect(pool.stats).toMatchObject({ queued: 1, running: 1 });
        latch.release();
        expect(await probe).toEqual({ ran: 0, blocking: 0 }); // it ran after the abandoned task ended
        checkForInterrupts();
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });

    it('a task that never yields is stopped abortGraceMs later and its worker replaced; a precious scope goes on', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = taskPool(scope, { runtime, maxWorkers: 1, abortGraceMs: 100 });
        const latch = fileLatch('spin');
        const ac = new AbortController();
        const spinning = pool.run(latch.input, { signal: ac.signal });
        await latch.started();
        const reason = new Error('cancelled');
        ac.abort(reason);
        await expect(spinning).rejects.toBe(reason);
        const next = pool.run(5);
        expect(pool.queueSize).toBe(1); // waits for the replacement, not behind the spinning task
        expect(await next).toBe(25);
        expect(await pool.map([1, 2, 3])).toEqual([1, 4, 9]);
        checkForInterrupts(); // the pool's own stop of the spinning worker is no precious death
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });
  });

  // Dispatch cost per task is O(1) in the queue's length; that is measured by bench/pool-concurrent.mjs, not here:
  // this is a scale and sanity check (every result right, nothing left over) with a generous timeout.
  it('7. 50,000 concurrent run()s of a trivial task all complete with the right results', { timeout: 60_000 }, async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = taskPool(scope, { runtime, maxWorkers: 2 });
      const n = 50_000;
      const out = await Promise.all(Array.from({ length: n }, (_, i) => pool.run(i)));
      for (let i = 0; i < n; i++) if (out[i] !== i * i) expect(out[i]).toBe(i * i);
      expect(pool.stats).toMatchObject({ queued: 0, running: 0, done: n });
    });
  });

  it('8. non-precious pool: a poisonous input fails alone; innocent inputs, also queued behind it, resolve', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = taskPool(scope, { runtime, maxWorkers: 1, precious: false });
      await expect(pool.map([1, 2, 'exit', 4, 5, 6, 7, 8])).rejects.toBeInstanceOf(PoolWorkerDiedError);
      expect(await pool.run(1)).toBe(1); // run() timing is known now (a trivial task): queued run()s share batches
      // Hold the worker so the run()s below queue up and then go out together, 'exit' in a batch between 2 and
      // 4, 5, ...; the holder is a map, whose timing is its own and leaves run()s' batch size alone. Thread: 2 is
      // answered before 'exit' kills the worker, the inputs behind 'exit' in its batch and in the look-ahead batch
      // never started and are retried on the replacement. Process: a non-precious process pool sends one task at a
      // time, so only 'exit' was ever on the dying worker.
      const latch = fileLatch();
      const blocker = pool.map([latch.input]);
      await latch.started();
      const inputs: unknown[] = [1, 2, 'exit', 4, 5, 6, 7, 8, 9, 10, 11, 12];
      const runs = inputs.map((x) => pool.run(x));
      latch.release();
      expect(await blocker).toEqual(['released']);
      const outcomes = await Promise.allSettled(runs);
      outcomes.forEach((o, i) => {
        if (inputs[i] === 'exit') {
          expect(o.status).toBe('rejected');
          expect((o as PromiseRejectedResult).reason).toBeInstanceOf(PoolWorkerDiedError);
        } else {
          expect(o).toEqual({ status: 'fulfilled', value: (inputs[i] as number) ** 2 });
        }
      });
      checkForInterrupts();
    });
    expect(sup.metrics().preciousDeaths).toBe(0);
  });

  it('10. with one worker held by a long task, run()s go to the idle one; queued counts tasks not yet started', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = taskPool(scope, { runtime, maxWorkers: 2 });
      const a = fileLatch();
      const b = fileLatch();
      const longA = pool.run(a.input);
      await a.started();
      // Worker A is held until a.release(): these complete on worker B meanwhile (or the test hangs).
      expect(await pool.run(5)).toBe(25);
      // Thread: 7 goes ahead to a busy worker while B runs 6; if that is A, B takes it back once idle (the gate).
      // Process: nothing is sent ahead, 7 waits in the pool for B.
      expect(await Promise.all([pool.run(6), pool.run(7)])).toEqual([36, 49]);
      const longB = pool.run(b.input);
      await b.started();
      const ahead = pool.run(8);
      // Both workers run a long task. Thread: 8 was sent ahead to one of them and the gate says it has not started,
      // so it counts as queued. Process: it waits in the pool (a process pool sends only what can start at once).
      expect(pool.stats).toMatchObject({ queued: 1, running: 2 });
      expect(pool.queueSize).toBe(runtime === 'thread' ? 0 : 1);
      b.release();
      expect(await longB).toBe('released');
      // B went idle: it took 8 back from A's look-ahead batch (thread) or from the pool's queue (process), and 8
      // completes while A is still held.
      expect(await ahead).toBe(64);
      expect(pool.stats).toMatchObject({ queued: 0, running: 1 });
      a.release();
      expect(await longA).toBe('released');
      expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
    });
  });
});

describe('thread runtime only', () => {
  it('5. env and execArgv on a thread pool throw InvalidWorkerSpecError at pool(), even with minWorkers: 0', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const cases: [Partial<PoolOptions>, string][] = [
        [{ env: { A: '1' } }, 'env'],
        [{ env: { A: '1' }, minWorkers: 0 }, 'env'],
        [{ execArgv: ['--no-warnings'], minWorkers: 0 }, 'execArgv'],
      ];
      for (const [options, field] of cases) {
        let thrown: unknown;
        try {
          taskPool(scope, { runtime: 'thread', maxWorkers: 1, ...options });
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(InvalidWorkerSpecError);
        expect(thrown).toMatchObject({ code: 'ERR_INVALID_WORKER_SPEC', field });
      }
      expect(sup.workers()).toEqual([]);
    });
  });
});
