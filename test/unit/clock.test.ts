/**
 * The real clock past Node's timer range: a delay over 2^31-1 ms would fire after 1 ms in a plain setTimeout
 * (TimeoutOverflowWarning); the clock re-arms until its time, and Infinity never fires. Fake timers drive time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { realClock } from '../../src/supervisor/clock.js';

const MAX = 2 ** 31 - 1;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('realClock', () => {
  it('a delay past 2^31-1 ms fires at its time, not before', () => {
    const fn = vi.fn();
    realClock.setTimeout(fn, MAX + 1000);
    vi.advanceTimersByTime(MAX);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(999);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('Infinity never fires; clearTimeout works on a long timer after it re-armed', () => {
    const never = vi.fn();
    const cleared = vi.fn();
    realClock.setTimeout(never, Infinity);
    const t = realClock.setTimeout(cleared, 3 * MAX);
    vi.advanceTimersByTime(MAX + 1); // re-armed once
    realClock.clearTimeout(t);
    vi.advanceTimersByTime(5 * MAX);
    expect(never).not.toHaveBeenCalled();
    expect(cleared).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an ordinary delay is a plain timer', () => {
    const fn = vi.fn();
    realClock.setTimeout(fn, 5);
    vi.advanceTimersByTime(5);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});
