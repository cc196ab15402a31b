/**
 * G2 the supervisor owns termination, in every ordering: before start, during start, while running, during stop,
 * after stop and slot reuse. G10 stale handles.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { myLatch } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor, until } from '../helpers.js';

let markFile: string;
beforeEach(() => {
  markFile = join(mkdtempSync(join(tmpdir(), 'bgw-')), 'marks');
  writeFileSync(markFile, '');
  process.env['BGW_MARK_FILE'] = markFile;
});
afterEach(() => {
  delete process.env['BGW_MARK_FILE'];
});
const marks = (): string[] => readFileSync(markFile, 'utf8').split('\n').filter(Boolean);

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe('G2 terminate before start', () => {
    it('runs no user code at all: the entry is not even imported; reason never-started', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('mark-import.mjs') });
      h.terminate();
      expect(['stopping', 'stopped']).toContain(h.state); // the supervisor may already have acted on it
      const exit = await h.waitForShutdown();
      expect(exit).toEqual({ reason: 'never-started', code: null, signal: null });
      expect(marks()).toEqual([]);
      expect(h.state).toBe('stopped');
      await expect(h.waitForStartup()).rejects.toMatchObject({ code: 'ERR_WORKER_STARTUP', exit: { reason: 'never-started' } });
    });

    it('holds for many workers terminated right after registration, with spares warm', async () => {
      const sup = await startSupervisor({ spareWorkers: 2, maxWorkers: 32 });
      const handles = Array.from({ length: 24 }, () => sup.register({ runtime, entry: fixture('mark-import.mjs') }));
      for (const h of handles) h.terminate();
      const exits = await Promise.all(handles.map((h) => h.waitForShutdown()));
      expect(exits.map((e) => e.reason)).toEqual(handles.map(() => 'never-started'));
      expect(marks()).toEqual([]);
      expect(sup.metrics().exits['never-started']).toBe(24);
    });
  });

  describe('G2 terminate during start', () => {
    it('a worker terminated while its entry is loading stops as terminated and its main never runs', async () => {
      const sup = await startSupervisor({ gracefulTimeoutMs: 200 });
      const h = sup.register({ runtime, entry: fixture('hold-import.mjs') });
      await until(() => marks().includes('importing'), 'the entry to start loading');
      expect(h.state).toBe('starting');
      h.terminate();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('terminated');
      expect(exit.result).toBeUndefined();
      // The import never finished: a thread is forced after the grace; a process may already die of the SIGTERM.
      if (runtime === 'thread') expect(sup.metrics().terminations.forced).toBe(1);
    });

    it('a request that lands while the entry loads means main is never called, even once the import finishes', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('gated-import.mjs') });
      await until(() => marks().includes('importing'), 'the entry to start loading');
      h.terminate();
      writeFileSync(markFile, 'go\n', { flag: 'a' }); // now let the import finish
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('terminated');
      expect(marks()).not.toContain('main');
      expect(sup.metrics().terminations.forced).toBe(0);
    });

    it('terminate racing the start, at every point of it, never yields anything but never-started or terminated', async () => {
      const sup = await startSupervisor({ maxWorkers: 8 });
      const reasons = new Set<string>();
      for (let i = 0; i < 30; i++) {
        const h = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
        // Let the start progress a variable amount (0..~30 ms) before the request.
        const until = performance.now() + (i % 10) * 3;
        while (performance.now() < until) await new Promise((r) => setImmediate(r));
        h.terminate();
        const exit = await h.waitForShutdown();
        reasons.add(exit.reason);
        expect(['never-started', 'terminated']).toContain(exit.reason);
        if (exit.reason === 'never-started') await expect(h.waitForStartup()).rejects.toMatchObject({ code: 'ERR_WORKER_STARTUP' });
      }
      expect(reasons.size).toBeGreaterThan(0);
    });
  });

  describe('G2 terminate while running', () => {
    it('aborts ctx.signal and sets the latch; a cooperative worker stops as terminated', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
      await h.waitForStartup();
      h.terminate();
      expect((await h.waitForShutdown()).reason).toBe('terminated');
      expect(sup.metrics().terminations).toEqual({ graceful: 1, forced: 0 });
    });

    it('a worker that never yields sees the request through checkForInterrupts() (no forced stop)', async () => {
      const sup = await startSupervisor({ gracefulTimeoutMs: 10_000 });
      const h = sup.register({ runtime, entry: fixture('busy-check.mjs') });
      await h.waitForStartup();
      h.terminate();
      expect((await h.waitForShutdown()).reason).toBe('terminated');
      expect(sup.metrics().terminations).toEqual({ graceful: 1, forced: 0 });
    });

    it('a worker whose main returns after the request completes, with its result', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('port-echo.mjs') });
      await new Promise((resolve) => h.port.on('message', resolve));
      h.terminate();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('completed');
    });

    it('a worker that blocks its event loop is stopped by force after the graceful timeout', async () => {
      const sup = await startSupervisor({ gracefulTimeoutMs: 5000 });
      myLatch().reset();
      const h = sup.register({ runtime, entry: fixture('spin-forever.mjs'), gracefulTimeoutMs: 100 });
      while (!myLatch().isSet) await myLatch().wait({ timeoutMs: 10_000 });
      const t0 = performance.now();
      h.terminate();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('terminated');
      expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
      expect(sup.metrics().terminations.forced).toBe(1);
    });

    it('a worker that ignores its signal without blocking is forced too', async () => {
      const sup = await startSupervisor({ gracefulTimeoutMs: 100 });
      const h = sup.register({ runtime, entry: fixture('ignore-signal.mjs') });
      await h.waitForStartup();
      h.terminate();
      expect((await h.waitForShutdown()).reason).toBe('terminated');
      expect(sup.metrics().terminations.forced).toBe(1);
    });

    it('terminate() is synchronous and idempotent, also during stop and after stop', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
      await h.waitForStartup();
      h.terminate();
      h.terminate();
      expect(h.state).toBe('stopping');
      const exit = await h.waitForShutdown();
      h.terminate();
      expect(h.state).toBe('stopped');
      expect(await h.waitForShutdown()).toBe(exit);
      expect(sup.metrics().exits.terminated).toBe(1);
    });
  });

  describe('G10 slot reuse and stale handles', () => {
    it('a reused slot gets a new id; the stale handle reports stopped and its terminate() and latch touch nothing', async () => {
      const sup = await startSupervisor({ maxWorkers: 1 });
      const old = sup.register({ runtime, entry: fixture('echo.mjs'), data: 1 });
      await old.waitForShutdown();
      const fresh = sup.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'return' } });
      await fresh.waitForStartup();
      expect(fresh.id).not.toBe(old.id);
      expect(old.state).toBe('stopped');
      old.terminate();
      old.latch.set();
      expect(old.latch.isSet).toBe(false);
      expect(fresh.latch.isSet).toBe(false);
      expect(fresh.state).toBe('running');
      fresh.latch.set();
      expect((await fresh.waitForShutdown()).reason).toBe('completed');
    });
  });
});
