/**
 * metrics() additions (issue 13.5, part): `restarts` (restart-intensity.test.ts counts them) and the
 * register→running latency histogram: one sample per worker's first run, none for a restarted run or a worker
 * that never ran, reset on request.
 */
import { describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';

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
