/**
 * "Wait as long as it takes": `gracefulTimeoutMs: Infinity` and `shutdown({ timeoutMs: Infinity })` never force a
 * stop; the worker's own return ends it. A shutdown's `timeoutMs` is every stopped worker's grace, so it can also
 * be longer than the worker's own, and a finite one still forces a worker whose own grace is Infinity.
 *
 * How "not forced" is shown: the worker drains after its termination request until the test posts 'finish', and
 * the test posts it only after 10 × the worker's own grace has passed (the one wall-clock wait here: with the
 * grace not lengthened, the forced stop would have come first and the exit would be `terminated`; a slow machine
 * can only delay that forced stop, never make a correct run fail).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { WorkerHandle } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';

const OWN_GRACE_MS = 20;

function next(h: WorkerHandle, what: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      if (m !== what) return;
      h.port.off('message', on);
      resolve();
    };
    h.port.on('message', on);
  });
}

describe.each(RUNTIMES)('grace "as long as it takes" (%s runtime)', (runtime) => {
  it('shutdown({ timeoutMs: Infinity }) lengthens the worker\'s own grace: it drains, returns, and shutdown waits for it', async () => {
    const sup = await startSupervisor({ gracefulTimeoutMs: OWN_GRACE_MS });
    const h = sup.register({ entry: fixture('drain.mjs'), runtime });
    await next(h, 'ready');
    const draining = next(h, 'draining');
    let shutdownDone = false;
    const shutdown = sup.shutdown({ timeoutMs: Infinity }).then(() => (shutdownDone = true));
    await draining;
    await sleep(10 * OWN_GRACE_MS);
    expect(shutdownDone).toBe(false);
    h.port.postMessage('finish');
    expect(await h.waitForShutdown()).toMatchObject({ reason: 'completed', result: 'drained' });
    await shutdown;
  });

  it('a spec gracefulTimeoutMs: Infinity is never forced after terminate(); a finite shutdown timeout then forces it', async () => {
    const sup = await startSupervisor({ gracefulTimeoutMs: OWN_GRACE_MS });
    const patient = sup.register({ entry: fixture('drain.mjs'), runtime, gracefulTimeoutMs: Infinity });
    const stuck = sup.register({ entry: fixture('drain.mjs'), runtime, gracefulTimeoutMs: Infinity });
    await Promise.all([next(patient, 'ready'), next(stuck, 'ready')]);
    const draining = Promise.all([next(patient, 'draining'), next(stuck, 'draining')]);
    patient.terminate();
    stuck.terminate();
    await draining;
    await sleep(10 * OWN_GRACE_MS);
    expect(stuck.state).toBe('stopping'); // asked, not forced
    patient.port.postMessage('finish');
    expect(await patient.waitForShutdown()).toMatchObject({ reason: 'completed', result: 'drained' });
    await sup.shutdown({ timeoutMs: 0 }); // never told to finish: the shutdown's 0 ms forces it
    expect(await stuck.waitForShutdown()).toMatchObject({ reason: 'terminated' });
  });

  it('without timeoutMs, shutdown gives each worker its own grace (a spec longer than the supervisor\'s is kept)', async () => {
    const sup = await startSupervisor({ gracefulTimeoutMs: OWN_GRACE_MS });
    const h = sup.register({ entry: fixture('drain.mjs'), runtime, gracefulTimeoutMs: Infinity });
    await next(h, 'ready');
    const draining = next(h, 'draining');
    const shutdown = sup.shutdown();
    await draining;
    await sleep(10 * OWN_GRACE_MS);
    h.port.postMessage('finish');
    expect(await h.waitForShutdown()).toMatchObject({ reason: 'completed', result: 'drained' });
    await shutdown;
  });
});
