/**
 * G4 precious workers, G11 isolation: a precious worker's unexpected death aborts its registering scope, and is
 * seen synchronously by checkForInterrupts() in a registrant that never yields.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PreciousWorkerDiedError, checkForInterrupts, interruptPending, myLatch, type Scope } from '../../dist/index.js';
import { RUNTIMES, captureStderr, fixture, startSupervisor } from '../helpers.js';

/**
 * Spins without yielding until checkForInterrupts() throws; returns what it threw and how many checks ran.
 * `kill` (the latch set that makes the worker die) runs after the first check has passed, inside the loop: the
 * death then certainly lands while the registrant spins. Setting the latch before the loop would let the woken
 * worker preempt the registrant on 2 loaded cores and die before the first check.
 */
function spinUntilInterrupted(check: () => void, kill?: () => void, limitMs = 15_000): { error: unknown; checks: number } {
  const deadline = performance.now() + limitMs;
  let checks = 0;
  for (;;) {
    try {
      check();
    } catch (error) {
      return { error, checks };
    }
    if (checks === 0) kill?.();
    checks++;
    if ((checks & 0xfff) === 0 && performance.now() > deadline) return { error: undefined, checks };
  }
}

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]); // G11: nothing escapes the library
});

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe('G4 precious death is seen synchronously in a busy registrant', () => {
    for (const how of ['throw', 'reject', 'exit', 'uncaught', 'oom'] as const) {
      it(`death by ${how}: checkForInterrupts() throws without the loop ever yielding`, async () => {
        const sup = await startSupervisor();
        let seen: { error: unknown; checks: number } | undefined;
        let atKill: { pending: boolean; state: string } | undefined;
        const stderr = captureStderr(runtime);
        const outcome = sup.scope(async (scope) => {
          const h = scope.register({
            runtime,
            entry: fixture('die-on-latch.mjs'),
            data: { how },
            precious: true,
            ...(how === 'oom' ? { resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } } : {}),
            ...stderr.spec,
          });
          await h.waitForStartup();
          // From here on, no await: the registrant is busy in synchronous code until the death surfaces.
          seen = spinUntilInterrupted(checkForInterrupts, () => {
            atKill = { pending: interruptPending(), state: h.state };
            h.latch.set();
          });
          return 'fn returned';
        });
        await expect(outcome).rejects.toBeInstanceOf(PreciousWorkerDiedError);
        expect(seen!.error).toBeInstanceOf(PreciousWorkerDiedError);
        const err = seen!.error as PreciousWorkerDiedError;
        expect(err.code).toBe('ERR_PRECIOUS_WORKER_DIED');
        expect(err.exit.reason).toBe(how === 'throw' || how === 'reject' ? 'failed' : 'crashed');
        if (how === 'throw') {
          expect(err.exit.error?.name).toBe('TypeError');
          expect((err.exit.error as { code?: string }).code).toBe('E_PURPOSE');
        }
        if (how === 'exit') expect(err.exit.code).toBe(3);
        // The worker was alive and nothing was pending when the spin told it to die: the interrupt that ended the
        // loop was made pending by its death, while the loop ran.
        expect(atKill).toEqual({ pending: false, state: 'running' });
        const printed = stderr.text();
        if (runtime === 'process' && how === 'uncaught') expect(printed).toContain('Error: uncaught on purpose');
        else if (runtime === 'process' && how === 'oom') expect(printed).toContain('FATAL ERROR: Reached heap limit');
        else expect(printed).toBe('');
      });
    }

    it('scope.checkForInterrupts() and interruptPending() see it too', async () => {
      const sup = await startSupervisor();
      let pendingBefore: boolean | undefined;
      let pendingAfter: boolean | undefined;
      const outcome = sup.scope(async (scope: Scope) => {
        const h = scope.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'throw' }, precious: true });
        await h.waitForStartup();
        // The kill runs inside the spin, after its first check passed (see spinUntilInterrupted).
        const seen = spinUntilInterrupted(
          () => scope.checkForInterrupts(),
          () => {
            pendingBefore = interruptPending();
            h.latch.set();
          },
        );
        pendingAfter = interruptPending();
        throw seen.error;
      });
      await expect(outcome).rejects.toMatchObject({ code: 'ERR_PRECIOUS_WORKER_DIED' });
      expect(pendingBefore).toBe(false);
      expect(pendingAfter).toBe(true);
    });
  });

  describe('G4 the abort reaches every observer', () => {
    it('scope.signal aborts with the error, and the scope rejects even if fn caught it and returned', async () => {
      const sup = await startSupervisor();
      let signalReason: unknown;
      const outcome = sup.scope(async (scope) => {
        const h = scope.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'throw' }, precious: true });
        h.latch.set();
        await new Promise((resolve) => scope.signal.addEventListener('abort', resolve, { once: true }));
        signalReason = scope.signal.reason;
        try {
          checkForInterrupts();
        } catch {
          // swallowed on purpose: the scope must still reject
        }
        return 'swallowed';
      });
      const err = await outcome.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(PreciousWorkerDiedError);
      expect(signalReason).toBe(err);
    });

    it('a wait on the registrant latch returns early with interrupted: true', async () => {
      const sup = await startSupervisor();
      let result: Awaited<ReturnType<ReturnType<typeof myLatch>['wait']>> | undefined;
      const outcome = sup.scope(async (scope) => {
        const h = scope.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'exit' }, precious: true });
        await h.waitForStartup();
        myLatch().reset();
        h.latch.set();
        result = await myLatch().wait({ timeoutMs: 15_000 });
      });
      await expect(outcome).rejects.toBeInstanceOf(PreciousWorkerDiedError);
      expect(result).toMatchObject({ interrupted: true, timedOut: false });
    });

    it('waitSync on the registrant latch returns early too (the death sets the latch)', async () => {
      const sup = await startSupervisor();
      let result: ReturnType<ReturnType<typeof myLatch>['waitSync']> | undefined;
      const outcome = sup.scope(async (scope) => {
        const h = scope.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'throw' }, precious: true });
        await h.waitForStartup();
        myLatch().reset();
        h.latch.set();
        result = myLatch().waitSync({ timeoutMs: 15_000 });
      });
      await expect(outcome).rejects.toBeInstanceOf(PreciousWorkerDiedError);
      expect(result).toMatchObject({ latchSet: true, interrupted: true, timedOut: false });
    });

    it('a death in a nested scope that catches everything still rejects every boundary up to the registering scope', async () => {
      const sup = await startSupervisor();
      let innerCaught: unknown;
      let outerSawChild: unknown;
      const outer = sup.scope(async () => {
        try {
          await sup.scope(async (inner) => {
            const h = inner.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'throw' }, precious: true });
            h.latch.set();
            try {
              spinUntilInterrupted(checkForInterrupts);
              await h.waitForShutdown();
              checkForInterrupts();
            } catch (e) {
              innerCaught = e;
            }
            return 'inner swallowed it';
          });
        } catch (e) {
          outerSawChild = e;
        }
        return 'outer unaffected';
      });
      // The worker belongs to the inner scope: only the inner scope aborts; the outer scope commits.
      await expect(outer).resolves.toBe('outer unaffected');
      expect(innerCaught).toBeInstanceOf(PreciousWorkerDiedError);
      expect(outerSawChild).toBe(innerCaught);
    });

    it('a death aborts the registering scope and its descendants, not its parent', async () => {
      const sup = await startSupervisor();
      let childReason: unknown;
      let parentAborted: boolean | undefined;
      const parent = sup.scope(async () => {
        const registering = sup.scope(async (mid) => {
          const child = sup.scope(async (c) => {
            await new Promise((resolve) => c.signal.addEventListener('abort', resolve, { once: true }));
            childReason = c.signal.reason;
          });
          const h = mid.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'throw' }, precious: true });
          h.latch.set();
          await child;
        });
        await expect(registering).rejects.toBeInstanceOf(PreciousWorkerDiedError);
        parentAborted = currentAborted();
        return 'parent ok';
      });
      await expect(parent).resolves.toBe('parent ok');
      expect(childReason).toBeInstanceOf(PreciousWorkerDiedError);
      expect(parentAborted).toBe(false);
    });
  });

  function currentAborted(): boolean {
    try {
      checkForInterrupts();
      return false;
    } catch {
      return true;
    }
  }

  describe('G4 what does not abort', () => {
    it('a precious worker that completes normally aborts nothing', async () => {
      const sup = await startSupervisor();
      const value = await sup.scope(async (scope) => {
        const h = scope.register<unknown, string>({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'return' }, precious: true });
        h.latch.set();
        const exit = await h.waitForShutdown();
        checkForInterrupts();
        return exit.result;
      });
      expect(value).toBe('returned');
      expect(sup.metrics().preciousDeaths).toBe(0);
    });

    it('a precious worker terminated on request aborts nothing', async () => {
      const sup = await startSupervisor();
      const exit = await sup.scope(async (scope) => {
        const h = scope.register({ runtime, entry: fixture('wait-forever.mjs'), precious: true, ephemeral: true });
        await h.waitForStartup();
        h.terminate();
        const e = await h.waitForShutdown();
        checkForInterrupts();
        return e;
      });
      expect(exit.reason).toBe('terminated');
    });

    it('a precious worker that fails to start (import throws, not a worker module) is a death', async () => {
      const sup = await startSupervisor();
      for (const entry of ['import-throws.mjs', 'not-a-worker.mjs']) {
        const outcome = sup.scope(async (scope) => {
          scope.register({ runtime, entry: fixture(entry), precious: true });
          await new Promise((resolve) => scope.signal.addEventListener('abort', resolve, { once: true }));
        });
        const err = (await outcome.catch((e: unknown) => e)) as PreciousWorkerDiedError;
        expect(err).toBeInstanceOf(PreciousWorkerDiedError);
        expect(err.exit.reason).toBe('failed');
      }
    });
  });

  describe('G11 isolation', () => {
    it('a death affects only its own scope; other scopes, workers and the supervisor keep working', async () => {
      const sup = await startSupervisor();
      const bystander = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
      await bystander.waitForStartup();
      let otherAborted: boolean | undefined;
      let releaseOther!: () => void;
      const otherMayFinish = new Promise<void>((r) => (releaseOther = r));
      const other = sup.scope(async (s) => {
        const h = s.register({ runtime, entry: fixture('wait-forever.mjs'), ephemeral: true, precious: true });
        await h.waitForStartup();
        await otherMayFinish;
        otherAborted = s.signal.aborted;
        return 'other ok';
      });
      const victim = sup.scope(async (s) => {
        const h = s.register({ runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'exit' }, precious: true });
        h.latch.set();
        await h.waitForShutdown();
        checkForInterrupts();
      });
      await expect(victim).rejects.toBeInstanceOf(PreciousWorkerDiedError);
      releaseOther();
      await expect(other).resolves.toBe('other ok');
      expect(otherAborted).toBe(false);
      expect(bystander.state).toBe('running');
      const after = sup.register({ runtime, entry: fixture('echo.mjs'), data: 'still works' });
      expect((await after.waitForShutdown()).result).toBe('still works');
      bystander.terminate();
      expect((await bystander.waitForShutdown()).reason).toBe('terminated');
      expect(sup.metrics().preciousDeaths).toBe(1);
    });
  });
});
