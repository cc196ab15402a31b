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

describe('G2 terminate after the outcome', () => {
  // The worker's outcome is recorded, so the registrant does not interrupt it and wakes the supervisor from a
  // microtask (record.ts requestTermination); that wake is what stops a thread that never finishes exiting.
  it('thread: a worker whose outcome is in but whose exit never ends is stopped by force after the grace', { timeout: 10_000 }, async () => {
    const sup = await startSupervisor({ gracefulTimeoutMs: 100 });
    const sab = new SharedArrayBuffer(4);
    const word = new Int32Array(sab);
    const h = sup.register({ entry: fixture('exit-hang.mjs'), data: { sab } });
    const w = Atomics.waitAsync(word, 0, 0);
    if (w.async) await w.value; // its outcome is recorded and its 'exit' listener spins
    h.terminate();
    const exit = await h.waitForShutdown();
    expect(exit.reason).toBe('completed');
    expect(exit.result).toBe('done');
    expect(exit.code).toBe(0); // the code of the outcome it reported, not Node's 1 for a thread stopped by force
    expect(sup.metrics().terminations.forced).toBe(1);
  });

  it("thread: a worker that called process.exit(7) and was stopped by force while exiting is crashed with its own code", { timeout: 10_000 }, async () => {
    // What the fuzz suite found (seed -2079594157): a precious worker's process.exit steps aside at the lowest
    // priority after its report, a scope's end asked it to stop, and its grace ran out before the thread was gone.
    const sup = await startSupervisor({ gracefulTimeoutMs: 100 });
    const sab = new SharedArrayBuffer(4);
    const word = new Int32Array(sab);
    const h = sup.register({ entry: fixture('exit-hang.mjs'), data: { sab, exitCode: 7 } });
    const w = Atomics.waitAsync(word, 0, 0);
    if (w.async) await w.value;
    h.terminate();
    const exit = await h.waitForShutdown();
    expect(exit).toMatchObject({ reason: 'crashed', code: 7, signal: null });
    expect(sup.metrics().terminations.forced).toBe(1);
  });
});

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

    it('terminate at each point of the start, held there by the fixture, ends as that point demands', async () => {
      const sup = await startSupervisor({ maxWorkers: 8 });
      for (let round = 0; round < 3; round++) {
        // Point 1: the slot is claimed and the request posted, the supervisor has not committed the worker: the
        // request wins the commit's CAS, so nothing of the entry runs.
        const pending = sup.register({ runtime, entry: fixture('mark-import.mjs') });
        expect(pending.state).toBe('pending');
        pending.terminate();
        expect(await pending.waitForShutdown()).toEqual({ reason: 'never-started', code: null, signal: null });
        expect(marks()).toEqual([]);

        // Point 2: committed, the entry is loading (held by the gate until the test writes 'go').
        const loading = sup.register({ runtime, entry: fixture('gated-import.mjs') });
        await until(() => marks().includes('importing'), 'the entry to start loading');
        expect(loading.state).toBe('starting');
        loading.terminate();
        writeFileSync(markFile, 'go\n', { flag: 'a' });
        expect((await loading.waitForShutdown()).reason).toBe('terminated');
        expect(marks()).not.toContain('main');

        // Point 3: main was called (it marked so) and waits for its signal; it returns once aborted: completed.
        writeFileSync(markFile, '');
        const running = sup.register({ runtime, entry: fixture('mark-import.mjs') });
        await until(() => marks().includes('main'), 'main to run');
        expect(running.state).toBe('running');
        running.terminate();
        expect((await running.waitForShutdown()).reason).toBe('completed');
        expect(marks()).toEqual(['imported', 'main']);
        writeFileSync(markFile, '');
      }
      expect(sup.metrics().exits).toMatchObject({ 'never-started': 3, terminated: 3, completed: 3, failed: 0, crashed: 0 });
      expect(sup.metrics().terminations.forced).toBe(0);
    });

    it('a request the instant the worker is committed: the entry is still imported, and the reason says whether main ran', async () => {
      // The registrant spins on the control word (handle.state reads it) and terminates the moment the commit's CAS
      // is made, while the worker is still setting up around its commit request. A process worker is sent SIGTERM
      // too: one that dies of it before its handler is installed would end terminated having imported nothing.
      // On a loaded machine the registrant can be descheduled between reading the state and terminating, and the
      // worker may reach main first; then main sees its signal aborted and returns: completed, having run. Both
      // endings are right; what must never happen is an ending that disagrees with how far user code got.
      const sup = await startSupervisor({ maxWorkers: 4 });
      const terminatedRight = { reason: 'terminated', marks: ['imported'] };
      const completedRight = { reason: 'completed', marks: ['imported', 'main'] };
      for (let round = 0; round < 12; round++) {
        writeFileSync(markFile, '');
        const h = sup.register({ runtime, entry: fixture('mark-import.mjs') });
        const deadline = performance.now() + 10_000;
        while (h.state === 'pending') if (performance.now() > deadline) throw new Error('the worker never left pending');
        h.terminate();
        const exit = await h.waitForShutdown();
        const seen = { reason: exit.reason, marks: marks() };
        const expected = seen.reason === 'completed' ? completedRight : terminatedRight;
        expect({ round, ...seen }).toEqual({ round, ...expected });
      }
      expect(sup.metrics().terminations.forced).toBe(0);
    });

    it('terminate after any number of event-loop turns of the start: the reason says exactly how far user code got', async () => {
      const sup = await startSupervisor({ maxWorkers: 8 });
      for (let turns = 0; turns < 40; turns++) {
        writeFileSync(markFile, '');
        const h = sup.register({ runtime, entry: fixture('mark-import.mjs') });
        // Land the request a growing number of turns into the start (ordered by turns, not by the clock).
        for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r));
        h.terminate();
        const exit = await h.waitForShutdown();
        if (exit.reason === 'never-started') {
          // G2: a run that never started imported nothing, and its startup waiters hear so.
          expect(marks()).toEqual([]);
          await expect(h.waitForStartup()).rejects.toMatchObject({ code: 'ERR_WORKER_STARTUP' });
        } else if (exit.reason === 'terminated') {
          expect(marks()).toEqual(['imported']); // committed and loaded, but main was never called
        } else {
          expect(exit.reason).toBe('completed'); // main ran (and returned once aborted)
          expect(marks()).toEqual(['imported', 'main']);
        }
      }
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
