/**
 * metrics() additions (issue 13.5): `restarts` (restart-intensity.test.ts counts them), the register→running and
 * precious death→seen latency histograms (one sample per event, reset on request), and the per-worker usage in
 * workers() rows (elu, cpuMs), sampled by the supervisor thread: a worker that spins shows far more CPU and a
 * higher utilisation than one that sleeps, on both runtimes (a process worker reports its event loop itself).
 */
import { describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError, type WorkerInfo } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor, until } from '../helpers.js';

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  it('register→running: one sample per worker that ran, in ms; reset starts it again', async () => {
    const sup = await startSupervisor();
    const started = [0, 1, 2].map(() => sup.register({ runtime, entry: fixture('wait-forever.mjs') }));
    const never = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
    never.terminate(); // before it starts: never-started, no sample
    await Promise.all(started.map((h) => h.waitForStartup()));
    await never.waitForShutdown();
    const first = sup.metrics({ reset: true }).latency.registerToRunning;
    expect(first.count).toBe(3);
    expect(first.min).toBeGreaterThan(0);
    expect(first.max).toBeGreaterThanOrEqual(first.p50);
    expect(sup.metrics().latency.registerToRunning.count).toBe(0);
    started.forEach((h) => h.terminate());
    await Promise.all(started.map((h) => h.waitForShutdown()));
    expect(sup.metrics().latency.registerToRunning.count).toBe(0);
  });
});

it('metrics() rejects a bad option', async () => {
  const sup = await startSupervisor();
  expect(() => sup.metrics({ reset: 'yes' as never })).toThrow(InvalidWorkerSpecError);
});

describe.each(RUNTIMES)('%s runtime: precious death → seen', (runtime) => {
  it('one sample per precious death, in ms; reset starts it again', async () => {
    const sup = await startSupervisor({ logger: false });
    await expect(
      sup.scope(async (scope) => {
        scope.register({ runtime, entry: fixture('throws.mjs'), precious: true });
        await new Promise((_, reject) => scope.signal.addEventListener('abort', () => reject(scope.signal.reason), { once: true }));
      }),
    ).rejects.toMatchObject({ code: 'ERR_PRECIOUS_WORKER_DIED' });
    const s = sup.metrics({ reset: true }).latency.deathToSeen;
    expect(s.count).toBe(1);
    expect(s.min).toBeGreaterThan(0);
    expect(s.max).toBeLessThan(10_000);
    expect(sup.metrics().latency.deathToSeen.count).toBe(0);
  });
});

describe('workers() usage: elu and cpuMs', () => {
  const row = (sup: { workers(): WorkerInfo[] }, id: string): WorkerInfo => sup.workers().find((w) => w.id === id)!;

  it('thread workers: a spinning worker has more CPU and a higher utilisation than a sleeping one', async () => {
    const sup = await startSupervisor();
    const busy = sup.register({ entry: fixture('busy-check.mjs'), name: 'busy' });
    const idle = sup.register({ entry: fixture('wait-forever.mjs'), name: 'idle' });
    await Promise.all([busy.waitForStartup(), idle.waitForStartup()]);
    expect(row(sup, busy.id).elu === undefined || row(sup, busy.id).elu! >= 0).toBe(true);
    // Samples come every 250 ms: wait for the busy one to have burnt 300 ms of CPU (it spins on a core).
    await until(() => (row(sup, busy.id).cpuMs ?? 0) > 300, 'the busy worker to show 300 ms of CPU');
    await until(() => (row(sup, idle.id).elu ?? 1) < 0.5, 'the idle worker to show an idle event loop');
    const b = row(sup, busy.id);
    const i = row(sup, idle.id);
    expect(b.elu!).toBeGreaterThan(0.5);
    expect(i.cpuMs!).toBeLessThan(b.cpuMs! / 2);
    busy.terminate();
    idle.terminate();
    await Promise.all([busy.waitForShutdown(), idle.waitForShutdown()]);
  });

  it('process workers: a spinning one (whose loop never reports) shows busy, a sleeping one idle', async () => {
    const sup = await startSupervisor();
    const busy = sup.register({ runtime: 'process', entry: fixture('busy-check.mjs'), name: 'busy' });
    const idle = sup.register({ runtime: 'process', entry: fixture('wait-forever.mjs'), name: 'idle' });
    await Promise.all([busy.waitForStartup(), idle.waitForStartup()]);
    await until(() => (row(sup, busy.id).cpuMs ?? 0) > 300, 'the busy process to show 300 ms of CPU');
    // Utilisation since the run started: the idle child's start-up (module loading) counts as busy at first, and
    // its idle time then brings it down; the spinning child's never does.
    await until(() => (row(sup, idle.id).elu ?? 1) < 0.5, 'the idle process to show an idle event loop');
    expect(row(sup, busy.id).elu!).toBeGreaterThan(0.5);
    busy.terminate();
    idle.terminate();
    await Promise.all([busy.waitForShutdown(), idle.waitForShutdown()]);
  });

  it('a worker that has not started, and one that stopped, have no usage', async () => {
    const sup = await startSupervisor();
    const h = sup.register({ entry: fixture('wait-forever.mjs') });
    const before = row(sup, h.id);
    if (before.state === 'pending') expect([before.elu, before.cpuMs]).toEqual([undefined, undefined]);
    h.terminate();
    await h.waitForShutdown();
    expect(sup.workers().find((w) => w.id === h.id)).toBeUndefined();
  });
});
