/**
 * G9 restart: unscoped, unflagged workers with `restart: { delayMs }` start again after failed or crashed runs,
 * never after completed or terminated; terminate() cancels a scheduled restart.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RUNTIMES, fixture, startSupervisor, until } from '../helpers.js';

/** A run counter the fixture keeps in a file (shared by threads and processes alike). */
function counter(): { file: string; value: () => number } {
  const file = join(mkdtempSync(join(tmpdir(), 'bgw-runs-')), 'runs');
  writeFileSync(file, '');
  return { file, value: () => Number(readFileSync(file, 'utf8') || '0') };
}

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe('G9 restart', () => {
    it('restarts after failures until a run completes; the handle and id stay the same', async () => {
      const sup = await startSupervisor();
      const runs = counter();
      const h = sup.register<unknown, number>({ runtime, entry: fixture('flaky.mjs'), data: { file: runs.file, succeedAt: 3 }, restart: { delayMs: 10 } });
      const exit = await h.waitForShutdown();
      expect(exit).toMatchObject({ reason: 'completed', result: 3 });
      expect(runs.value()).toBe(3);
      expect(sup.metrics().exits).toMatchObject({ failed: 2, completed: 1 });
    });

    it('never restarts after completed', async () => {
      const sup = await startSupervisor();
      const runs = counter();
      const h = sup.register({ runtime, entry: fixture('flaky.mjs'), data: { file: runs.file, succeedAt: 1 }, restart: { delayMs: 0 } });
      expect((await h.waitForShutdown()).reason).toBe('completed');
      expect(runs.value()).toBe(1);
    });

    it('never restarts after terminated', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('wait-forever.mjs'), restart: { delayMs: 0 } });
      await h.waitForStartup();
      h.terminate();
      expect((await h.waitForShutdown()).reason).toBe('terminated');
      expect(sup.metrics().exits.terminated).toBe(1);
    });

    it('terminate() during the restart delay cancels it: terminated, with the last failure as error', async () => {
      const sup = await startSupervisor();
      const runs = counter();
      const h = sup.register({ runtime, entry: fixture('flaky.mjs'), data: { file: runs.file, succeedAt: 100 }, restart: { delayMs: 60_000 } });
      await until(() => sup.metrics().exits.failed === 1, 'the first failure');
      expect(h.state).toBe('pending');
      h.terminate();
      const exit = await h.waitForShutdown();
      expect(exit.reason).toBe('terminated');
      expect(exit.error?.message).toBe('run 1 fails');
      expect(runs.value()).toBe(1);
    });

    it('a crashed run restarts too, and handle.port (one object) reconnects to each run', async () => {
      const sup = await startSupervisor();
      const h = sup.register({ runtime, entry: fixture('port-echo.mjs'), restart: { delayMs: 0 } });
      const seen: unknown[] = [];
      const port = h.port;
      port.on('message', (m) => seen.push(m));
      const echoed = (v: string): boolean => seen.some((m) => (m as { echo?: string }).echo === v);
      await until(() => seen.includes('ready'), 'first run ready');
      port.postMessage('one');
      await until(() => echoed('one'), 'echo from the first run');
      port.postMessage('crash');
      await until(() => sup.metrics().exits.crashed === 1, 'the crash');
      await until(() => seen.filter((m) => m === 'ready').length === 2, 'second run ready');
      expect(h.port).toBe(port);
      port.postMessage('two');
      await until(() => echoed('two'), 'echo from the second run');
      h.terminate();
      expect((await h.waitForShutdown()).reason).toBe('completed');
    });
  });
  it('terminate() at any moment of a restart cycle stops it as terminated, never never-started', async () => {
    const sup = await startSupervisor();
    for (let i = 0; i < 12; i++) {
      const runs = counter();
      const h = sup.register({ runtime, entry: fixture('flaky.mjs'), data: { file: runs.file, succeedAt: 1e9 }, restart: { delayMs: 0 } });
      await until(() => runs.value() >= 1, 'a first run');
      const wait = performance.now() + (i % 6) * 2; // land the request at a different point of the cycle each time
      while (performance.now() < wait) await new Promise((r) => setImmediate(r));
      h.terminate();
      expect((await h.waitForShutdown()).reason).toBe('terminated');
    }
  });
});

