/**
 * holdInterrupts(fn): PostgreSQL's HOLD_INTERRUPTS()/RESUME_INTERRUPTS() around a region that must not be left
 * half-done by a throw from checkForInterrupts() (G16).
 *
 * The hold is a depth in its own AsyncLocalStorage, so it covers fn and everything fn awaits, and nothing else:
 * other async work of the same thread that runs while fn awaits is not held. Nesting adds one per region.
 *
 * What the hold changes: only the throw. Inside a region checkForInterrupts() still processes pending interrupts
 * (so a precious death still aborts its scope and its teardown starts at once), `interruptPending()` still tells
 * the truth, and latch waits still wake on interrupts; the throw itself is deferred to the first check after the
 * outermost region ends, where it happens because what made it pending (an aborted scope, a termination
 * request) is sticky. Cost: one AsyncLocalStorage.run per region; nothing on checkForInterrupts()'s fast path
 * (the depth is read only when there is something to throw).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { invalidOption } from '../errors.js';

const depth = new AsyncLocalStorage<number>();

/**
 * Runs `fn` with interrupts held: checkForInterrupts() does not throw inside it (sync or async); a pending
 * interrupt is kept and thrown at the first check after the outermost region. Returns fn's value.
 *
 * @example
 * ```ts
 * // hold.ts
 * import { Supervisor, checkForInterrupts, holdInterrupts } from 'bgworkers';
 *
 * const supervisor = await Supervisor.start();
 * const seen: string[] = [];
 * try {
 *   await supervisor.scope((scope) => {
 *     holdInterrupts(() => {
 *       scope.abort(new Error('stop'));
 *       checkForInterrupts(); // held: the region runs to its end
 *       seen.push('region done');
 *     });
 *     checkForInterrupts(); // throws the abort reason now
 *   }).catch((err: Error) => seen.push(err.message));
 *   console.log(seen.join(', ')); // prints: region done, stop
 * } finally {
 *   await supervisor.shutdown();
 * }
 * ```
 */
export function holdInterrupts<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw invalidOption('fn', 'a function', fn);
  return depth.run((depth.getStore() ?? 0) + 1, fn);
}

/** Whether the calling context is inside a holdInterrupts() region. */
export function interruptsHeld(): boolean {
  return depth.getStore() !== undefined;
}
