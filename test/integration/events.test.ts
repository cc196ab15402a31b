/**
 * The lifecycle event stream end to end (src/registrant/events.ts), for both runtimes: the exact ordered sequence
 * of events for (a) an ephemeral worker in a scope that commits and (b) a precious worker whose death aborts its
 * scope. Order is decided by the engine's own steps (the function awaits the worker's start, the death is set off
 * by the worker's latch), never by time; both paths of a precious death give the same sequence.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { kCore } from '../../dist/registrant/client.js';
import type { LifecycleEvent } from '../../dist/registrant/events.js';
import type { Supervisor } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';
import { memoryDestination } from '../json-lines.js';

/** Records every event as one line: its type, the worker's name or the scope's name, and the exit's reason. */
function record(sup: Supervisor): string[] {
  const seen: string[] = [];
  sup[kCore].events.subscribe((e: LifecycleEvent) => {
    if ('worker' in e) seen.push(`${e.type} ${e.worker.name}${e.type === 'worker-stopped' || e.type === 'precious-death' ? ` ${e.exit.reason}` : ''}`);
    else seen.push(`${e.type} ${e.scope.name}`);
  });
  return seen;
}

describe.each(RUNTIMES)('lifecycle events (%s runtime)', (runtime) => {
  it('(a) an ephemeral worker in a committed scope', { timeout: 20_000 }, async () => {
    const sup = await startSupervisor();
    const seen = record(sup);
    await sup.scope(
      async (scope) => {
        const h = scope.register({ entry: fixture('wait-forever.mjs'), name: 'eph', ephemeral: true, runtime });
        await h.waitForStartup();
      },
      { name: 's' },
    );
    expect(seen).toEqual([
      'scope-opened s',
      'worker-registered eph',
      'worker-started eph',
      'scope-committing s',
      'worker-stopping eph', // the commit's teardown asks the ephemeral worker to stop (G3)
      'worker-stopped eph terminated',
      'scope-committed s',
    ]);
  });

  it("(b) a precious worker's death aborts its scope", { timeout: 20_000 }, async () => {
    const sup = await startSupervisor();
    const seen = record(sup);
    const outcome = sup.scope(
      async (scope) => {
        const h = scope.register({ entry: fixture('die-on-latch.mjs'), name: 'prec', data: { how: 'throw' }, precious: true, runtime });
        await h.waitForStartup();
        h.latch.set();
        await h.waitForShutdown();
      },
      { name: 's' },
    );
    await expect(outcome).rejects.toMatchObject({ code: 'ERR_PRECIOUS_WORKER_DIED' });
    expect(seen).toEqual([
      'scope-opened s',
      'worker-registered prec',
      'worker-started prec',
      'precious-death prec failed',
      'scope-aborting s', // G4: the death aborts the registering scope; its teardown finds the worker already dead
      'worker-stopped prec failed',
      'scope-aborted s',
    ]);
    expect(sup.metrics().preciousDeaths).toBe(1);
  });
});

describe('a subscriber that throws', () => {
  it('is logged, and the engine and the later subscribers go on', { timeout: 20_000 }, async () => {
    const { stream, lines } = memoryDestination();
    const sup = await startSupervisor({ logger: pino({ level: 'error' }, stream) });
    const bug = new Error('subscriber bug');
    sup[kCore].events.subscribe((e: LifecycleEvent) => {
      if (e.type === 'worker-started' || e.type === 'precious-death' || e.type === 'worker-stopped') throw bug;
    });
    const seen = record(sup);
    const outcome = sup.scope(async (scope) => {
      const h = scope.register({ entry: fixture('die-on-latch.mjs'), name: 'prec', data: { how: 'throw' }, precious: true });
      await h.waitForStartup();
      h.latch.set();
      await h.waitForShutdown();
    });
    // The precious death still aborts the scope (its handling is a subscriber too), the worker's handle settled.
    await expect(outcome).rejects.toMatchObject({ code: 'ERR_PRECIOUS_WORKER_DIED' });
    expect(seen).toContain('worker-stopped prec failed');
    expect(sup.metrics()).toMatchObject({ preciousDeaths: 1, scopes: { active: 0, aborted: 1 }, exits: { failed: 1 } });
    const failures = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['msg'] === 'lifecycle event subscriber threw');
    expect(failures.map((l) => l['event'])).toEqual(['worker-started', 'precious-death', 'worker-stopped']);
    expect(failures[0]).toMatchObject({ level: 50, err: { type: 'Error', message: 'subscriber bug' } });
  });
});
