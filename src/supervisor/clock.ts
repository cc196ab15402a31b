/**
 * The supervisor loop's clock: the time it reads and the timers it sets (grace deadlines, restart delays). The
 * loop takes one as a dependency, so its unit and model tests drive time by hand instead of waiting for it.
 */

/** A timer as the loop holds it: opaque, only ever given back to the clock that made it. */
export type Timer = object;

export interface Clock {
  /** Milliseconds on a monotonic scale (performance.now() for the real clock). */
  now(): number;
  /** Calls `fn` once, `ms` from now; `Infinity`: never. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Cancels a timer of this clock; undefined or an already fired timer is a no-op. */
  clearTimeout(timer: Timer | undefined): void;
}

/** The longest delay a Node timer takes; a longer one (or Infinity) would fire after 1 ms (TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A real timer past MAX_TIMER_MS: re-armed in steps until its time; `Infinity` never fires. */
class LongTimer {
  handle: NodeJS.Timeout | undefined;
  constructor(fn: () => void, ms: number) {
    if (ms === Infinity) return;
    const due = performance.now() + ms;
    const arm = (): void => {
      const left = due - performance.now();
      this.handle = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
    };
    arm();
  }
}

/** Clears a timer of the real clock. */
export const clearRealTimer = (timer: Timer | undefined): void => clearTimeout(timer instanceof LongTimer ? timer.handle : (timer as NodeJS.Timeout | undefined));

/** The real clock of the supervisor thread. Any delay >= 0 works: up to Infinity (never). */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => (ms > MAX_TIMER_MS ? new LongTimer(fn, ms) : setTimeout(fn, ms)),
  clearTimeout: clearRealTimer,
};
