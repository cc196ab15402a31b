/**
 * holdInterrupts(fn): PostgreSQL's HOLD_INTERRUPTS()/RESUME_INTERRUPTS() around a region that must not be left
 * half-done by a throw from checkForInterrupts() (G16).
 *
 * Two depths, one per kind of region. A synchronous fn (any function that is not an `async function`) cannot be
 * interleaved with other code, so a plain counter around the call is exact and costs a few ns. An async fn gets
 * a depth in its own AsyncLocalStorage, so the hold covers fn and everything it awaits, and nothing else: other
 * async work of the same thread that runs while fn awaits is not held. A plain function that returns a promise is
 * a synchronous region: what runs after its promise's first await is not held (write it as an async function).
 * Nesting adds one per region, of either kind.
 *
 * What the hold changes: only the throw. Inside a region checkForInterrupts() still processes pending interrupts
 * (so a precious death still aborts its scope and its teardown starts at once), `interruptPending()` still tells
 * the truth, and latch waits still wake on interrupts; the throw itself is deferred to the first check after the
 * outermost region ends, where it happens because what made it pending (an aborted scope, a termination
 * request) is sticky. Cost: a counter for a sync region, one AsyncLocalStorage.run for an async one; nothing on
 * checkForInterrupts()'s fast path (the depths are read only when there is something to throw).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { invalidOption } from '../errors.js';

const depth = new AsyncLocalStorage<number>();
/** Synchronous regions open on this thread's stack now. */
let syncDepth = 0;

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
  if ((fn as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'AsyncFunction') return depth.run((depth.getStore() ?? 0) + 1, fn);
  syncDepth++;
  try {
    return fn();
  } finally {
    syncDepth--;
  }
}

/** Whether the calling context is inside a holdInterrupts() region. */
export function interruptsHeld(): boolean {
  return syncDepth > 0 || depth.getStore() !== undefined;
}
