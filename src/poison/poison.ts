/**
 * Poison<T>: protects a value from reuse after a holder left it half-updated (neon's utils::poison; Rust's
 * mutex poisoning without the mutex). It is not a lock: one thread's code arms it, updates the value, disarms.
 *
 * States and who moves them (all on the owning thread; nothing here is shared):
 *
 *   clean ──checkAndArm()──► armed ──guard.disarm()──► clean
 *                              │
 *                              └──guard dropped without disarm() ([Symbol.dispose], use()'s fn threw or
 *                                 rejected, or use()'s scope aborted before fn settled)──► poisoned (final)
 *
 * - checkAndArm() on `poisoned` throws PoisonedError (what, at); on `armed` throws PoisonArmedError.
 * - A guard acts once: after disarm() or dispose, further calls do nothing. Only one guard is live at a time
 *   (arming an armed poison throws), so an ended guard can never touch a later arm.
 * - poisoned is final: there is no "clear". Build a new Poison from a checked value instead.
 *
 * Cost: checkAndArm() + disarm() are one compare and two stores of small integers (State, a const enum: the
 * numbers are written in place) and one small object (the guard: the cell, the value, whether it ended), which V8
 * keeps off the heap once the caller's loop is optimised and inlines them. The value lives in the Poison and its
 * guard, not in the cell, so `guard.data` reads the guard. checkAndArm() tests the state once (`!== State.Clean`);
 * the refusal errors (refusal()) and the poisoning (poisonCell()) are out of line, so the paths a clean update
 * takes stay small enough to inline. Two things cut the checks V8's optimised loop makes per update (machine
 * instructions a turn of bench/poison.mjs's loop, in the on-stack-replaced code each of its calls runs: 65 before
 * them, 57 with them, 29 for the bare try/finally; in the loop's regular optimised code 56 and 48):
 * - checkAndArm() makes the guard before it tests and arms the cell. V8 drops what it knows of an object's shape
 *   at each allocation of a new one (it cannot tell the two apart), so a guard made after the arm cost a second
 *   check of the cell's shape in disarm(); made first, the one check at the test still holds at disarm().
 * - checkAndArm() reads the guard class from a `const` of Poison's static block, where it is defined (see there):
 *   V8 folds that const to the class, while a module-level binding (the bundle makes every one a `var`) is read
 *   and compared with the expected class on every arm.
 */
import { PoisonArmedError, PoisonedError } from '../errors.js';
import { currentScope } from '../scope/scope.js';
import { warnThread } from '../shared/thread-logger.js';

/**
 * A Poison's states (see the header). A const enum: tsc writes the numbers in place, so the arm and disarm paths
 * compare and store immediates (module-level constants would be a context load and a type check each, per use).
 */
const enum State {
  Clean = 0,
  Armed = 1,
  Poisoned = 2,
}

/** A Poison's state, shared with its guards (no accessor objects on the arm/disarm path; the value is not here). */
interface Cell {
  readonly what: string;
  state: State;
  at: Date | undefined;
}

/** The error checkAndArm() throws for a cell that is not clean (kept out of checkAndArm() so that stays small). */
function refusal(c: Cell): Error {
  return c.state === State.Poisoned ? new PoisonedError(c.what, c.at!) : new PoisonArmedError(c.what, 'this thread');
}

/** Poisons the cell for good: records when, warns naming `what` (a guard's dispose without disarm(), off its path). */
function poisonCell(c: Cell): void {
  c.state = State.Poisoned;
  c.at = new Date();
  warnThread({ what: c.what, at: c.at.toISOString() }, 'poison guard dropped without disarm(); the value is poisoned');
}

/** The proof that a Poison is armed: access to its value until disarm() or dispose. */
export class PoisonGuard<T> implements Disposable {
  readonly #cell: Cell;
  readonly #data: T;
  #done = false;

  /** @internal Made by Poison.checkAndArm(). */
  constructor(cell: Cell, data: T) {
    this.#cell = cell;
    this.#data = data;
  }

  /** The protected value, to read and update. */
  get data(): T {
    return this.#data;
  }

  /** The value is consistent again: the poison is clean. Idempotent; after dispose it does nothing. */
  disarm(): void {
    if (this.#done) return;
    this.#done = true;
    this.#cell.state = State.Clean;
  }

  /** Without disarm() first: poisons the value (records when, warns naming `what`). Idempotent. */
  [Symbol.dispose](): void {
    if (this.#done) return;
    this.#done = true;
    poisonCell(this.#cell);
  }
}

/** Poison's checkAndArm(), declared here and defined in Poison's static block (see the header, "Cost"). */
export interface Poison<T> {
  /**
   * Arms the poison and returns its guard, which gives access to the value. Call `guard.disarm()` once the value
   * is consistent again; disposing the guard without it poisons the value.
   * @throws PoisonedError if poisoned; PoisonArmedError if armed already.
   */
  checkAndArm(): PoisonGuard<T>;
}

/**
 * A protected value: arm it before an update, disarm it after; a guard dropped armed poisons it for good (G15).
 *
 * @example
 * ```ts
 * // poison.ts
 * import { Poison, PoisonedError } from 'bgworkers';
 *
 * const totals = new Poison('tenant totals', { sum: 0, count: 0 });
 * totals.use((t) => { t.sum += 5; t.count += 1; }); // consistent: disarmed
 * try {
 *   totals.use((t) => { t.sum += 7; throw new Error('crashed before count was updated'); });
 * } catch {
 *   // the update was left half-done: totals is poisoned now
 * }
 * try {
 *   totals.checkAndArm();
 * } catch (err) {
 *   if (err instanceof PoisonedError) console.log(err.code, err.what); // prints: ERR_POISONED tenant totals
 * }
 * ```
 */
export class Poison<T> {
  /** What the value is, for errors and the warning (e.g. `"timeline 7 layer map"`). */
  readonly what: string;
  readonly #cell: Cell;
  readonly #data: T;

  constructor(what: string, data: T) {
    if (typeof what !== 'string' || what.length === 0) throw new TypeError('Poison: `what` must be a non-empty string');
    this.what = what;
    this.#cell = { what, state: State.Clean, at: undefined };
    this.#data = data;
  }

  static {
    // checkAndArm() is defined here rather than as a method so that `Guard` is a const of this block, which V8
    // folds to the class; from a method, PoisonGuard would be a module-level `var` of the bundle, read and compared
    // on every arm. It reaches #cell and #data because it is written inside the class. The guard is made before
    // the cell is tested and armed (the header's "Cost"); a refused arm drops it unused. PoisonGuard is declared
    // above Poison so that it is defined when this block runs, at module load.
    const Guard = PoisonGuard;
    Object.defineProperty(this.prototype, 'checkAndArm', {
      configurable: true,
      writable: true,
      value: function checkAndArm<T>(this: Poison<T>): PoisonGuard<T> {
        const c = this.#cell;
        const guard = new Guard(c, this.#data);
        if (c.state !== State.Clean) throw refusal(c);
        c.state = State.Armed;
        return guard;
      },
    });
  }

  /** Whether a holder left the value half-updated. */
  get poisoned(): boolean {
    return this.#cell.state === State.Poisoned;
  }

  /** When it was poisoned; undefined while it is not. */
  get poisonedAt(): Date | undefined {
    return this.#cell.at;
  }

  /**
   * Arms, runs `fn(data)`, and disarms when fn returns or its promise resolves. It poisons when fn throws or
   * rejects, or when the scope that called use() is aborted before fn settled (at the abort, while fn may still
   * run). Returns fn's value (its promise, for an async fn).
   * @throws PoisonedError / PoisonArmedError as checkAndArm(), without calling fn.
   */
  use<R>(fn: (data: T) => R): R {
    const guard = this.checkAndArm();
    let r: R;
    try {
      r = fn(guard.data);
    } catch (err) {
      guard[Symbol.dispose]();
      throw err;
    }
    if (r === null || (typeof r !== 'object' && typeof r !== 'function') || typeof (r as { then?: unknown }).then !== 'function') {
      guard.disarm();
      return r;
    }
    const signal = currentScope()?.signal;
    const onAbort = (): void => guard[Symbol.dispose]();
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    return Promise.resolve(r as unknown as PromiseLike<unknown>).then(
      (v) => {
        signal?.removeEventListener('abort', onAbort);
        guard.disarm();
        return v;
      },
      (err: unknown) => {
        signal?.removeEventListener('abort', onAbort);
        guard[Symbol.dispose]();
        throw err;
      },
    ) as R;
  }
}
