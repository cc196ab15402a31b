/**
 * The bad-input table (issue 4, part 3): one test per bad input. Each asserts the typed error it gets (`code` and
 * `instanceof`, never message text), that nothing was left registered, and then that the supervisor and other
 * scopes keep working: a bystander scope, opened before the bad input with a running precious + ephemeral worker,
 * still commits with its worker's result, and a fresh register() still runs to completion (G1, G11).
 *
 * Calls after shutdown cannot be followed by the same supervisor working; for those the bystander lives on a
 * second supervisor, which must be unaffected.
 */
import { MessageChannel } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  InvalidWorkerSpecError,
  PreciousWorkerDiedError,
  ScopeAbortedError,
  ScopeClosedError,
  Supervisor,
  SupervisorClosedError,
  WorkerCapacityError,
  WorkerStartupError,
  myLatch,
  type Scope,
  type ScopedWorkerSpec,
  type SupervisorOptions,
  type WorkerExit,
  type WorkerHandle,
} from '../../dist/index.js';
import { RUNTIMES, fixture, startSupervisor, type Runtime } from '../helpers.js';
import { thrownBy } from '../thrown.js';

const ACTOR = fixture('rel-actor.mjs');
/** Slots of the supervisor under test: the bystander holds one, the bad input may hold some. */
const SLOTS = 4;
const INVALID = 'ERR_INVALID_WORKER_SPEC';

type ErrorClass = abstract new (...args: never[]) => Error;


/** The reason `p` rejects with; fails the test if it resolves. */
async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return expect.unreachable('expected a rejection');
}

/** The typed error: class, stable code, and (for InvalidWorkerSpecError) the field it names. */
function expectTyped(e: unknown, cls: ErrorClass, code: string, field?: string): void {
  expect(e).toBeInstanceOf(cls);
  expect((e as { code?: unknown }).code).toBe(code);
  if (field !== undefined) expect((e as { field?: unknown }).field).toBe(field);
}

interface Bystander {
  readonly sup: Supervisor;
  readonly handle: WorkerHandle;
  readonly done: Promise<unknown>;
}

/** A sibling scope with a running precious + ephemeral worker that completes when its latch is set. */
async function bystander(sup: Supervisor): Promise<Bystander> {
  let handle!: WorkerHandle;
  let running!: () => void;
  const started = new Promise<void>((r) => (running = r));
  const done = sup.scope(
    async (scope) => {
      handle = scope.register({ entry: ACTOR, data: { action: 'complete', result: 'bystander' }, precious: true, ephemeral: true });
      await handle.waitForStartup();
      running();
      return (await handle.waitForShutdown()).result;
    },
    { name: 'bystander' },
  );
  await Promise.race([started, done]);
  expect(handle.state).toBe('running');
  return { sup, handle, done };
}

/** G11: the bystander was not disturbed, and the supervisor still registers and runs workers. */
async function expectStillWorking(b: Bystander): Promise<void> {
  expect(b.sup.closed).toBe(false);
  expect(b.handle.state).toBe('running');
  b.handle.latch.set();
  await expect(b.done).resolves.toBe('bystander');
  const fresh = b.sup.register({ entry: ACTOR, data: { action: 'complete', result: 'fresh' } });
  fresh.latch.set();
  expect(await fresh.waitForShutdown()).toMatchObject({ reason: 'completed', result: 'fresh' });
  expect(b.sup.workers()).toEqual([]);
  expect(b.sup.metrics().slots.used).toBe(0);
}

/** Nothing of the bad input is left registered: only the bystander holds a slot. */
function expectNothingLeft(b: Bystander): void {
  expect(b.sup.workers().map((w) => w.id)).toEqual([b.handle.id]);
  expect(b.sup.metrics().slots.used).toBe(1);
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

/** Registers in a scope and returns what the scope and the worker ended with (the scope function returns at once). */
async function inScope<R>(sup: Supervisor, f: (scope: Scope) => R): Promise<{ value: R; outcome: Promise<unknown> }> {
  let value!: R;
  const outcome = sup.scope((scope) => {
    value = f(scope);
  });
  void outcome.catch(() => {});
  return { value, outcome };
}

// ---- supervisor options ------------------------------------------------------------------------------------------

describe('bad supervisor options: Supervisor.start() rejects, before anything starts', () => {
  const cases: [string, unknown, string][] = [
    ['an unknown option key', { bogus: 1 }, 'bogus'],
    ['options that are not an object', 42, 'options'],
    ['maxWorkers 0', { maxWorkers: 0 }, 'maxWorkers'],
    ['maxWorkers of the wrong type', { maxWorkers: '4' }, 'maxWorkers'],
    ['maxWorkers NaN', { maxWorkers: Number.NaN }, 'maxWorkers'],
    ['maxWorkers not an integer', { maxWorkers: 1.5 }, 'maxWorkers'],
    ['a negative gracefulTimeoutMs', { gracefulTimeoutMs: -1 }, 'gracefulTimeoutMs'],
    ['a NaN gracefulTimeoutMs', { gracefulTimeoutMs: Number.NaN }, 'gracefulTimeoutMs'],
    ['a negative spareWorkers', { spareWorkers: -1 }, 'spareWorkers'],
    ['a logger that is not a logger', { logger: {} }, 'logger'],
  ];
  for (const [name, options, field] of cases) {
    it(name, async () => {
      const b = await bystander(await startSupervisor({ maxWorkers: SLOTS }));
      const e = await rejectionOf(
        Supervisor.start(options as SupervisorOptions).then(async (s) => {
          await s.shutdown();
          return s;
        }),
      );
      expectTyped(e, InvalidWorkerSpecError, INVALID, field);
      await expectStillWorking(b);
    });
  }
});

// ---- worker specs --------------------------------------------------------------------------------------------------

describe('bad worker specs: register() throws InvalidWorkerSpecError naming the field; nothing is registered', () => {
  const revoked = (): unknown => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  };
  const port = (): unknown => new MessageChannel().port1;
  // [name, spec, field, where]: 'unscoped' registers with supervisor.register(), 'scoped' with scope.register().
  const cases: [string, () => unknown, string, 'unscoped' | 'scoped'][] = [
    ['a spec that is not an object', () => 'not a spec', 'spec', 'unscoped'],
    ['an unknown spec key', () => ({ entry: ACTOR, bogus: 1 }), 'bogus', 'unscoped'],
    ['an unknown spec key in a scope', () => ({ entry: ACTOR, ephemerl: true }), 'ephemerl', 'scoped'],
    ['a missing entry', () => ({}), 'entry', 'unscoped'],
    ['a nonexistent entry', () => ({ entry: fixture('rel-does-not-exist.mjs') }), 'entry', 'unscoped'],
    ['an entry of the wrong type', () => ({ entry: 42 }), 'entry', 'unscoped'],
    ['an empty entry', () => ({ entry: '' }), 'entry', 'unscoped'],
    ['an entry that is not a file: URL', () => ({ entry: new URL('https://example.com/w.mjs') }), 'entry', 'unscoped'],
    ['an entry that is a directory', () => ({ entry: fixture('') }), 'entry', 'unscoped'],
    ['a name of the wrong type', () => ({ entry: ACTOR, name: 5 }), 'name', 'unscoped'],
    ['labels that are not strings', () => ({ entry: ACTOR, labels: { a: 1 } }), 'labels.a', 'unscoped'],
    ['an unknown runtime', () => ({ entry: ACTOR, runtime: 'fiber' }), 'runtime', 'unscoped'],
    ['a flag of the wrong type', () => ({ entry: ACTOR, ephemeral: 'yes' }), 'ephemeral', 'scoped'],
    ['data that is a function', () => ({ entry: ACTOR, data: () => 1 }), 'data', 'unscoped'],
    ['data holding a symbol', () => ({ entry: ACTOR, data: { s: Symbol('x') } }), 'data', 'unscoped'],
    ['data holding a function, in a scope', () => ({ entry: ACTOR, data: { nested: [() => 1] }, precious: true }), 'data', 'scoped'],
    ['data holding a MessagePort not transferred', () => ({ entry: ACTOR, data: { port: port() } }), 'data', 'unscoped'],
    ['data that is a revoked Proxy', () => ({ entry: ACTOR, data: revoked() }), 'data', 'unscoped'],
    ['data that is a Proxy whose traps throw', () => ({ entry: ACTOR, data: new Proxy({}, { get: () => { throw new Error('trap'); } }) }), 'data', 'unscoped'],
    ['ephemeral on an unscoped worker', () => ({ entry: ACTOR, ephemeral: true }), 'ephemeral', 'unscoped'],
    ['precious on an unscoped worker', () => ({ entry: ACTOR, precious: true }), 'precious', 'unscoped'],
    ['restart on a flagged worker', () => ({ entry: ACTOR, precious: true, restart: { delayMs: 10 } }), 'restart', 'scoped'],
    ['restart of the wrong shape', () => ({ entry: ACTOR, restart: 'always' }), 'restart', 'unscoped'],
    ['a negative restart delay', () => ({ entry: ACTOR, restart: { delayMs: -1 } }), 'restart.delayMs', 'unscoped'],
    ['a negative gracefulTimeoutMs', () => ({ entry: ACTOR, gracefulTimeoutMs: -5 }), 'gracefulTimeoutMs', 'unscoped'],
    ['a NaN gracefulTimeoutMs', () => ({ entry: ACTOR, gracefulTimeoutMs: Number.NaN }), 'gracefulTimeoutMs', 'scoped'],
    ['a gracefulTimeoutMs of -Infinity', () => ({ entry: ACTOR, gracefulTimeoutMs: -Infinity }), 'gracefulTimeoutMs', 'unscoped'],
    ['a negative resource limit', () => ({ entry: ACTOR, resourceLimits: { maxOldGenerationSizeMb: -1 } }), 'resourceLimits.maxOldGenerationSizeMb', 'unscoped'],
    ['an unknown resource limit', () => ({ entry: ACTOR, resourceLimits: { maxHeap: 1 } }), 'resourceLimits.maxHeap', 'unscoped'],
    ['env on a thread worker', () => ({ entry: ACTOR, env: { A: '1' } }), 'env', 'unscoped'],
    ['a non-string env value on a process worker', () => ({ entry: ACTOR, runtime: 'process', env: { A: 1 } }), 'env.A', 'unscoped'],
  ];
  for (const [name, spec, field, where] of cases) {
    it(name, async () => {
      const sup = await startSupervisor({ maxWorkers: SLOTS });
      const b = await bystander(sup);
      if (where === 'unscoped') {
        expectTyped(
          thrownBy(() => sup.register(spec() as never)),
          InvalidWorkerSpecError,
          INVALID,
          field,
        );
      } else {
        const { value, outcome } = await inScope(sup, (scope) => thrownBy(() => scope.register(spec() as ScopedWorkerSpec)));
        expectTyped(value, InvalidWorkerSpecError, INVALID, field);
        await expect(outcome).resolves.toBeUndefined(); // the scope itself is unaffected
      }
      expectNothingLeft(b);
      await expectStillWorking(b);
    });
  }

  it('no free slot: register() throws WorkerCapacityError, tryRegister() returns undefined, nothing is left', async () => {
    const sup = await startSupervisor({ maxWorkers: 2 });
    const b = await bystander(sup);
    const filler = sup.register({ entry: ACTOR, data: { action: 'complete', result: 'filler' } });
    expectTyped(
      thrownBy(() => sup.register({ entry: ACTOR })),
      WorkerCapacityError,
      'ERR_WORKER_CAPACITY',
    );
    const { value } = await inScope(sup, (scope) => scope.tryRegister({ entry: ACTOR, ephemeral: true }));
    expect(value).toBeUndefined();
    expect(sup.metrics().slots.used).toBe(2);
    filler.latch.set();
    await filler.waitForShutdown();
    expectNothingLeft(b);
    await expectStillWorking(b);
  });
});

// ---- scopes ------------------------------------------------------------------------------------------------------------

describe('bad scope use', () => {
  it('register() on a committed scope throws ScopeClosedError', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    let saved!: Scope;
    await sup.scope((s) => void (saved = s));
    expectTyped(
      thrownBy(() => saved.register({ entry: ACTOR })),
      ScopeClosedError,
      'ERR_SCOPE_CLOSED',
    );
    expectTyped(
      thrownBy(() => saved.tryRegister({ entry: ACTOR })),
      ScopeClosedError,
      'ERR_SCOPE_CLOSED',
    );
    expectNothingLeft(b);
    await expectStillWorking(b);
  });

  it('register() on an aborted scope throws ScopeClosedError caused by the abort reason', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    const reason = new Error('aborted on purpose');
    const outcome = sup.scope((scope) => {
      scope.abort(reason);
      const e = thrownBy(() => scope.register({ entry: ACTOR, ephemeral: true }));
      expectTyped(e, ScopeClosedError, 'ERR_SCOPE_CLOSED');
      expect((e as Error).cause).toBe(reason);
    });
    await expect(outcome).rejects.toBe(reason);
    expectNothingLeft(b);
    await expectStillWorking(b);
  });

  it('a child scope opened in an aborted scope rejects with ScopeClosedError without running', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    let ran = false;
    const outcome = sup.scope(async (scope) => {
      scope.abort('stop');
      const e = await rejectionOf(sup.scope(() => void (ran = true)));
      expectTyped(e, ScopeClosedError, 'ERR_SCOPE_CLOSED');
      expect((e as Error).cause).toBe(scope.signal.reason);
    });
    expectTyped(await rejectionOf(outcome), ScopeAbortedError, 'ERR_SCOPE_ABORTED');
    expect(ran).toBe(false);
    await expectStillWorking(b);
  });

  const optionCases: [string, () => [unknown, unknown], string][] = [
    ['an unknown scope option', () => [() => 1, { bogus: 1 }], 'bogus'],
    ['a scope signal that is not an AbortSignal', () => [() => 1, { signal: 'x' }], 'signal'],
    ['a scope name of the wrong type', () => [() => 1, { name: 5 }], 'name'],
    ['a scope function that is not a function', () => ['not a function', undefined], 'fn'],
  ];
  for (const [name, args, field] of optionCases) {
    it(`${name}: scope() rejects with InvalidWorkerSpecError`, async () => {
      const sup = await startSupervisor({ maxWorkers: SLOTS });
      const b = await bystander(sup);
      const [fn, options] = args();
      expectTyped(await rejectionOf(sup.scope(fn as () => unknown, options as never)), InvalidWorkerSpecError, INVALID, field);
      expect(sup.metrics().scopes.active).toBe(1); // the bystander only
      await expectStillWorking(b);
    });
  }

  it('a bad workers() filter throws InvalidWorkerSpecError', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    expectTyped(
      thrownBy(() => sup.workers({ bogus: 1 } as never)),
      InvalidWorkerSpecError,
      INVALID,
      'bogus',
    );
    expectTyped(
      thrownBy(() => sup.workers({ state: 'zombie' } as never)),
      InvalidWorkerSpecError,
      INVALID,
      'state',
    );
    await expectStillWorking(b);
  });

  it('shutdown() with a negative timeout rejects with InvalidWorkerSpecError and does not shut down', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    expectTyped(await rejectionOf(sup.shutdown({ timeoutMs: -1 })), InvalidWorkerSpecError, INVALID, 'timeoutMs');
    expect(sup.closed).toBe(false);
    await expectStillWorking(b);
  });
});

// ---- calls after shutdown ----------------------------------------------------------------------------------------------

describe('calls after shutdown: SupervisorClosedError; a second supervisor is unaffected', () => {
  async function closedPair(): Promise<{ dead: Supervisor; saved: Scope; handle: WorkerHandle; b: Bystander }> {
    const b = await bystander(await startSupervisor({ maxWorkers: SLOTS }));
    const dead = await startSupervisor({ maxWorkers: SLOTS });
    let saved!: Scope;
    let handle!: WorkerHandle;
    const outcome = dead.scope(async (scope) => {
      saved = scope;
      handle = scope.register({ entry: ACTOR, ephemeral: true });
      await new Promise<void>((r) => scope.signal.addEventListener('abort', () => r()));
    });
    void outcome.catch(() => {});
    await dead.shutdown();
    await outcome.catch(() => {});
    return { dead, saved, handle, b };
  }

  it('register()', async () => {
    const { dead, b } = await closedPair();
    expectTyped(
      thrownBy(() => dead.register({ entry: ACTOR })),
      SupervisorClosedError,
      'ERR_SUPERVISOR_CLOSED',
    );
    await expectStillWorking(b);
  });

  it('scope()', async () => {
    const { dead, b } = await closedPair();
    expectTyped(await rejectionOf(dead.scope(() => 1)), SupervisorClosedError, 'ERR_SUPERVISOR_CLOSED');
    await expectStillWorking(b);
  });

  it('scope.register() on a scope of the closed supervisor', async () => {
    const { saved, b } = await closedPair();
    expectTyped(
      thrownBy(() => saved.register({ entry: ACTOR })),
      SupervisorClosedError,
      'ERR_SUPERVISOR_CLOSED',
    );
    await expectStillWorking(b);
  });

  it('scope.pool() on a scope of the closed supervisor', async () => {
    const { saved, b } = await closedPair();
    expectTyped(
      thrownBy(() => saved.pool({ entry: fixture('task-square.mjs'), maxWorkers: 1 })),
      SupervisorClosedError,
      'ERR_SUPERVISOR_CLOSED',
    );
    await expectStillWorking(b);
  });

  it('handles of the closed supervisor are inert; shutdown() again resolves', async () => {
    const { dead, handle, b } = await closedPair();
    expect(handle.state).toBe('stopped');
    handle.terminate();
    handle.latch.set();
    expect(handle.latch.isSet).toBe(false);
    expect((await handle.waitForShutdown()).reason).toMatch(/^(never-started|terminated)$/);
    await expect(dead.shutdown()).resolves.toBeUndefined();
    expect(dead.metrics().slots.used).toBe(0);
    await expectStillWorking(b);
  });
});

// ---- what workers do -------------------------------------------------------------------------------------------------

describe.each(RUNTIMES)('bad workers (%s runtime): a typed stop; a precious one aborts only its own scope', (runtime: Runtime) => {
  /** Runs `entry` as a precious worker in a scope; returns its exit and the scope's rejection. */
  async function preciousRun(sup: Supervisor, entry: string, data?: unknown): Promise<{ exit: WorkerExit; reason: unknown; startup: unknown }> {
    let h!: WorkerHandle;
    const reason = await rejectionOf(
      sup.scope(async (scope) => {
        h = scope.register({ runtime, entry, data, precious: true });
        await h.waitForShutdown();
        return 'fn returned normally'; // G4: rejects anyway
      }),
    );
    return { exit: await h.waitForShutdown(), reason, startup: await rejectionOf(h.waitForStartup()) };
  }

  function expectPreciousDeath(reason: unknown, exit: WorkerExit, how: WorkerExit['reason']): void {
    expect(exit.reason).toBe(how);
    expectTyped(reason, PreciousWorkerDiedError, 'ERR_PRECIOUS_WORKER_DIED');
    expect((reason as PreciousWorkerDiedError).exit.reason).toBe(how);
  }

  it('an entry that is not a defineWorker module: failed, WorkerStartupError, precious death', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    const { exit, reason, startup } = await preciousRun(sup, fixture('rel-not-a-worker.mjs'));
    expectPreciousDeath(reason, exit, 'failed');
    expect((exit.error as { code?: unknown }).code).toBe(INVALID);
    expectTyped(startup, WorkerStartupError, 'ERR_WORKER_STARTUP');
    await expectStillWorking(b);
  });

  it('an entry that throws at import: failed with its own error, WorkerStartupError, precious death', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    const { exit, reason, startup } = await preciousRun(sup, fixture('rel-import-throws.mjs'));
    expectPreciousDeath(reason, exit, 'failed');
    expect(exit.error?.name).toBe('SyntaxError');
    expect((exit.error as { code?: unknown }).code).toBe('E_REL_IMPORT');
    expectTyped(startup, WorkerStartupError, 'ERR_WORKER_STARTUP');
    await expectStillWorking(b);
  });

  for (const kind of ['function', 'symbol', 'nested', 'weakmap']) {
    it(`a result that cannot be cloned (${kind}): failed, not completed; precious death`, async () => {
      const sup = await startSupervisor({ maxWorkers: SLOTS });
      const b = await bystander(sup);
      let h!: WorkerHandle;
      const reason = await rejectionOf(
        sup.scope(async (scope) => {
          h = scope.register({ runtime, entry: fixture('rel-result.mjs'), data: { kind }, precious: true });
          await h.waitForShutdown();
        }),
      );
      const exit = await h.waitForShutdown();
      expectPreciousDeath(reason, exit, 'failed');
      expect(exit.error).toBeInstanceOf(Error);
      expect(exit.result).toBeUndefined();
      await expectStillWorking(b);
    });
  }

  for (const kind of ['string', 'undefined', 'null', 'number', 'symbol', 'object', 'hostile-toString', 'revoked-proxy']) {
    it(`a thrown non-Error value (${kind}): failed, described in a real Error; precious death`, async () => {
      const sup = await startSupervisor({ maxWorkers: SLOTS });
      const b = await bystander(sup);
      let h!: WorkerHandle;
      const reason = await rejectionOf(
        sup.scope(async (scope) => {
          h = scope.register({ runtime, entry: fixture('rel-throw-value.mjs'), data: { kind }, precious: true });
          await h.waitForShutdown();
        }),
      );
      const exit = await h.waitForShutdown();
      expectPreciousDeath(reason, exit, 'failed');
      expect(exit.error).toBeInstanceOf(Error);
      expect(exit.error!.message).toMatch(/^non-error thrown: /);
      await expectStillWorking(b);
    });
  }

  for (const close of [false, true]) {
    it(`a worker that posts garbage on its port${close ? ' and closes it' : ''}: the registrant is unharmed, the worker completes`, async () => {
      const sup = await startSupervisor({ maxWorkers: SLOTS });
      const b = await bystander(sup);
      const h = sup.register({ runtime, entry: fixture('rel-port-garbage.mjs'), data: { close } });
      const got: unknown[] = [];
      h.port.on('message', (m) => got.push(m));
      await h.waitForStartup();
      h.port.postMessage({ unexpected: 'by the worker' }); // may land on a closed port: must not throw
      h.latch.set();
      expect(await h.waitForShutdown()).toMatchObject({ reason: 'completed', result: 'returned' });
      expect(got.length).toBeLessThanOrEqual(8);
      h.port.postMessage('after stop');
      h.port.close();
      await expectStillWorking(b);
    });
  }
});

// ---- latches -----------------------------------------------------------------------------------------------------------

describe('bad latch use', () => {
  const waits: [string, (h: WorkerHandle) => unknown, string][] = [
    ['waitSync with a negative timeout', (h) => h.latch.waitSync({ timeoutMs: -1 }), 'timeoutMs'],
    ['waitSync with a NaN timeout', (h) => h.latch.waitSync({ timeoutMs: Number.NaN }), 'timeoutMs'],
    ['waitSync with an unknown option', (h) => h.latch.waitSync({ bogus: 1 } as never), 'bogus'],
    ['waitSync with options that are not an object', (h) => h.latch.waitSync('soon' as never), 'options'],
    ["the registrant's own latch: waitSync with a negative timeout", () => myLatch().waitSync({ timeoutMs: -1 }), 'timeoutMs'],
  ];
  for (const [name, call, field] of waits) {
    it(`${name}: throws InvalidWorkerSpecError at once`, async () => {
      const sup = await startSupervisor({ maxWorkers: SLOTS });
      const b = await bystander(sup);
      expectTyped(
        thrownBy(() => call(b.handle)),
        InvalidWorkerSpecError,
        INVALID,
        field,
      );
      await expectStillWorking(b);
    });
  }

  it('wait (async) with a negative timeout: rejects with InvalidWorkerSpecError', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    expectTyped(await rejectionOf(b.handle.latch.wait({ timeoutMs: -1 })), InvalidWorkerSpecError, INVALID, 'timeoutMs');
    await expectStillWorking(b);
  });

  it("a latch used after its worker stopped is inert, even once its slot holds another worker (G10)", async () => {
    const sup = await startSupervisor({ maxWorkers: 2 });
    const b = await bystander(sup); // holds one slot: the next two workers take turns in the other
    const old = sup.register({ entry: ACTOR, data: { action: 'complete', result: 'old' } });
    old.latch.set();
    await old.waitForShutdown();
    const next = sup.register({ entry: ACTOR, data: { action: 'complete', result: 'next' } });
    await next.waitForStartup();
    expect(sup.metrics().slots.used).toBe(2); // so `next` reuses `old`'s slot
    old.latch.set();
    old.latch.reset();
    old.terminate();
    expect(old.latch.isSet).toBe(false);
    expect(next.latch.isSet).toBe(false);
    expect(next.state).toBe('running');
    expect(old.latch.waitSync()).toEqual({ latchSet: false, timedOut: false, interrupted: false });
    expect(await old.latch.wait()).toEqual({ latchSet: false, timedOut: false, interrupted: false });
    next.latch.set();
    expect(await next.waitForShutdown()).toMatchObject({ reason: 'completed', result: 'next' });
    await expectStillWorking(b);
  });
});

// ---- pools -------------------------------------------------------------------------------------------------------------

describe('bad pool use', () => {
  const SQUARE = fixture('task-square.mjs');
  const optionCases: [string, unknown, string][] = [
    ['pool options that are not an object', 7, 'options'],
    ['a pool without maxWorkers', { entry: SQUARE }, 'maxWorkers'],
    ['a pool with maxWorkers 0', { entry: SQUARE, maxWorkers: 0 }, 'maxWorkers'],
    ['a pool with minWorkers above maxWorkers', { entry: SQUARE, maxWorkers: 1, minWorkers: 2 }, 'minWorkers'],
    ['an unknown pool option', { entry: SQUARE, maxWorkers: 1, concurrency: 2 }, 'concurrency'],
    ['a pool entry that does not exist', { entry: fixture('rel-no-such-task.mjs'), maxWorkers: 1 }, 'entry'],
    ['a pool runtime that does not exist', { entry: SQUARE, maxWorkers: 1, runtime: 'fiber' }, 'runtime'],
    ['pool labels of the wrong type', { entry: SQUARE, maxWorkers: 1, labels: 'x' }, 'labels'],
  ];
  for (const [name, options, field] of optionCases) {
    it(`${name}: pool() throws InvalidWorkerSpecError; nothing is registered`, async () => {
      const sup = await startSupervisor({ maxWorkers: SLOTS });
      const b = await bystander(sup);
      const { value, outcome } = await inScope(sup, (scope) => thrownBy(() => scope.pool(options as never)));
      expectTyped(value, InvalidWorkerSpecError, INVALID, field);
      await expect(outcome).resolves.toBeUndefined();
      expectNothingLeft(b);
      await expectStillWorking(b);
    });
  }

  it('a pool larger than the free slots: WorkerCapacityError, nothing is left registered', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    const { value, outcome } = await inScope(sup, (scope) => thrownBy(() => scope.pool({ entry: SQUARE, maxWorkers: SLOTS })));
    expectTyped(value, WorkerCapacityError, 'ERR_WORKER_CAPACITY');
    await outcome;
    expectNothingLeft(b);
    await expectStillWorking(b);
  });

  /** Runs `use` on a one-worker pool in a scope and returns what it rejected with. */
  async function poolRejection(sup: Supervisor, use: (pool: ReturnType<Scope['pool']>) => Promise<unknown>): Promise<unknown> {
    let e: unknown;
    await sup.scope(async (scope) => {
      e = await rejectionOf(use(scope.pool({ entry: SQUARE, maxWorkers: 1 })));
    });
    return e;
  }

  for (const [name, inputs] of [
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an array-like that is not iterable', { length: 2 }],
  ] as const) {
    it(`map over a non-iterable (${name}): rejects with InvalidWorkerSpecError`, async () => {
      const sup = await startSupervisor({ maxWorkers: SLOTS });
      const b = await bystander(sup);
      expectTyped(await poolRejection(sup, (pool) => pool.map(inputs as never)), InvalidWorkerSpecError, INVALID, 'inputs');
      await expectStillWorking(b);
    });
  }

  it('map with concurrency 0: rejects with InvalidWorkerSpecError', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    expectTyped(await poolRejection(sup, (pool) => pool.map([1, 2], { concurrency: 0 })), InvalidWorkerSpecError, INVALID, 'concurrency');
    await expectStillWorking(b);
  });

  it('run with a signal that is not an AbortSignal: rejects with InvalidWorkerSpecError', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    expectTyped(await poolRejection(sup, (pool) => pool.run(2, { signal: 'x' as never })), InvalidWorkerSpecError, INVALID, 'signal');
    await expectStillWorking(b);
  });

  it('run with an unknown option: rejects with InvalidWorkerSpecError', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    expectTyped(await poolRejection(sup, (pool) => pool.run(2, { timeout: 5 } as never)), InvalidWorkerSpecError, INVALID, 'timeout');
    await expectStillWorking(b);
  });

  it('run with an already aborted signal: rejects with its reason, runs nothing', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    const reason = new Error('already aborted');
    let done = -1;
    await sup.scope(async (scope) => {
      const pool = scope.pool({ entry: SQUARE, maxWorkers: 1 });
      await expect(pool.run(2, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      done = pool.stats.done;
    });
    expect(done).toBe(0);
    await expectStillWorking(b);
  });

  it('a pool entry that is not a task module: its precious pool worker fails and aborts only its scope', async () => {
    const sup = await startSupervisor({ maxWorkers: SLOTS });
    const b = await bystander(sup);
    const reason = await rejectionOf(
      sup.scope(async (scope) => {
        await scope.pool({ entry: fixture('rel-not-a-worker.mjs'), maxWorkers: 1 }).run(1);
      }),
    );
    expectTyped(reason, PreciousWorkerDiedError, 'ERR_PRECIOUS_WORKER_DIED');
    await expectStillWorking(b);
  });
});
