/**
 * Interrupts, as PostgreSQL's CHECK_FOR_INTERRUPTS(): per-thread state that any thread can make pending and
 * that the owning thread notices synchronously, even in a loop that never yields.
 *
 * Every thread has one set of words (layout.ts): a latch and an interrupt counter. A registrant thread makes its
 * own words; a worker thread uses its slot's words (installed by the bootstrap before any user code runs), so
 * inside a worker `myLatch()` is `ctx.latch`.
 *
 * Delivering an interrupt (`deliverInterrupt`): first publish the details (post the message, write the slot),
 * then bump the counter, then set the latch. The owner's `checkForInterrupts()` fast path is one Atomics.load of
 * the counter compared with the last value it processed, one local counter (termination requested), and — only
 * once some scope frame of this thread has aborted (context.ts `framesAborted`) — the current scope frame's
 * `aborted` flag. On a change it takes the slow path: drain every interrupt source of this
 * thread (each supervisor client's mailbox and its precious workers' death reports), which aborts the scopes
 * named there, then checks its own worker slot for a termination request.
 *
 * An async watcher (Atomics.waitAsync on the counter, no timeout, so nothing pends and nothing keeps the loop
 * alive) runs the same slow path when the thread is idle, so `scope.signal` aborts within microseconds of a
 * precious death rather than when the supervisor's message gets through.
 *
 * Invariants:
 * 1. The slow path records the counter *before* draining, so a bump that lands during the drain is seen next time.
 * 2. The slow path never throws out of a drain; each source reports its own failures to its logger.
 * 3. Reentrancy (an abort listener calling checkForInterrupts()) skips the drain instead of recursing.
 */
import { TerminationRequestedError } from '../errors.js';
import { createThreadWords, type ThreadWords } from '../shared/layout.js';
import { SharedLatch, setLatchWord, type Latch } from '../shared/latch.js';
import { TERM, genOf } from '../shared/slots.js';
import { currentFrame, framesAborted } from './context.js';
import { interruptsHeld } from './hold.js';
import { Atomics } from '../shared/intrinsics.js';

/** Something that can make interrupts pending for this thread: a supervisor client. */
export interface InterruptSource {
  /** Processes everything pending (synchronously). Must not throw. */
  drainInterrupts(): void;
}

/** This thread's identity as a worker, installed by the bootstrap. */
export interface WorkerSelf {
  readonly ctrl: Int32Array;
  readonly ctrlAt: number;
  readonly gen: number;
  readonly name: string;
  /** Aborted (with a TerminationRequestedError) when termination is requested. */
  readonly controller: AbortController;
}

let words: ThreadWords = createThreadWords();
// The counter's words as plain variables (words.i32, words.interrupt): the fast path reads them on every check.
let counterI32 = words.i32;
let counterAt = words.interrupt;
let seen = 0;
/** Non-zero once something sticky is pending that no scope frame records: a worker's termination request. */
let sticky = 0;
let draining = false;
/** Identifies the current watcher loop; a loop whose token is stale stops (the words it watched were replaced). */
let watchToken = 0;
let watching = false;
/** The thread is exiting: no new watcher (releaseWaits). */
let released = false;
let latch: SharedLatch | undefined;
let self: WorkerSelf | undefined;
let terminationError: TerminationRequestedError | undefined;
const sources = new Set<InterruptSource>();

/** This thread's words (a registrant hands them to its supervisor, which hands them to workers). */
export function threadWords(): ThreadWords {
  return words;
}

/**
 * Bootstrap only: makes this thread the worker described by `me`, using `workerWords` as its latch and
 * interrupt counter. Called once, before the entry module is imported.
 */
export function installWorker(workerWords: ThreadWords, me: WorkerSelf): void {
  words = workerWords;
  counterI32 = words.i32;
  counterAt = words.interrupt;
  seen = Atomics.load(counterI32, counterAt);
  latch = undefined;
  self = me;
  watching = false;
  watch();
}

export function addInterruptSource(source: InterruptSource): void {
  sources.add(source);
  watch();
}

export function removeInterruptSource(source: InterruptSource): void {
  sources.delete(source);
}

/** Makes this thread's own latch set, as every interrupt does (G7), for interrupts raised on this thread. */
export function wakeSelf(): void {
  setLatchWord(words.i32, words.latch);
}

/**
 * Like PostgreSQL's CHECK_FOR_INTERRUPTS(): throws the pending interrupt of the calling context, if any.
 * Inside a worker asked to stop: TerminationRequestedError. In a scope that (or whose ancestor) was aborted:
 * its abort reason. Otherwise a no-op. Synchronous and cheap (a few ns when nothing is pending): call it often.
 * Inside holdInterrupts() it processes what is pending but does not throw; the first check after the region does.
 */
export function checkForInterrupts(): void {
  if (Atomics.load(counterI32, counterAt) !== seen || sticky !== 0) {
    processInterrupts();
    if (terminationError !== undefined && !interruptsHeld()) throw terminationError;
  }
  if (framesAborted === 0) return; // no frame of this thread has aborted: none to look up
  const frame = currentFrame();
  if (frame !== undefined && frame.aborted && !interruptsHeld()) throw frame.reason;
}

/** True when checkForInterrupts() would throw (it processes pending interrupts to know). */
export function interruptPending(): boolean {
  if (Atomics.load(counterI32, counterAt) !== seen || sticky !== 0) {
    processInterrupts();
    if (terminationError !== undefined) return true;
  }
  if (framesAborted === 0) return false;
  const frame = currentFrame();
  return frame !== undefined && frame.aborted;
}

/** This thread's latch: the one workers set through `ctx.registrantLatch` (inside a worker: `ctx.latch`). */
export function myLatch(): Latch {
  latch ??= new SharedLatch(words.i32, words.latch, { interrupted: interruptPending });
  return latch;
}

/** The fast path's check: processes pending interrupts only if the counter moved (or something sticky is pending). */
export function pollInterrupts(): void {
  if (Atomics.load(counterI32, counterAt) !== seen || sticky !== 0) processInterrupts();
}

/** The slow path: drains every source, then looks at this worker's own slot. */
export function processInterrupts(): void {
  if (draining) return; // invariant 3
  draining = true;
  try {
    seen = Atomics.load(counterI32, counterAt); // invariant 1
    for (const source of sources) source.drainInterrupts();
    if (self !== undefined && terminationError === undefined) {
      const w = Atomics.load(self.ctrl, self.ctrlAt);
      if ((w & TERM) !== 0 && genOf(w) === self.gen) {
        terminationError = new TerminationRequestedError(self.name);
        sticky = 1;
        self.controller.abort(terminationError);
      }
    }
  } finally {
    draining = false;
  }
}

/**
 * Called as this thread exits: stops the idle watcher and wakes every wait pending on this thread's words, so
 * that no waiter of a dying thread is left for another thread's Atomics.notify. Node 20 can crash (SIGSEGV in
 * Atomics.notify → uv_async_send) when a notify reaches the pending waitAsync of a worker being torn down
 * (docs/benchmarks.md, "Known crash"); a waiter woken by its own thread while that thread is alive is gone from
 * the wait list before the teardown starts.
 */
export function releaseWaits(): void {
  released = true;
  watchToken++;
  Atomics.notify(words.i32, words.interrupt);
  Atomics.notify(words.i32, words.latch);
}

/** Keeps one Atomics.waitAsync on the counter so interrupts are processed while the thread is idle. */
function watch(): void {
  if (watching || released) return;
  watching = true;
  const token = ++watchToken;
  const loop = (): void => {
    if (token !== watchToken) return;
    const current = Atomics.load(words.i32, words.interrupt);
    if (current !== seen) processInterrupts();
    const r = Atomics.waitAsync(words.i32, words.interrupt, seen);
    if (r.async) void r.value.then(loop);
    else queueMicrotask(loop);
  };
  loop();
}
