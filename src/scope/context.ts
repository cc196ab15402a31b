/**
 * The scope context of the calling async context: one AsyncLocalStorage per thread.
 *
 * Why AsyncLocalStorage and not cls-hooked: it is built in and maintained, `getStore()` costs ~2 ns (it sits on
 * checkForInterrupts()'s fast path), and 1e6 awaits inside it cost 154 ms against 1,913 ms inside a cls-hooked
 * namespace on these machines (docs/architecture.md).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The part of a scope that checkForInterrupts() reads on its fast path. */
export interface ScopeFrame {
  /** Set once, when the scope aborts; descendants are aborted with the same reason (G6). */
  aborted: boolean;
  reason: unknown;
}

const storage = new AsyncLocalStorage<ScopeFrame>();

/** Runs fn with `frame` as the current scope frame. */
export function runInFrame<T>(frame: ScopeFrame, fn: () => T): T {
  return storage.run(frame, fn);
}

/** The innermost scope frame of the calling async context, or undefined. */
export function currentFrame(): ScopeFrame | undefined {
  return storage.getStore();
}
