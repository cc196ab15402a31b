/**
 * G17 end to end: a worker that fails every run is restarted maxRestarts times, then stops for good with reason
 * `failed` and a RestartIntensityError whose cause is its last run's error. Counted by the runs themselves
 * (a shared counter), not by timing.
 */
import { describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError, RestartIntensityError } from '../../dist/index.js';
import { fixture, startSupervisor } from '../helpers.js';
import { thrownBy } from '../thrown.js';

describe('G17 restart intensity', () => {
  it('more than maxRestarts restarts within withinMs: failed, RestartIntensityError, no more runs', async () => {
    const sup = await startSupervisor();
    const runs = new SharedArrayBuffer(4);
    const h = sup.register({ entry: fixture('fail-fast.mjs'), data: { runs }, restart: { delayMs: 1, factor: 2, maxRestarts: 3, withinMs: 60_000 } });
    const exit = await h.waitForShutdown();
    expect(exit.reason).toBe('failed');
    expect(exit.error).toBeInstanceOf(RestartIntensityError);
    const e = exit.error as RestartIntensityError;
    expect(e.code).toBe('ERR_RESTART_INTENSITY');
    expect(e.restarts).toBe(3);
    expect(e.withinMs).toBe(60_000);
    expect((e.cause as Error).message).toBe('run 4 failed');
    expect(Atomics.load(new Int32Array(runs), 0)).toBe(4); // the first run and 3 restarts
    expect(sup.metrics().exits.failed).toBe(4);
    expect(sup.metrics().restarts).toBe(3);
  });

  it('bad restart options name the field', () => {
    return startSupervisor().then((sup) => {
      const bad: [unknown, string][] = [
        [{ delayMs: 1, factor: 0.5 }, 'restart.factor'],
        [{ delayMs: 10, maxDelayMs: 5 }, 'restart.maxDelayMs'],
        [{ delayMs: 1, maxRestarts: -1 }, 'restart.maxRestarts'],
        [{ delayMs: 1, maxRestarts: 1.5 }, 'restart.maxRestarts'],
        [{ delayMs: 1, withinMs: 0 }, 'restart.withinMs'],
        [{ delayMs: 1, nope: 1 }, 'restart.nope'],
      ];
      for (const [restart, field] of bad) {
        const caught = thrownBy(() => sup.register({ entry: fixture('fail-fast.mjs'), restart: restart as { delayMs: number } }));
        expect(caught, JSON.stringify(restart)).toBeInstanceOf(InvalidWorkerSpecError);
        expect((caught as InvalidWorkerSpecError).field, JSON.stringify(restart)).toBe(field);
      }
      expect(sup.workers()).toHaveLength(0);
    });
  });
});
