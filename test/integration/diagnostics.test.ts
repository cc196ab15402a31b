/**
 * diagnostics_channel (issue 13.6): each channel fires once per event with its documented payload
 * (docs/diagnostics.md), for workers, scopes and tasks; the bgworkers:scope TracingChannel wraps a scope's
 * function.
 */
import dc from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, startSupervisor } from '../helpers.js';

const NAMES = [
  'bgworkers:worker:register',
  'bgworkers:worker:start',
  'bgworkers:worker:stop',
  'bgworkers:worker:precious-death',
  'bgworkers:scope:start',
  'bgworkers:scope:end',
  'bgworkers:task:start',
  'bgworkers:task:end',
] as const;

let unsubscribe: (() => void)[] = [];
afterEach(() => {
  for (const u of unsubscribe) u();
  unsubscribe = [];
});

/** Subscribes to every channel; returns the [channel, payload] pairs in the order published. */
function record(): [string, Record<string, unknown>][] {
  const seen: [string, Record<string, unknown>][] = [];
  for (const name of NAMES) {
    const fn = (m: unknown): void => void seen.push([name, m as Record<string, unknown>]);
    dc.subscribe(name, fn);
    unsubscribe.push(() => dc.unsubscribe(name, fn));
  }
  return seen;
}

describe('diagnostics_channel', () => {
  it('a committed scope with an ephemeral worker and a task: each event once, with its payload', async () => {
    const seen = record();
    const sup = await startSupervisor();
    let scopeId = 0;
    await sup.scope(async (scope) => {
      scopeId = scope.id;
      const h = scope.register({ entry: fixture('wait-forever.mjs'), name: 'w', kind: 'k', labels: { tenant: 'a' }, ephemeral: true });
      await h.waitForStartup();
      await scope.spawn(async () => 42, { name: 't', kind: 'flush', labels: { tenant: 'a' } }).result();
    }, { name: 'outer' });
    const names = seen.map(([n]) => n);
    expect(names).toEqual([
      'bgworkers:scope:start',
      'bgworkers:worker:register',
      'bgworkers:worker:start',
      'bgworkers:task:start',
      'bgworkers:task:end',
      'bgworkers:worker:stop',
      'bgworkers:scope:end',
    ]);
    const by = Object.fromEntries(seen);
    expect(by['bgworkers:scope:start']).toEqual({ scopeId, name: 'outer', parentId: undefined });
    expect(by['bgworkers:worker:register']).toMatchObject({ name: 'w', kind: 'k', labels: { tenant: 'a' }, runtime: 'thread', ephemeral: true, precious: false, scopeId });
    expect(by['bgworkers:worker:start']).toMatchObject({ name: 'w', threadId: expect.any(Number) });
    expect(by['bgworkers:task:start']).toMatchObject({ name: 't', kind: 'flush', labels: { tenant: 'a' }, scopeId });
    expect(by['bgworkers:task:end']).toMatchObject({ name: 't', exit: { reason: 'completed', result: 42 } });
    expect(by['bgworkers:worker:stop']).toMatchObject({ name: 'w', exit: { reason: 'terminated' }, forced: false, requested: true });
    expect(by['bgworkers:scope:end']).toEqual({ scopeId, name: 'outer', state: 'committed' });
  });

  it('a precious death: worker:precious-death once, and the scope ends aborted with it', async () => {
    const seen = record();
    const sup = await startSupervisor();
    await sup
      .scope(async (scope) => {
        const h = scope.register({ entry: fixture('die-on-latch.mjs'), data: { how: 'throw' }, precious: true, ephemeral: true, name: 'p' });
        await h.waitForStartup();
        h.latch.set();
        await h.waitForShutdown();
      })
      .catch(() => {});
    const deaths = seen.filter(([n]) => n === 'bgworkers:worker:precious-death');
    expect(deaths).toHaveLength(1);
    expect(deaths[0]![1]).toMatchObject({ name: 'p', exit: { reason: 'failed' }, error: { code: 'ERR_PRECIOUS_WORKER_DIED' } });
    const end = seen.filter(([n]) => n === 'bgworkers:scope:end');
    expect(end).toHaveLength(1);
    expect(end[0]![1]).toMatchObject({ state: 'aborted', reason: { code: 'ERR_PRECIOUS_WORKER_DIED' } });
  });

  it('the bgworkers:scope TracingChannel wraps the function: start, end, asyncStart, asyncEnd; error on a throw', async () => {
    const events: string[] = [];
    const ch = dc.tracingChannel('bgworkers:scope');
    const handlers = {
      start: (m: unknown) => void events.push(`start ${(m as { name?: string }).name}`),
      end: () => void events.push('end'),
      asyncStart: () => void events.push('asyncStart'),
      asyncEnd: () => void events.push('asyncEnd'),
      error: (m: unknown) => void events.push(`error ${((m as { error: Error }).error).message}`),
    };
    ch.subscribe(handlers);
    unsubscribe.push(() => ch.unsubscribe(handlers));
    const sup = await startSupervisor();
    await sup.scope(async () => 1, { name: 'ok' });
    await sup.scope(async () => { throw new Error('boom'); }, { name: 'bad' }).catch(() => {});
    expect(events).toEqual(['start ok', 'end', 'asyncStart', 'asyncEnd', 'start bad', 'end', 'error boom', 'asyncStart', 'asyncEnd']);
  });
});
