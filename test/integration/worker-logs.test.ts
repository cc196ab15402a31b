/**
 * ctx.logger reaches the user's logger (issue 11 point 4), for both runtimes: a worker's lines are written by the
 * pino logger given to Supervisor.start, to its destination, with the worker's bindings (worker, name, kind,
 * scope, runtime, and workerPid for a process worker), the message and fields, and an `err` in pino's standard
 * shape with the worker's type and stack. A call below the level serializes nothing and sends nothing: the
 * fixture counts reads of a getter in the call's object and every message its bootstrap sends meanwhile.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';
import { memoryDestination, parseStrict } from '../json-lines.js';

describe.each(RUNTIMES)('worker logs (%s runtime)', (runtime) => {
  it("go to the user's logger with the worker's bindings; a filtered call sends nothing", { timeout: 20_000 }, async () => {
    const { stream, lines } = memoryDestination();
    const sup = await startSupervisor({ logger: pino({ level: 'info' }, stream) });
    let scopeId = 0;
    let pid: number | undefined;
    const exit = await sup.scope(async (scope) => {
      scopeId = scope.id;
      const h = scope.register({ entry: fixture('log-lines.mjs'), name: 'logger', kind: 'k', runtime });
      await h.waitForStartup();
      pid = h.pid;
      return h.waitForShutdown();
    });
    expect(exit.reason).toBe('completed');
    // Below the level: the object was never read and nothing was sent. Above it: one message per line.
    expect(exit.result).toEqual({ filtered: { posts: 0, reads: 0 }, posts: 2 });

    const records = lines.map((l) => parseStrict(l) as Record<string, unknown>);
    const fromWorker = records.filter((r) => r['msg'] === 'hello from the worker' || r['msg'] === 'with an error' || r['msg'] === 'filtered out');
    const bindings = { worker: expect.any(String), name: 'logger', kind: 'k', scope: scopeId, runtime, pid: process.pid };
    const own = runtime === 'process' ? { workerPid: pid } : {};
    expect(pid === undefined).toBe(runtime === 'thread');
    expect(fromWorker).toEqual([
      { level: 30, time: expect.any(Number), hostname: expect.any(String), ...bindings, ...own, n: 1, msg: 'hello from the worker' },
      {
        level: 40,
        time: expect.any(Number),
        hostname: expect.any(String),
        ...bindings,
        ...own,
        part: 'b',
        err: { type: 'TypeError', message: 'bad thing', code: 'E_BAD', stack: expect.stringMatching(/^TypeError: bad thing\n\s+at .*log-lines\.mjs/) },
        msg: 'with an error',
      },
    ]);
  });
});
