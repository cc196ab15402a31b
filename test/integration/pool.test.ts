/**
 * scope.pool(): fan-out with the scope's guarantees — results in order, task errors vs worker deaths, abort while
 * tasks are queued and in flight, the pool at scope end, nested scopes, capacity, both runtimes, batching edges.
 */
import dc from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import {
  PoolWorkerDiedError,
  PreciousWorkerDiedError,
  ScopeClosedError,
  TaskFailedError,
  WorkerCapacityError,
  checkForInterrupts,
  type ScopedPool,
} from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor, until } from '../helpers.js';

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe('results', () => {
    it('map returns results in input order; run returns one result', async () => {
      const sup = await startSupervisor();
      const inputs = Array.from({ length: 5000 }, (_, i) => i);
      const [mapped, one] = await sup.scope(async (scope) => {
        const pool = scope.pool<number, number>({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 2 });
        return Promise.all([pool.map(inputs), pool.run(12)]);
      });
      expect(mapped).toEqual(inputs.map((i) => i * i));
      expect(one).toBe(144);
    });

    it('batching edge cases: no input, one input, fewer inputs than workers, any iterable', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<number, number>({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 3 });
        expect(await pool.map([])).toEqual([]);
        expect(await pool.map([3])).toEqual([9]);
        expect(await pool.map([1, 2])).toEqual([1, 4]);
        expect(await pool.map(new Set([4, 5]))).toEqual([16, 25]);
        expect(await pool.map([1, 2, 3, 4], { concurrency: 1 })).toEqual([1, 4, 9, 16]);
      });
    });

    it('a throwing input rejects map with TaskFailedError carrying its index and error; the pool keeps working', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<unknown, number>({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 2 });
        const inputs: unknown[] = Array.from({ length: 300 }, (_, i) => i);
        inputs[217] = 'throw:217';
        const err = (await pool.map(inputs).catch((e: unknown) => e)) as TaskFailedError;
        expect(err).toBeInstanceOf(TaskFailedError);
        expect(err.code).toBe('ERR_TASK_FAILED');
        expect(err.index).toBe(217);
        expect((err.cause as Error).name).toBe('RangeError');
        await expect(pool.run('throw:1')).rejects.toMatchObject({ name: 'RangeError' });
        expect(await pool.run(3)).toBe(9);
        checkForInterrupts(); // a task that throws aborts nothing
      });
    });

    it('an entry whose default export is not a function is a start failure: a precious pool aborts its scope', async () => {
      const sup = await startSupervisor();
      const outcome = sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('task-not-a-function.mjs'), maxWorkers: 1 });
        await pool.run(1);
      });
      await expect(outcome).rejects.toBeInstanceOf(PreciousWorkerDiedError);
    });
  });

  describe('worker deaths', () => {
    it('a pool worker dying mid-task settles that task and aborts a precious scope, on the death itself', async () => {
      // Every grace is longer than the test's timeout: if the death were noticed through any of them (a stop
      // forced after the grace) rather than through the death itself, the test would time out.
      const sup = await startSupervisor({ gracefulTimeoutMs: 60_000 });
      let task: Promise<unknown> | undefined;
      const outcome = sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 2, abortGraceMs: 60_000 });
        task = pool.run('exit');
        await task;
      });
      const err = await outcome.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PreciousWorkerDiedError);
      expect((err as PreciousWorkerDiedError).exit.reason).toBe('crashed');
      await expect(task).rejects.toBe(err);
      expect(sup.metrics()).toMatchObject({ preciousDeaths: 1, terminations: { forced: 0 }, exits: { crashed: 1 } });
    });

    it('with precious: false, the lost task rejects with PoolWorkerDiedError and the pool replaces the worker', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<unknown, number>({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 1, precious: false });
        await expect(pool.run('exit')).rejects.toBeInstanceOf(PoolWorkerDiedError);
        expect(await pool.run(5)).toBe(25);
        checkForInterrupts();
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });

    it('with precious: false, an entry that does not load fails the tasks its worker held (none started), with no loop of worker starts', async () => {
      const sup = await startSupervisor();
      let starts = 0;
      const onRegister = (m: unknown): void => void ((m as { kind?: string }).kind === 'broken' && starts++);
      dc.subscribe('bgworkers:worker:register', onRegister);
      try {
        await sup.scope(async (scope) => {
          // minWorkers 1: the worker starts with the pool, and is not replaced after it failed (that would loop).
          const pool = scope.pool<unknown, number>({ runtime, entry: fixture('import-throws.mjs'), maxWorkers: 1, minWorkers: 1, precious: false, kind: 'broken' });
          // Thread: both runs go to the starting worker (the second ahead, never started); process: the second waits
          // for the next worker.
          const errs = await Promise.all([pool.run(1), pool.run(2)].map((p) => p.catch((e: unknown) => e)));
          for (const err of errs) {
            expect(err).toBeInstanceOf(PoolWorkerDiedError);
            expect((err as PoolWorkerDiedError).exit.reason).toBe('failed');
            expect((err as PoolWorkerDiedError).exit.error!.message).toBe('bad module on purpose');
          }
          // One worker per batch of calls, not one per retry (with the tasks queued again, they never settled).
          expect(starts).toBe(runtime === 'thread' ? 1 : 2);
          expect(pool.stats).toMatchObject({ workers: 0, queued: 0, running: 0 });
          checkForInterrupts();
        });
      } finally {
        dc.unsubscribe('bgworkers:worker:register', onRegister);
      }
      expect(sup.metrics().preciousDeaths).toBe(0);
    });
  });

  describe('scope end', () => {
    it('abort: queued and in-flight tasks reject with the abort reason; in-flight tasks see task.signal abort', async () => {
      const sup = await startSupervisor();
      let tasks: Promise<unknown>[] = [];
      const reason = new Error('stop the query');
      const outcome = sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('task-slow.mjs'), maxWorkers: 1 });
        tasks = [pool.run('slow'), pool.run('slow'), pool.run('slow'), pool.map(['slow', 'slow'])];
        for (const t of tasks) t.catch(() => {}); // asserted below, after the scope settles
        // Nothing has started (the worker is still starting): a thread pool knows it from the gate (one task sent,
        // one sent ahead); a process pool sends only what a worker can start at once, and counts it as running.
        expect(pool.stats).toMatchObject(runtime === 'thread' ? { running: 0, queued: 5 } : { running: 1, queued: 4 });
        scope.abort(reason);
        checkForInterrupts();
      });
      await expect(outcome).rejects.toBe(reason);
      for (const t of tasks) await expect(t).rejects.toBe(reason);
      expect(sup.workers()).toEqual([]);
    });

    it('commit: pending tasks reject with ScopeClosedError, pool workers are stopped, slots are freed', async () => {
      const sup = await startSupervisor({ maxWorkers: 3 });
      let pending: Promise<unknown> | undefined;
      let pool!: ScopedPool;
      await sup.scope(async (scope) => {
        pool = scope.pool({ runtime, entry: fixture('task-slow.mjs'), maxWorkers: 2 });
        pending = pool.run('slow');
        pending.catch(() => {});
        expect(sup.metrics().slots.used).toBe(2);
      });
      await expect(pending).rejects.toBeInstanceOf(ScopeClosedError);
      await expect(pool.run('fast')).rejects.toBeInstanceOf(ScopeClosedError);
      expect(sup.metrics().slots.used).toBe(0);
    });

    it('run(input, { signal }): an aborted signal rejects that task alone', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('task-slow.mjs'), maxWorkers: 1 });
        const ac = new AbortController();
        const t = pool.run('slow', { signal: ac.signal });
        ac.abort(new Error('cancelled'));
        await expect(t).rejects.toThrow('cancelled');
        expect(await pool.run('fast')).toBe('fast');
        await expect(pool.run('fast', { signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow('early');
      });
    });

    it('nested scopes each with a pool: the inner pool ends with the inner scope', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (outer) => {
        const outerPool = outer.pool<number, number>({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 1, name: 'outer' });
        await sup.scope(async (inner) => {
          const innerPool = inner.pool<number, number>({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 1, name: 'inner' });
          expect(await innerPool.map([1, 2])).toEqual([1, 4]);
          expect(sup.workers({ labels: { pool: 'inner' } })).toHaveLength(1);
        });
        expect(sup.workers({ labels: { pool: 'inner' } })).toHaveLength(0);
        expect(await outerPool.run(3)).toBe(9);
      });
    });
  });

  describe('capacity', () => {
    it('pool workers hold slots, show in workers() with kind and labels, and a pool beyond capacity throws with nothing left', async () => {
      const sup = await startSupervisor({ maxWorkers: 3 });
      await sup.scope(async (scope) => {
        scope.pool({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 2, name: 'fan', kind: 'query', labels: { q: '1' } });
        const infos = sup.workers({ kind: 'query' });
        expect(infos).toHaveLength(2);
        expect(infos[0]!.labels).toEqual({ q: '1', pool: 'fan' });
        expect(infos.every((w) => w.ephemeral && w.precious)).toBe(true);
        expect(() => scope.pool({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 2 })).toThrow(WorkerCapacityError);
        // The failed pool got the last slot for its first worker, then asked that worker to stop: once it has
        // stopped, only the first pool's two workers hold slots.
        await until(() => sup.metrics().workers.stopped === 1, 'the failed pool to stop its one worker');
        expect(sup.metrics().exits['never-started'] + sup.metrics().exits.terminated).toBe(1);
        expect(sup.metrics().slots.used).toBe(2);
        expect(sup.workers().map((w) => w.kind)).toEqual(['query', 'query']);
      });
      // The scope settles after its pool's workers stopped, and a slot is freed before its stop is reported.
      expect(sup.metrics().slots.used).toBe(0);
    });

    it('minWorkers starts fewer; the pool grows to maxWorkers when work queues up', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<number, number>({ runtime, entry: fixture('task-cpu.mjs'), maxWorkers: 2, minWorkers: 1 });
        expect(pool.stats.workers).toBe(1);
        await pool.map([5, 5, 5, 5, 5, 5, 5, 5]);
        expect(pool.stats.workers).toBe(2);
      });
    });

    it('bad options throw InvalidWorkerSpecError naming the field', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        expect(() => scope.pool({ runtime, entry: fixture('task-square.mjs') } as never)).toThrow(expect.objectContaining({ field: 'maxWorkers' }));
        expect(() => scope.pool({ runtime, entry: fixture('nope.mjs'), maxWorkers: 1 })).toThrow(expect.objectContaining({ field: 'entry' }));
        expect(() => scope.pool({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 1, minWorkers: 2 })).toThrow(expect.objectContaining({ field: 'minWorkers' }));
        const pool = scope.pool({ runtime, entry: fixture('task-square.mjs'), maxWorkers: 1 });
        await expect(pool.map([1], { concurrency: 0 })).rejects.toMatchObject({ field: 'concurrency' });
        await expect(pool.run(1, { signal: 'x' } as never)).rejects.toMatchObject({ field: 'signal' });
      });
    });
  });
});

describe('spreading work', () => {
  // Speed is measured in bench/ (pool figure), not asserted here: these machines are too noisy for timing tests.
  it('a map of CPU-bound tasks is spread over every worker, not run on one', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = scope.pool<number, string>({ entry: fixture('task-whoami.mjs'), maxWorkers: 2 });
      const ran = await pool.map(Array.from({ length: 40 }, () => 2));
      expect(new Set(ran).size).toBe(2);
    });
  });
});
