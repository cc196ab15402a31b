/**
 * scope.pool() features beyond fan-out: named task functions, transfers and move(), back-pressure (maxQueue,
 * queueSize, drained), idleTimeoutMs, concurrentTasksPerWorker, stopping a task that never yields (abortGraceMs,
 * timeoutMs), stats histograms and utilization, per-pool worker setup (data, env, execArgv), and map's signal.
 * Both runtimes; in a process pool nothing moves between processes (values are copied), and it still works.
 *
 * Tasks that must wait are released by a file (pf-files.mjs: works across threads and processes alike); every
 * assertion is an end state or an order, never a timing window.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  InvalidWorkerSpecError,
  PoolQueueFullError,
  TaskTimeoutError,
  checkForInterrupts,
  type ScopedPool,
  type Supervisor,
} from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor, until } from '../helpers.js';

/** A fresh directory for a test's marks and release file, removed when the test ends. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bgw-pf-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The inputs pf-files.mjs tasks have started with (their `ran-<input>` marks). */
function ran(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('ran-')).map((f) => f.slice(4)).sort();
}

/** Ids of the supervisor's workers of pool `name`. */
function poolWorkerIds(sup: Supervisor, name: string): string[] {
  return sup.workers({ labels: { pool: name } }).map((w) => String(w.id));
}

/** Submits run()s until `pool.queueSize` reaches `size` (bounded): the calls admitted, none settled yet. */
function fillQueue(pool: ScopedPool, size: number): Promise<unknown>[] {
  const admitted: Promise<unknown>[] = [];
  for (let i = 0; pool.queueSize < size; i++) {
    if (i > 64) throw new Error(`queueSize stuck at ${pool.queueSize}`);
    admitted.push(pool.run(`q${i}`));
  }
  return admitted;
}

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe('named task functions', () => {
    it('run/map pick a task by name, the default export by default; task.name names it', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-named.mjs'), maxWorkers: 2, data: { d: 1 } });
        expect(await pool.run(3)).toBe(9);
        expect(await pool.run(3, { name: 'default' })).toBe(9);
        expect(await pool.run(3, { name: 'cube' })).toBe(27);
        expect(await pool.map([1, 2, 3], { name: 'cube' })).toEqual([1, 8, 27]);
        expect(await pool.map([1, 2, 3])).toEqual([1, 4, 9]);
        expect(await pool.run(0, { name: 'whoami' })).toEqual({ name: 'whoami', data: { d: 1 } });
        // Different names queued together each run their own function.
        expect(await Promise.all([pool.run(2), pool.run(2, { name: 'cube' }), pool.run(2), pool.run(2, { name: 'cube' })])).toEqual([4, 8, 4, 8]);
      });
    });

    it('an unknown name, or one that is not a function, rejects with ERR_INVALID_WORKER_SPEC; the pool keeps working', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-named.mjs'), maxWorkers: 1 });
        // Thrown in the worker and revived here: it keeps its name and code (not its class).
        await expect(pool.run(2, { name: 'nope' })).rejects.toMatchObject({ name: 'InvalidWorkerSpecError', code: 'ERR_INVALID_WORKER_SPEC' });
        await expect(pool.run(2, { name: 'notATask' })).rejects.toMatchObject({ code: 'ERR_INVALID_WORKER_SPEC' });
        await expect(pool.map([1, 2], { name: 'nope' })).rejects.toMatchObject({ cause: expect.objectContaining({ code: 'ERR_INVALID_WORKER_SPEC' }) });
        expect(await pool.run(4)).toBe(16);
        checkForInterrupts(); // a bad name is the caller's error, not a worker death
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });

    it('a default export that is a promise of a task function works', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<number, number>({ runtime, entry: fixture('pf-promise-default.mjs'), maxWorkers: 1 });
        expect(await pool.run(1)).toBe(2);
        expect(await pool.map([1, 2, 3])).toEqual([2, 3, 4]);
      });
    });

    it('a module with only named exports works with names; without a name it rejects with ERR_INVALID_WORKER_SPEC', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<number, number>({ runtime, entry: fixture('pf-named-only.mjs'), maxWorkers: 1 });
        expect(await pool.run(5, { name: 'double' })).toBe(10);
        expect(await pool.map([1, 2], { name: 'negate' })).toEqual([-1, -2]);
        await expect(pool.run(5)).rejects.toMatchObject({ code: 'ERR_INVALID_WORKER_SPEC' });
        expect(await pool.run(6, { name: 'double' })).toBe(12);
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });
  });

  describe('transfers and move()', () => {
    it('run(input, { transfer }) moves the ArrayBuffer to a thread (copies to a process); the task sees the data', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-transfer.mjs'), maxWorkers: 1 });
        const buf = new Uint8Array([1, 2, 3, 4, 5]).buffer;
        const result = pool.run({ buf }, { transfer: [buf] });
        // Posted at the call: a thread pool's buffer is detached in the caller now. (A process pool copies it to
        // the child in the end; whether the caller's buffer is detached on the way is not specified.)
        if (runtime === 'thread') expect(buf.byteLength).toBe(0);
        expect(await result).toEqual({ byteLength: 5, sum: 15 });
      });
    });

    it('a task returning move(new Float64Array(n)) gives the caller the array; in a thread its buffer moved', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-transfer.mjs'), maxWorkers: 1 });
        const arr = (await pool.run(1000, { name: 'floats' })) as Float64Array;
        expect(arr).toBeInstanceOf(Float64Array);
        expect(arr.length).toBe(1000);
        expect(arr[0]).toBe(0);
        expect(arr[999]).toBe(999);
        expect(arr.reduce((a, b) => a + b, 0)).toBe((999 * 1000) / 2);
        // The same (only) worker: the array it returned is detached there once moved; a process copied it.
        expect(await pool.run(0, { name: 'lastByteLength' })).toBe(runtime === 'thread' ? 0 : 8000);
      });
    });
  });

  describe('back-pressure', () => {
    it('maxQueue: calls beyond the queue reject at once with PoolQueueFullError; queueSize counts waiting calls (a map once)', async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-files.mjs'), maxWorkers: 1, maxQueue: 2, data: { dir } });
        expect(pool.queueSize).toBe(0);
        const admitted = fillQueue(pool, 1);
        expect(admitted.length).toBeGreaterThanOrEqual(2); // at least one went to the worker, one waits
        const mapped = pool.map(['m0', 'm1', 'm2']); // waits as one call
        expect(pool.queueSize).toBe(2);
        const overRun = pool.run('over');
        const overMap = pool.map(['over1', 'over2']);
        // Rejected while every admitted task is still blocked (nothing released yet): at once, not after a wait.
        const err = await overRun.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PoolQueueFullError);
        expect(err).toMatchObject({ code: 'ERR_POOL_QUEUE_FULL', maxQueue: 2 });
        await expect(overMap).rejects.toBeInstanceOf(PoolQueueFullError);
        expect(pool.queueSize).toBe(2);
        let drained = false;
        const drainedP = pool.drained().then(() => {
          drained = true;
        });
        expect(ran(dir)).not.toContain('over');
        await until(() => ran(dir).includes('q0'), 'the first task started');
        expect(drained).toBe(false); // q0 is blocked: the pool cannot have drained
        writeFileSync(join(dir, 'release'), '');
        await drainedP;
        // Checked before anything else can run: drained means nothing queued and nothing running.
        expect(pool.queueSize).toBe(0);
        expect(pool.stats).toMatchObject({ queued: 0, running: 0, done: admitted.length + 3 });
        expect(await Promise.all(admitted)).toEqual(admitted.map((_, i) => `q${i}`));
        expect(await mapped).toEqual(['m0', 'm1', 'm2']);
        expect(ran(dir)).not.toContain('over');
        expect(ran(dir)).not.toContain('over1');
        // Idle: drained() resolves at once (before any other turn of the event loop).
        let idle = false;
        void pool.drained().then(() => {
          idle = true;
        });
        await Promise.resolve();
        await Promise.resolve();
        expect(idle).toBe(true);
        // Room again: a call is admitted.
        expect(await pool.run('after')).toBe('after');
      });
    });

    it("maxQueue 'auto' is maxWorkers²", async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-files.mjs'), maxWorkers: 2, maxQueue: 'auto', data: { dir } });
        const admitted = fillQueue(pool, 4);
        const err = await pool.run('over').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PoolQueueFullError);
        expect(err).toMatchObject({ code: 'ERR_POOL_QUEUE_FULL', maxQueue: 4 });
        expect(pool.queueSize).toBe(4);
        writeFileSync(join(dir, 'release'), '');
        await Promise.all(admitted);
        await pool.drained();
        expect(pool.stats).toMatchObject({ queued: 0, running: 0 });
      });
    });

    it('drained() resolves at once on a new pool, and waits for queued and running work', async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-files.mjs'), maxWorkers: 1, data: { dir } });
        await pool.drained();
        const work = [pool.run('a'), pool.map(['b', 'c'])];
        let drained = false;
        const drainedP = pool.drained().then(() => {
          drained = true;
        });
        await until(() => ran(dir).includes('a'), 'task a started');
        expect(drained).toBe(false); // 'a' is blocked: it cannot have drained
        writeFileSync(join(dir, 'release'), '');
        await drainedP;
        // Checked before anything else can run: drained means every task has answered.
        expect(pool.stats).toMatchObject({ queued: 0, running: 0, done: 3 });
        expect(await Promise.all(work)).toEqual(['a', ['b', 'c']]);
      });
    });
  });

  describe('idleTimeoutMs', () => {
    it('with minWorkers 0, idle workers stop; a new run() starts one again', async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-files.mjs'), maxWorkers: 2, minWorkers: 0, idleTimeoutMs: 50, data: { dir }, name: 'idle0' });
        expect(pool.stats.workers).toBe(0);
        const work = [pool.run('a'), pool.run('b')];
        await until(() => ran(dir).length === 2, 'both tasks started');
        expect(pool.stats.workers).toBe(2); // each blocked on its own worker: none can be idle
        writeFileSync(join(dir, 'release'), '');
        expect(await Promise.all(work)).toEqual(['a', 'b']);
        await until(() => pool.stats.workers === 0 && poolWorkerIds(sup, 'idle0').length === 0, 'idle pool workers stopped');
        expect(await pool.run('c')).toBe('c');
        await until(() => pool.stats.workers === 0 && poolWorkerIds(sup, 'idle0').length === 0, 'idle pool workers stopped again');
        checkForInterrupts(); // an idle stop is asked for by the pool: not a precious death
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });

    it('minWorkers are kept: only the workers above it stop', async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-files.mjs'), maxWorkers: 2, minWorkers: 1, idleTimeoutMs: 50, data: { dir }, name: 'idle1' });
        expect(pool.stats.workers).toBe(1);
        const work = [pool.run('a'), pool.run('b')];
        await until(() => ran(dir).length === 2, 'both tasks started');
        expect(pool.stats.workers).toBe(2);
        const both = poolWorkerIds(sup, 'idle1');
        writeFileSync(join(dir, 'release'), '');
        await Promise.all(work);
        await until(() => pool.stats.workers === 1 && poolWorkerIds(sup, 'idle1').length === 1, 'the worker above minWorkers stopped');
        // Many idle timeouts later the kept worker is still there, the same one (not stopped and replaced): a
        // negative check, which a slow machine can only weaken.
        await new Promise((r) => setTimeout(r, 300));
        expect(pool.stats.workers).toBe(1);
        const kept = poolWorkerIds(sup, 'idle1');
        expect(kept).toHaveLength(1);
        expect(both).toContain(kept[0]);
        expect(await pool.run('c')).toBe('c');
        checkForInterrupts();
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });
  });

  describe('concurrentTasksPerWorker', () => {
    it('with 4, one worker runs 4 tasks that each wait until all 4 have started', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<number, number>({ runtime, entry: fixture('pf-overlap.mjs'), maxWorkers: 1, concurrentTasksPerWorker: 4 });
        const results = await Promise.all([pool.run(4), pool.run(4), pool.run(4), pool.run(4)]);
        expect(results).toEqual([4, 4, 4, 4]); // every one returned after all 4 had started: they overlapped
        const { utilization } = pool.stats;
        expect(utilization).toBeGreaterThanOrEqual(0);
        expect(utilization).toBeLessThanOrEqual(4);
      });
    });

    it('with the default 1, the tasks of one worker never overlap', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<number, number>({ runtime, entry: fixture('pf-overlap.mjs'), maxWorkers: 1 });
        const runs = Array.from({ length: 8 }, () => pool.run(0, { name: 'overlap' }));
        const mapped = pool.map([0, 0, 0, 0, 0, 0, 0, 0], { name: 'overlap' });
        expect(await Promise.all(runs)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
        expect(await mapped).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
      });
    });
  });

  describe('stopping a task that never yields', () => {
    it('run(x, { signal }): abort rejects with the reason at once; after abortGraceMs the worker is replaced; no precious death', async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-spin.mjs'), maxWorkers: 1, abortGraceMs: 50, data: { dir }, name: 'spinner' });
        const [spinning] = poolWorkerIds(sup, 'spinner');
        expect(spinning).toBeDefined();
        const ac = new AbortController();
        const reason = new Error('stop spinning');
        const t = pool.run('spin', { signal: ac.signal });
        await until(() => existsSync(join(dir, 'started')), 'the task started spinning');
        let rejected = false;
        t.catch(() => {
          rejected = true;
        });
        ac.abort(reason);
        for (let i = 0; i < 10; i++) await Promise.resolve(); // microtasks only: no timer, no message can run
        expect(rejected).toBe(true); // settled by the abort itself, not by the worker (which never answers)
        await expect(t).rejects.toBe(reason);
        await until(() => !poolWorkerIds(sup, 'spinner').includes(spinning!), 'the spinning worker stopped');
        expect(await pool.run('ok')).toBe('ok');
        const now = poolWorkerIds(sup, 'spinner');
        expect(now).toHaveLength(1);
        expect(now[0]).not.toBe(spinning);
        checkForInterrupts(); // the stop was asked for by the pool: the precious scope is not aborted
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });

    it('run(x, { timeoutMs }) rejects with TaskTimeoutError; the worker is replaced and the pool keeps working', async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-spin.mjs'), maxWorkers: 1, abortGraceMs: 50, data: { dir }, name: 'spin-t' });
        expect(await pool.run('warm')).toBe('warm');
        const [spinning] = poolWorkerIds(sup, 'spin-t');
        const err = await pool.run('spin', { timeoutMs: 50 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TaskTimeoutError);
        expect(err).toMatchObject({ code: 'ERR_TASK_TIMEOUT', timeoutMs: 50 });
        expect(existsSync(join(dir, 'started'))).toBe(true);
        await until(() => !poolWorkerIds(sup, 'spin-t').includes(spinning!), 'the spinning worker stopped');
        expect(await pool.run('ok')).toBe('ok');
        expect(await pool.map(['a', 'b'])).toEqual(['a', 'b']);
        checkForInterrupts();
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });

    it("the pool's timeoutMs is every task's default; a run's own timeoutMs overrides it", async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-spin.mjs'), maxWorkers: 1, abortGraceMs: 50, timeoutMs: 50, data: { dir }, name: 'spin-d' });
        // Warm, with a generous own timeout (a process worker may take longer than 50 ms to start).
        expect(await pool.run('warm', { timeoutMs: 10_000 })).toBe('warm');
        const [spinning] = poolWorkerIds(sup, 'spin-d');
        await expect(pool.run('spin')).rejects.toMatchObject({ code: 'ERR_TASK_TIMEOUT', timeoutMs: 50 });
        await until(() => !poolWorkerIds(sup, 'spin-d').includes(spinning!), 'the spinning worker stopped');
        expect(await pool.run('ok', { timeoutMs: 10_000 })).toBe('ok');
        expect(await pool.map(['a', 'b'], { timeoutMs: 10_000 })).toEqual(['a', 'b']);
        checkForInterrupts();
      });
      expect(sup.metrics().preciousDeaths).toBe(0);
    });
  });

  describe('map({ signal })', () => {
    it('aborting rejects the map with the reason; inputs not started never run', async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const pool = scope.pool({ runtime, entry: fixture('pf-files.mjs'), maxWorkers: 1, data: { dir } });
        const ac = new AbortController();
        const reason = new Error('enough');
        const m = pool.map(['a', 'b', 'c', 'd', 'e', 'f'], { signal: ac.signal });
        m.catch(() => {});
        await until(() => ran(dir).includes('a'), 'the first input started');
        ac.abort(reason);
        await expect(m).rejects.toBe(reason);
        writeFileSync(join(dir, 'release'), '');
        // The only worker answers in order: once this run has answered, anything sent before it was answered too.
        expect(await pool.run('z')).toBe('z');
        await pool.drained();
        expect(ran(dir)).toEqual(['a', 'z']);
      });
    });
  });

  describe('observability', () => {
    it('stats: runTime and waitTime histograms, done, utilization; pool workers are labelled with the pool name', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (scope) => {
        const pool = scope.pool<number, number>({ runtime, entry: fixture('task-cpu.mjs'), maxWorkers: 2, name: 'observed' });
        const empty = pool.stats;
        expect(empty.runTime).toEqual({ count: 0, min: 0, p50: 0, p90: 0, p99: 0, max: 0 });
        expect(empty.waitTime.count).toBe(0);
        await pool.map(Array.from({ length: 20 }, () => 1));
        await Promise.all([pool.run(2), pool.run(2), pool.run(2)]);
        await pool.run(3);
        const s = pool.stats;
        expect(s.done).toBe(24);
        expect(s.runTime.count).toBe(24);
        expect(s).toMatchObject({ queued: 0, running: 0, workers: 2 });
        for (const h of [s.runTime, s.waitTime]) {
          expect(h.count).toBeGreaterThan(0);
          expect(h.min).toBeGreaterThan(0);
          expect(h.min).toBeLessThanOrEqual(h.p50);
          expect(h.p50).toBeLessThanOrEqual(h.p90);
          expect(h.p90).toBeLessThanOrEqual(h.p99);
          expect(h.p99).toBeLessThanOrEqual(h.max);
        }
        // Each task burnt at least 1 ms of CPU in its worker.
        expect(s.runTime.min).toBeGreaterThanOrEqual(0.9);
        expect(s.utilization).toBeGreaterThan(0);
        expect(s.utilization).toBeLessThanOrEqual(1);
        const infos = sup.workers({ labels: { pool: 'observed' } });
        expect(infos).toHaveLength(2);
        expect(infos.every((w) => w.labels['pool'] === 'observed' && w.kind === 'pool')).toBe(true);
      });
    });
  });

  describe('per-pool worker setup', () => {
    it('data reaches every task as task.data, on every worker', async () => {
      const sup = await startSupervisor();
      const dir = tempDir();
      await sup.scope(async (scope) => {
        const data = { dir, nested: { list: [1, 2, 3] } };
        const pool = scope.pool({ runtime, entry: fixture('pf-files.mjs'), maxWorkers: 2, data });
        const inputs = Array.from({ length: 50 }, (_, i) => i);
        const [mapped, ...runs] = await Promise.all([pool.map(inputs, { name: 'data' }), pool.run(0, { name: 'data' }), pool.run(1, { name: 'data' })]);
        expect(mapped).toEqual(inputs.map(() => data));
        expect(runs).toEqual([data, data]);
      });
    });
  });
});

describe('per-pool worker setup: env and execArgv', () => {
  it('env and execArgv reach process pool workers', async () => {
    const sup = await startSupervisor();
    const dir = tempDir();
    await sup.scope(async (scope) => {
      const pool = scope.pool({ runtime: 'process', entry: fixture('pf-files.mjs'), maxWorkers: 2, data: { dir }, env: { PF_X: 'from-the-pool' }, execArgv: ['--max-old-space-size=96'] });
      expect(await pool.map([0, 1, 2, 3], { name: 'env' })).toEqual(['from-the-pool', 'from-the-pool', 'from-the-pool', 'from-the-pool']);
      expect(await pool.run(0, { name: 'argv' })).toEqual(['--max-old-space-size=96']);
    });
  });

  it('env or execArgv on a thread pool throws InvalidWorkerSpecError at scope.pool(), with nothing started', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const envErr = (() => {
        try {
          scope.pool({ runtime: 'thread', entry: fixture('pf-files.mjs'), maxWorkers: 1, env: { PF_X: '1' } });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(envErr).toBeInstanceOf(InvalidWorkerSpecError);
      expect(envErr).toMatchObject({ code: 'ERR_INVALID_WORKER_SPEC', field: 'env' });
      expect(() => scope.pool({ entry: fixture('pf-files.mjs'), maxWorkers: 1, execArgv: [] })).toThrow(expect.objectContaining({ field: 'execArgv' }));
      expect(sup.workers()).toEqual([]);
      expect(sup.metrics().slots.used).toBe(0);
    });
  });
});
