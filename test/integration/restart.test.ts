/**
 * G9 restart: unscoped, unflagged workers with `restart: { delayMs }` start again after failed or crashed runs,
 * never after completed or terminated; terminate() cancels a scheduled restart.
 */
import { describe, expect, it } from 'vitest';
import { fixture, startSupervisor, until } from '../helpers.js';

const counter = (): Int32Array => new Int32Array(new SharedArrayBuffer(4));

describe('G9 restart', () => {
  it('restarts after failures until a run completes; the handle and id stay the same', async () => {
    const sup = await startSupervisor();
    const runs = counter();
    const h = sup.register<unknown, number>({ entry: fixture('flaky.mjs'), data: { runs, succeedAt: 3 }, restart: { delayMs: 10 } });
    const exit = await h.waitForShutdown();
    expect(exit).toMatchObject({ reason: 'completed', result: 3 });
    expect(Atomics.load(runs, 0)).toBe(3);
    expect(sup.metrics().exits).toMatchObject({ failed: 2, completed: 1 });
  });

  it('never restarts after completed', async () => {
    const sup = await startSupervisor();
    const runs = counter();
    const h = sup.register({ entry: fixture('flaky.mjs'), data: { runs, succeedAt: 1 }, restart: { delayMs: 0 } });
    expect((await h.waitForShutdown()).reason).toBe('completed');
    expect(Atomics.load(runs, 0)).toBe(1);
  });

  it('never restarts after terminated', async () => {
    const sup = await startSupervisor();
    const h = sup.register({ entry: fixture('wait-forever.mjs'), restart: { delayMs: 0 } });
    await h.waitForStartup();
    h.terminate();
    expect((await h.waitForShutdown()).reason).toBe('terminated');
    expect(sup.metrics().exits.terminated).toBe(1);
  });

  it('terminate() during the restart delay cancels it: terminated, with the last failure as error', async () => {
    const sup = await startSupervisor();
    const runs = counter();
    const h = sup.register({ entry: fixture('flaky.mjs'), data: { runs, succeedAt: 100 }, restart: { delayMs: 60_000 } });
    await until(() => sup.metrics().exits.failed === 1, 'the first failure');
    expect(h.state).toBe('pending');
    h.terminate();
    const exit = await h.waitForShutdown();
    expect(exit.reason).toBe('terminated');
    expect(exit.error?.message).toBe('run 1 fails');
    expect(Atomics.load(runs, 0)).toBe(1);
  });

  it('a crashed run restarts too, and handle.port (one object) reconnects to each run', async () => {
    const sup = await startSupervisor();
    const h = sup.register({ entry: fixture('port-echo.mjs'), restart: { delayMs: 0 } });
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
