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

    it('terminate() at each point of a restart cycle, held there by the fixture, stops it as terminated and nothing runs after', async () => {
      const sup = await startSupervisor();
      // Each point: what the marks file holds before registering (the fixture's gates), the mark to wait for, the
      // state the worker must be in there, and the gate to open after the request.
      const points = [
        { name: 'main of the first run', pre: [], at: 'main 1', state: 'running', open: 'go-fail 1', runs: 1 },
        { name: 'import of the restarted run', pre: ['go-fail 1', 'hold-import 2'], at: 'import 2', state: 'starting', open: 'go-import 2', runs: 2 },
        { name: 'main of the restarted run', pre: ['go-fail 1'], at: 'main 2', state: 'running', open: undefined, runs: 2 },
      ] as const;
      for (const p of points) {
        const marks = counter().file;
        writeFileSync(marks, p.pre.map((l) => `${l}\n`).join(''));
        process.env['BGW_MARK_FILE'] = marks;
        const lines = (): string[] => readFileSync(marks, 'utf8').split('\n');
        const h = sup.register({ runtime, entry: fixture('cycle.mjs'), data: { failRuns: 1 }, restart: { delayMs: 0 } });
        await until(() => lines().includes(p.at), `${p.name} (${p.at})`);
        expect(h.state, p.name).toBe(p.state);
        h.terminate();
        if (p.open !== undefined) writeFileSync(marks, `${p.open}\n`, { flag: 'a' });
        const exit = await h.waitForShutdown();
        expect(exit.reason, p.name).toBe('terminated');
        expect(readFileSync(`${marks}.runs`, 'utf8'), p.name).toBe(String(p.runs)); // no run after the request
        if (p.state === 'starting') expect(lines(), p.name).not.toContain(`main ${p.runs}`);
      }
      delete process.env['BGW_MARK_FILE'];
      expect(sup.metrics().exits).toMatchObject({ terminated: 3, failed: 2, 'never-started': 0, completed: 0 });
      expect(sup.metrics().terminations.forced).toBe(0);
    });

    it('terminate() any number of event-loop turns into a fast restart cycle stops it as terminated, never never-started', async () => {
      const sup = await startSupervisor();
      for (let turns = 0; turns < 12; turns++) {
        const runs = counter();
        const h = sup.register({ runtime, entry: fixture('flaky.mjs'), data: { file: runs.file, succeedAt: 1e9 }, restart: { delayMs: 0 } });
        await until(() => runs.value() >= 1, 'a first run');
        // Land the request a growing number of turns into the cycle (ordered by turns, not by the clock).
        for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r));
        h.terminate();
        const exit = await h.waitForShutdown();
        expect(exit.reason).toBe('terminated');
        // A run that failed before the request is the error the terminated exit carries.
        if (exit.error !== undefined) expect(exit.error.message).toMatch(/^run \d+ fails$/);
      }
      expect(sup.metrics().exits.terminated).toBe(12);
      expect(sup.metrics().exits['never-started']).toBe(0);
    });
  });
});
