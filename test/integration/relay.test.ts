/**
 * Signal relay (issue 13.3): supervisor.relaySignal(sig) reaches every running worker exactly once — thread
 * workers through ctx.onSignal, process workers as the real signal (which ctx.onSignal also hears). Orders come
 * from the workers' own messages: each relay is awaited as a message before the next is sent.
 */
import type { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError, type WorkerHandle } from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';

/** The messages a worker posts, and a way to wait for the next one. */
function inbox(h: WorkerHandle) {
  const got: unknown[] = [];
  const waiters: ((m: unknown) => void)[] = [];
  (h.port as unknown as EventEmitter).on('message', (m: unknown) => {
    got.push(m);
    waiters.shift()?.(m);
  });
  return { got, next: () => new Promise<unknown>((r) => waiters.push(r)) };
}

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  it('relaySignal reaches every running worker once; ctx.onSignal hears it', async () => {
    const sup = await startSupervisor();
    const handles = [0, 1].map(() => sup.register({ runtime, entry: fixture('relay-listener.mjs') }));
    const boxes = handles.map((h) => {
      const box = inbox(h);
      return { box, ready: box.next() };
    });
    await Promise.all(boxes.map((b) => b.ready));
    for (const sig of ['SIGHUP', 'SIGUSR2'] as const) {
      const heard = boxes.map((b) => b.box.next());
      sup.relaySignal(sig);
      expect(await Promise.all(heard)).toEqual([{ signal: sig }, { signal: sig }]);
    }
    handles.forEach((h) => h.terminate());
    const exits = await Promise.all(handles.map((h) => h.waitForShutdown()));
    expect(exits.map((e) => e.result)).toEqual([['SIGHUP', 'SIGUSR2'], ['SIGHUP', 'SIGUSR2']]); // each exactly once
    expect(boxes.map((b) => b.box.got)).toEqual([
      ['ready', { signal: 'SIGHUP' }, { signal: 'SIGUSR2' }],
      ['ready', { signal: 'SIGHUP' }, { signal: 'SIGUSR2' }],
    ]);
  });
});

describe('relaySignal input', () => {
  it('rejects a signal that cannot be relayed, naming it', async () => {
    const sup = await startSupervisor();
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGKILL', 'NOPE']) {
      expect(() => sup.relaySignal(sig as NodeJS.Signals)).toThrow(InvalidWorkerSpecError);
    }
  });
});
