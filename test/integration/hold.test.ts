/**
 * G16 holdInterrupts(): inside a region checkForInterrupts() processes but does not throw; the first check after
 * the outermost region throws; teardown still starts at once; async regions hold only their own async context;
 * latch waits inside a region still wake. Orders come from latches and from interruptPending(), not sleeps.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { PreciousWorkerDiedError, checkForInterrupts, holdInterrupts, interruptPending, myLatch } from '../../dist/index.js';
import { fixture, startSupervisor } from '../helpers.js';

/** Spins until interruptPending() (the death has reached this thread), failing after 10 s. */
function spinUntilPending(): void {
  const deadline = performance.now() + 10_000;
  while (!interruptPending()) if (performance.now() > deadline) throw new Error('the interrupt never arrived');
}

describe('G16 holdInterrupts', () => {
  it("a precious death inside a sync region: no throw there, the scope's teardown starts at once, the check after throws", async () => {
    const sup = await startSupervisor();
    const seen: string[] = [];
    const outcome = sup.scope(async (scope) => {
      const h = scope.register({ entry: fixture('die-on-latch.mjs'), data: { how: 'throw' }, precious: true, ephemeral: true });
      await h.waitForStartup();
      holdInterrupts(() => {
        h.latch.set();
        spinUntilPending(); // a busy region: the death arrives while we never yield
        checkForInterrupts();
        seen.push('no throw inside');
        seen.push(scope.signal.aborted ? 'scope aborted inside' : 'scope not aborted inside');
      });
      try {
        checkForInterrupts();
        seen.push('no throw after');
      } catch (err) {
        seen.push(err instanceof PreciousWorkerDiedError ? 'PreciousWorkerDiedError after' : String(err));
      }
    });
    await expect(outcome).rejects.toBeInstanceOf(PreciousWorkerDiedError);
    expect(seen).toEqual(['no throw inside', 'scope aborted inside', 'PreciousWorkerDiedError after']);
  });

  it('nested regions: the throw waits for the outermost one', async () => {
    const sup = await startSupervisor();
    const seen: string[] = [];
    await sup.scope(async (scope) => {
      holdInterrupts(() => {
        holdInterrupts(() => scope.abort(new Error('stop')));
        checkForInterrupts(); // still inside the outer region
        seen.push('outer held');
        seen.push(String(holdInterrupts(() => 42)));
      });
      try {
        checkForInterrupts();
      } catch (err) {
        seen.push((err as Error).message);
      }
    }).catch(() => {});
    expect(seen).toEqual(['outer held', '42', 'stop']);
  });

  it('an async region holds across its awaits, and only its own async context', async () => {
    const sup = await startSupervisor();
    const seen: string[] = [];
    await sup.scope(async (scope) => {
      let abortNow!: () => void;
      const aborted = new Promise<void>((r) => (abortNow = r));
      const region = holdInterrupts(async () => {
        await aborted;
        checkForInterrupts();
        seen.push('region: no throw after its await');
        await Promise.resolve();
        checkForInterrupts();
        seen.push('region: no throw after a second await');
        return 'region done';
      });
      scope.abort(new Error('stop'));
      try {
        checkForInterrupts(); // outside the region, while it is suspended
        seen.push('outside: no throw');
      } catch (err) {
        seen.push(`outside: ${(err as Error).message}`);
      }
      abortNow();
      seen.push(await region);
      try {
        checkForInterrupts();
      } catch (err) {
        seen.push(`after: ${(err as Error).message}`);
      }
    }).catch(() => {});
    expect(seen).toEqual(['outside: stop', 'region: no throw after its await', 'region: no throw after a second await', 'region done', 'after: stop']);
  });

  it('in a worker: a termination request wakes a latch wait inside the region, is held there, and throws after it', async () => {
    const sup = await startSupervisor();
    const me = myLatch();
    me.reset();
    const h = sup.register({ entry: fixture('hold-worker.mjs') });
    const report = once(h.port as unknown as import('node:events').EventEmitter, 'message');
    while (!(await me.wait({ timeoutMs: 10_000 })).latchSet) {
      // a spurious wake-up; the worker sets the latch once it is inside the region
    }
    h.terminate();
    const [msg] = await report;
    expect(msg).toEqual({ woke: 'interrupted', signalAborted: true, inside: 'no throw', after: 'ERR_TERMINATION_REQUESTED' });
    expect((await h.waitForShutdown()).reason).toBe('terminated');
  });

  it('an async region started inside a sync one stays held after the sync one ended', async () => {
    const sup = await startSupervisor();
    const seen: string[] = [];
    await sup.scope(async (scope) => {
      let resume!: () => void;
      const paused = new Promise<void>((r) => (resume = r));
      let inner!: Promise<void>;
      holdInterrupts(() => {
        inner = holdInterrupts(async () => {
          await paused; // resumes after the outer sync region has ended
          checkForInterrupts();
          seen.push('async region still held');
        });
      });
      scope.abort(new Error('stop'));
      resume();
      await inner;
      try {
        checkForInterrupts();
      } catch (err) {
        seen.push((err as Error).message);
      }
    }).catch(() => {});
    expect(seen).toEqual(['async region still held', 'stop']);
  });

  it('rejects a non-function', () => {
    expect(() => holdInterrupts(42 as unknown as () => void)).toThrow(/fn/);
  });
});
