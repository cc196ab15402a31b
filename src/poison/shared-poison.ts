/**
 * SharedPoison: a Poison whose state lives in shared memory, so it holds across threads: a worker thread that
 * stops in any way while armed (throws, process.exit, runs out of memory, is stopped by force after its grace)
 * leaves it poisoned for every thread. No peer library has this; it is what Rust's mutex poisoning gives, across
 * threads that can die without running a line of cleanup.
 *
 * Shared words (Int32 STATE, then a Float64 AT), in one SharedArrayBuffer:
 *
 *   STATE:  0 clean ──CAS by the arming thread──► tag (armed by the thread whose tag it is: threadId + 1)
 *           tag ──CAS by the same thread, guard.disarm()──► 0
 *           tag ──CAS, guard dropped without disarm() (that thread) or its holder's death (the registrant,
 *                 below)──► POISONED (-1, final)
 *   AT:     ms since the epoch when it was poisoned; written before the CAS to POISONED, so whoever reads
 *           POISONED through Atomics reads a complete AT.
 *
 * The holder is packed into STATE itself, so arming is one CAS and there is no moment where the state is armed
 * but the holder unknown (a death in that moment would otherwise go unnoticed).
 *
 * Who sees a holder's death: the registrant thread, which learns of every worker's end from the supervisor
 * ('stopped', or 'restarting' for a run that will be restarted). It keeps a weak list of the SharedPoisons that
 * exist on its thread (made there, or revived there with `SharedPoison.from`) and poisons each one still armed
 * by the dead worker's tag (`poisonOnWorkerEnd`, a subscriber of the lifecycle event stream). Between the death and that notice (milliseconds), checkAndArm() in
 * another thread throws PoisonArmedError: the holder has not been declared dead yet. A SharedPoison must
 * therefore be known to the registrant of the workers that arm it: make it there and pass it in `data`.
 *
 * Structured clone: the instance's own fields (`what` and `buffer`) clone; its methods do not, so the worker
 * revives it: `SharedPoison.from(ctx.data.poison)`. Process workers cannot share memory: register() rejects a
 * SharedArrayBuffer in a process worker's `data`.
 */
import { threadId } from 'node:worker_threads';
import { InvalidWorkerSpecError, PoisonArmedError, PoisonedError } from '../errors.js';
import { warnThread } from '../shared/thread-logger.js';
import type { LifecycleEvent } from '../registrant/events.js';

/** Int32 index of STATE; AT is the Float64 at byte offset 8 (its own one-element view). */
const STATE = 0;
const BYTES = 16;
const CLEAN = 0;
const POISONED = -1;
/** This thread's tag in STATE: threadId + 1 (the main thread's threadId is 0, and 0 means clean). */
const MY_TAG = threadId + 1;

/** The SharedPoisons that exist on this thread, for poisonHeldBy (weak: an unreachable one needs no sweep). */
const known = new Set<WeakRef<SharedPoison>>();
const forget = new FinalizationRegistry<WeakRef<SharedPoison>>((ref) => known.delete(ref));

/** A Poison across threads, without a value: what it protects lives in shared memory of the user's own. */
export class SharedPoison {
  /** What it protects, for errors and warnings. */
  readonly what: string;
  /** The shared state words; cloned with the instance (pass the instance in a worker's `data`). */
  readonly buffer: SharedArrayBuffer;
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;

  constructor(what: string, buffer?: SharedArrayBuffer) {
    if (typeof what !== 'string' || what.length === 0) throw new TypeError('SharedPoison: `what` must be a non-empty string');
    if (buffer !== undefined && (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== BYTES)) {
      throw new TypeError(`SharedPoison: \`buffer\` must be a SharedArrayBuffer of ${BYTES} bytes made by a SharedPoison`);
    }
    this.what = what;
    this.buffer = buffer ?? new SharedArrayBuffer(BYTES);
    this.#i32 = new Int32Array(this.buffer, 0, 1);
    this.#f64 = new Float64Array(this.buffer, 8, 1);
    const ref = new WeakRef(this);
    known.add(ref);
    forget.register(this, ref);
  }

  /** Revives a SharedPoison that crossed a thread boundary by structured clone (e.g. `ctx.data.poison`). */
  static from(value: unknown): SharedPoison {
    if (value instanceof SharedPoison) return value;
    const v = value as { what?: unknown; buffer?: unknown } | null;
    if (typeof v !== 'object' || v === null || typeof v.what !== 'string' || !(v.buffer instanceof SharedArrayBuffer)) {
      throw new InvalidWorkerSpecError('poison', 'Expected a SharedPoison or its structured clone ({ what, buffer: SharedArrayBuffer })');
    }
    return new SharedPoison(v.what, v.buffer);
  }

  /** Whether a holder left it half-updated (or died holding it). */
  get poisoned(): boolean {
    return Atomics.load(this.#i32, STATE) === POISONED;
  }

  /** When it was poisoned; undefined while it is not. */
  get poisonedAt(): Date | undefined {
    return this.poisoned ? new Date(this.#f64[0]!) : undefined;
  }

  /**
   * Arms it for this thread and returns the guard: `disarm()` once the shared state is consistent again;
   * disposing without it, or this thread's death while armed, poisons it for every thread.
   * @throws PoisonedError if poisoned; PoisonArmedError if armed (by this thread or another).
   */
  checkAndArm(): Disposable & { disarm(): void } {
    const seen = Atomics.compareExchange(this.#i32, STATE, CLEAN, MY_TAG);
    if (seen === POISONED) throw new PoisonedError(this.what, new Date(this.#f64[0]!));
    if (seen !== CLEAN) throw new PoisonArmedError(this.what, seen === MY_TAG ? 'this thread' : 'another thread');
    return new SharedPoisonGuard(this.#i32, this.#f64, this.what);
  }

  /** @internal Poisons it if thread `tag` holds it; true if it did. */
  poisonIfHeldBy(tag: number): boolean {
    return poisonFrom(this.#i32, this.#f64, tag);
  }
}

class SharedPoisonGuard implements Disposable {
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;
  readonly #what: string;
  #done = false;

  constructor(i32: Int32Array, f64: Float64Array, what: string) {
    this.#i32 = i32;
    this.#f64 = f64;
    this.#what = what;
  }

  disarm(): void {
    if (this.#done) return;
    this.#done = true;
    Atomics.compareExchange(this.#i32, STATE, MY_TAG, CLEAN);
  }

  [Symbol.dispose](): void {
    if (this.#done) return;
    this.#done = true;
    if (poisonFrom(this.#i32, this.#f64, MY_TAG)) {
      warnThread({ what: this.#what, at: new Date(this.#f64[0]!).toISOString() }, 'shared poison guard dropped without disarm(); it is poisoned for every thread');
    }
  }
}

/** AT first, then the CAS tag → POISONED: a reader that sees POISONED sees AT. */
function poisonFrom(i32: Int32Array, f64: Float64Array, tag: number): boolean {
  if (Atomics.load(i32, STATE) !== tag) return false;
  f64[0] = Date.now();
  return Atomics.compareExchange(i32, STATE, tag, POISONED) === tag;
}

/** The registrant's lifecycle subscriber: a run of a thread worker ended (restarting or stopped). */
export function poisonOnWorkerEnd(e: LifecycleEvent): void {
  if (e.type === 'worker-stopped' || e.type === 'worker-restarting') poisonHeldBy(e.threadId, e.worker.ref);
}

/**
 * A worker thread with `workerThreadId` ended (any way): poison every SharedPoison known to this thread that it
 * still held, and warn naming each.
 */
function poisonHeldBy(workerThreadId: number, worker: { id: string; name: string }): void {
  if (workerThreadId <= 0 || known.size === 0) return;
  const tag = workerThreadId + 1;
  for (const ref of known) {
    const p = ref.deref();
    if (p === undefined) {
      known.delete(ref);
      continue;
    }
    if (p.poisonIfHeldBy(tag)) {
      warnThread({ what: p.what, worker: worker.id, name: worker.name, at: p.poisonedAt?.toISOString() }, 'worker ended holding a shared poison guard; it is poisoned for every thread');
    }
  }
}
