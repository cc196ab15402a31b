/**
 * The error classes (src/errors.ts): each has its stable `code`, extends BgWorkersError and Error, is named after
 * its class, carries `cause` where it wraps something, and is exported from the public index. The option template
 * is checked here once, by its text.
 */
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import * as errors from '../../src/errors.js';
import * as index from '../../src/index.js';
import { reviveError, serializeError } from '../../src/shared/protocol.js';

const {
  BgWorkersError,
  InvalidWorkerSpecError,
  PoolQueueFullError,
  PoolWorkerDiedError,
  PreciousWorkerDiedError,
  PreciousWorkerOutlivedScopeError,
  RemoteLatchError,
  ScopeAbortedError,
  ScopeClosedError,
  SupervisorClosedError,
  SupervisorDiedError,
  SupervisorShutdownError,
  TaskCloneError,
  TaskFailedError,
  TaskTimeoutError,
  TerminationRequestedError,
  WorkerCapacityError,
  WorkerStartupError,
  PoisonedError,
  PoisonArmedError,
  RestartIntensityError,
  TaskCancelledError,
  PreciousTaskFailedError,
  ShutdownSignalError,
  QueueError,
  ForemanRunningError,
  JobFailedError,
  InvalidJobError,
  invalidOption,
  unknownOption,
} = errors;

const worker = { id: '7', name: 'resize#7' };
const boom = new Error('boom');
const failedExit: errors.ExitInfo = { reason: 'failed', code: 1, signal: null, error: boom };

/** One instance of every class, with the code it must carry. */
const CASES: [string, () => errors.BgWorkersError, string][] = [
  ['PreciousWorkerDiedError', () => new PreciousWorkerDiedError(worker, failedExit), 'ERR_PRECIOUS_WORKER_DIED'],
  ['PreciousWorkerOutlivedScopeError', () => new PreciousWorkerOutlivedScopeError([worker]), 'ERR_PRECIOUS_OUTLIVED_SCOPE'],
  ['TerminationRequestedError', () => new TerminationRequestedError('resize#7'), 'ERR_TERMINATION_REQUESTED'],
  ['WorkerCapacityError', () => new WorkerCapacityError(16), 'ERR_WORKER_CAPACITY'],
  ['WorkerStartupError', () => new WorkerStartupError(worker, failedExit), 'ERR_WORKER_STARTUP'],
  ['TaskFailedError', () => new TaskFailedError('thumbs', 3, boom), 'ERR_TASK_FAILED'],
  ['PoolWorkerDiedError', () => new PoolWorkerDiedError(worker, { reason: 'crashed', code: 134, signal: null }), 'ERR_POOL_WORKER_DIED'],
  ['TaskCloneError', () => new TaskCloneError('thumbs', 'input', 2, boom), 'ERR_TASK_CLONE'],
  ['TaskTimeoutError', () => new TaskTimeoutError('thumbs', 50), 'ERR_TASK_TIMEOUT'],
  ['PoolQueueFullError', () => new PoolQueueFullError('thumbs', 4), 'ERR_POOL_QUEUE_FULL'],
  ['RemoteLatchError', () => new RemoteLatchError('wait'), 'ERR_REMOTE_LATCH'],
  ['InvalidWorkerSpecError', () => new InvalidWorkerSpecError('entry', 'bad entry'), 'ERR_INVALID_WORKER_SPEC'],
  ['ScopeClosedError', () => new ScopeClosedError('closed'), 'ERR_SCOPE_CLOSED'],
  ['ScopeAbortedError', () => new ScopeAbortedError('why'), 'ERR_SCOPE_ABORTED'],
  ['SupervisorShutdownError', () => new SupervisorShutdownError(), 'ERR_SUPERVISOR_SHUTDOWN'],
  ['SupervisorClosedError', () => new SupervisorClosedError('register()'), 'ERR_SUPERVISOR_CLOSED'],
  ['SupervisorDiedError', () => new SupervisorDiedError(boom), 'ERR_SUPERVISOR_DIED'],
  ['PoisonedError', () => new PoisonedError('layer map', new Date(0)), 'ERR_POISONED'],
  ['PoisonArmedError', () => new PoisonArmedError('layer map', 'this thread'), 'ERR_POISON_ARMED'],
  ['RestartIntensityError', () => new RestartIntensityError(worker, 3, 60_000, boom), 'ERR_RESTART_INTENSITY'],
  ['TaskCancelledError', () => new TaskCancelledError({ id: 't1', name: 'flush#t1' }), 'ERR_TASK_CANCELLED'],
  ['ShutdownSignalError', () => new ShutdownSignalError('SIGINT'), 'ERR_SHUTDOWN_SIGNAL'],
  ['PreciousTaskFailedError', () => new PreciousTaskFailedError({ id: 't1', name: 'flush#t1' }, boom), 'ERR_PRECIOUS_TASK_FAILED'],
  ['QueueError', () => new QueueError('queue ./jobs.db: claim failed', boom), 'ERR_QUEUE'],
  ['ForemanRunningError', () => new ForemanRunningError('./jobs.db', 4242), 'ERR_FOREMAN_RUNNING'],
  ['JobFailedError', () => new JobFailedError({ id: '9', name: 'thumbnail' }, 5, boom), 'ERR_JOB_FAILED'],
  ['InvalidJobError', () => new InvalidJobError('payload.when', 'an invalid Date does not survive JSON'), 'ERR_INVALID_JOB'],
];

describe('every error class', () => {
  it.each(CASES)('%s has its code, its name and the BgWorkersError/Error chain', (name, make, code) => {
    const e = make();
    expect(e.code).toBe(code);
    expect(e.name).toBe(name);
    expect(e.constructor.name).toBe(name);
    expect(e).toBeInstanceOf(BgWorkersError);
    expect(e).toBeInstanceOf(Error);
    expect(e.message.length).toBeGreaterThan(0);
    expect(e.stack).toContain(name);
  });

  it('the table above lists every error class errors.ts exports, and codes are unique', () => {
    const classes = Object.entries(errors)
      .filter(([, v]) => typeof v === 'function' && v.prototype instanceof Error)
      .map(([k]) => k)
      .sort();
    expect(classes).toEqual(['BgWorkersError', ...CASES.map(([n]) => n)].sort());
    const codes = CASES.map(([, , c]) => c);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('every error class is exported from the public index, as the same class', () => {
    const exported = index as Record<string, unknown>;
    for (const [name] of [['BgWorkersError'], ...CASES]) {
      expect(exported[name!], name).toBe((errors as Record<string, unknown>)[name!]);
    }
  });
});

describe('causes and details', () => {
  it('ScopeAbortedError carries its reason as cause, Error or not', () => {
    expect(new ScopeAbortedError('deadline').cause).toBe('deadline');
    const reason = { why: 'user' };
    expect(new ScopeAbortedError(reason).cause).toBe(reason);
    expect(new ScopeAbortedError(undefined).cause).toBeUndefined();
  });

  it('ScopeAbortedError does not throw on a reason that cannot be turned into a string', () => {
    const hostile = {
      toString(): string {
        throw new Error('no');
      },
    };
    expect(new ScopeAbortedError(hostile).cause).toBe(hostile);
    expect(new ScopeAbortedError(Object.create(null)).code).toBe('ERR_SCOPE_ABORTED');
    expect(new ScopeAbortedError(Symbol('s')).code).toBe('ERR_SCOPE_ABORTED');
  });

  it("PreciousWorkerDiedError and WorkerStartupError carry the worker's error as cause, and a copy of its ref", () => {
    const ref = { id: '7', name: 'resize#7', extra: 'not copied' };
    for (const e of [new PreciousWorkerDiedError(ref, failedExit), new WorkerStartupError(ref, failedExit)]) {
      expect(e.cause).toBe(boom);
      expect(e.worker).toEqual({ id: '7', name: 'resize#7' });
      expect(e.exit).toBe(failedExit);
    }
  });

  it('a crash without an error has no cause', () => {
    const e = new PreciousWorkerDiedError(worker, { reason: 'crashed', code: 134, signal: null });
    expect(e.cause).toBeUndefined();
    expect(e.exit.reason).toBe('crashed');
  });

  it('TaskFailedError carries the input index and the task error; SupervisorDiedError its cause', () => {
    const t = new TaskFailedError('thumbs', 3, boom);
    expect([t.index, t.cause]).toEqual([3, boom]);
    expect(new SupervisorDiedError(boom).cause).toBe(boom);
    expect(new SupervisorDiedError().cause).toBeUndefined();
  });

  it('WorkerCapacityError and PreciousWorkerOutlivedScopeError carry their details', () => {
    expect(new WorkerCapacityError(16).capacity).toBe(16);
    const two = [worker, { id: '8', name: 'b#8' }];
    expect(new PreciousWorkerOutlivedScopeError(two).workers).toEqual(two);
  });
});

describe('invalidOption and unknownOption', () => {
  it('follow the one template: Expected `field` to be <what>, got `value` (type)', () => {
    const e = invalidOption('maxWorkers', 'an integer >= 1', 0);
    expect(e).toBeInstanceOf(InvalidWorkerSpecError);
    expect(e.field).toBe('maxWorkers');
    expect(e.message).toBe('Expected `maxWorkers` to be an integer >= 1, got `0` (number)');
  });

  it('describe every kind of value by what it is, without calling into it', () => {
    const got = (v: unknown): string => invalidOption('x', 'y', v).message.replace('Expected `x` to be y, got ', '');
    expect(got('a')).toBe('`a` (string)');
    expect(got(null)).toBe('`null` (null)');
    expect(got(undefined)).toBe('`undefined` (undefined)');
    expect(got(10n)).toBe('`10` (bigint)');
    expect(got(() => 1)).toBe('a function (function)');
    expect(got([1])).toBe('`array` (object)');
    expect(got({ toString: () => 'hostile' })).toBe('`[object Object]` (object)');
  });

  it('invalidOption keeps a cause when given one', () => {
    expect(invalidOption('data', 'cloneable', Symbol.iterator, boom).cause).toBe(boom);
    expect('cause' in invalidOption('data', 'cloneable', 1)).toBe(false);
  });

  it('unknownOption names the key and is an InvalidWorkerSpecError', () => {
    const e = unknownOption('maxworkers', 'supervisor', ['maxWorkers']);
    expect(e).toBeInstanceOf(InvalidWorkerSpecError);
    expect([e.code, e.field]).toEqual(['ERR_INVALID_WORKER_SPEC', 'maxworkers']);
  });
});

describe('reviveError (errors carried back from a worker)', () => {
  it("keeps the original's name, message, code, cause and stack, and leaves Error.stackTraceLimit as it was", () => {
    const original = Object.assign(new TypeError('boom', { cause: new RangeError('inner') }), { code: 'E_BOOM' });
    const limit = Error.stackTraceLimit;
    const revived = reviveError(serializeError(original));
    expect(Error.stackTraceLimit).toBe(limit);
    expect([revived.name, revived.message, (revived as { code?: unknown }).code, revived.stack]).toEqual(['TypeError', 'boom', 'E_BOOM', original.stack]);
    expect((revived.cause as Error).message).toBe('inner');
  });

  it('an Error of another realm (a vm context) keeps its name, message and cause: it is not `instanceof` ours', () => {
    const foreign = runInNewContext('const e = new RangeError("foo", { cause: new Error("inner") }); e.code = "E_VM"; e') as Error;
    expect(foreign instanceof Error).toBe(false); // the premise: a realm-dependent check would miss it
    const s = serializeError(foreign);
    expect([s.nonError, s.name, s.message, s.code, s.cause?.message]).toEqual([false, 'RangeError', 'foo', 'E_VM', 'inner']);
  });

  it('still works when the host froze Error.stackTraceLimit', () => {
    const desc = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit')!;
    Object.defineProperty(Error, 'stackTraceLimit', { value: desc.value, writable: false, configurable: true });
    try {
      const revived = reviveError(serializeError(new Error('frozen')));
      expect([revived.message, revived.stack?.split('\n')[0]]).toEqual(['frozen', 'Error: frozen']);
    } finally {
      Object.defineProperty(Error, 'stackTraceLimit', desc);
    }
  });
});
