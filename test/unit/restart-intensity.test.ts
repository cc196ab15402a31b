/**
 * G17 restart intensity and backoff: decideBackoff (pure) and the supervisor loop carrying it out on a fake clock
 * (delays grow by the factor up to the cap, a long run resets them, more than maxRestarts restarts within the
 * window stop the worker for good, terminate still cancels a scheduled restart at once).
 */
import { describe, expect, it } from 'vitest';
import type { RestartBackoff } from '../../src/shared/protocol.js';
import { FREE, O_FAILED, stateOf } from '../../src/shared/slots.js';
import { NO_RESTARTS, decideBackoff, type RestartHistory } from '../../src/supervisor/restart-policy.js';
import { LoopHarness } from './loop-harness.js';

const boom = { name: 'Error', message: 'boom', stack: undefined, code: undefined, nonError: false };
const policy = (b: Partial<RestartBackoff> = {}): RestartBackoff => ({ maxDelayMs: Infinity, factor: 2, maxRestarts: Infinity, withinMs: 1000, ...b });

/** Feeds decideBackoff a run of failures, each `ranMs` long, `gapMs` after the restart; returns the delays. */
function delays(b: RestartBackoff, runs: number, ranMs: number, base = 10): (number | 'give-up')[] {
  let h: RestartHistory = NO_RESTARTS;
  let now = 0;
  const out: (number | 'give-up')[] = [];
  for (let i = 0; i < runs; i++) {
    const startedAt = now;
    now += ranMs;
    const d = decideBackoff(h, now, startedAt, base, b);
    if (d.kind === 'give-up') {
      out.push('give-up');
      break;
    }
    out.push(d.delayMs);
    h = d.history;
    now += d.delayMs;
  }
  return out;
}

describe('decideBackoff', () => {
  it('grows by the factor, capped at maxDelayMs', () => {
    expect(delays(policy({ maxDelayMs: 50 }), 5, 1)).toEqual([10, 20, 40, 50, 50]);
  });
  it('factor 1 is a constant delay', () => {
    expect(delays(policy({ factor: 1 }), 4, 1)).toEqual([10, 10, 10, 10]);
  });
  it('a run that lasted withinMs resets the delay', () => {
    let h: RestartHistory = NO_RESTARTS;
    const b = policy();
    for (const now of [1, 100, 300]) {
      const d = decideBackoff(h, now, now - 1, 10, b);
      if (d.kind !== 'restart') throw new Error('gave up');
      h = d.history;
    }
    expect(h.consecutive).toBe(3);
    const long = decideBackoff(h, 2000, 999, 10, b); // ran 1001 ms >= withinMs
    expect(long).toMatchObject({ kind: 'restart', delayMs: 10 });
  });
  it('more than maxRestarts within withinMs gives up, counting only restarts inside the window', () => {
    expect(delays(policy({ maxRestarts: 3, factor: 1 }), 10, 1)).toEqual([10, 10, 10, 'give-up']);
    expect(decideBackoff({ consecutive: 3, times: [0, 10, 20] }, 25, 24, 10, policy({ maxRestarts: 3 }))).toEqual({ kind: 'give-up', restarts: 3, withinMs: 1000 });
    // The same three restarts, but the first has left the window: one more is allowed.
    expect(decideBackoff({ consecutive: 3, times: [0, 10, 20] }, 1005, 1004, 10, policy({ maxRestarts: 3 }))).toMatchObject({ kind: 'restart' });
  });
  it('maxRestarts 0: the first failure is final', () => {
    expect(decideBackoff(NO_RESTARTS, 5, 0, 10, policy({ maxRestarts: 0 }))).toEqual({ kind: 'give-up', restarts: 0, withinMs: 1000 });
  });
});

describe('supervisor loop: restart intensity', () => {
  /** One failed run of slot 0: run, fail, exit. */
  const fail = (h: LoopHarness): void => {
    expect(h.run(0)).toBe(true);
    h.outcome(0, O_FAILED, boom);
    h.exit(0, 1);
  };

  it('restarts after 10, 20, 40 ms, then gives up: failed, with the intensity in the stopped message', () => {
    const h = new LoopHarness();
    h.register(0, { restartDelayMs: 10, restartBackoff: { factor: 2, maxDelayMs: 1000, maxRestarts: 3, withinMs: 10_000 } });
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      fail(h);
      const m = h.posted.at(-1);
      expect(m).toMatchObject({ t: 'restarting' });
      const delay = (m as { delayMs: number }).delayMs;
      waits.push(delay);
      h.clock.advance(delay - 1);
      expect(h.runners).toHaveLength(i + 1); // not a moment early
      h.clock.advance(1);
      expect(h.runners).toHaveLength(i + 2);
    }
    expect(waits).toEqual([10, 20, 40]);
    fail(h); // the fourth failure: 3 restarts within the window already
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'failed', error: boom }, gaveUp: { restarts: 3, withinMs: 10_000 } });
    expect(stateOf(h.word(0))).toBe(FREE);
    h.clock.advance(100_000);
    expect(h.runners).toHaveLength(4); // never started again
  });

  it('terminate cancels a scheduled (backed-off) restart at once', () => {
    const h = new LoopHarness();
    const gen = h.register(0, { restartDelayMs: 10, restartBackoff: { factor: 10, maxDelayMs: Infinity, maxRestarts: 5, withinMs: 10_000 } });
    fail(h);
    h.clock.advance(10);
    fail(h); // now waiting 100 ms
    h.terminate(0, gen);
    expect(h.stopped(0)).toMatchObject({ exit: { reason: 'terminated' } });
    expect(h.stopped(0)?.gaveUp).toBeUndefined();
    h.clock.advance(1000);
    expect(h.runners).toHaveLength(2);
  });
});
