/**
 * G3 ephemeral, G5 precious workers do not outlive their scope, G6 nesting, G6b when a scope settles.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  PreciousWorkerOutlivedScopeError,
  ScopeAbortedError,
  ScopeClosedError,
  SupervisorShutdownError,
  checkForInterrupts,
  currentScope,
  type Scope,
  type WorkerHandle,
} from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe('G3 ephemeral workers end with their scope', () => {
    it('commit: every ephemeral worker is terminated and stopped before the scope resolves', async () => {
      const sup = await startSupervisor();
      const handles: WorkerHandle[] = [];
      const value = await sup.scope(async (scope) => {
        for (let i = 0; i < 3; i++) handles.push(scope.register({ runtime, entry: fixture('wait-forever.mjs'), ephemeral: true }));
        await Promise.all(handles.map((h) => h.waitForStartup()));
        return 'done';
      });
      expect(value).toBe('done');
      expect(handles.map((h) => h.state)).toEqual(['stopped', 'stopped', 'stopped']);
      expect(sup.workers()).toEqual([]);
    });

    it('abort: ephemeral workers are stopped before the scope rejects, including ones not started yet', async () => {
      const sup = await startSupervisor();
      let started!: WorkerHandle;
      let pending!: WorkerHandle;
      const outcome = sup.scope(async (scope) => {
        started = scope.register({ runtime, entry: fixture('wait-forever.mjs'), ephemeral: true });
        await started.waitForStartup();
        pending = scope.register({ runtime, entry: fixture('wait-forever.mjs'), ephemeral: true });
        throw new Error('fn failed');
      });
      await expect(outcome).rejects.toThrow('fn failed');
      expect(started.state).toBe('stopped');
      expect(pending.state).toBe('stopped');
      expect((await started.waitForShutdown()).reason).toBe('terminated');
      expect(['never-started', 'terminated']).toContain((await pending.waitForShutdown()).reason);
    });

    it('unflagged workers registered in a scope outlive it', async () => {
      const sup = await startSupervisor();
      const h = await sup.scope(async (scope) => {
        const w = scope.register({ runtime, entry: fixture('wait-forever.mjs') });
        await w.waitForStartup();
        return w;
      });
      expect(h.state).toBe('running');
      h.terminate();
      await h.waitForShutdown();
    });
  });

  describe('G5 precious workers do not outlive their scope', () => {
    it('commit with a running precious, non-ephemeral worker: terminated, and the scope rejects', async () => {
      const sup = await startSupervisor();
      let h!: WorkerHandle;
      const outcome = sup.scope(async (scope) => {
        h = scope.register({ runtime, entry: fixture('wait-forever.mjs'), precious: true });
        await h.waitForStartup();
        return 'would commit';
      });
      const err = await outcome.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PreciousWorkerOutlivedScopeError);
      expect((err as PreciousWorkerOutlivedScopeError).code).toBe('ERR_PRECIOUS_OUTLIVED_SCOPE');
      expect(h.state).toBe('stopped');
      expect((await h.waitForShutdown()).reason).toBe('terminated');
    });

    it('precious + ephemeral is terminated quietly at commit', async () => {
      const sup = await startSupervisor();
      await expect(
        sup.scope(async (scope) => {
          await scope.register({ runtime, entry: fixture('wait-forever.mjs'), precious: true, ephemeral: true }).waitForStartup();
          return 'ok';
        }),
      ).resolves.toBe('ok');
    });

    it('a precious worker that already returned does not make the commit fail', async () => {
      const sup = await startSupervisor();
      await expect(
        sup.scope(async (scope) => {
          await scope.register({ runtime, entry: fixture('echo.mjs'), precious: true }).waitForShutdown();
          return 'ok';
        }),
      ).resolves.toBe('ok');
    });
  });

  describe('G6 nesting', () => {
    it('a scope created inside another is its child; currentScope() follows the async context', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (outer) => {
        expect(currentScope()).toBe(outer);
        await sup.scope(async (inner) => {
          expect(inner.parent).toBe(outer);
          await sleep(1);
          expect(currentScope()).toBe(inner);
        });
        expect(currentScope()).toBe(outer);
      });
      expect(currentScope()).toBeUndefined();
    });

    it('aborting a scope aborts every active descendant with the same reason', async () => {
      const sup = await startSupervisor();
      const reasons: unknown[] = [];
      const outcome = sup.scope(async (root) => {
        const child = sup.scope(async (c) => {
          const grandchild = sup.scope(async (g) => {
            await new Promise((r) => g.signal.addEventListener('abort', r, { once: true }));
            reasons.push(g.signal.reason);
          });
          await new Promise((r) => c.signal.addEventListener('abort', r, { once: true }));
          reasons.push(c.signal.reason);
          await grandchild;
        });
        root.abort('stop it');
        await child;
      });
      const err = await outcome.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ScopeAbortedError);
      expect((err as ScopeAbortedError).cause).toBe('stop it');
      expect(reasons).toEqual([err, err]);
    });

    it("an ancestor's abort cannot be swallowed: every boundary rethrows it", async () => {
      const sup = await startSupervisor();
      const reason = new Error('ancestor aborted');
      let childSettledWith: unknown;
      const outcome = sup.scope(async (root) => {
        try {
          await sup.scope(async () => {
            root.abort(reason);
            try {
              checkForInterrupts();
            } catch {
              // swallowed
            }
            return 'child swallowed';
          });
        } catch (e) {
          childSettledWith = e;
        }
        return 'root swallowed';
      });
      await expect(outcome).rejects.toBe(reason);
      expect(childSettledWith).toBe(reason);
    });

    it('a child left active when its parent commits is aborted with ScopeClosedError and awaited', async () => {
      const sup = await startSupervisor();
      let child!: Promise<unknown>;
      let childWorker!: WorkerHandle;
      await sup.scope(async () => {
        child = sup.scope(async (c) => {
          childWorker = c.register({ runtime, entry: fixture('wait-forever.mjs'), ephemeral: true });
          await new Promise((r) => c.signal.addEventListener('abort', r, { once: true }));
        });
        child.catch(() => {});
        await childWorker.waitForStartup();
        return 'parent done';
      });
      // The parent settled only after the child did, and the child's worker stopped.
      expect(childWorker.state).toBe('stopped');
      await expect(child).rejects.toBeInstanceOf(ScopeClosedError);
    });

    it('workers registered in a child scope belong to the child', async () => {
      const sup = await startSupervisor();
      await sup.scope(async (outer) => {
        let h!: WorkerHandle;
        await sup.scope(async (inner) => {
          h = inner.register({ runtime, entry: fixture('wait-forever.mjs'), ephemeral: true });
          await h.waitForStartup();
          expect(sup.workers()[0]!.scopeId).toBe(inner.id);
        });
        expect(h.state).toBe('stopped');
        expect(outer.state).toBe('active');
      });
    });

    it('register and child scopes are refused once a scope has left active', async () => {
      const sup = await startSupervisor();
      let saved!: Parameters<Parameters<typeof sup.scope>[0]>[0];
      await sup.scope((s) => {
        saved = s;
      });
      expect(saved.state).toBe('committed');
      expect(() => saved.register({ runtime, entry: fixture('echo.mjs') })).toThrow(ScopeClosedError);
      expect(() => saved.tryRegister({ runtime, entry: fixture('echo.mjs') })).toThrow(ScopeClosedError);
      expect(sup.metrics().slots.used).toBe(0);
    });
  });

  describe('G6b when a scope settles', () => {
    it('an abort from outside starts teardown at once, but the scope settles only after its function', async () => {
      const sup = await startSupervisor();
      const ac = new AbortController();
      const order: string[] = [];
      let h!: WorkerHandle;
      let release!: () => void;
      const fnMayEnd = new Promise<void>((r) => (release = r));
      const outcome = sup.scope(
        async (scope) => {
          h = scope.register({ runtime, entry: fixture('wait-forever.mjs'), ephemeral: true });
          await h.waitForStartup();
          ac.abort(new Error('from outside'));
          await h.waitForShutdown(); // teardown did not wait for the function
          order.push('worker stopped while fn runs');
          await fnMayEnd;
          order.push('fn settles');
        },
        { signal: ac.signal, name: 'outer' },
      );
      void outcome.catch(() => order.push('scope settled'));
      await until(() => order.length > 0);
      release();
      await expect(outcome).rejects.toThrow('from outside');
      expect(order).toEqual(['worker stopped while fn runs', 'fn settles', 'scope settled']);
    });

    it('an already aborted options.signal rejects without running the function', async () => {
      const sup = await startSupervisor();
      let ran = false;
      await expect(sup.scope(() => (ran = true), { signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow('early');
      expect(ran).toBe(false);
    });

    it('shutdown aborts active scopes with SupervisorShutdownError; a scope whose function still runs rejects when it settles', async () => {
      const sup = await startSupervisor();
      let release!: () => void;
      const fnMayEnd = new Promise<void>((r) => (release = r));
      let h!: WorkerHandle;
      let sc!: Scope;
      const order: string[] = [];
      const outcome = sup.scope(async (scope) => {
        sc = scope;
        h = scope.register({ runtime, entry: fixture('wait-forever.mjs'), ephemeral: true });
        await h.waitForStartup();
        await fnMayEnd;
        order.push('fn settled');
        return 'late';
      });
      void outcome.catch(() => order.push('scope settled'));
      await until(() => h?.state === 'running');
      await sup.shutdown();
      expect(h.state).toBe('stopped');
      await h.waitForShutdown();
      // Teardown is done (its worker stopped) and the function still runs: the state machine holds the scope in
      // 'aborting' (node.ts: aborting → aborted needs the function settled too), whatever the event loop does next.
      expect(sc.state).toBe('aborting');
      expect(sc.signal.aborted).toBe(true);
      expect(order).toEqual([]);
      release();
      await expect(outcome).rejects.toBeInstanceOf(SupervisorShutdownError);
      expect(sc.state).toBe('aborted');
      expect(order).toEqual(['fn settled', 'scope settled']);
    });
  });

  async function until(p: () => boolean): Promise<void> {
    while (!p()) await sleep(1);
  }
});
