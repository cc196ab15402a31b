/**
 * Retry backoff of a failed job: exponential in the attempt, capped, with "equal jitter" (half the delay fixed,
 * half random), so jobs that failed together do not all come back at the same instant while a retry never comes
 * sooner than half its nominal delay. Pure: the Foreman calls it when an attempt fails and passes the result to
 * `session.fail` as `retryAt`. No state.
 */

/** Backoff of failed jobs: `min(maxBackoffMs, baseMs * 2^(attempt-1))`, with jitter. */
export interface BackoffOptions {
  /** The first retry's nominal delay (ms). @default 1000 */
  readonly baseMs?: number;
  /** No retry waits longer than this (ms). @default 300000 */
  readonly maxBackoffMs?: number;
}

/** Default first retry delay. */
export const DEFAULT_BACKOFF_BASE_MS = 1000;
/** Default cap of a retry delay. */
export const DEFAULT_MAX_BACKOFF_MS = 300_000;

/**
 * The delay before the retry of a job whose attempt `attempt` (from 1) failed: nominal
 * `min(maxMs, baseMs * 2^(attempt-1))`, returned as `nominal/2 + random * nominal/2`.
 */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const nominal = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 52));
  return nominal / 2 + random() * (nominal / 2);
}
