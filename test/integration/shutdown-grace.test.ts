/**
 * "Wait as long as it takes": `gracefulTimeoutMs: Infinity` (the supervisor's or a spec's) never forces a stop;
 * the worker's own return ends it, also at shutdown. `shutdown({ timeoutMs })` is a cap: it brings a forced stop
 * forward (also an infinite one), never puts one back; without it, or with `Infinity`, each worker keeps its own
 * grace — a spec's longer than the supervisor's included.
 *
 * How "not forced" is shown: the worker drains after its termination request until the test posts 'finish', and
 * the test posts it only after 10 × the short grace that applied before this change (20 ms here) has passed —
 * the one wall-clock wait here: with the grace not honoured, the forced stop would have come first and the exit
 * would be `terminated`; a slow machine can only delay that forced stop, never make a correct run fail.
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
  it('a supervisor gracefulTimeoutMs: Infinity drains at shutdown(): the worker returns, shutdown waits for it', async () => {
    const sup = await startSupervisor({ gracefulTimeoutMs: Infinity });
    const h = sup.register({ entry: fixture('drain.mjs'), runtime });
    await next(h, 'ready');
    const draining = next(h, 'draining');
    let shutdownDone = false;
    const shutdown = sup.shutdown().then(() => (shutdownDone = true));
    await draining;
    await sleep(10 * OWN_GRACE_MS);
    expect(shutdownDone).toBe(false);
    h.port.postMessage('finish');
    expect(await h.waitForShutdown()).toMatchObject({ reason: 'completed', result: 'drained' });
    await shutdown;
  });

  it('the same for the ephemeral workers of the scopes a shutdown({ timeoutMs: Infinity }) aborts', async () => {
    const sup = await startSupervisor({ gracefulTimeoutMs: Infinity });
    let h: WorkerHandle | undefined;
    let running!: () => void;
    const isRunning = new Promise<void>((resolve) => (running = resolve));
    const scope = sup.scope(async (s) => {
      h = s.register({ entry: fixture('drain.mjs'), runtime, ephemeral: true });
      await next(h, 'ready');
      running();
      await new Promise((resolve) => s.signal.addEventListener('abort', resolve)); // until the shutdown aborts it
    });
    const aborted = expect(scope).rejects.toMatchObject({ code: 'ERR_SUPERVISOR_SHUTDOWN' });
    await isRunning;
    const draining = next(h!, 'draining');
    const shutdown = sup.shutdown({ timeoutMs: Infinity });
    await draining;
    await sleep(10 * OWN_GRACE_MS);
    h!.port.postMessage('finish');
    expect(await h!.waitForShutdown()).toMatchObject({ reason: 'completed', result: 'drained' });
    await shutdown;
    await aborted;
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
    await sup.shutdown({ timeoutMs: 0 }); // never told to finish: the shutdown's 0 ms cap forces it
    expect(await stuck.waitForShutdown()).toMatchObject({ reason: 'terminated' });
  });

  it("without timeoutMs, shutdown caps nothing: a spec's grace longer than the supervisor's is kept", async () => {
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
