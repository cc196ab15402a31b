/**
 * A thread pool's idle wait (pool-worker.ts, "Idle wait"; PoolOptions.idleWaitMs): an idle worker sleeps in
 * Atomics.wait on its latch instead of its event loop. Each test fails when one edge of that wait breaks:
 * - a batch posted to a sleeping worker wakes it (the pool sets its latch): without the set, the first run() sent
 *   to a sleeping worker waits for ever (idleWaitMs: Infinity) and the test times out;
 * - a termination request wakes it: without it the scope's end forces the worker down (`forced`, 'terminated');
 * - the wait ends after idleWaitMs and the worker waits in its event loop: a timer a task left behind fires
 *   (with a wait that never ends it never would, and the test times out);
 * - output a task wrote reaches the main thread although the worker sleeps (its stdio waits for acknowledgements
 *   that come through the event loop);
 * - idleWaitMs is checked at scope.pool().
 * The pauses below (a few ms after a run) only make it near-certain that the worker has gone to sleep when the
 * next thing is sent; a correct build passes whatever the timing, and a broken one fails whenever it slept.
 */
import dc from 'node:diagnostics_channel';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import { InvalidWorkerSpecError } from '../../dist/index.js';
import { fixture, startSupervisor } from '../helpers.js';

const entry = fixture('idle-wait.mjs');

describe('idle wait', () => {
  it('a run() sent to a worker asleep in Atomics.wait wakes it (the pool sets its latch)', { timeout: 20_000 }, async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = scope.pool({ entry, maxWorkers: 1, idleWaitMs: Infinity });
      for (let i = 0; i < 20; i++) {
        expect(await pool.run(i)).toBe(i);
        await sleep(3);
      }
      // map batches and run()s in a row, with no pause: every one answered
      const all = await Promise.all([pool.map([1, 2, 3]), pool.run(4), pool.map(Array.from({ length: 300 }, (_, k) => k))]);
      expect(all[0]).toEqual([1, 2, 3]);
      expect(all[1]).toBe(4);
      expect(all[2][299]).toBe(299);
    });
  });

  it('a termination request wakes a sleeping worker: the scope ends with it completed, not forced', { timeout: 20_000 }, async () => {
    const stops: { name: string; forced: boolean; reason: string }[] = [];
    const onStop = (m: unknown): void => {
      const s = m as { name: string; forced: boolean; exit: { reason: string } };
      stops.push({ name: s.name, forced: s.forced, reason: s.exit.reason });
    };
    dc.subscribe('bgworkers:worker:stop', onStop);
    onTestFinished(() => {
      dc.unsubscribe('bgworkers:worker:stop', onStop);
    });
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = scope.pool({ entry, maxWorkers: 2, idleWaitMs: Infinity, name: 'sleepers' });
      expect(await pool.map([1, 2])).toEqual([1, 2]);
      await sleep(10);
    });
    const ours = stops.filter((s) => s.name.startsWith('sleepers#'));
    expect(ours).toHaveLength(2);
    expect(ours.every((s) => !s.forced && s.reason === 'completed')).toBe(true);
  });

  it.each([[20], [0]])('idleWaitMs %d: a timer a task left behind fires once its worker waits in its event loop', { timeout: 20_000 }, async (idleWaitMs) => {
    const sup = await startSupervisor();
    const sab = new SharedArrayBuffer(4);
    const word = new Int32Array(sab);
    await sup.scope(async (scope) => {
      const pool = scope.pool({ entry, maxWorkers: 1, idleWaitMs, data: { sab } });
      expect(await pool.run(7, { name: 'later' })).toBe(7);
      // Nothing more is sent: only the worker's own event loop can fire the timer.
      const w = Atomics.waitAsync(word, 0, 0);
      if (w.async) await w.value;
      expect(Atomics.load(word, 0)).toBe(7);
    });
  });

  it('output written by a task reaches the main thread while its worker sleeps', { timeout: 20_000 }, async () => {
    const lines: string[] = [];
    const write = process.stdout.write;
    let seen!: () => void;
    const all = new Promise<void>((resolve) => (seen = resolve));
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      if (!text.includes('idle-print')) return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
      for (const l of text.split('\n')) if (l.startsWith('idle-print')) lines.push(l);
      if (lines.length === 50) seen();
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
    onTestFinished(() => {
      process.stdout.write = write;
    });
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      const pool = scope.pool({ entry, maxWorkers: 1, idleWaitMs: Infinity });
      expect(await pool.run({ tag: 'idle-print', lines: 50 }, { name: 'print' })).toBe(50);
      await all; // before the scope ends (the worker's exit would flush its output anyway)
    });
    expect(lines).toEqual(Array.from({ length: 50 }, (_, i) => `idle-print ${i}`));
  });

  it('idleWaitMs is checked at scope.pool(): a number >= 0, Infinity allowed', async () => {
    const sup = await startSupervisor();
    await sup.scope(async (scope) => {
      for (const bad of [-1, Number.NaN, '20', null]) {
        let err: unknown;
        try {
          scope.pool({ entry, maxWorkers: 1, idleWaitMs: bad as number });
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(InvalidWorkerSpecError);
        expect(err).toMatchObject({ code: 'ERR_INVALID_WORKER_SPEC', field: 'idleWaitMs' });
      }
      expect(sup.workers()).toEqual([]);
      for (const runtime of ['thread', 'process'] as const) {
        const pool = scope.pool({ entry, maxWorkers: 1, runtime, idleWaitMs: Infinity });
        expect(await pool.run(runtime)).toBe(runtime);
      }
    });
  });
});
