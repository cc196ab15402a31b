/**
 * The supervisor loop's clock: the time it reads and the timers it sets (grace deadlines, restart delays). The
 * loop takes one as a dependency, so its unit and model tests drive time by hand instead of waiting for it.
 */

/** A timer as the loop holds it: opaque, only ever given back to the clock that made it. */
export type Timer = object;

export interface Clock {
  /** Milliseconds on a monotonic scale (performance.now() for the real clock). */
  now(): number;
  /** Calls `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Cancels a timer of this clock; undefined or an already fired timer is a no-op. */
  clearTimeout(timer: Timer | undefined): void;
}

/** Clears a timer of the real clock. */
export const clearRealTimer = (timer: Timer | undefined): void => clearTimeout(timer as NodeJS.Timeout | undefined);

/** The real clock of the supervisor thread. */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: clearRealTimer,
};
