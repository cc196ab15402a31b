/**
 * The supervisor loop's decisions (src/supervisor/restart-policy.ts): every branch of every decision, on control words
 * built with pack() and plain run data. The loop that carries them out is test/unit/loop.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { SerializedError, SerializedExit } from '../../src/shared/protocol.js';
import { FREE, O_COMPLETED, O_FAILED, O_NONE, PENDING, RUNNING, STARTING, TERM, pack, type Outcome, type SlotState } from '../../src/shared/slots.js';
import {
  decideExit,
  decideFinish,
  decideForce,
  decideGrace,
  decideRequeued,
  decideShutdown,
  decideStart,
  decideTerminate,
  wantsRestart,
} from '../../src/supervisor/restart-policy.js';
import type { Phase } from '../../src/supervisor/lifecycle.js';

const GEN = 7;
const word = (state: SlotState, opts: { term?: boolean; outcome?: Outcome; gen?: number } = {}): number =>
  pack(state, opts.gen ?? GEN, (opts.term ? TERM : 0) | ((opts.outcome ?? O_NONE) << 4));
const err = (message: string): SerializedError => ({ name: 'Error', message, stack: undefined, code: undefined, nonError: false });
const failed: SerializedExit = { reason: 'failed', code: 1, signal: null, error: err('main threw') };
const crashed: SerializedExit = { reason: 'crashed', code: null, signal: 'SIGKILL', error: err('lost') };
const completed: SerializedExit = { reason: 'completed', code: 0, signal: null, result: 1 };
const terminated: SerializedExit = { reason: 'terminated', code: 1, signal: null };
const neverStarted: SerializedExit = { reason: 'never-started', code: null, signal: null };

describe('decideStart (invariant 1: start only with TERM clear)', () => {
  it('starts when TERM is clear', () => {
    expect(decideStart(word(PENDING))).toEqual({ kind: 'start' });
  });
  it('finishes never-started when TERM is set', () => {
    expect(decideStart(word(PENDING, { term: true }))).toEqual({ kind: 'finish', exit: neverStarted });
  });
});

describe('decideTerminate', () => {
  const run = (phase: Phase, ctrl = word(RUNNING, { term: true })): { gen: number; phase: Phase; ctrl: number } => ({ gen: GEN, phase, ctrl });
  it('ignores a slot without a run', () => {
    expect(decideTerminate(undefined, GEN)).toBe('ignore');
  });
  it("ignores another generation's request", () => {
    expect(decideTerminate(run('running'), GEN - 1)).toBe('ignore');
  });
  it('ignores a request whose TERM is not in the word', () => {
    expect(decideTerminate(run('running', word(RUNNING)), GEN)).toBe('ignore');
  });
  it('ignores a TERM of another generation in the word', () => {
    expect(decideTerminate(run('running', word(RUNNING, { term: true, gen: GEN + 1 })), GEN)).toBe('ignore');
  });
  it('cancels the restart of a run waiting for it', () => {
    expect(decideTerminate(run('restart-wait', word(PENDING, { term: true })), GEN)).toBe('cancel-restart');
  });
  it('stops a spawning or running run', () => {
    expect(decideTerminate(run('spawning', word(PENDING, { term: true })), GEN)).toBe('stop');
    expect(decideTerminate(run('running'), GEN)).toBe('stop');
  });
});

describe('decideShutdown', () => {
  it('interrupts a worker that has not reported an outcome', () => {
    expect(decideShutdown(word(RUNNING), 'running')).toEqual({ interruptWorker: true, action: 'stop' });
  });
  it('does not interrupt a worker that reported its outcome (it is exiting)', () => {
    expect(decideShutdown(word(RUNNING, { outcome: O_COMPLETED }), 'running')).toEqual({ interruptWorker: false, action: 'stop' });
  });
  it('does not interrupt when there was no TERM to set', () => {
    expect(decideShutdown(undefined, 'spawning')).toEqual({ interruptWorker: false, action: 'stop' });
  });
  it('cancels a pending restart', () => {
    expect(decideShutdown(word(PENDING), 'restart-wait')).toEqual({ interruptWorker: true, action: 'cancel-restart' });
  });
});

describe('decideGrace (invariant 4: only ever earlier)', () => {
  const fresh = { hasRunner: true, stopping: false, graceDeadline: Infinity };
  it('does nothing for a run without a runner', () => {
    expect(decideGrace({ ...fresh, hasRunner: false }, 100, 50, Infinity)).toEqual({ kind: 'none' });
  });
  it("first stop: relays it and arms the worker's graceful timeout", () => {
    expect(decideGrace(fresh, 100, 50, Infinity)).toEqual({ kind: 'arm', requestStop: true, deadline: 150, delayMs: 50 });
  });
  it('a shorter shutdown timeout wins over the graceful timeout', () => {
    expect(decideGrace(fresh, 100, 50, 20)).toEqual({ kind: 'arm', requestStop: true, deadline: 120, delayMs: 20 });
  });
  it('Infinity (a worker\'s grace, and no shutdown cap) arms a deadline that never comes', () => {
    expect(decideGrace(fresh, 100, Infinity, Infinity)).toEqual({ kind: 'arm', requestStop: true, deadline: Infinity, delayMs: Infinity });
  });
  it('a finite shutdown timeout caps an infinite grace, also one already armed', () => {
    expect(decideGrace(fresh, 100, Infinity, 10)).toEqual({ kind: 'arm', requestStop: true, deadline: 110, delayMs: 10 });
    expect(decideGrace({ ...fresh, stopping: true, graceDeadline: Infinity }, 100, Infinity, 10)).toEqual({ kind: 'arm', requestStop: false, deadline: 110, delayMs: 10 });
  });
  it('already stopping: re-arms for an earlier deadline, without relaying again', () => {
    expect(decideGrace({ ...fresh, stopping: true, graceDeadline: 150 }, 110, 50, 10)).toEqual({ kind: 'arm', requestStop: false, deadline: 120, delayMs: 10 });
  });
  it('already stopping: a deadline at or after the armed one changes nothing', () => {
    expect(decideGrace({ ...fresh, stopping: true, graceDeadline: 150 }, 110, 40, Infinity)).toEqual({ kind: 'none' });
    expect(decideGrace({ ...fresh, stopping: true, graceDeadline: 150 }, 110, 50, Infinity)).toEqual({ kind: 'none' });
  });
});

describe('decideForce', () => {
  it('forces the runner the timer was armed for, while the run is not over', () => {
    expect(decideForce(true, 'running')).toBe(true);
    expect(decideForce(true, 'spawning')).toBe(true);
  });
  it('not a runner of a later run, nor a finished run', () => {
    expect(decideForce(false, 'running')).toBe(false);
    expect(decideForce(true, 'done')).toBe(false);
  });
});

describe('wantsRestart (the restart policy)', () => {
  it('failed and crashed runs of a restartable worker', () => {
    expect(wantsRestart(failed, 0)).toBe(true);
    expect(wantsRestart(crashed, 100)).toBe(true);
  });
  it('never with restartDelayMs -1, nor for completed, terminated or never-started', () => {
    expect(wantsRestart(failed, -1)).toBe(false);
    for (const exit of [completed, terminated, neverStarted]) expect(wantsRestart(exit, 0)).toBe(false);
  });
});

describe('decideExit', () => {
  it('finishes what the policy does not restart', () => {
    expect(decideExit(completed, word(RUNNING, { outcome: O_COMPLETED }), 0, false)).toEqual({ kind: 'finish', exit: completed });
    expect(decideExit(failed, word(RUNNING, { outcome: O_FAILED }), -1, false)).toEqual({ kind: 'finish', exit: failed });
  });
  it('finishes when the slot is FREE already', () => {
    expect(decideExit(failed, word(FREE), 0, false)).toEqual({ kind: 'finish', exit: failed });
  });
  it('settles (no requeue) during a shutdown', () => {
    expect(decideExit(failed, word(RUNNING, { outcome: O_FAILED }), 0, true)).toEqual({ kind: 'settle' });
  });
  it('requeues with a CAS from STARTING or RUNNING', () => {
    expect(decideExit(failed, word(RUNNING, { outcome: O_FAILED }), 0, false)).toEqual({ kind: 'requeue', cas: true });
    expect(decideExit(crashed, word(STARTING), 0, false)).toEqual({ kind: 'requeue', cas: true });
  });
  it('requeues without a CAS from PENDING (it crashed before committing)', () => {
    expect(decideExit(crashed, word(PENDING), 0, false)).toEqual({ kind: 'requeue', cas: false });
  });
});

describe('decideRequeued (invariant 3)', () => {
  it('restarts after the delay when requeued and TERM is clear', () => {
    expect(decideRequeued(failed, true, word(PENDING), 250)).toEqual({ kind: 'restart', delayMs: 250 });
  });
  it('TERM after the failure: terminated, with the failure as error', () => {
    const expected = { kind: 'finish', exit: { reason: 'terminated', code: 1, signal: null, error: failed.error } };
    expect(decideRequeued(failed, true, word(PENDING, { term: true }), 0)).toEqual(expected);
    expect(decideRequeued(failed, false, word(RUNNING, { term: true }), 0)).toEqual(expected);
  });
  it('TERM after an error-less failure: terminated, no error key', () => {
    const bare: SerializedExit = { reason: 'crashed', code: null, signal: 'SIGKILL' };
    const d = decideRequeued(bare, false, word(RUNNING, { term: true }), 0);
    expect(d).toEqual({ kind: 'finish', exit: { reason: 'terminated', code: null, signal: 'SIGKILL' } });
    expect(d.kind === 'finish' && 'error' in d.exit).toBe(false);
  });
  it('not requeued and TERM clear: the exit as classified', () => {
    expect(decideRequeued(crashed, false, word(RUNNING), 0)).toEqual({ kind: 'finish', exit: crashed });
  });
});

describe('decideFinish', () => {
  it('passes an exit through, with `requested` from TERM', () => {
    expect(decideFinish(completed, undefined, word(RUNNING, { outcome: O_COMPLETED }), false)).toEqual({ exit: completed, requested: false, interruptRegistrant: false });
    expect(decideFinish(terminated, undefined, word(RUNNING, { term: true }), false)).toEqual({ exit: terminated, requested: true, interruptRegistrant: false });
  });
  it('never-started without an earlier failure stays never-started', () => {
    expect(decideFinish(neverStarted, undefined, word(PENDING, { term: true }), false).exit).toEqual(neverStarted);
  });
  it('never-started after a failure: terminated, with the last failure as error (G8)', () => {
    const end = decideFinish(neverStarted, failed, word(PENDING, { term: true }), true);
    expect(end).toEqual({ exit: { reason: 'terminated', code: 1, signal: null, error: failed.error }, requested: true, interruptRegistrant: false });
    const bare = decideFinish(neverStarted, { reason: 'crashed', code: null, signal: 'SIGKILL' }, word(PENDING, { term: true }), false);
    expect(bare.exit).toEqual({ reason: 'terminated', code: null, signal: null });
  });
  it('interrupts the registrant for a precious failed or crashed worker only', () => {
    expect(decideFinish(failed, undefined, word(RUNNING, { outcome: O_FAILED }), true).interruptRegistrant).toBe(true);
    expect(decideFinish(crashed, undefined, word(RUNNING), true).interruptRegistrant).toBe(true);
    expect(decideFinish(failed, undefined, word(RUNNING, { outcome: O_FAILED }), false).interruptRegistrant).toBe(false);
    expect(decideFinish(completed, undefined, word(RUNNING, { outcome: O_COMPLETED }), true).interruptRegistrant).toBe(false);
  });
});
