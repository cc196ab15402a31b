/**
 * G8 exit classification: exactly one reason per stop, with results and errors carried back and revived.
 */
import { describe, expect, it } from 'vitest';
import { RUNTIMES, captureStderr, fixture, startSupervisor } from '../helpers.js';

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe('G8 exit classification', () => {
    it('completed: main returned; the result is delivered', async () => {
      const sup = await startSupervisor();
      const h = sup.register<unknown, { nested: number[] }>({ runtime, entry: fixture('echo.mjs'), data: { nested: [1, 2] } });
      expect(await h.waitForShutdown()).toEqual({ reason: 'completed', code: 0, signal: null, result: { nested: [1, 2] } });
    });

    it('failed: main threw; the error is revived with name, message, stack and code', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'throw' } });
      h.latch.set();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('failed');
      expect(exit.code).toBe(1);
      expect(exit.error).toBeInstanceOf(Error);
      expect(exit.error!.name).toBe('TypeError');
      expect(exit.error!.message).toBe('died on purpose');
      expect((exit.error as { code?: string }).code).toBe('E_PURPOSE');
      expect(exit.error!.stack).toContain('die-on-latch.mjs');
    });

    it('failed: main rejected', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'reject' } });
      h.latch.set();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('failed');
      expect(exit.error!.name).toBe('RangeError');
    });

    it('failed: a non-Error thrown value is described in a real Error', async () => {
      const sup = await startSupervisor();
      const exit = await sup.register({ runtime, entry: fixture('throw-non-error.mjs') }).waitForShutdown();
      expect(exit.reason).toBe('failed');
      expect(exit.error).toBeInstanceOf(Error);
      expect(exit.error!.message).toContain('a string');
    });

    it('failed: the entry throws at import, or is not a defineWorker module; waitForStartup rejects', async () => {
      const sup = await startSupervisor();
      const bad = sup.register({ runtime, entry: fixture('import-throws.mjs') });
      await expect(bad.waitForStartup()).rejects.toMatchObject({ code: 'ERR_WORKER_STARTUP', exit: { reason: 'failed' } });
      expect((await bad.waitForShutdown()).error!.name).toBe('SyntaxError');
      const notWorker = await sup.register({ runtime, entry: fixture('not-a-worker.mjs') }).waitForShutdown();
      expect(notWorker.reason).toBe('failed');
      expect((notWorker.error as { code?: string }).code).toBe('ERR_INVALID_WORKER_SPEC');
    });

    it('failed: a result that cannot be cloned', async () => {
      const sup = await startSupervisor();
      const exit = await sup.register({ runtime, entry: fixture('result-uncloneable.mjs') }).waitForShutdown();
      expect(exit.reason).toBe('failed');
      // The thread runtime's structured clone throws a DataCloneError; the process runtime's v8 serializer a plain Error.
      expect(exit.error!.name).toBe(runtime === 'thread' ? 'DataCloneError' : 'Error');
      expect(exit.error!.message).toMatch(/could not be cloned/);
    });

    it('crashed: process.exit mid-way, with its code (also exit code 0)', async () => {
      const sup = await startSupervisor();
      for (const code of [3, 0]) {
        const h = sup.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'exit', code } });
        h.latch.set();
        const exit = await h.waitForShutdown();
        expect(exit).toMatchObject({ reason: 'crashed', code });
      }
    });

    it('crashed: an uncaught exception outside main, with that exception as error', async () => {
      const sup = await startSupervisor();
      const stderr = captureStderr(runtime);
      const h = sup.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'uncaught' }, ...stderr.spec });
      h.latch.set();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('crashed');
      expect(exit.error!.message).toBe('uncaught on purpose');
      // A process worker is a Node process: Node prints the uncaught exception before it exits.
      if (runtime === 'process') expect(stderr.text()).toContain('Error: uncaught on purpose\n    at Timeout._onTimeout');
      else expect(stderr.text()).toBe('');
    });

    it('crashed: out of memory under resourceLimits', async () => {
      const sup = await startSupervisor();
      const stderr = captureStderr(runtime);
      const h = sup.register({
        runtime,
        entry: fixture('die-on-latch.mjs'),
        data: { how: 'oom' },
        resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
        ...stderr.spec,
      });
      h.latch.set();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('crashed');
      if (runtime === 'process') expect(stderr.text()).toContain('FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory');
      else expect(stderr.text()).toBe('');
      if (runtime === 'thread') expect((exit.error as { code?: string }).code).toBe('ERR_WORKER_OUT_OF_MEMORY');
      else expect(exit.signal ?? exit.code).toBeTruthy(); // V8 aborts the process: a signal or a non-zero code
    });

    it('terminated and never-started are counted apart; metrics add up to the stops', async () => {
      const sup = await startSupervisor();
      const never = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
      never.terminate();
      const running = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
      await running.waitForStartup();
      running.terminate();
      expect((await never.waitForShutdown()).reason).toBe('never-started');
      expect((await running.waitForShutdown()).reason).toBe('terminated');
      const m = sup.metrics();
      expect(m.exits).toEqual({ completed: 0, failed: 0, crashed: 0, terminated: 1, 'never-started': 1 });
      expect(m.workers.stopped).toBe(2);
    });

    it('workers see the registrant process environment as it is now (shared, not a copy)', async () => {
      const sup = await startSupervisor();
      process.env['BGW_TEST_ENV'] = `set after start ${process.pid}`;
      try {
        const exit = await sup.register({ runtime, entry: fixture('env.mjs'), data: 'BGW_TEST_ENV' }).waitForShutdown();
        expect(exit.result).toBe(`set after start ${process.pid}`);
      } finally {
        delete process.env['BGW_TEST_ENV'];
      }
    });
  });
});
