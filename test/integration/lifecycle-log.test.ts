/**
 * The lifecycle log as a user's pino writes it (issue 11 points 5 and 6), for both runtimes. One run goes through
 * an ephemeral exit, a failure, a restart, a crash, an uncaught exception, a forced stop and two precious deaths;
 * then every line is parsed by a strict parser that rejects a repeated key, and every line of a failed or crashed
 * run must carry pino's standard `err` (type, message, stack), with the worker's own type and stack, never the
 * frames of the library code that revived it and no leaked fields of the wire format. A crash reads the same in
 * both runtimes, in the log and in the scope's PreciousWorkerDiedError.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { RUNTIMES, fixture, startSupervisor } from '../helpers.js';
import { memoryDestination, parseStrict } from '../json-lines.js';

type Line = Record<string, unknown> & { msg?: string; name?: string; err?: Record<string, unknown> };

describe('parseStrict (the duplicate-key check this file relies on)', () => {
  it('rejects a key repeated in an object and accepts the same key in different objects', { timeout: 5000 }, () => {
    expect(() => parseStrict('{"scope":1,"a":{"scope":2},"scope":1}')).toThrow(/duplicate key "scope"/);
    expect(parseStrict('{"scope":1,"a":{"scope":2}}')).toEqual({ scope: 1, a: { scope: 2 } });
  });
});

describe.each(RUNTIMES)('lifecycle log lines (%s runtime)', (runtime) => {
  // Nine workers one after another (process workers fork each): 60 s leaves room on a loaded machine.
  it('are valid JSON without repeated keys; every failure or crash carries a proper err', { timeout: 60_000 }, async () => {
    const { stream, lines } = memoryDestination();
    const sup = await startSupervisor({ logger: pino({ level: 'debug' }, stream) });
    const dir = mkdtempSync(join(tmpdir(), 'bgw-log-'));
    writeFileSync(join(dir, 'runs'), '0');
    try {
      // Ephemeral exit: completes on its own inside a committed scope.
      await sup.scope(async (scope) => scope.register({ entry: fixture('echo.mjs'), name: 'eph', ephemeral: true, runtime }).waitForShutdown());
      // Failure, then a restart that succeeds on its second run.
      await sup.register({ entry: fixture('throws.mjs'), name: 'fails', runtime }).waitForShutdown();
      await sup.register({ entry: fixture('flaky.mjs'), name: 'flaky', data: { file: join(dir, 'runs'), succeedAt: 2 }, restart: { delayMs: 0 }, runtime }).waitForShutdown();
      // Crashes: process.exit(7), and (threads) an uncaught exception outside main. A child process prints its
      // uncaught exception to the stderr it inherits, which no test can capture: the process runtime skips it.
      const crashes = [['exits', { how: 'exit', code: 7 }], ...(runtime === 'thread' ? [['uncaught', { how: 'uncaught' }] as const] : [])] as const;
      for (const [name, data] of crashes) {
        const h = sup.register({ entry: fixture('die-on-latch.mjs'), name, data, runtime });
        h.latch.set();
        await h.waitForShutdown();
      }
      // A forced stop.
      const stuck = sup.register({ entry: fixture('ignore-signal.mjs'), name: 'stuck', gracefulTimeoutMs: 10, runtime });
      await stuck.waitForStartup();
      stuck.terminate();
      await stuck.waitForShutdown();
      // Precious deaths: a throw and a crash, each aborting its scope.
      const reasons: unknown[] = [];
      for (const [name, data] of [['precious-throw', { how: 'throw' }], ['precious-exit', { how: 'exit', code: 7 }]] as const) {
        await sup
          .scope(async (scope) => {
            const h = scope.register({ entry: fixture('die-on-latch.mjs'), name, data, precious: true, runtime });
            h.latch.set();
            await h.waitForShutdown();
          })
          .catch((e: unknown) => reasons.push(e));
      }
      // 11.6: one wording for a crash, whichever runtime and whichever path reported it first.
      expect(reasons.map((e) => (e as Error).message)).toEqual([
        'worker "precious-throw": precious worker failed: died on purpose',
        'worker "precious-exit": precious worker crashed: worker exited with code 7',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    const parsed = lines.map((l) => parseStrict(l) as Line); // throws on a repeated key
    const lifecycle = parsed.filter((l) => typeof l.name === 'string');
    for (const l of lifecycle) {
      if (l['reason'] === 'failed' || l['reason'] === 'crashed') {
        expect(l.err, `${l.name}: ${l.msg}`).toEqual(expect.objectContaining({ type: expect.any(String), message: expect.any(String), stack: expect.any(String) }));
      }
      if (l.err !== undefined) {
        expect(l.err, `${l.name}: ${l.msg}`).not.toHaveProperty('nonError');
        expect(String(l.err['stack']), `${l.name}: ${l.msg}`).not.toMatch(/reviveError|dist[\\/]shared[\\/]protocol\.js|dist[\\/]registrant/);
      }
    }
    const line = (name: string, msg: string): Line => {
      const found = lifecycle.filter((l) => l.name === name && l.msg === msg);
      expect(found, `one "${msg}" line for ${name}`).toHaveLength(1);
      return found[0]!;
    };
    expect(line('eph', 'worker stopped')).toMatchObject({ level: 30, reason: 'completed', runtime });
    expect(line('fails', 'worker stopped').err).toEqual({ type: 'Error', message: 'boom', code: 'E_BOOM', stack: expect.stringMatching(/^Error: boom\n\s+at .*throws\.mjs/) });
    expect(line('flaky', 'worker stopped; restarting')).toMatchObject({
      level: 40,
      reason: 'failed',
      delayMs: 0,
      err: { type: 'Error', message: 'run 1 fails', stack: expect.stringMatching(/^Error: run 1 fails\n\s+at .*flaky\.mjs/) },
    });
    expect(line('flaky', 'worker stopped')).toMatchObject({ reason: 'completed' });
    const lost = { type: 'Error', message: 'worker exited with code 7', code: 'ERR_WORKER_LOST', stack: 'Error: worker exited with code 7' };
    expect(line('exits', 'worker stopped')).toMatchObject({ level: 40, reason: 'crashed', code: 7, err: lost });
    if (runtime === 'thread') expect(line('uncaught', 'worker stopped')).toMatchObject({ reason: 'crashed', err: { type: 'Error', message: 'uncaught on purpose', stack: expect.stringMatching(/^Error: uncaught on purpose\n\s+at .*die-on-latch\.mjs/) } });
    expect(line('stuck', 'worker did not stop within its graceful timeout; stopped by force')).toMatchObject({ level: 40 });
    const died = line('precious-throw', 'precious worker died; aborting its scope');
    expect(died).toMatchObject({ level: 50, reason: 'failed', scope: expect.any(Number) });
    expect(died.err).toEqual({ type: 'TypeError', message: 'died on purpose', code: 'E_PURPOSE', stack: expect.stringMatching(/^TypeError: died on purpose\n\s+at .*die-on-latch\.mjs/) });
    expect(line('precious-exit', 'precious worker died; aborting its scope')).toMatchObject({ level: 50, reason: 'crashed', code: 7, err: lost });
    expect(line('precious-exit', 'worker stopped')).toMatchObject({ reason: 'crashed', code: 7, err: lost });
  });
});
