/**
 * The supervisor loop (src/supervisor/loop.ts) driven with fake runtimes and a fake clock (loop-harness.ts): the
 * registrant's and the worker's moves are plain calls, time moves only in clock.advance(), so every order here is
 * chosen by the test. Covers register → start → exit → restart after the backoff; terminate with grace, then
 * forced; shutdown (also of a run that failed just before it); TERM before the start; and the guards against
 * stale requests and events.
 */
import { describe, expect, it } from 'vitest';
import { INTERRUPT } from '../../src/shared/layout.js';
import type { SerializedError } from '../../src/shared/protocol.js';
import { FREE, O_COMPLETED, O_FAILED, stateOf } from '../../src/shared/slots.js';
import { LoopHarness } from './loop-harness.js';

const boom: SerializedError = { name: 'Error', message: 'boom', stack: undefined, code: undefined, nonError: false };
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('supervisor loop: start, exit, restart', () => {
  it('register → start → failed exit → restart after the backoff → completed', () => {
    const h = new LoopHarness();
    h.register(0, { restartDelayMs: 100 });
    expect(h.runners).toHaveLength(1);
    expect(h.run(0)).toBe(true);
    expect(h.outcome(0, O_FAILED, boom)).toBe(O_FAILED);
    h.exit(0, 1);
    expect(h.kinds(0)).toEqual(['port', 'started', 'restarting']);
    expect(h.posted.at(-1)).toMatchObject({ t: 'restarting', delayMs: 100, exit: { reason: 'failed', error: boom } });
    expect(h.isPending(0)).toBe(true); // back to PENDING, outcome cleared, for the next commit
    h.clock.advance(99);
    expect(h.runners).toHaveLength(1);
    h.clock.advance(1);
    expect(h.runners).toHaveLength(2);
    expect(h.run(0)).toBe(true);
    h.outcome(0, O_COMPLETED);
    h.exit(0, 0);
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'completed' }, forced: false, requested: false });
    expect(stateOf(h.word(0))).toBe(FREE);
    expect(h.startsUnderTerm).toBe(0);
  });

  it('a non-restartable failure finishes at once', () => {
    const h = new LoopHarness();
    h.register(0);
    h.run(0);
    h.outcome(0, O_FAILED, boom);
    h.exit(0, 1);
    expect(h.kinds(0)).toEqual(['port', 'started', 'stopped']);
    expect(h.stopped(0)!.exit).toMatchObject({ reason: 'failed', error: boom });
  });

  it('a runtime that throws at start: failed, slot freed', () => {
    const h = new LoopHarness();
    h.failNextStart = true;
    h.register(0, { restartDelayMs: 0 });
    expect(h.stopped(0)!.exit).toMatchObject({ reason: 'failed', error: { message: 'spawn refused' } });
    expect(stateOf(h.word(0))).toBe(FREE);
  });

  it('a precious crash interrupts the registrant; a precious completion does not', () => {
    const h = new LoopHarness();
    h.register(0, { precious: true });
    h.run(0);
    h.exit(0, null, 'SIGKILL');
    expect(h.stopped(0)!.exit.reason).toBe('crashed');
    expect(h.registrantInterrupts).toBe(1);
    h.register(1, { precious: true });
    h.run(1);
    h.outcome(1, O_COMPLETED);
    h.exit(1);
    expect(h.registrantInterrupts).toBe(1);
  });
});

describe('supervisor loop: terminate', () => {
  it('TERM set before the start: never started, no runner', () => {
    const h = new LoopHarness();
    h.register(0, { restartDelayMs: 0, termBeforeRequest: true });
    expect(h.runners).toHaveLength(0);
    expect(h.kinds(0)).toEqual(['stopped']);
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'never-started', code: null, signal: null }, forced: false, requested: true });
    expect(stateOf(h.word(0))).toBe(FREE);
    expect(h.startsUnderTerm).toBe(0);
  });

  it('grace, then forced: requestStop at once, forceStop at the deadline, outcome terminated', () => {
    const h = new LoopHarness();
    const gen = h.register(0, { gracefulTimeoutMs: 100 });
    h.run(0);
    h.clock.advance(10);
    h.terminate(0, gen);
    expect([h.runnerOf(0).stops, h.runnerOf(0).forces]).toEqual([1, 0]);
    h.terminate(0, gen); // a second request changes nothing
    expect(h.runnerOf(0).stops).toBe(1);
    h.clock.advance(99);
    expect(h.runnerOf(0).forces).toBe(0);
    h.clock.advance(1);
    expect(h.runnerOf(0).forces).toBe(1);
    h.exit(0, 1);
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'terminated' }, forced: true, requested: true });
  });

  it('a worker that stops within the grace is not forced, and its timer is cleared', () => {
    const h = new LoopHarness();
    const gen = h.register(0, { gracefulTimeoutMs: 100 });
    h.run(0);
    h.terminate(0, gen);
    h.outcome(0, O_FAILED, boom); // recorded as TERMINATED: TERM was set first
    h.exit(0, 1);
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'terminated' }, forced: false, requested: true });
    expect(h.clock.pending).toBe(0);
  });

  it('terminate in the wait for a restart: terminated, with the last failure as error; no new runner', () => {
    const h = new LoopHarness();
    const gen = h.register(0, { restartDelayMs: 100 });
    h.run(0);
    h.outcome(0, O_FAILED, boom);
    h.exit(0, 1);
    h.terminate(0, gen);
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'terminated', error: boom }, requested: true });
    h.clock.advance(1000);
    expect(h.runners).toHaveLength(1);
  });

  it('stale requests and events are ignored: another generation, an earlier runner', () => {
    const h = new LoopHarness();
    const gen = h.register(0, { restartDelayMs: 0 });
    h.run(0);
    h.terminate(0, gen + 1);
    expect(h.runnerOf(0).stops).toBe(0);
    const first = h.runnerOf(0);
    h.exit(0, null, 'SIGKILL'); // crashed → restart
    h.clock.advance(0);
    expect(h.runners).toHaveLength(2);
    first.events.exit(0, null); // a late event of the first run's runner
    expect(h.kinds(0).filter((k) => k === 'stopped')).toEqual([]);
  });
});

describe('supervisor loop: shutdown', () => {
  it('stops every run with the shorter timeout, ends waits for restarts, then posts shutdown-done once', async () => {
    const h = new LoopHarness();
    h.register(0, { gracefulTimeoutMs: 1000 });
    h.run(0);
    h.register(1, { restartDelayMs: 500 });
    h.run(1);
    h.outcome(1, O_FAILED, boom);
    h.exit(1, 1); // slot 1 waits for its restart
    h.shutdown(50);
    expect(Atomics.load(h.table.i32, h.table.at(0, INTERRUPT))).toBe(1); // the running worker's interrupt
    expect(h.runnerOf(0).stops).toBe(1);
    expect(h.stopped(1)).toMatchObject({ exit: { reason: 'terminated', error: boom } });
    h.register(2); // a register during the shutdown gets TERM at once
    expect(h.stopped(2)!.exit.reason).toBe('never-started');
    h.clock.advance(50);
    expect(h.runnerOf(0).forces).toBe(1);
    expect(h.loop.state).toBe('shutting-down');
    h.exit(0, 1);
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'terminated' }, forced: true });
    expect(h.loop.state).toBe('finishing');
    await flush();
    expect(h.loop.state).toBe('closed');
    expect(h.posted.filter((m) => m.t === 'shutdown-done')).toHaveLength(1);
    expect(h.closed).toBe(1);
    expect(h.runners).toHaveLength(2);
  });

  it('a restartable run that failed just before the shutdown is not restarted: terminated, with its failure', async () => {
    const h = new LoopHarness();
    h.register(0, { restartDelayMs: 10 });
    h.run(0);
    h.outcome(0, O_FAILED, boom); // recorded before TERM: a failure, which alone would restart it
    h.shutdown(1000);
    h.exit(0, 1);
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'terminated', error: boom } });
    h.clock.advance(1000);
    expect(h.runners).toHaveLength(1); // no restart, not even after its delay
    await flush();
    expect(h.loop.state).toBe('closed');
  });

  it('a second shutdown with a longer timeout does not put the forced stop back', () => {
    const h = new LoopHarness();
    h.register(0, { gracefulTimeoutMs: 1000 });
    h.run(0);
    h.shutdown(500);
    h.clock.advance(100);
    h.shutdown(800); // deadline 900 > 500: unchanged
    h.clock.advance(399);
    expect(h.runnerOf(0).forces).toBe(0);
    h.clock.advance(1);
    expect(h.runnerOf(0).forces).toBe(1);
    expect(h.clock.pending).toBe(0);
  });

  it('a second shutdown with a shorter timeout brings the forced stop forward', () => {
    const h = new LoopHarness();
    h.register(0, { gracefulTimeoutMs: 1000 });
    h.run(0);
    h.shutdown(500);
    h.clock.advance(100);
    h.shutdown(100); // deadline 200 < 500: brought forward
    h.clock.advance(99);
    expect(h.runnerOf(0).forces).toBe(0);
    h.clock.advance(1);
    expect(h.runnerOf(0).forces).toBe(1);
    h.clock.advance(1000);
    expect(h.runnerOf(0).forces).toBe(1);
    expect(h.runnerOf(0).stops).toBe(1); // relayed once, by the first shutdown
  });

  it('an infinite grace is never forced, at shutdown(Infinity) either; a later finite shutdown forces it', () => {
    const h = new LoopHarness();
    h.register(0, { gracefulTimeoutMs: Infinity });
    h.run(0);
    h.register(1, { gracefulTimeoutMs: Infinity });
    h.run(1);
    h.register(2, { gracefulTimeoutMs: 100 });
    h.run(2);
    h.shutdown(Infinity);
    expect(h.runnerOf(0).stops).toBe(1);
    h.clock.advance(100);
    expect(h.runnerOf(2).forces).toBe(1); // Infinity is no cap: its own 100 ms
    h.clock.advance(1e12);
    expect(h.runnerOf(0).forces).toBe(0);
    expect(h.runnerOf(1).forces).toBe(0);
    h.outcome(0, O_COMPLETED);
    h.exit(0, 0);
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'completed' }, forced: false });
    h.shutdown(10);
    h.clock.advance(9);
    expect(h.runnerOf(1).forces).toBe(0);
    h.clock.advance(1);
    expect(h.runnerOf(1).forces).toBe(1);
  });

  it('a shutdown with no runs finishes at once', async () => {
    const h = new LoopHarness();
    h.shutdown(10);
    await flush();
    expect(h.posted.map((m) => m.t)).toEqual(['shutdown-done']);
  });
});

describe('supervisor loop: relay', () => {
  it('a relayed signal reaches each running worker once, and no run that is pending, waiting for a restart or done', () => {
    const h = new LoopHarness();
    h.register(0); // will run
    h.register(1); // stays spawning (never reports running)
    h.register(2, { restartDelayMs: 1000 }); // runs, fails, waits for its restart
    h.register(3); // runs, completes: done
    expect(h.run(0)).toBe(true);
    expect(h.run(2)).toBe(true);
    h.outcome(2, O_FAILED, boom);
    h.exit(2, 1);
    expect(h.run(3)).toBe(true);
    h.outcome(3, O_COMPLETED);
    h.exit(3, 0);
    h.loop.handle({ t: 'relay', signal: 'SIGHUP' });
    expect(h.runners.map((r) => r.signals)).toEqual([['SIGHUP'], [], [], []]);
  });
});

