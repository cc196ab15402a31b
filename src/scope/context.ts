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

/**
 * How many scope frames of this thread have aborted, ever. While it is 0 no frame can be aborted, so the interrupt
 * checks skip the frame lookup (`getStore()`: cheap once optimised, but several calls deep in a fresh thread's
 * unoptimised code, where it was most of a cold latch wait's cost).
 */
export let framesAborted = 0;

/** Counts an abort of a scope frame of this thread; called before the frame's `aborted` is set. */
export function noteFrameAborted(): void {
  framesAborted++;
}

/** Runs fn with `frame` as the current scope frame. */
export function runInFrame<T>(frame: ScopeFrame, fn: () => T): T {
  return storage.run(frame, fn);
}

/** The innermost scope frame of the calling async context, or undefined. */
export function currentFrame(): ScopeFrame | undefined {
  return storage.getStore();
}
