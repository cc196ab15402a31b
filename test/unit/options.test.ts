/**
 * Validation at the boundary (src/options.ts), G1: one test per option. A bad value throws InvalidWorkerSpecError
 * whose `field` names the option as the user wrote it; a good one resolves to what the supervisor uses. Asserts
 * `code`, `field` and instanceof — message text only once, for the template.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { BgWorkersError, InvalidWorkerSpecError } from '../../src/errors.js';
import {
  DEFAULT_GRACEFUL_TIMEOUT_MS,
  defaultName,
  validateScopeOptions,
  validateShutdownOptions,
  validateSpec,
  validateSupervisorOptions,
} from '../../src/options.js';
import { validatePoolOptions } from '../../src/pool/options.js';
import { thrownBy } from '../thrown.js';

const ENTRY = fileURLToPath(new URL('../fixtures/echo.mjs', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));


/** `fn` throws InvalidWorkerSpecError naming `field`. */
function expectInvalid(fn: () => unknown, field: string): void {
  const e = thrownBy(fn);
  expect(e).toBeInstanceOf(InvalidWorkerSpecError);
  expect(e).toBeInstanceOf(BgWorkersError);
  expect((e as InvalidWorkerSpecError).code).toBe('ERR_INVALID_WORKER_SPEC');
  expect((e as InvalidWorkerSpecError).field).toBe(field);
}

describe('the message template', () => {
  it('reads Expected `field` to be <what>, got `value` (type)', () => {
    const e = thrownBy(() => validateSupervisorOptions({ maxWorkers: 0 })) as Error;
    expect(e.message).toMatch(/^Expected `maxWorkers` to be .*, got `0` \(number\)$/);
  });
});

describe('validateSupervisorOptions', () => {
  const defaults = { maxWorkers: Math.max(16, 4 * availableParallelism()), gracefulTimeoutMs: 5000, spareWorkers: 0, logger: undefined };

  it('undefined and {} give the documented defaults', () => {
    expect(validateSupervisorOptions(undefined)).toEqual(defaults);
    expect(validateSupervisorOptions({})).toEqual(defaults);
  });

  it.each([null, [], 'fast', 5])('options = %j is not an object', (options) => {
    expectInvalid(() => validateSupervisorOptions(options), 'options');
  });

  it('an unknown key is named', () => {
    expectInvalid(() => validateSupervisorOptions({ maxworkers: 4 }), 'maxworkers');
  });

  it.each([0, -1, 1.5, 4097, Number.NaN, Infinity, '4', null])('maxWorkers = %j is rejected', (maxWorkers) => {
    expectInvalid(() => validateSupervisorOptions({ maxWorkers }), 'maxWorkers');
  });

  it('maxWorkers accepts 1 to 4096', () => {
    expect(validateSupervisorOptions({ maxWorkers: 1 }).maxWorkers).toBe(1);
    expect(validateSupervisorOptions({ maxWorkers: 4096 }).maxWorkers).toBe(4096);
  });

  it.each([-1, -Infinity, Number.NaN, '5', null])('gracefulTimeoutMs = %j is rejected', (gracefulTimeoutMs) => {
    expectInvalid(() => validateSupervisorOptions({ gracefulTimeoutMs }), 'gracefulTimeoutMs');
  });

  it('gracefulTimeoutMs accepts any number >= 0, Infinity (never forced) included', () => {
    expect(validateSupervisorOptions({ gracefulTimeoutMs: 0 }).gracefulTimeoutMs).toBe(0);
    expect(validateSupervisorOptions({ gracefulTimeoutMs: 2.5 }).gracefulTimeoutMs).toBe(2.5);
    expect(validateSupervisorOptions({ gracefulTimeoutMs: Infinity }).gracefulTimeoutMs).toBe(Infinity);
  });

  it.each([-1, 65, 0.5, '1', null])('spareWorkers = %j is rejected', (spareWorkers) => {
    expectInvalid(() => validateSupervisorOptions({ spareWorkers }), 'spareWorkers');
  });

  it('spareWorkers accepts 0 to 64', () => {
    expect(validateSupervisorOptions({ spareWorkers: 0 }).spareWorkers).toBe(0);
    expect(validateSupervisorOptions({ spareWorkers: 64 }).spareWorkers).toBe(64);
  });

  it.each([true, {}, 'info', null, { child: () => {}, info: () => {} }])('logger = %j is rejected', (logger) => {
    expectInvalid(() => validateSupervisorOptions({ logger }), 'logger');
  });

  it('logger accepts a pino logger or false', () => {
    const logger = pino({ level: 'silent' });
    expect(validateSupervisorOptions({ logger }).logger).toBe(logger);
    expect(validateSupervisorOptions({ logger: false }).logger).toBe(false);
  });
});

describe('validateScopeOptions', () => {
  it('undefined gives no name and no signal', () => {
    expect(validateScopeOptions(undefined)).toEqual({ name: undefined, signal: undefined });
  });

  it.each([null, 'x', []])('options = %j is not an object', (options) => {
    expectInvalid(() => validateScopeOptions(options), 'options');
  });

  it('an unknown key is named', () => {
    expectInvalid(() => validateScopeOptions({ timeoutMs: 5 }), 'timeoutMs');
  });

  it.each(['', 5, null])('name = %j is rejected', (name) => {
    expectInvalid(() => validateScopeOptions({ name }), 'name');
  });

  it.each([{}, 'abort', { aborted: false, reason: undefined }, new AbortController()])('signal = %j is rejected', (signal) => {
    expectInvalid(() => validateScopeOptions({ signal }), 'signal');
  });

  it('name and signal are passed through', () => {
    const { signal } = new AbortController();
    expect(validateScopeOptions({ name: 'tx', signal })).toEqual({ name: 'tx', signal });
  });
});

describe('validateShutdownOptions', () => {
  it('undefined and {} give the fallback', () => {
    expect(validateShutdownOptions(undefined, 1234)).toBe(1234);
    expect(validateShutdownOptions({}, 1234)).toBe(1234);
  });

  it('timeoutMs overrides the fallback, 0 included', () => {
    expect(validateShutdownOptions({ timeoutMs: 0 }, 1234)).toBe(0);
    expect(validateShutdownOptions({ timeoutMs: 10 }, 1234)).toBe(10);
  });

  it.each([-1, -Infinity, Number.NaN, '10', null])('timeoutMs = %j is rejected', (timeoutMs) => {
    expectInvalid(() => validateShutdownOptions({ timeoutMs }, 1234), 'timeoutMs');
  });

  it('timeoutMs: Infinity is accepted (no cap)', () => {
    expect(validateShutdownOptions({ timeoutMs: Infinity }, 1234)).toBe(Infinity);
  });

  it('a non-object and an unknown key are rejected', () => {
    expectInvalid(() => validateShutdownOptions(null, 1234), 'options');
    expectInvalid(() => validateShutdownOptions({ graceMs: 1 }, 1234), 'graceMs');
  });
});

describe('validateSpec: the spec itself', () => {
  it.each([
    [undefined, false],
    [null, false],
    ['./echo.mjs', false],
    [[], true],
  ])('spec = %j (scoped: %s) is not an object', (spec, scoped) => {
    expectInvalid(() => validateSpec(spec, scoped), 'spec');
  });

  it('a minimal spec resolves to the defaults', () => {
    expect(validateSpec({ entry: ENTRY }, false)).toEqual({
      entry: pathToFileURL(ENTRY).href,
      entryPath: ENTRY,
      name: undefined,
      kind: undefined,
      labels: {},
      data: undefined,
      restartDelayMs: -1,
      restartBackoff: { maxDelayMs: 0, factor: 1, maxRestarts: 0, withinMs: 60_000 },
      gracefulTimeoutMs: undefined,
      resourceLimits: undefined,
      runtime: 'thread',
      env: undefined,
      execArgv: undefined,
      ephemeral: false,
      precious: false,
    });
  });

  it.each([false, true])('an unknown key is named (scoped: %s)', (scoped) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, restartt: 'never' }, scoped), 'restartt');
  });

  it('data is passed through untouched (cloneability is checked at register)', () => {
    const data = { a: [1, 2], b: new Map([[1, 2]]) };
    expect(validateSpec({ entry: ENTRY, data }, false).data).toBe(data);
  });
});

describe('validateSpec: entry', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['a number', 5],
    ['an http: URL', new URL('http://example.com/w.mjs')],
    ['an http: URL string', 'http://example.com/w.mjs'],
    ['a file that does not exist', join(FIXTURES, 'no-such-worker.mjs')],
    ['a directory', FIXTURES],
  ])('%s is rejected', (_, entry) => {
    expectInvalid(() => validateSpec(entry === undefined ? {} : { entry }, false), 'entry');
  });

  it('an absolute path resolves to its file: URL', () => {
    expect(validateSpec({ entry: ENTRY }, false)).toMatchObject({ entry: pathToFileURL(ENTRY).href, entryPath: ENTRY });
  });

  it('a relative path resolves against process.cwd()', () => {
    const rel = relative(process.cwd(), ENTRY);
    expect(rel.startsWith('/')).toBe(false);
    expect(validateSpec({ entry: rel }, false)).toMatchObject({ entry: pathToFileURL(ENTRY).href, entryPath: ENTRY });
  });

  it('a file: URL, as a string or a URL, is accepted', () => {
    const url = pathToFileURL(ENTRY);
    expect(validateSpec({ entry: url.href }, false).entryPath).toBe(ENTRY);
    expect(validateSpec({ entry: url }, false).entryPath).toBe(ENTRY);
  });

  it('a path through a regular file (ENOTDIR) is rejected as entry, not thrown as a raw fs error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bgw-options-'));
    dirs.push(dir);
    const file = join(dir, 'plain.mjs');
    writeFileSync(file, 'export default 1;\n');
    expectInvalid(() => validateSpec({ entry: join(file, 'w.mjs') }, false), 'entry');
  });

  it('a file: URL with a remote host is rejected as entry, not thrown as a raw TypeError', () => {
    expectInvalid(() => validateSpec({ entry: 'file://fileserver/share/w.mjs' }, false), 'entry');
  });
});

describe('validateSpec: name, kind, labels, gracefulTimeoutMs', () => {
  it.each(['name', 'kind'])('%s must be a non-empty string', (field) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, [field]: '' }, false), field);
    expectInvalid(() => validateSpec({ entry: ENTRY, [field]: 5 }, false), field);
    expect(validateSpec({ entry: ENTRY, [field]: 'x' }, false)[field as 'name' | 'kind']).toBe('x');
  });

  it.each([null, 'a=b', ['a']])('labels = %j is not an object', (labels) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, labels }, false), 'labels');
  });

  it('a non-string label names its key', () => {
    expectInvalid(() => validateSpec({ entry: ENTRY, labels: { tier: 'a', shard: 3 } }, false), 'labels.shard');
  });

  it('labels are copied and frozen', () => {
    const labels = { tier: 'a' };
    const r = validateSpec({ entry: ENTRY, labels }, false);
    expect(r.labels).toEqual(labels);
    expect(r.labels).not.toBe(labels);
    expect(Object.isFrozen(r.labels)).toBe(true);
  });

  it.each([-1, -Infinity, Number.NaN, '5'])('gracefulTimeoutMs = %j is rejected', (gracefulTimeoutMs) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, gracefulTimeoutMs }, false), 'gracefulTimeoutMs');
  });

  it('gracefulTimeoutMs: Infinity is accepted (never forced)', () => {
    expect(validateSpec({ entry: ENTRY, gracefulTimeoutMs: Infinity }, false).gracefulTimeoutMs).toBe(Infinity);
  });

  it('gracefulTimeoutMs overrides the supervisor default only when given', () => {
    expect(validateSpec({ entry: ENTRY, gracefulTimeoutMs: 0 }, false).gracefulTimeoutMs).toBe(0);
    expect(validateSpec({ entry: ENTRY }, false).gracefulTimeoutMs).toBeUndefined();
    expect(DEFAULT_GRACEFUL_TIMEOUT_MS).toBe(5000);
  });
});

describe('validateSpec: runtime, env, execArgv', () => {
  it.each(['worker', 'Thread', 5, null])('runtime = %j is rejected', (runtime) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, runtime }, false), 'runtime');
  });

  it("runtime defaults to 'thread' and accepts 'process'", () => {
    expect(validateSpec({ entry: ENTRY }, false).runtime).toBe('thread');
    expect(validateSpec({ entry: ENTRY, runtime: 'process' }, true).runtime).toBe('process');
  });

  it('env and execArgv are rejected on a thread worker (they would be silently ignored)', () => {
    expectInvalid(() => validateSpec({ entry: ENTRY, env: { A: 'b' } }, false), 'env');
    expectInvalid(() => validateSpec({ entry: ENTRY, runtime: 'thread', execArgv: [] }, false), 'execArgv');
  });

  it('a process worker takes env and execArgv as copies', () => {
    const env = { A: 'b' };
    const execArgv = ['--no-warnings'];
    const r = validateSpec({ entry: ENTRY, runtime: 'process', env, execArgv }, false);
    expect(r.env).toEqual(env);
    expect(r.env).not.toBe(env);
    expect(r.execArgv).toEqual(execArgv);
    expect(r.execArgv).not.toBe(execArgv);
  });

  it('bad env and execArgv of a process worker name the offending entry', () => {
    const spec = { entry: ENTRY, runtime: 'process' };
    expectInvalid(() => validateSpec({ ...spec, env: 'A=b' }, false), 'env');
    expectInvalid(() => validateSpec({ ...spec, env: { A: 'b', B: 1 } }, false), 'env.B');
    expectInvalid(() => validateSpec({ ...spec, execArgv: '--no-warnings' }, false), 'execArgv');
    expectInvalid(() => validateSpec({ ...spec, execArgv: ['--no-warnings', 7] }, false), 'execArgv[1]');
  });
});

describe('validateSpec: restart', () => {
  it("unscoped: absent and 'never' mean no restart; { delayMs } gives the delay", () => {
    expect(validateSpec({ entry: ENTRY }, false).restartDelayMs).toBe(-1);
    expect(validateSpec({ entry: ENTRY, restart: 'never' }, false).restartDelayMs).toBe(-1);
    expect(validateSpec({ entry: ENTRY, restart: { delayMs: 250 } }, false).restartDelayMs).toBe(250);
    expect(validateSpec({ entry: ENTRY, restart: { delayMs: 0 } }, false).restartDelayMs).toBe(0);
  });

  it.each(['always', null, 5])('restart = %j is rejected', (restart) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, restart }, false), 'restart');
  });

  it.each([{}, { delayMs: -1 }, { delayMs: Number.NaN }, { delayMs: '10' }])('restart = %j names restart.delayMs', (restart) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, restart }, false), 'restart.delayMs');
  });

  it('an unknown restart key is named with its path', () => {
    expectInvalid(() => validateSpec({ entry: ENTRY, restart: { delayMs: 1, retries: 3 } }, false), 'restart.retries');
  });

  it("scoped: restart is rejected, except 'never'", () => {
    expectInvalid(() => validateSpec({ entry: ENTRY, restart: { delayMs: 100 } }, true), 'restart');
    expectInvalid(() => validateSpec({ entry: ENTRY, ephemeral: true, restart: { delayMs: 100 } }, true), 'restart');
    expect(validateSpec({ entry: ENTRY, restart: 'never' }, true).restartDelayMs).toBe(-1);
  });
});

describe('validateSpec: ephemeral and precious', () => {
  it.each(['ephemeral', 'precious'])('%s is rejected on an unscoped spec, whatever its value', (flag) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, [flag]: true }, false), flag);
    expectInvalid(() => validateSpec({ entry: ENTRY, [flag]: false }, false), flag);
  });

  it.each(['ephemeral', 'precious'])('%s must be a boolean on a scoped spec', (flag) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, [flag]: 'yes' }, true), flag);
    expectInvalid(() => validateSpec({ entry: ENTRY, [flag]: 1 }, true), flag);
  });

  it('scoped flags default to false and are passed through', () => {
    expect(validateSpec({ entry: ENTRY }, true)).toMatchObject({ ephemeral: false, precious: false });
    expect(validateSpec({ entry: ENTRY, ephemeral: true, precious: true }, true)).toMatchObject({ ephemeral: true, precious: true });
  });
});

describe('validateSpec: resourceLimits', () => {
  it.each([null, 64, 'big', []])('resourceLimits = %j is not an object', (resourceLimits) => {
    expectInvalid(() => validateSpec({ entry: ENTRY, resourceLimits }, false), 'resourceLimits');
  });

  it.each(['maxOldGenerationSizeMb', 'maxYoungGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'])('%s must be a finite number > 0', (key) => {
    for (const v of [0, -1, Number.NaN, Infinity, '64']) {
      expectInvalid(() => validateSpec({ entry: ENTRY, resourceLimits: { [key]: v } }, false), `resourceLimits.${key}`);
    }
    expect(validateSpec({ entry: ENTRY, resourceLimits: { [key]: 1.5 } }, false).resourceLimits).toEqual({ [key]: 1.5 });
  });

  it('an unknown resourceLimits key is named with its path', () => {
    expectInvalid(() => validateSpec({ entry: ENTRY, resourceLimits: { maxHeapMb: 64 } }, false), 'resourceLimits.maxHeapMb');
  });

  it('all four limits together, and {} for none given', () => {
    const limits = { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8, codeRangeSizeMb: 16, stackSizeMb: 4 };
    expect(validateSpec({ entry: ENTRY, resourceLimits: limits }, false).resourceLimits).toEqual(limits);
    expect(validateSpec({ entry: ENTRY, resourceLimits: {} }, false).resourceLimits).toEqual({});
  });
});

describe('defaultName', () => {
  it("is the entry's base name without extension, '#', the id", () => {
    expect(defaultName('/srv/jobs/resize.worker.mjs', '42')).toBe('resize.worker#42');
    expect(defaultName(ENTRY, '1')).toBe('echo#1');
  });
});

describe('validatePoolOptions: the workers spec is checked by validateSpec, once', () => {
  const TASK = fileURLToPath(new URL('../fixtures/task-square.mjs', import.meta.url));

  it('a bad runtime, label type or label value fails with the field register() would name', () => {
    expectInvalid(() => validatePoolOptions({ entry: TASK, maxWorkers: 1, runtime: 'fiber' }), 'runtime');
    expectInvalid(() => validatePoolOptions({ entry: TASK, maxWorkers: 1, labels: ['a'] }), 'labels');
    expectInvalid(() => validatePoolOptions({ entry: TASK, maxWorkers: 1, labels: { tier: 'a', shard: 3 } }), 'labels.shard');
  });

  it("the pool's own label is added over the user's, and the labels are frozen", () => {
    const r = validatePoolOptions({ entry: TASK, maxWorkers: 1, name: 'thumbs', labels: { tier: 'a', pool: 'mine' } });
    expect(r.labels).toEqual({ tier: 'a', pool: 'thumbs' });
    expect(Object.isFrozen(r.labels)).toBe(true);
    expect(validatePoolOptions({ entry: TASK, maxWorkers: 1, name: 'thumbs' }).labels).toEqual({ pool: 'thumbs' });
  });
});
