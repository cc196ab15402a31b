/**
 * G15 Poison<T> on one thread: the state machine clean → armed → clean | poisoned, the errors, use() for sync and
 * async functions, a scope aborted while use()'s function runs, the warning naming `what`, and `using` as tsc
 * lowers it.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import ts from 'typescript';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { Poison, PoisonArmedError, PoisonedError } from '../../dist/index.js';
import { startSupervisor } from '../helpers.js';
import { thrownBy } from '../thrown.js';

/** A pino logger writing JSON lines into an array. */
function memoryLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

/** Asserts `fn` throws an error of `type` with `code`, and returns it. */
function thrown<E extends Error>(fn: () => unknown, type: abstract new (...a: never[]) => E, code: string): E {
  const caught = thrownBy(fn);
  expect(caught).toBeInstanceOf(type);
  expect((caught as { code?: string }).code).toBe(code);
  return caught as E;
}

/** A dropped guard with no supervisor on the thread warns through process.emitWarning: captured, not printed. */
let warnings: MockInstance<typeof process.emitWarning>;
beforeEach(() => {
  warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
});
afterEach(() => warnings.mockRestore());

describe('G15 Poison', () => {
  it('arm → disarm leaves it clean and re-armable; the guard gives the value', () => {
    const p = new Poison('counter', { n: 0 });
    const g = p.checkAndArm();
    g.data.n = 1;
    g.disarm();
    expect(p.poisoned).toBe(false);
    const g2 = p.checkAndArm();
    expect(g2.data.n).toBe(1);
    g2.disarm();
    g2[Symbol.dispose](); // after disarm, dispose does nothing
    expect(p.poisoned).toBe(false);
  });

  it('a second arm while armed throws PoisonArmedError and does not change the state', () => {
    const p = new Poison('map', 1);
    const g = p.checkAndArm();
    const e = thrown(() => p.checkAndArm(), PoisonArmedError, 'ERR_POISON_ARMED');
    expect(e.what).toBe('map');
    g.disarm();
    expect(p.poisoned).toBe(false);
    p.checkAndArm().disarm();
  });

  it('dispose without disarm poisons for good: every later arm throws PoisonedError with what and at', () => {
    const p = new Poison('layer map', []);
    const before = Date.now();
    p.checkAndArm()[Symbol.dispose]();
    expect(p.poisoned).toBe(true);
    const e1 = thrown(() => p.checkAndArm(), PoisonedError, 'ERR_POISONED');
    const e2 = thrown(() => p.checkAndArm(), PoisonedError, 'ERR_POISONED');
    expect(e1.what).toBe('layer map');
    expect(e1.at).toBeInstanceOf(Date);
    expect(e1.at.getTime()).toBeGreaterThanOrEqual(before);
    expect(e2.at.getTime()).toBe(e1.at.getTime());
    expect(p.poisonedAt?.getTime()).toBe(e1.at.getTime());
  });

  it('an ended guard cannot touch a later arm (dispose twice, disarm after dispose)', () => {
    const p = new Poison('x', 0);
    const g1 = p.checkAndArm();
    g1.disarm();
    const g2 = p.checkAndArm();
    g1[Symbol.dispose](); // g1 ended: must not poison g2's arm
    expect(p.poisoned).toBe(false);
    g2.disarm();
    const g3 = p.checkAndArm();
    g3[Symbol.dispose]();
    g3.disarm(); // after dispose: stays poisoned
    expect(p.poisoned).toBe(true);
  });

  it('checkAndArm() (defined in the static block) is a prototype method like use(): not own, not enumerable', () => {
    const arm = Object.getOwnPropertyDescriptor(Poison.prototype, 'checkAndArm');
    const use = Object.getOwnPropertyDescriptor(Poison.prototype, 'use');
    expect(typeof arm?.value).toBe('function');
    expect({ ...arm, value: undefined }).toEqual({ ...use, value: undefined });
    expect(Object.keys(new Poison('x', 0))).toEqual(['what']);
  });

  it('rejects an empty `what`', () => {
    expect(() => new Poison('', 1)).toThrow(TypeError);
  });

  describe('use()', () => {
    it('sync: returns the value and disarms; a throw poisons and rethrows the same error', () => {
      const p = new Poison('v', { n: 1 });
      expect(p.use((d) => ++d.n)).toBe(2);
      expect(p.poisoned).toBe(false);
      const boom = new Error('half-way');
      expect(() => p.use(() => { throw boom; })).toThrow(boom);
      expect(p.poisoned).toBe(true);
      let called = false;
      thrown(() => p.use(() => (called = true)), PoisonedError, 'ERR_POISONED');
      expect(called).toBe(false); // a poisoned value is never handed out
    });

    it('async: stays armed until the promise settles; resolve disarms, reject poisons', async () => {
      const p = new Poison('v', 0);
      let release!: (v: number) => void;
      const pending = p.use(() => new Promise<number>((r) => (release = r)));
      thrown(() => p.checkAndArm(), PoisonArmedError, 'ERR_POISON_ARMED'); // armed while it runs
      release(7);
      await expect(pending).resolves.toBe(7);
      expect(p.poisoned).toBe(false);
      const boom = new Error('async half-way');
      await expect(p.use(async () => { throw boom; })).rejects.toBe(boom);
      expect(p.poisoned).toBe(true);
    });

    it('the calling scope aborted before fn settles poisons at the abort, while fn still runs', async () => {
      const sup = await startSupervisor();
      const p = new Poison('tenant state', 0);
      let poisonedAtAbort: boolean | undefined;
      let armedWhileRunning: boolean | undefined;
      const outcome = sup.scope(async (scope) => {
        let release!: (v: string) => void;
        const running = p.use(() => new Promise<string>((r) => (release = r)));
        armedWhileRunning = !p.poisoned;
        scope.abort(new Error('stop')); // abort listeners run inside abort(), synchronously
        poisonedAtAbort = p.poisoned; // fn has not settled yet
        release('finished'); // fn resolving afterwards must not clean it
        return running;
      });
      await expect(outcome).rejects.toThrow('stop');
      expect(armedWhileRunning).toBe(true);
      expect(poisonedAtAbort).toBe(true);
      expect(p.poisoned).toBe(true);
    });

    it('a scope that is not aborted does not poison an async use()', async () => {
      const sup = await startSupervisor();
      const p = new Poison('v', 0);
      const r = await sup.scope(() => p.use(async () => 'ok'));
      expect(r).toBe('ok');
      expect(p.poisoned).toBe(false);
    });
  });

  describe('the warning', () => {
    it("names `what` and `at` through the supervisor's logger", async () => {
      const { logger, lines } = memoryLogger();
      await startSupervisor({ logger });
      const p = new Poison('index', 0);
      p.checkAndArm()[Symbol.dispose]();
      const line = lines.find((l) => String(l['msg']).includes('poison'));
      expect(line).toMatchObject({ level: 40, what: 'index', at: p.poisonedAt?.toISOString() });
    });

    it('goes to process.emitWarning when no supervisor was started on the thread', () => {
      new Poison('lonely', 0).checkAndArm()[Symbol.dispose]();
      expect(warnings).toHaveBeenCalledTimes(1);
      expect(String(warnings.mock.calls[0]![0])).toContain('"what":"lonely"');
    });
  });

  it('works with `using`, as tsc lowers it for Node 20', async () => {
    const src = readFileSync(new URL('../fixtures/poison-using.ts', import.meta.url), 'utf8');
    const js = ts.transpileModule(src, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
    expect(js).not.toMatch(/\busing\s+\w+\s*=/); // lowered, or Node 20 could not run it
    const dist = new URL('../../dist/index.js', import.meta.url).href;
    const mod = (await import(`data:text/javascript,${encodeURIComponent(js.replace("'bgworkers'", `'${dist}'`))}`)) as {
      run: (fail: boolean) => { poisoned: boolean; error: unknown };
    };
    expect(mod.run(false)).toEqual({ poisoned: false, error: undefined });
    const failed = mod.run(true);
    expect(failed.poisoned).toBe(true);
    expect((failed.error as Error).message).toBe('half-way');
  });
});
