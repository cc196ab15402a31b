/**
 * The supervisor as a whole: registry and metrics, logging, shutdown (G10), spares, and the death of the
 * supervisor thread itself.
 */
import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError, Supervisor, SupervisorDiedError, type WorkerHandle } from '../../dist/index.js';
import { kCore } from '../../dist/registrant/client.js';
import { RUNTIMES, fixture, startSupervisor, threadCount, until } from '../helpers.js';

describe('registry and metrics', () => {
  it('workers() lists what holds a slot, filtered by kind, labels and state', async () => {
    const sup = await startSupervisor();
    const a = sup.register({ entry: fixture('wait-forever.mjs'), kind: 'scan', labels: { shard: '1' } });
    const b = sup.register({ entry: fixture('wait-forever.mjs'), kind: 'scan', labels: { shard: '2' } });
    const c = sup.register({ entry: fixture('wait-forever.mjs'), kind: 'other' });
    await Promise.all([a, b, c].map((h) => h.waitForStartup()));
    expect(sup.workers().map((w) => w.id).sort()).toEqual([a.id, b.id, c.id].sort());
    expect(sup.workers({ kind: 'scan' }).map((w) => w.id).sort()).toEqual([a.id, b.id].sort());
    expect(sup.workers({ labels: { shard: '2' } }).map((w) => w.id)).toEqual([b.id]);
    expect(sup.workers({ state: ['pending', 'starting'] })).toEqual([]);
    const info = sup.workers({ kind: 'other' })[0]!;
    expect(info).toMatchObject({ name: c.name, runtime: 'thread', state: 'running', ephemeral: false, precious: false, scopeId: undefined, pid: undefined });
    expect(info.threadId).toBe(c.threadId);
    expect(typeof info.threadId).toBe('number');
    expect(info.startedAt).toBeGreaterThanOrEqual(info.registeredAt);
    expect(() => sup.workers({ bogus: 1 } as never)).toThrow(InvalidWorkerSpecError);
    const m = sup.metrics();
    expect(m.workers.running).toBe(3);
    expect(m.slots.used).toBe(3);
    for (const h of [a, b, c]) h.terminate();
    await Promise.all([a, b, c].map((h) => h.waitForShutdown()));
    expect(sup.workers()).toEqual([]);
  });

  it('counts scopes', async () => {
    const sup = await startSupervisor();
    await sup.scope(() => 1);
    await sup.scope(() => Promise.reject(new Error('x'))).catch(() => {});
    expect(sup.metrics().scopes).toEqual({ active: 0, committed: 1, aborted: 1 });
  });
});

describe('logging', () => {
  it('logs every lifecycle event with worker id, name, kind and scope id as bindings', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        cb();
      },
    });
    const sup = await startSupervisor({ logger: pino({ level: 'debug' }, stream) });
    let scopeId = 0;
    await sup
      .scope(async (scope) => {
        scopeId = scope.id;
        const h = scope.register({ entry: fixture('die-on-latch.mjs'), data: { how: 'throw' }, precious: true, kind: 'k' });
        h.latch.set();
        await h.waitForShutdown();
      })
      .catch(() => {});
    const forced = sup.register({ entry: fixture('ignore-signal.mjs'), gracefulTimeoutMs: 10 });
    await forced.waitForStartup();
    forced.terminate();
    await forced.waitForShutdown();
    const msgs = lines.map((l) => l['msg']);
    expect(msgs).toEqual(expect.arrayContaining(['worker registered', 'worker started', 'worker stopped', 'precious worker died; aborting its scope']));
    expect(msgs.some((m) => String(m).includes('stopped by force'))).toBe(true);
    const died = lines.find((l) => l['msg'] === 'precious worker died; aborting its scope')!;
    expect(died).toMatchObject({ kind: 'k', scope: scopeId, reason: 'failed' });
    expect(typeof died['worker']).toBe('string');
    expect(String(died['name'])).toMatch(/^die-on-latch#/);
  });
});

describe.each(RUNTIMES)('G10 shutdown (%s runtime)', (runtime) => {
  it('terminates every worker (graceful, then forced), frees every slot, stops its thread; idempotent', async () => {
    const threads = threadCount();
    // The two that never stop by themselves have a short grace of their own; the cooperative one keeps a grace
    // longer than the test's timeout, so it stops gracefully or the test fails: no "ample" timeout to trust.
    const sup = await Supervisor.start({ logger: false, gracefulTimeoutMs: 60_000 });
    const handles: WorkerHandle[] = [
      sup.register({ runtime, entry: fixture('wait-forever.mjs') }),
      sup.register({ runtime, entry: fixture('ignore-signal.mjs'), gracefulTimeoutMs: 100 }),
      sup.register({ runtime, entry: fixture('spin-forever.mjs'), gracefulTimeoutMs: 100 }),
    ];
    await Promise.all(handles.map((h) => h.waitForStartup()));
    const pending = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
    const first = sup.shutdown(); // the supervisor's grace (a minute): it shortens no worker's own
    const second = sup.shutdown();
    await Promise.all([first, second]);
    expect(sup.closed).toBe(true);
    expect([...handles, pending].map((h) => h.state)).toEqual(['stopped', 'stopped', 'stopped', 'stopped']);
    expect(sup.metrics().slots.used).toBe(0);
    expect(sup.metrics().terminations.forced).toBe(2);
    expect((await Promise.all(handles.map((h) => h.waitForShutdown()))).map((e) => e.reason)).toEqual(['terminated', 'terminated', 'terminated']);
    expect(['never-started', 'terminated']).toContain((await pending.waitForShutdown()).reason);
    await until(() => threadCount() <= threads, 'all threads gone');
  });

  it('shutdown({ timeoutMs }) brings forward the forced stop of a worker already stopping with a longer grace', async () => {
    const sup = await Supervisor.start({ logger: false });
    const h = sup.register({ runtime, entry: fixture('ignore-signal.mjs'), gracefulTimeoutMs: 60_000 });
    await h.waitForStartup();
    h.terminate(); // its own grace: a minute
    const t0 = performance.now();
    await sup.shutdown({ timeoutMs: 100 });
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(sup.metrics().terminations.forced).toBe(1);
    expect((await h.waitForShutdown()).reason).toBe('terminated');
  });

  it('Symbol.asyncDispose shuts down', async () => {
    const sup = await Supervisor.start({ logger: false });
    const h = sup.register({ runtime, entry: fixture('wait-forever.mjs') });
    await sup[Symbol.asyncDispose]();
    expect(sup.closed).toBe(true);
    expect(h.state).toBe('stopped');
  });

  it('bad options throw InvalidWorkerSpecError', async () => {
    await expect(Supervisor.start({ maxWorkers: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_WORKER_SPEC', field: 'maxWorkers' });
    const sup = await startSupervisor();
    await expect(sup.shutdown({ timeoutMs: -1 })).rejects.toMatchObject({ field: 'timeoutMs' });
  });
});

describe('spare workers', () => {
  // Thread ids count up process-wide as threads are created (node:worker_threads), so a worker whose threadId is
  // below that of a probe thread made just before its registration ran on a thread that existed already: a spare.
  const probeThreadId = async (): Promise<number> => {
    const probe = new Worker('', { eval: true });
    const id = probe.threadId;
    await probe.terminate();
    return id;
  };

  it('a spare thread (started in advance) runs the next registration, and a used spare is replaced', async () => {
    const sup = await startSupervisor({ spareWorkers: 1 });
    const before = await probeThreadId(); // the first spare started with the supervisor, before this probe
    const warm = sup.register({ entry: fixture('port-echo.mjs') });
    await warm.waitForStartup();
    expect(warm.threadId).toBeLessThan(before);
    warm.terminate();
    await warm.waitForShutdown();
    // The replacement spare was started once the first one's worker ran, so after the first probe.
    const between = await probeThreadId();
    const h = sup.register({ entry: fixture('port-echo.mjs') });
    await h.waitForStartup();
    expect(h.threadId).toBeGreaterThan(before);
    expect(h.threadId).toBeLessThan(between);
    h.port.postMessage('from a spare');
    expect(await new Promise((resolve) => h.port.on('message', (m) => m !== 'ready' && resolve(m)))).toEqual({ echo: 'from a spare' });
    h.terminate();
    expect((await h.waitForShutdown()).reason).toBe('completed');
    const data = sup.register({ entry: fixture('echo.mjs'), data: 'from a spare' });
    expect((await data.waitForShutdown()).result).toBe('from a spare');
  });

  it('specs with resourceLimits never use a spare (limits are fixed at thread start)', async () => {
    const sup = await startSupervisor({ spareWorkers: 1 });
    const before = await probeThreadId();
    const h = sup.register({ entry: fixture('die-on-latch.mjs'), data: { how: 'oom' }, resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } });
    await h.waitForStartup();
    expect(h.threadId).toBeGreaterThan(before); // a thread made for it, not the spare made before the probe
    h.latch.set();
    expect((await h.waitForShutdown()).reason).toBe('crashed');
  });
});

describe.each(RUNTIMES)('the supervisor thread dies (%s runtime)', (runtime) => {
  it('every scope aborts with SupervisorDiedError, every worker is reported stopped, the supervisor is closed', async () => {
    const sup = await startSupervisor();
    let h!: WorkerHandle;
    const outcome = sup.scope(async (scope) => {
      h = scope.register({ runtime, entry: fixture('wait-forever.mjs'), ephemeral: true });
      await h.waitForStartup();
      await sup[kCore].killThread();
      if (!scope.signal.aborted) await new Promise((r) => scope.signal.addEventListener('abort', r, { once: true }));
    });
    await expect(outcome).rejects.toBeInstanceOf(SupervisorDiedError);
    expect(sup.closed).toBe(true);
    expect((await h.waitForShutdown()).reason).toBe('crashed');
    expect(sup.metrics().slots.used).toBe(0);
  });
});

describe.each(RUNTIMES)('a worker with a supervisor of its own (%s runtime)', (runtime) => {
  it("sees its own precious worker's death synchronously, and leaves the outer supervisor intact", async () => {
    const sup = await startSupervisor();
    const h = sup.register<unknown, string | null>({ runtime, entry: fixture('nested-registrant.mjs') });
    const exit = await h.waitForShutdown();
    expect(exit).toMatchObject({ reason: 'completed', result: 'ERR_PRECIOUS_WORKER_DIED' });
    // The outer slot table is untouched: new workers still start and run.
    expect((await sup.register({ runtime, entry: fixture('echo.mjs'), data: 'outer ok' }).waitForShutdown()).result).toBe('outer ok');
  });
});
