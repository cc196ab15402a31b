/**
 * handleSignals counts a group signal once although it arrives twice (registrant/signals.ts): through the
 * supervisor thread's watcher and through the main thread's own handler. Per signal, arrivals = max(direct,
 * watched): the echo does not force, a second Ctrl-C does, and a pid-only signal (direct only) counts too. The
 * handlers are driven with process.emit (no real signal; the real ones are in test/process/busy-signal.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SignalHandlers, validateHandleSignals } from '../../dist/registrant/signals.js';

let handlers: SignalHandlers | undefined;
afterEach(() => {
  handlers?.remove();
  handlers = undefined;
});

function install(): { shutdowns: string[]; forces: number } {
  const seen = { shutdowns: [] as string[], forces: 0 };
  handlers = new SignalHandlers(validateHandleSignals({ metrics: null, relay: [], exit: false })!, {
    logger: undefined,
    shutdown: async (reason) => void seen.shutdowns.push(reason.signal),
    force: () => void seen.forces++,
    metrics: () => ({}),
    relay: () => {},
  });
  return seen;
}

describe('shutdown signals seen by the watcher and by the main thread', () => {
  it('watcher first, then the echo from the main thread: one shutdown, no force', () => {
    const s = install();
    handlers!.seenByWatcher('SIGINT');
    process.emit('SIGINT');
    expect(s).toEqual({ shutdowns: ['SIGINT'], forces: 0 });
  });

  it('the main thread first, then the watcher: still one', () => {
    const s = install();
    process.emit('SIGTERM');
    handlers!.seenByWatcher('SIGTERM');
    expect(s).toEqual({ shutdowns: ['SIGTERM'], forces: 0 });
  });

  it('a second group signal (both paths twice) forces, once', () => {
    const s = install();
    handlers!.seenByWatcher('SIGINT');
    handlers!.seenByWatcher('SIGINT');
    expect(s).toEqual({ shutdowns: ['SIGINT'], forces: 1 });
    process.emit('SIGINT');
    process.emit('SIGINT');
    expect(s).toEqual({ shutdowns: ['SIGINT'], forces: 1 });
  });

  it('signals sent to the pid alone count on their own; different signals add up', () => {
    const s = install();
    process.emit('SIGTERM');
    handlers!.seenByWatcher('SIGINT');
    expect(s).toEqual({ shutdowns: ['SIGTERM'], forces: 1 });
  });

  it('the watcher reports only shutdown signals', () => {
    const s = install();
    handlers!.seenByWatcher('SIGHUP');
    expect(s).toEqual({ shutdowns: [], forces: 0 });
  });
});

describe('handleSignals.busy', () => {
  it('defaults to true and must be a boolean', () => {
    expect(validateHandleSignals(true)!.busy).toBe(true);
    expect(validateHandleSignals({ busy: false })!.busy).toBe(false);
    expect(() => validateHandleSignals({ busy: 'yes' })).toThrow(/handleSignals\.busy/);
  });
});
