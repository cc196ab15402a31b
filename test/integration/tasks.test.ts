/**
 * G13 in-thread tasks (scope.spawn): exits, cancellation at each point of a task's life (before it starts, while
 * it awaits, after it settled), precious failures seen by checkForInterrupts(), the scope waiting for its tasks
 * (commit, ephemeral, abort, a task that ignores its signal), currentTask(), nesting. Orders are decided by
 * promises the test resolves and by microtask/macrotask boundaries, never by timers that hope.
 */
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  InvalidWorkerSpecError,
  PreciousTaskFailedError,
  ScopeClosedError,
  TaskCancelledError,
  checkForInterrupts,
  currentScope,
  currentTask,
  type Scope,
  type TaskHandle,
} from '../../dist/index.js';
import { startSupervisor } from '../helpers.js';
import { thrownBy } from '../thrown.js';

/** A promise and its resolve, for deciding orders by hand. */
function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => (open = r));
  return { promise, open };
}

/** Resolves when `signal` aborts, rejecting with its reason (what a well-behaved task awaits). */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

describe('G13 scope.spawn', () => {
  it('completes with its value; listed by supervisor.tasks() until it stops', async () => {
    const sup = await startSupervisor();
    const g = gate<number>();
    let handle!: TaskHandle<number>;
    const listed: string[][] = [];
    const result = await sup.scope(async (scope) => {
      handle = scope.spawn(async () => (await g.promise) * 2, { name: 'doubler', kind: 'math', labels: { tenant: 'a' } });
      expect(handle).toMatchObject({ name: 'doubler', kind: 'math', labels: { tenant: 'a' }, ephemeral: false, precious: false, state: 'running' });
      listed.push(sup.tasks().map((t) => t.name));
      expect(sup.tasks({ labels: { tenant: 'a' } })[0]).toMatchObject({ name: 'doubler', kind: 'math', scopeId: scope.id, state: 'running' });
      expect(sup.tasks({ labels: { tenant: 'b' } })).toEqual([]);
      g.open(21);
      return 'scope done';
    });
    expect(result).toBe('scope done');
    expect(await handle.result()).toEqual({ reason: 'completed', result: 42 });
    expect(handle.state).toBe('stopped');
    expect(listed).toEqual([['doubler']]);
    expect(sup.tasks()).toEqual([]);
  });

  it('cancelled before it starts: fn never runs a line', async () => {
    const sup = await startSupervisor();
    let ran = false;
    const exit = await sup.scope(async (scope) => {
      const h = scope.spawn(() => {
        ran = true;
      });
      h.cancel(); // synchronously after spawn: fn is only queued (it starts on a microtask)
      expect(h.state).toBe('cancelling');
      return h.result();
    });
    expect(ran).toBe(false);
    expect(exit.reason).toBe('cancelled');
    expect(exit.error).toBeInstanceOf(TaskCancelledError);
    expect((exit.error as TaskCancelledError).code).toBe('ERR_TASK_CANCELLED');
  });

  it('cancelled while it awaits: its signal aborts with the reason, the exit is cancelled with it', async () => {
    const sup = await startSupervisor();
    const entered = gate();
    const reason = new Error('tenant detached');
    const exit = await sup.scope(async (scope) => {
      const h = scope.spawn(async (task) => {
        entered.open();
        await aborted(task.signal);
      });
      await entered.promise; // the task is inside its await now
      h.cancel(reason);
      h.cancel(new Error('second cancel: ignored'));
      return h.result();
    });
    expect(exit).toEqual({ reason: 'cancelled', error: reason });
  });

  it('cancel after it settled changes nothing', async () => {
    const sup = await startSupervisor();
    const exit = await sup.scope(async (scope) => {
      const h = scope.spawn(async () => 'done');
      const first = await h.result();
      h.cancel();
      expect(h.state).toBe('stopped');
      expect(await h.result()).toBe(first);
      return first;
    });
    expect(exit).toEqual({ reason: 'completed', result: 'done' });
  });

  it('a task that finishes anyway after its cancel is completed', async () => {
    const sup = await startSupervisor();
    const entered = gate();
    const exit = await sup.scope(async (scope) => {
      const h = scope.spawn(async () => {
        entered.open();
        await tick();
        return 'finished regardless';
      });
      await entered.promise;
      h.cancel();
      return h.result();
    });
    expect(exit).toEqual({ reason: 'completed', result: 'finished regardless' });
  });

  it('a non-precious failure is only its exit: the scope commits, nothing is unhandled', async () => {
    const sup = await startSupervisor();
    const boom = new Error('flush failed');
    const exit = await sup.scope(async (scope) => {
      const h = scope.spawn(async () => {
        throw boom;
      });
      return h.result();
    });
    expect(exit).toEqual({ reason: 'failed', error: boom });
  });

  it("a precious task's failure aborts its scope; the first checkForInterrupts() of a busy loop throws it", async () => {
    const sup = await startSupervisor();
    const boom = new Error('uploader lost its connection');
    let checksBeforeThrow = -1;
    const outcome = sup.scope(async (scope) => {
      scope.spawn(async () => {
        throw boom;
      }, { precious: true, name: 'uploader' });
      await tick(); // the task's code has run to its rejection
      for (let i = 0; i < 1_000_000; i++) {
        try {
          checkForInterrupts();
        } catch (err) {
          checksBeforeThrow = i;
          throw err;
        }
      }
    });
    const err = await outcome.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PreciousTaskFailedError);
    expect((err as PreciousTaskFailedError).code).toBe('ERR_PRECIOUS_TASK_FAILED');
    expect((err as PreciousTaskFailedError).task.name).toBe('uploader');
    expect((err as PreciousTaskFailedError).cause).toBe(boom);
    expect(checksBeforeThrow).toBe(0);
  });

  it("a precious task's own cancellation is not a failure", async () => {
    const sup = await startSupervisor();
    const entered = gate();
    const exit = await sup.scope(async (scope) => {
      const h = scope.spawn(async (task) => {
        entered.open();
        await aborted(task.signal);
      }, { precious: true });
      await entered.promise;
      h.cancel();
      return h.result();
    });
    expect(exit.reason).toBe('cancelled');
  });

  it('a commit waits for a non-ephemeral task; the scope settles after it', async () => {
    const sup = await startSupervisor();
    const log: string[] = [];
    const g = gate();
    let seen: Scope | undefined;
    const outcome = sup.scope((scope) => {
      seen = scope;
      scope.spawn(async () => {
        await g.promise;
        log.push('task done');
      });
      setImmediate(() => {
        log.push(`release while ${seen!.state}`);
        g.open();
      });
      return 'value';
    });
    await outcome.then((v) => log.push(`settled ${v}`));
    expect(log).toEqual(['release while committing', 'task done', 'settled value']);
  });

  it('an ephemeral task is cancelled at commit, and the scope waits for it to settle', async () => {
    const sup = await startSupervisor();
    const log: string[] = [];
    let h!: TaskHandle;
    await sup
      .scope((scope) => {
        h = scope.spawn(async (task) => {
          try {
            await aborted(task.signal);
          } finally {
            await tick();
            log.push('task cleaned up');
          }
        }, { ephemeral: true });
      })
      .then(() => log.push('settled'));
    expect(log).toEqual(['task cleaned up', 'settled']);
    const exit = await h.result();
    expect(exit.reason).toBe('cancelled');
    expect((exit.error as Error).message).toContain('its scope ended');
  });

  it('an abort cancels every task with the abort reason; a task that ignores its signal holds the scope open', async () => {
    const sup = await startSupervisor();
    const reason = new Error('request cancelled');
    const ignoring = gate();
    const log: string[] = [];
    let polite!: TaskHandle;
    let stubborn!: TaskHandle;
    const outcome = sup.scope(async (scope) => {
      polite = scope.spawn((task) => aborted(task.signal), { ephemeral: true });
      stubborn = scope.spawn(async () => {
        await ignoring.promise;
        log.push('stubborn done');
        return 'ignored the cancel';
      });
      await tick();
      scope.abort(reason);
      setImmediate(() => {
        log.push(`release while ${scope.state}`);
        ignoring.open();
      });
    });
    await outcome.catch((e: unknown) => log.push(e === reason ? 'rejected with the reason' : String(e)));
    expect(log).toEqual(['release while aborting', 'stubborn done', 'rejected with the reason']);
    expect(await polite.result()).toEqual({ reason: 'cancelled', error: reason });
    expect(await stubborn.result()).toEqual({ reason: 'completed', result: 'ignored the cancel' });
  });

  it('a precious task failing while its scope commits makes the scope reject', async () => {
    const sup = await startSupervisor();
    const g = gate();
    const boom = new Error('late failure');
    const outcome = sup.scope((scope) => {
      scope.spawn(async () => {
        await g.promise;
        throw boom;
      }, { precious: true });
      setImmediate(() => g.open()); // after the function returned: the scope is committing
      return 'would have committed';
    });
    const err = await outcome.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(PreciousTaskFailedError);
    expect((err as Error).cause).toBe(boom);
  });

  it('currentTask() is the task in everything it awaits and in nested scopes; a nested spawn is its own task', async () => {
    const sup = await startSupervisor();
    const seen: Record<string, string | undefined> = {};
    await sup.scope(async (scope) => {
      seen['outside'] = currentTask()?.name;
      const h = scope.spawn(async (task) => {
        seen['start'] = currentTask()?.name;
        seen['same signal'] = String(currentTask()?.signal === task.signal);
        await tick();
        seen['after await'] = currentTask()?.name;
        seen['scope inside'] = String(currentScope()?.id === scope.id);
        await sup.scope(async (inner) => {
          seen['nested scope'] = currentTask()?.name;
          const child = inner.spawn(async () => {
            await tick();
            seen['child'] = currentTask()?.name;
          }, { name: 'child' });
          await child.result();
          seen['after child'] = currentTask()?.name;
        });
      }, { name: 'parent' });
      await h.result();
      seen['outside after'] = currentTask()?.name;
    });
    expect(seen).toEqual({
      outside: undefined,
      start: 'parent',
      'same signal': 'true',
      'after await': 'parent',
      'scope inside': 'true',
      'nested scope': 'parent',
      child: 'child',
      'after child': 'parent',
      'outside after': undefined,
    });
  });

  it('many tasks in one scope add no listener to its signal (no MaxListenersExceededWarning), and all are cancelled by its abort', async () => {
    const sup = await startSupervisor();
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const handles: TaskHandle[] = [];
      await sup
        .scope(async (scope) => {
          for (let i = 0; i < 50; i++) handles.push(scope.spawn((t) => aborted(t.signal)));
          await tick();
          scope.abort(new Error('all of them'));
        })
        .catch(() => {});
      const exits = await Promise.all(handles.map((h) => h.result()));
      expect(new Set(exits.map((e) => `${e.reason}: ${e.error?.message}`))).toEqual(new Set(['cancelled: all of them']));
      await tick();
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('spawn in a closed scope throws ScopeClosedError; bad input names the field; nothing is left', async () => {
    const sup = await startSupervisor();
    let kept!: Scope;
    await sup.scope((scope) => {
      kept = scope;
      expect(() => scope.spawn(42 as unknown as () => void)).toThrow(InvalidWorkerSpecError);
      for (const [options, field] of [[{ name: '' }, 'name'], [{ labels: { a: 1 } }, 'labels.a'], [{ precious: 'yes' }, 'precious'], [{ nope: 1 }, 'nope']] as const) {
        const caught = thrownBy(() => scope.spawn(() => {}, options as never));
        expect(caught, JSON.stringify(options)).toBeInstanceOf(InvalidWorkerSpecError);
        expect((caught as InvalidWorkerSpecError).field).toBe(field);
      }
      expect(sup.tasks()).toEqual([]);
    });
    expect(() => kept.spawn(() => {})).toThrow(ScopeClosedError);
  });
});
