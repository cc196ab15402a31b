/**
 * What is particular to process workers: pid, environment and arguments, death by signal, and a precious worker
 * SIGKILLed from outside surfacing synchronously in a busy registrant (G4).
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PreciousWorkerDiedError, checkForInterrupts } from '../../dist/index.js';
import { fixture, startSupervisor } from '../helpers.js';

type Info = { pid: number; env: string | null; execArgv: string[]; waitError: string | null };

describe('process workers', () => {
  it('handle.pid is the child pid; env and execArgv default to the registrant and can be set per spec', async () => {
    const sup = await startSupervisor();
    process.env['BGW_PROC_ENV'] = 'inherited';
    try {
      const a = sup.register<unknown, Info>({ runtime: 'process', entry: fixture('process-info.mjs'), data: 'BGW_PROC_ENV' });
      const exitA = await a.waitForShutdown();
      expect(exitA.result!.pid).toBe(a.pid);
      expect(exitA.result!.env).toBe('inherited');
      expect(exitA.result!.execArgv).toEqual(process.execArgv);
      expect(exitA.result!.waitError).toBe('ERR_REMOTE_LATCH');
      const b = sup.register<unknown, Info>({
        runtime: 'process',
        entry: fixture('process-info.mjs'),
        data: 'BGW_PROC_ENV',
        env: { BGW_PROC_ENV: 'given' },
        execArgv: ['--max-old-space-size=96'],
      });
      const exitB = await b.waitForShutdown();
      expect(exitB.result!.env).toBe('given');
      expect(exitB.result!.execArgv).toEqual(['--max-old-space-size=96']);
    } finally {
      delete process.env['BGW_PROC_ENV'];
    }
  });

  it("leaves no file descriptor open once its children are gone, though the registrant set their latches until they stopped", async () => {
    // Each child's control pipe is also the registrant's direct line for handle.latch.set() (control-line.ts);
    // the supervisor retires the line and then closes the pipe. The sets go on while the children exit.
    const openFds = (): number => readdirSync('/proc/self/fd').length;
    const sup = await startSupervisor();
    const warm = sup.register({ runtime: 'process', entry: fixture('latch-pong.mjs'), data: { rounds: 1, sync: true } });
    warm.latch.set();
    await warm.waitForShutdown();
    const before = openFds();
    const handles = Array.from({ length: 4 }, () => sup.register({ runtime: 'process', entry: fixture('latch-pong.mjs'), data: { rounds: 3, sync: true } }));
    const stopped = Promise.all(handles.map((h) => h.waitForShutdown()));
    let done = false;
    void stopped.then(() => (done = true));
    while (!done) {
      for (const h of handles) h.latch.set();
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (const exit of await stopped) expect(exit.reason).toBe('completed');
    expect(openFds()).toBe(before);
  });

  it('env and execArgv are refused for thread workers, and validated', async () => {
    const sup = await startSupervisor();
    expect(() => sup.register({ entry: fixture('echo.mjs'), env: { A: 'b' } })).toThrow(expect.objectContaining({ field: 'env' }));
    expect(() => sup.register({ entry: fixture('echo.mjs'), execArgv: [] })).toThrow(expect.objectContaining({ field: 'execArgv' }));
    expect(() => sup.register({ runtime: 'process', entry: fixture('echo.mjs'), env: { A: 1 } as never })).toThrow(expect.objectContaining({ field: 'env.A' }));
    expect(() => sup.register({ runtime: 'process', entry: fixture('echo.mjs'), execArgv: [1] as never })).toThrow(expect.objectContaining({ field: 'execArgv[0]' }));
    expect(sup.metrics().slots.used).toBe(0);
  });

  it('a worker killed by a signal from outside is crashed, with the signal', async () => {
    const sup = await startSupervisor();
    const h = sup.register({ runtime: 'process', entry: fixture('wait-forever.mjs') });
    await h.waitForStartup();
    process.kill(h.pid!, 'SIGKILL');
    expect(await h.waitForShutdown()).toMatchObject({ reason: 'crashed', code: null, signal: 'SIGKILL' });
  });

  it('a precious worker SIGKILLed from outside aborts its scope, seen synchronously in a busy registrant', async () => {
    const sup = await startSupervisor();
    let seen: unknown;
    let checks = 0;
    const outcome = sup.scope(async (scope) => {
      const h = scope.register({ runtime: 'process', entry: fixture('wait-forever.mjs'), precious: true });
      await h.waitForStartup();
      process.kill(h.pid!, 'SIGKILL');
      // No await from here: the death must surface through shared memory while this loop spins.
      const deadline = performance.now() + 15_000;
      for (;;) {
        try {
          checkForInterrupts();
        } catch (err) {
          seen = err;
          break;
        }
        if ((++checks & 0xfff) === 0 && performance.now() > deadline) break;
      }
    });
    await expect(outcome).rejects.toBeInstanceOf(PreciousWorkerDiedError);
    expect(seen).toBeInstanceOf(PreciousWorkerDiedError);
    expect((seen as PreciousWorkerDiedError).exit).toMatchObject({ reason: 'crashed', signal: 'SIGKILL' });
  });

  it('a worker stuck in synchronous code still sees a termination request through checkForInterrupts()', async () => {
    const sup = await startSupervisor();
    const h = sup.register({ runtime: 'process', entry: fixture('busy-check.mjs'), gracefulTimeoutMs: 10_000 });
    await h.waitForStartup();
    h.terminate();
    const exit = await h.waitForShutdown();
    expect(exit.reason).toBe('terminated');
    expect(sup.metrics().terminations.forced).toBe(0);
  });
});
