/**
 * Latches, as in PostgreSQL's latch.c: a flag in shared memory that one thread sets and its owner waits on.
 *
 * ## The contract
 *
 * - A latch stays set until reset; setting a set latch is a no-op; a waiter sees a set latch at once.
 * - `set()` never throws: it runs in exit and abort paths.
 * - Any interrupt made pending for a thread sets that thread's latch (interrupts.ts), so a wait never sleeps
 *   through an interrupt: `wait()`/`waitSync()` return with `interrupted: true` as soon as one is pending.
 * - The one correct loop (reset first, then look for work, then wait — a set that lands between the check and
 *   the wait is not lost, because the latch stays set):
 *
 *   ```ts
 *   for (;;) {
 *     latch.reset();
 *     checkForInterrupts();
 *     if (haveWork()) doWork();
 *     await latch.wait();
 *   }
 *   ```
 *
 * ## Words
 *
 * `i32[index]` is the latch (0 unset, 1 set); `i32[index + SLEEPERS_OFFSET]` (layout.ts) counts threads asleep
 * on it, so `set()` pays for `Atomics.notify` only when someone sleeps. Dekker-style ordering with sequentially
 * consistent atomics: the setter stores 1 then loads the sleeper count; a sleeper adds itself then loads the
 * latch; one of the two always sees the other.
 *
 * ## Costs (measured on the 2-core machines; docs/architecture.md, "Measured facts")
 *
 * Waking a sleeping thread costs ~55 µs, so a latch that only sleeps is no faster than postMessage. Both waits
 * spin on `Atomics.load` for `SPIN_LOADS` reads first (~0.2 µs round trips when the partner answers quickly).
 * `Atomics.waitAsync` is never given a timeout (its timer stays pending after a notify and tens of thousands of
 * them stall the event loop); the timeout is a cleared timer that notifies the word instead, and that timer is
 * also the ref'd handle that keeps the event loop alive while `wait()` is pending (a pending waitAsync does not).
 */
import { invalidOption, unknownOption } from '../errors.js';
import { SLEEPERS_OFFSET } from './layout.js';
import { Atomics } from './intrinsics.js';

/** Loads before sleeping: ~2,000 reads cover a partner that answers within a few microseconds. */
export const SPIN_LOADS = 2000;
/** Async waits spin less: spinning blocks the event loop, and a waitAsync wake-up is cheap relative to it. */
export const SPIN_LOADS_ASYNC = 200;
/** Keep-alive period for an untimed `wait()`: the timer only holds the event loop open; it never fires usefully. */
const KEEPALIVE_MS = 0x3fffffff;

/** Result of a latch wait; more than one flag can be true. */
export interface WaitResult {
  /** The latch was set when the wait returned. */
  latchSet: boolean;
  /** The timeout passed before the latch was set. */
  timedOut: boolean;
  /** An interrupt is pending for the waiting thread (checkForInterrupts() would throw). */
  interrupted: boolean;
}

/** Options of a latch wait. */
export interface WaitOptions {
  /** Give up after this many milliseconds (a finite number >= 0). @default no timeout */
  timeoutMs?: number;
}

/**
 * A flag in shared memory that one thread sets and another waits on (guarantee G7 in docs/guide.md).
 *
 * Warning: a latch is a flag, not a queue. Two sets before a wait are one wake-up. Keep a record of the work to
 * do next to it (a counter, a queue) and use the latch only to say "look again" — unless, as in a strict
 * ping-pong, at most one wake-up is ever outstanding and each side resets its own latch before it wakes the
 * other.
 *
 * Warning: `waitSync()` blocks the thread, JavaScript signal handlers included; on a main thread that must
 * answer Ctrl-C, wait with a timeout and yield to the event loop now and then (see examples/pingpong).
 */
export interface Latch {
  /** Sets the latch and wakes a waiter; setting a set latch is a no-op. Never throws. */
  set(): void;
  /** Clears the latch. Reset before checking for work, never after (see the loop in the guide). */
  reset(): void;
  /** Whether the latch is set now. */
  readonly isSet: boolean;
  /** Waits until the latch is set, the timeout passes or an interrupt is pending. Does not block the event loop. */
  wait(options?: WaitOptions): Promise<WaitResult>;
  /** Like wait(), but blocks the calling thread (Atomics.wait). Use it in workers or tight loops, not in servers. */
  waitSync(options?: WaitOptions): WaitResult;
}

/** Hooks that tie a latch to its owner: whether it still refers to a live worker, and the waiter's interrupts. */
export interface LatchHooks {
  /** False once the latch's worker has stopped: the latch is then inert (a no-op). */
  alive?: () => boolean;
  /** Whether an interrupt is pending for the calling thread. */
  interrupted?: () => boolean;
}

const never = (): boolean => false;
const noop = (): void => {};

/**
 * The ref'd handle that keeps the event loop alive while any untimed `wait()` of this thread sleeps (a pending
 * waitAsync does not): one interval that never fires usefully, ref'd while at least one such wait is pending and
 * unref'd otherwise — a ref count instead of a timer made and cleared per sleep.
 */
let keepAlive: NodeJS.Timeout | undefined;
let keptAlive = 0;
function holdLoop(): void {
  if (keptAlive++ === 0) (keepAlive ??= setInterval(noop, KEEPALIVE_MS)).ref();
}
function releaseLoop(): void {
  if (--keptAlive === 0) keepAlive!.unref();
}

/**
 * A latch over `i32[index]` (and its sleeper count at `index + SLEEPERS_OFFSET`).
 *
 * The waits are written for their hot path, a ping-pong whose partner answers within the spin: check the word,
 * spin on it, return — with no hook called before the word is seen set, and the interrupt hook called once, for
 * the result. Hooks run only where the contract needs them: `alive` (when given) before each look at the word
 * and again once it is seen set; `interrupted` for the result, and before every sleep, so a wait whose interrupt
 * was pending with the latch clear (the owner reset it after the delivery) returns after its spin instead of
 * sleeping: it never sleeps through an interrupt, and returns the same result as a check before the spin would.
 */
export class SharedLatch implements Latch {
  readonly #i32: Int32Array;
  readonly #index: number;
  readonly #alive: (() => boolean) | undefined;
  readonly #interrupted: () => boolean;

  constructor(i32: Int32Array, index: number, hooks: LatchHooks = {}) {
    this.#i32 = i32;
    this.#index = index;
    this.#alive = hooks.alive;
    this.#interrupted = hooks.interrupted ?? never;
  }

  set(): void {
    if (this.#alive !== undefined && !this.#alive()) return;
    // setLatchWord, inlined: this is half of every ping-pong round trip, and a fresh thread runs it unoptimised.
    const i32 = this.#i32;
    const index = this.#index;
    Atomics.store(i32, index, 1);
    if (Atomics.load(i32, index + SLEEPERS_OFFSET) > 0) Atomics.notify(i32, index);
  }

  reset(): void {
    if (this.#alive !== undefined && !this.#alive()) return;
    Atomics.store(this.#i32, this.#index, 0);
  }

  get isSet(): boolean {
    return (this.#alive === undefined || this.#alive()) && Atomics.load(this.#i32, this.#index) === 1;
  }

  waitSync(options?: WaitOptions): WaitResult {
    const deadline = options === undefined ? Infinity : deadlineOf(options);
    if (this.#alive !== undefined) return this.#waitSyncLoop(deadline, false);
    // The hot path of a hook-free latch (myLatch(), ctx.latch, ctx.registrantLatch): look, spin, return. The look
    // and the spin are inline and everything else is in #waitSyncLoop, so that this method stays small and a fresh
    // thread's first round trips run it optimised soon (its own loop makes it hot, and it has little else to compile).
    const i32 = this.#i32;
    const index = this.#index;
    if (Atomics.load(i32, index) !== 1) {
      if (deadline !== Infinity && performance.now() >= deadline) return this.#expired();
      let i = 0;
      while (i < SPIN_LOADS && Atomics.load(i32, index) !== 1) i++;
      if (i === SPIN_LOADS) return this.#waitSyncLoop(deadline, true);
    }
    return { latchSet: true, timedOut: false, interrupted: this.#interrupted() };
  }

  /**
   * waitSync() past the hot path: with an alive hook from the start, else after a spin that saw the word clear
   * (`spun`: the first look and spin are done). Sleeps as a counted sleeper until the result is known.
   */
  #waitSyncLoop(deadline: number, spun: boolean): WaitResult {
    const i32 = this.#i32;
    const index = this.#index;
    for (;;) {
      if (!spun) {
        if (this.#alive !== undefined && !this.#alive()) return this.#inert();
        if (Atomics.load(i32, index) === 1) return this.#seenSet();
        if (deadline !== Infinity && performance.now() >= deadline) return this.#expired();
        if (spinUntilSet(i32, index, SPIN_LOADS)) return this.#seenSet();
      }
      spun = false;
      if (this.#interrupted()) return { latchSet: false, timedOut: false, interrupted: true };
      const remaining = deadline === Infinity ? undefined : Math.max(0, deadline - performance.now());
      Atomics.add(i32, index + SLEEPERS_OFFSET, 1);
      try {
        Atomics.wait(i32, index, 0, remaining);
      } finally {
        Atomics.sub(i32, index + SLEEPERS_OFFSET, 1);
      }
    }
  }

  async wait(options?: WaitOptions): Promise<WaitResult> {
    const deadline = options === undefined ? Infinity : deadlineOf(options);
    const i32 = this.#i32;
    const index = this.#index;
    if (this.#alive !== undefined && !this.#alive()) return this.#inert();
    if (Atomics.load(i32, index) === 1) return this.#seenSet();
    if (deadline !== Infinity && performance.now() >= deadline) return this.#expired();
    if (spinUntilSet(i32, index, SPIN_LOADS_ASYNC)) return this.#seenSet();
    return deadline === Infinity ? this.#sleepUntimed() : this.#sleepTimed(deadline);
  }

  /** wait() past its spin, without a timeout: sleeps (the event loop held open) until the result is known. */
  async #sleepUntimed(): Promise<WaitResult> {
    holdLoop();
    try {
      for (;;) {
        const early = this.#check(Infinity);
        if (early) return early;
        await this.#sleepOnce();
      }
    } finally {
      releaseLoop();
    }
  }

  /** wait() past its spin, with a timeout: the timer that notifies the word is also the ref'd handle. */
  async #sleepTimed(deadline: number): Promise<WaitResult> {
    const i32 = this.#i32;
    const index = this.#index;
    // Node timers can fire up to ~1 ms before a performance.now() deadline, so a timer that fired early is re-armed
    // for what is left: otherwise the wait would go back to sleep with nothing left to wake it.
    let timer: NodeJS.Timeout;
    let fired = false;
    const arm = (): void => {
      fired = false;
      timer = setTimeout(
        () => {
          fired = true;
          Atomics.notify(i32, index);
        },
        Math.max(1, Math.ceil(deadline - performance.now())),
      );
    };
    arm();
    try {
      for (;;) {
        const early = this.#check(deadline);
        if (early) return early;
        if (fired) arm();
        await this.#sleepOnce();
      }
    } finally {
      clearTimeout(timer!);
    }
  }

  /** One counted asynchronous sleep on the word (until it is set or notified), the sleeper count held meanwhile. */
  async #sleepOnce(): Promise<void> {
    const i32 = this.#i32;
    const index = this.#index;
    Atomics.add(i32, index + SLEEPERS_OFFSET, 1);
    try {
      const r = Atomics.waitAsync(i32, index, 0);
      if (r.async) await r.value;
    } finally {
      Atomics.sub(i32, index + SLEEPERS_OFFSET, 1);
    }
  }

  /** The result to return now, or undefined to sleep (every hook, in the contract's order). */
  #check(deadline: number): WaitResult | undefined {
    if (this.#alive !== undefined && !this.#alive()) return this.#inert();
    if (Atomics.load(this.#i32, this.#index) === 1) return this.#seenSet();
    if (this.#interrupted()) return { latchSet: false, timedOut: false, interrupted: true };
    // (No clock read for an untimed wait: it is most of the cost of a wait on a set latch.)
    if (deadline !== Infinity && performance.now() >= deadline) return { latchSet: false, timedOut: true, interrupted: false };
    return undefined;
  }

  /** The word was seen set: set, unless the latch's worker stopped meanwhile (the latch is then inert). */
  #seenSet(): WaitResult {
    if (this.#alive !== undefined && !this.#alive()) return this.#inert();
    return { latchSet: true, timedOut: false, interrupted: this.#interrupted() };
  }

  #inert(): WaitResult {
    return { latchSet: false, timedOut: false, interrupted: this.#interrupted() };
  }

  /** The deadline passed with the word clear: a pending interrupt is reported before the timeout, as #check does. */
  #expired(): WaitResult {
    if (this.#interrupted()) return { latchSet: false, timedOut: false, interrupted: true };
    return { latchSet: false, timedOut: true, interrupted: false };
  }
}

/** Loads the word up to `loads` times; true as soon as it reads set. (Its own function: small, optimised early.) */
function spinUntilSet(i32: Int32Array, index: number, loads: number): boolean {
  for (let i = 0; i < loads; i++) if (Atomics.load(i32, index) === 1) return true;
  return false;
}

/** Sets a latch word and wakes its sleepers, if any. Never throws. */
export function setLatchWord(i32: Int32Array, index: number): void {
  // A plain store, even over a set latch: loading first would cost a second cache-line transfer when the latch is
  // clear (the owner's reset left the line in its cache), which is the case on every ping-pong round trip.
  Atomics.store(i32, index, 1);
  if (Atomics.load(i32, index + SLEEPERS_OFFSET) > 0) Atomics.notify(i32, index);
}

/**
 * Makes an interrupt pending for a thread: bumps its interrupt counter, wakes its idle watcher (Atomics.add alone
 * wakes no one), and sets its latch, in that order (interrupts.ts). Never throws.
 */
export function deliverInterrupt(i32: Int32Array, interruptAt: number, latchAt: number): void {
  Atomics.add(i32, interruptAt, 1);
  Atomics.notify(i32, interruptAt);
  setLatchWord(i32, latchAt);
}

function deadlineOf(options: WaitOptions): number {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object', options);
  // for-in with an own-property test: the keys Object.keys() gives, without allocating an array per wait.
  for (const key in options) if (key !== 'timeoutMs' && Object.hasOwn(options, key)) throw unknownOption(key, 'wait', ['timeoutMs']);
  const t = options.timeoutMs;
  if (t === undefined) return Infinity;
  if (typeof t !== 'number' || !(t >= 0)) throw invalidOption('timeoutMs', 'a number >= 0', t); // !(t >= 0): NaN too, no call
  return t === Infinity ? Infinity : performance.now() + t;
}
