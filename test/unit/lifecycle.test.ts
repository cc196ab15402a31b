/**
 * The supervisor's view of a run (src/supervisor/lifecycle.ts): classify() gives exactly one reason per stop for
 * every row of G8, from the control word alone (built here with pack()); the worker's reports only fill in
 * details. And Run's phase machine refuses every transition outside its header table.
 */
import { describe, expect, it } from 'vitest';
import type { RegisterRequest, SerializedError } from '../../src/shared/protocol.js';
import { O_COMPLETED, O_CRASHED, O_FAILED, O_NONE, O_TERMINATED, PENDING, RUNNING, STARTING, TERM, pack, type Outcome, type SlotState } from '../../src/shared/slots.js';
import { Run, classify, type Phase, type RunReports } from '../../src/supervisor/lifecycle.js';

const GEN = 12;
const word = (state: SlotState, outcome: Outcome, term = false): number => pack(state, GEN, (term ? TERM : 0) | (outcome << 4));
const err = (message: string): SerializedError => ({ name: 'Error', message, stack: undefined, code: undefined, nonError: false });
const mainError = err('main threw');
const threadError = err('uncaught in thread');

describe('classify: the exit code', () => {
  it("is the one the worker reported with the outcome the word holds, not the stopped thread's (1 when forced)", () => {
    const reported = { reason: 'crashed', code: 7 } as const;
    expect(classify(word(RUNNING, O_CRASHED, true), 1, null, { reported }).code).toBe(7);
    expect(classify(word(RUNNING, O_COMPLETED, true), 1, null, { reported: { reason: 'completed', code: 0 }, result: 1 }).code).toBe(0);
  });

  it("is the thread's or process's own when the report is for another outcome, there is none, or a signal killed it", () => {
    // A failure the termination CAS turned into `terminated`: the report is not the word's outcome.
    expect(classify(word(RUNNING, O_TERMINATED, true), 1, null, { reported: { reason: 'failed', code: 1 } }).code).toBe(1);
    expect(classify(word(RUNNING, O_CRASHED), 3, null, {}).code).toBe(3);
    expect(classify(word(RUNNING, O_COMPLETED, true), null, 'SIGKILL', { reported: { reason: 'completed', code: 0 }, result: 1 })).toMatchObject({ code: null, signal: 'SIGKILL' });
  });
});

describe('classify: one reason per stop (G8)', () => {
  it('completed: main returned; the result is delivered', () => {
    const exit = classify(word(RUNNING, O_COMPLETED), 0, null, { result: { n: 1 } });
    expect(exit).toEqual({ reason: 'completed', code: 0, signal: null, result: { n: 1 } });
  });

  it('completed also after a termination request, with its result', () => {
    const exit = classify(word(RUNNING, O_COMPLETED, true), 0, null, { result: 42 });
    expect(exit).toEqual({ reason: 'completed', code: 0, signal: null, result: 42 });
  });

  it("failed: main threw or rejected; error is the worker's own report", () => {
    const exit = classify(word(RUNNING, O_FAILED), 1, null, { error: mainError, threadError });
    expect(exit).toEqual({ reason: 'failed', code: 1, signal: null, error: mainError });
  });

  it('failed: the entry could not be loaded (outcome reported in STARTING)', () => {
    const exit = classify(word(STARTING, O_FAILED), 1, null, { error: mainError });
    expect(exit.reason).toBe('failed');
    expect(exit.error).toBe(mainError);
  });

  it("failed without a report falls back to the thread's error, then to a lost-worker error", () => {
    expect(classify(word(RUNNING, O_FAILED), 1, null, { threadError }).error).toBe(threadError);
    const lost = classify(word(RUNNING, O_FAILED), 1, null, {});
    expect(lost.reason).toBe('failed');
    expect(lost.error).toMatchObject({ code: 'ERR_WORKER_LOST' });
  });

  it('failed stays failed when TERM arrived after the failure was recorded (invariant 3 decided it)', () => {
    expect(classify(word(RUNNING, O_FAILED, true), 1, null, { error: mainError }).reason).toBe('failed');
  });

  it('crashed: the worker reported a crash (process.exit in main)', () => {
    const exit = classify(word(RUNNING, O_CRASHED), 3, null, { threadError });
    expect(exit).toEqual({ reason: 'crashed', code: 3, signal: null, error: threadError });
  });

  it('crashed: stopped without reporting and without a request (out of memory, a fatal signal)', () => {
    const oom = classify(word(RUNNING, O_NONE), 1, null, { threadError });
    expect(oom).toEqual({ reason: 'crashed', code: 1, signal: null, error: threadError });
    const killed = classify(word(RUNNING, O_NONE), null, 'SIGKILL', {});
    expect(killed).toMatchObject({ reason: 'crashed', code: null, signal: 'SIGKILL' });
    expect(killed.error).toMatchObject({ code: 'ERR_WORKER_LOST' });
    expect(killed.error?.message).toContain('SIGKILL');
  });

  it('crashed: the thread died before its entry started loading (PENDING, no request)', () => {
    const exit = classify(word(PENDING, O_NONE), 1, null, {});
    expect(exit.reason).toBe('crashed');
    expect(exit.error).toMatchObject({ code: 'ERR_WORKER_LOST' });
  });

  it('terminated: main threw after the request (the worker recorded TERMINATED)', () => {
    expect(classify(word(RUNNING, O_TERMINATED, true), 1, null, { error: mainError })).toEqual({ reason: 'terminated', code: 1, signal: null });
  });

  it('terminated: stopped by force after the request, with no report (RUNNING or STARTING)', () => {
    expect(classify(word(RUNNING, O_NONE, true), 1, null, {})).toEqual({ reason: 'terminated', code: 1, signal: null });
    expect(classify(word(STARTING, O_NONE, true), null, 'SIGKILL', {})).toEqual({ reason: 'terminated', code: null, signal: 'SIGKILL' });
  });

  it('never-started: terminated before it committed; no exit code or signal means anything', () => {
    expect(classify(word(PENDING, O_NONE, true), 1, 'SIGTERM', { threadError })).toEqual({ reason: 'never-started', code: null, signal: null });
    expect(classify(word(PENDING, O_NONE, true), null, null, {})).toEqual({ reason: 'never-started', code: null, signal: null });
  });

  it('every (state, outcome, TERM) a stopped run can leave gives exactly one known reason', () => {
    const reasons = new Set(['completed', 'failed', 'crashed', 'terminated', 'never-started']);
    const reports: RunReports = { result: 1, error: mainError, threadError };
    for (const state of [STARTING, RUNNING] as const) {
      for (const outcome of [O_NONE, O_COMPLETED, O_FAILED, O_CRASHED, O_TERMINATED] as const) {
        for (const term of [false, true]) {
          const exit = classify(word(state, outcome, term), 1, null, reports);
          expect(reasons.has(exit.reason), `${state}/${outcome}/${term}`).toBe(true);
          expect(exit.reason === 'failed' || exit.reason === 'crashed' ? exit.error !== undefined : exit.error === undefined).toBe(true);
          expect('result' in exit).toBe(exit.reason === 'completed');
        }
      }
    }
  });
});

describe('Run phases', () => {
  const PHASES: readonly Phase[] = ['spawning', 'running', 'restart-wait', 'done'];
  const newRun = (): Run => new Run({} as RegisterRequest);
  /** Whether the code allows from -> to: tried on a fresh run, which an illegal move must leave unchanged. */
  const allowed = (from: Phase, to: Phase): boolean => {
    const run = newRun();
    run.phase = from;
    try {
      run.move(to, 'probe-event');
      expect(run.phase).toBe(to);
      return true;
    } catch (e) {
      expect((e as Error).message).toContain('probe-event');
      expect((e as Error).message).toContain(`${from} -> ${to}`);
      expect(run.phase).toBe(from);
      return false;
    }
  };
  const into = (to: Phase): Phase[] => PHASES.filter((from) => allowed(from, to));
  const outOf = (from: Phase): Phase[] => PHASES.filter((to) => allowed(from, to));

  it('a run starts in spawning', () => {
    expect(newRun().phase).toBe('spawning');
  });

  // Facts from lifecycle.ts's header (what each phase means, its invariants), checked against every (from, to)
  // pair the code allows — not against a copy of its table. An illegal move throws naming the event and both
  // phases, and changes nothing (checked inside allowed()).
  it('no phase moves to itself, and done is final', () => {
    for (const p of PHASES) expect(allowed(p, p)).toBe(false);
    expect(outOf('done')).toEqual([]);
  });

  it('every phase before done can end in done (a run can always be finished)', () => {
    for (const p of PHASES.filter((q) => q !== 'done')) expect(allowed(p, 'done')).toBe(true);
  });

  it("running is entered only from spawning: only a started thread reports 'running'", () => {
    expect(into('running')).toEqual(['spawning']);
  });

  it('spawning is re-entered only from restart-wait: a thread starts only for a request or the restart timer (invariant 1)', () => {
    expect(into('spawning')).toEqual(['restart-wait']);
  });

  it("restart-wait is entered from spawning and running alike: a thread's exit in either phase may restart", () => {
    expect(into('restart-wait')).toEqual(['spawning', 'running']);
  });

  it('every cycle passes through restart-wait: without it the phase graph has no cycle', () => {
    const visiting = new Set<Phase>();
    const done = new Set<Phase>();
    const acyclicFrom = (p: Phase): boolean => {
      if (done.has(p)) return true;
      if (visiting.has(p)) return false;
      visiting.add(p);
      const ok = outOf(p).filter((q) => q !== 'restart-wait').every(acyclicFrom);
      visiting.delete(p);
      done.add(p);
      return ok;
    };
    expect(PHASES.filter((p) => p !== 'restart-wait').every(acyclicFrom)).toBe(true);
  });

  it('done is final', () => {
    const run = newRun();
    run.move('running', 'started');
    run.move('done', 'exit');
    for (const to of PHASES) expect(() => run.move(to, 'late event')).toThrow();
  });

  it('clearTimers cancels both the grace and the restart timer', async () => {
    const run = newRun();
    let fired = 0;
    run.graceTimer = setTimeout(() => fired++, 0);
    run.restartTimer = setTimeout(() => fired++, 0);
    run.clearTimers();
    expect([run.graceTimer, run.restartTimer]).toEqual([undefined, undefined]);
    // Timers of the same duration run in the order they were set: this one runs after the two cleared ones were due.
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(fired).toBe(0);
  });
});
