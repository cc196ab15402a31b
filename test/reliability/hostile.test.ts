/**
 * Hostile workers (issue 4, part 4), in both runtimes: workers that never yield, exhaust their heap, exit under the
 * library, remove its listeners, overwrite the globals it uses, or post garbage on its own channel. For each: the
 * supervisor classifies the stop as SEMANTICS.md G8 says (a stop nobody asked for is failed or crashed and aborts
 * a precious worker's scope; a requested one is terminated and aborts nothing), nothing leaks (the helpers'
 * afterEach checks threads, processes and slots after shutdown), and the registrant never crashes: no unhandled
 * rejection, the supervisor stays open, a bystander scope commits and a fresh worker runs (G11).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PreciousWorkerDiedError, type Supervisor, type WorkerExit, type WorkerHandle } from '../../dist/index.js';
import { RUNTIMES, captureStderr, fixture, startSupervisor, type Runtime } from '../helpers.js';

const ACTOR = fixture('rel-actor.mjs');
/** Grace before a forced stop, for workers that will need one: short, so the suite stays fast. */
const GRACE_MS = 150;
/** Hang detector only: a worker that has not stopped after this long never will (a bug, not slowness). */
const HANG_MS = 8000;

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${HANG_MS} ms`)), HANG_MS)));
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

function firstMessage(h: WorkerHandle): Promise<unknown> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      h.port.off('message', on);
      resolve(m);
    };
    h.port.on('message', on);
  });
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
  const done = sup.scope(async (scope) => {
    handle = scope.register({ entry: ACTOR, data: { action: 'complete', result: 'bystander' }, precious: true, ephemeral: true });
    await handle.waitForStartup();
    running();
    return (await handle.waitForShutdown()).result;
  });
  await Promise.race([started, done]);
  return { sup, handle, done };
}

/** G11: the supervisor is open, the bystander undisturbed, and a fresh worker runs to completion. */
async function expectStillWorking(b: Bystander): Promise<void> {
  expect(b.sup.closed, 'the supervisor survived').toBe(false);
  expect(b.handle.state).toBe('running');
  b.handle.latch.set();
  await expect(b.done).resolves.toBe('bystander');
  const fresh = b.sup.register({ entry: ACTOR, data: { action: 'complete', result: 'fresh' } });
  fresh.latch.set();
  expect(await within(fresh.waitForShutdown(), 'a fresh worker')).toMatchObject({ reason: 'completed', result: 'fresh' });
  expect(b.sup.workers()).toEqual([]);
  expect(b.sup.metrics().slots.used).toBe(0);
}

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

/**
 * Runs `entry` as a precious worker in its own scope, lets `drive` push it (after its startup), and returns its
 * exit and how the scope settled. The scope function returns normally: a precious death rejects it anyway (G4).
 */
async function inPreciousScope(
  sup: Supervisor,
  spec: { runtime: Runtime; entry: string; data?: unknown; resourceLimits?: Record<string, number>; env?: Record<string, string>; execArgv?: string[] },
  drive: (h: WorkerHandle) => void | Promise<void>,
): Promise<{ exit: WorkerExit; settled: { ok: boolean; value: unknown } }> {
  let h!: WorkerHandle;
  const settled = await within(
    sup
      .scope(async (scope) => {
        h = scope.register({ ...spec, precious: true, ephemeral: true, gracefulTimeoutMs: GRACE_MS });
        await h.waitForStartup();
        await drive(h);
        await h.waitForShutdown();
        return 'fn returned';
      })
      .then(
        (value) => ({ ok: true, value }),
        (value: unknown) => ({ ok: false, value }),
      ),
    'the scope to settle',
  );
  return { exit: await h.waitForShutdown(), settled };
}

function expectPreciousDeath(r: { exit: WorkerExit; settled: { ok: boolean; value: unknown } }, reason: 'failed' | 'crashed'): void {
  expect(r.exit.reason).toBe(reason);
  expect(r.settled.ok).toBe(false);
  expect(r.settled.value).toBeInstanceOf(PreciousWorkerDiedError);
  const err = r.settled.value as PreciousWorkerDiedError;
  expect(err.code).toBe('ERR_PRECIOUS_WORKER_DIED');
  expect(err.exit.reason).toBe(reason);
}

describe.each(RUNTIMES)('hostile workers (%s runtime)', (runtime: Runtime) => {
  it('blocks its event loop forever: forced after the grace, terminated, counted as forced, aborts nothing', async () => {
    const sup = await startSupervisor();
    const b = await bystander(sup);
    const r = await inPreciousScope(sup, { runtime, entry: fixture('rel-block.mjs') }, async (h) => {
      expect(await firstMessage(h)).toBe('blocking');
      h.terminate();
    });
    expect(r.exit.reason).toBe('terminated');
    expect(r.settled).toEqual({ ok: true, value: 'fn returned' });
    const m = sup.metrics();
    expect(m.terminations.forced).toBe(1);
    expect(m.preciousDeaths).toBe(0);
    await expectStillWorking(b);
  });

  it('blocks its event loop forever at scope end: the scope settles only once it is forced, then commits', async () => {
    const sup = await startSupervisor();
    const b = await bystander(sup);
    let h!: WorkerHandle;
    const value = await within(
      sup.scope(async (scope) => {
        h = scope.register({ runtime, entry: fixture('rel-block.mjs'), ephemeral: true, gracefulTimeoutMs: GRACE_MS });
        expect(await firstMessage(h)).toBe('blocking');
        return 'committed';
      }),
      'the scope to settle',
    );
    expect(value).toBe('committed');
    expect(h.state).toBe('stopped'); // G3: stopped before the scope settled
    expect((await h.waitForShutdown()).reason).toBe('terminated');
    expect(sup.metrics().terminations.forced).toBe(1);
    await expectStillWorking(b);
  });

  it('allocates until its resource limits kill it: crashed, and its precious scope aborts', async () => {
    const sup = await startSupervisor();
    const b = await bystander(sup);
    const stderr = captureStderr(runtime);
    const r = await inPreciousScope(
      sup,
      { runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'oom' }, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 }, ...stderr.spec },
      (h) => h.latch.set(),
    );
    expectPreciousDeath(r, 'crashed');
    // A process worker is a Node process: V8 reports the out-of-memory on its stderr before it aborts.
    if (runtime === 'process') expect(stderr.text()).toContain('FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory');
    else expect(stderr.text()).toBe('');
    expect(sup.metrics().preciousDeaths).toBe(1);
    await expectStillWorking(b);
  });

  it('calls process.exit(0) mid-way: crashed (code 0 is not a completion), and its precious scope aborts', async () => {
    const sup = await startSupervisor();
    const b = await bystander(sup);
    const r = await inPreciousScope(sup, { runtime, entry: fixture('die-on-latch.mjs'), data: { how: 'exit', code: 0 } }, (h) => h.latch.set());
    expectPreciousDeath(r, 'crashed');
    expect(r.exit.code).toBe(0);
    await expectStillWorking(b);
  });

  describe("removes the library's listeners (process.removeAllListeners(), parentPort.removeAllListeners()), then", () => {
    it('exits with code 0: crashed, precious scope aborts', async () => {
      const sup = await startSupervisor();
      const b = await bystander(sup);
      const r = await inPreciousScope(sup, { runtime, entry: fixture('rel-unlisten.mjs'), data: { then: 'exit0' } }, async (h) => {
        expect(await firstMessage(h)).toBe('unlistened');
        h.latch.set();
      });
      expectPreciousDeath(r, 'crashed');
      await expectStillWorking(b);
    });

    it('throws: failed, precious scope aborts', async () => {
      const sup = await startSupervisor();
      const b = await bystander(sup);
      const r = await inPreciousScope(sup, { runtime, entry: fixture('rel-unlisten.mjs'), data: { then: 'throw' } }, async (h) => {
        expect(await firstMessage(h)).toBe('unlistened');
        h.latch.set();
      });
      expectPreciousDeath(r, 'failed');
      expect((r.exit.error as { code?: unknown }).code).toBe('E_REL');
      await expectStillWorking(b);
    });

    it('returns: completed with its result, the scope commits', async () => {
      const sup = await startSupervisor();
      const b = await bystander(sup);
      const r = await inPreciousScope(sup, { runtime, entry: fixture('rel-unlisten.mjs'), data: { then: 'return' } }, async (h) => {
        expect(await firstMessage(h)).toBe('unlistened');
        h.latch.set();
      });
      expect(r.exit).toMatchObject({ reason: 'completed', result: 'returned' });
      expect(r.settled).toEqual({ ok: true, value: 'fn returned' });
      await expectStillWorking(b);
    });

    it('is asked to stop: terminated, aborts nothing', async () => {
      const sup = await startSupervisor();
      const b = await bystander(sup);
      const r = await inPreciousScope(sup, { runtime, entry: fixture('rel-unlisten.mjs'), data: { then: 'wait' } }, async (h) => {
        expect(await firstMessage(h)).toBe('unlistened');
        h.latch.set();
        h.terminate();
      });
      expect(r.exit.reason).toBe('terminated');
      expect(r.settled.ok).toBe(true);
      expect(sup.metrics().preciousDeaths).toBe(0);
      await expectStillWorking(b);
    });
  });

  describe('overwrites a global the library uses, keeps its event loop alive, then', () => {
    for (const global of ['Atomics', 'process.exit', 'Error']) {
      it(`${global}: returns → completed with its result, and the worker is gone`, async () => {
        const sup = await startSupervisor();
        const b = await bystander(sup);
        const r = await inPreciousScope(sup, { runtime, entry: fixture('rel-clobber.mjs'), data: { global, then: 'return' } }, () => {});
        expect(r.exit).toMatchObject({ reason: 'completed', result: 'returned' });
        expect(r.settled).toEqual({ ok: true, value: 'fn returned' });
        expect(sup.metrics().terminations.forced, 'it ended by itself, not by a forced stop').toBe(0);
        await expectStillWorking(b);
      });

      it(`${global}: throws → failed with its own error, precious scope aborts`, async () => {
        const sup = await startSupervisor();
        const b = await bystander(sup);
        const r = await inPreciousScope(sup, { runtime, entry: fixture('rel-clobber.mjs'), data: { global, then: 'throw' } }, () => {});
        expectPreciousDeath(r, 'failed');
        expect(r.exit.error?.name).toBe('RangeError');
        expect(sup.metrics().terminations.forced, 'it ended by itself, not by a forced stop').toBe(0);
        await expectStillWorking(b);
      });
    }
  });

  describe("posts garbage on the library's own channel (parentPort / the IPC channel), then", () => {
    const garbage: [string, unknown][] = [
      ['null', null],
      ['a string', 'garbage'],
      ['a number', 42],
      ['an unknown message', { t: 'bogus' }],
      ['a second running report', { t: 'running' }],
      ['a commit request', { t: 'commit?' }],
      ['a run request', { t: 'running?' }],
      ['a port message', { t: 'port', value: 'injected' }],
      ['a forged completion', { t: 'outcome', reason: 'completed', code: 0, result: 'forged' }],
    ];
    for (const [name, value] of garbage) {
      it(`${name}, then throws: failed (not fooled), precious scope aborts, the supervisor survives`, async () => {
        const sup = await startSupervisor();
        const b = await bystander(sup);
        const r = await inPreciousScope(sup, { runtime, entry: fixture('rel-parent-garbage.mjs'), data: { garbage: value, then: 'throw' } }, (h) => h.latch.set());
        expect(sup.closed, 'the supervisor thread survived the garbage').toBe(false);
        expectPreciousDeath(r, 'failed');
        expect((r.exit.error as { code?: unknown }).code).toBe('E_REL');
        await expectStillWorking(b);
      });
    }

    it('a forged completion, then returns: completed with its real result', async () => {
      const sup = await startSupervisor();
      const b = await bystander(sup);
      const value = { t: 'outcome', reason: 'completed', code: 0, result: 'forged' };
      const r = await inPreciousScope(sup, { runtime, entry: fixture('rel-parent-garbage.mjs'), data: { garbage: value, then: 'return' } }, (h) => h.latch.set());
      expect(r.exit).toMatchObject({ reason: 'completed', result: 'returned' });
      await expectStillWorking(b);
    });
  });
});
