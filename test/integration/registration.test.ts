/**
 * G1 registration: synchronous, pending, capacity, bad specs leave nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError, ScopeClosedError, SupervisorClosedError, WorkerCapacityError } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe('G1 registration', () => {
    it('returns synchronously with the handle pending; the default name is the entry base name + # + id', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('echo.mjs'), kind: 'k', labels: { a: 'b' } });
      expect(h.state).toBe('pending');
      expect(h.name).toBe(`echo#${h.id}`);
      expect(h.kind).toBe('k');
      expect(h.labels).toEqual({ a: 'b' });
      expect(h.ephemeral).toBe(false);
      expect(h.precious).toBe(false);
      expect(h.threadId).toBeUndefined();
      await h.waitForStartup().catch(() => {});
      await h.waitForShutdown();
    });

    it('capacity: register throws WorkerCapacityError, tryRegister returns undefined, nothing is left registered; freed slots are reused', async () => {
      const sup = await startSupervisor({ maxWorkers: 2 });
      const a = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
      const b = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
      expect(() => sup.register({ runtime, entry: fixture('echo.mjs') })).toThrow(WorkerCapacityError);
      await sup.scope(async (scope) => {
        expect(scope.tryRegister({ runtime, entry: fixture('echo.mjs') })).toBeUndefined();
        try {
          scope.register({ runtime, entry: fixture('echo.mjs') });
          expect.unreachable();
        } catch (e) {
          expect(e).toBeInstanceOf(WorkerCapacityError);
          expect((e as WorkerCapacityError).code).toBe('ERR_WORKER_CAPACITY');
        }
      });
      expect(sup.metrics().slots).toEqual({ total: 2, used: 2 });
      expect(sup.workers()).toHaveLength(2);
      a.terminate();
      await a.waitForShutdown();
      const c = sup.register({ runtime, entry: fixture('echo.mjs'), data: 'reused' });
      expect((await c.waitForShutdown()).result).toBe('reused');
      b.terminate();
      await b.waitForShutdown();
    });

    it('a bad spec throws InvalidWorkerSpecError naming the field, before anything is registered', async () => {
      const sup = await startSupervisor();
      const cases: [unknown, string][] = [
        [{}, 'entry'],
        [{ entry: fixture('nope.mjs') }, 'entry'],
        [{ entry: fixture('echo.mjs'), bogus: 1 }, 'bogus'],
        [{ entry: fixture('echo.mjs'), ephemeral: true }, 'ephemeral'],
        [{ entry: fixture('echo.mjs'), precious: true }, 'precious'],
        [{ entry: fixture('echo.mjs'), restart: { delayMs: -1 } }, 'restart.delayMs'],
        [{ entry: fixture('echo.mjs'), gracefulTimeoutMs: Number.NaN }, 'gracefulTimeoutMs'],
        [{ entry: fixture('echo.mjs'), data: () => 1 }, 'data'],
        [{ entry: fixture('echo.mjs'), data: { s: Symbol('x') } }, 'data'],
      ];
      for (const [spec, field] of cases) {
        try {
          sup.register(spec as never);
          expect.unreachable(`accepted ${JSON.stringify(spec)}`);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidWorkerSpecError);
          expect((e as InvalidWorkerSpecError).field).toBe(field);
        }
        expect(sup.metrics().slots.used).toBe(0);
        expect(sup.workers()).toEqual([]);
      }
      await sup.scope(async (scope) => {
        expect(() => scope.register({ runtime, entry: fixture('echo.mjs'), restart: { delayMs: 1 } })).toThrow(InvalidWorkerSpecError);
        expect(() => scope.register({ runtime, entry: fixture('echo.mjs'), data: () => 1, precious: true })).toThrow(InvalidWorkerSpecError);
      });
      expect(sup.metrics().slots.used).toBe(0);
      // The supervisor keeps working.
      expect((await sup.register({ runtime, entry: fixture('echo.mjs'), data: 'ok' }).waitForShutdown()).result).toBe('ok');
    });

    it('register on a closed scope throws ScopeClosedError; after shutdown, SupervisorClosedError', async () => {
      const sup = await startSupervisor();
      let saved: { register: (s: { runtime: 'thread' | 'process'; entry: string }) => unknown } | undefined;
      await sup.scope((s) => void (saved = s));
      expect(() => saved!.register({ runtime, entry: fixture('echo.mjs') })).toThrow(ScopeClosedError);
      await sup.shutdown();
      expect(() => sup.register({ runtime, entry: fixture('echo.mjs') })).toThrow(SupervisorClosedError);
      await expect(sup.scope(() => 1)).rejects.toBeInstanceOf(SupervisorClosedError);
    });
  });
});
