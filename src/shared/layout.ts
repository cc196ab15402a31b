/**
 * Shared-memory layout: the slot table (like PostgreSQL's BackgroundWorkerSlot array) and the per-thread
 * words (like PGPROC's latch and interrupt flags). Everything here is plain Int32/Float64 offsets; the
 * protocol on top of them lives in slots.ts (the control word) and latch.ts (latch words).
 *
 * ## The slot table (one SharedArrayBuffer per supervisor, made by the registrant at start)
 *
 * ```
 * Int32 header:  [MAGIC, SLOT_COUNT, reserved x2]
 * Int32 slots:   SLOT_INTS words per slot, starting at HEADER_INTS
 * Float64 tail:  SLOT_F64S words per slot (timestamps), 8-byte aligned after the Int32 part
 * ```
 *
 * Per slot (offsets from the slot's base; "writer" = the only thread that may write it, and when). A process
 * worker cannot map this buffer: wherever "the worker" writes below, the supervisor writes on its behalf
 * (runtimes/process.ts), and it also consumes LATCH (Atomics.exchange) to relay each set to the child.
 *
 * | field            | meaning                                               | writer                                          |
 * |------------------|-------------------------------------------------------|-------------------------------------------------|
 * | CTRL             | packed state, generation, TERM bit, outcome (slots.ts)| CAS only: registrant (claim, TERM), supervisor (lifecycle, TERM at shutdown, free), worker (commit, running, outcome) |
 * | LATCH            | the worker's latch: 0 unset, 1 set                     | anyone holding the handle or ctx (set), the worker (reset), the registrant at claim (0) |
 * | LATCH_SLEEPERS   | threads asleep on LATCH (latch.ts)                     | the sleeping threads, by Atomics.add/sub          |
 * | INTERRUPT        | the worker thread's interrupt counter                  | anyone delivering an interrupt (Atomics.add); the registrant at claim (0) |
 * | THREAD_ID        | worker's threadId, 0 until known                       | the worker, before its commit; registrant at claim (0) |
 * | PID              | process runtime: the child's pid, 0 until known        | the supervisor; registrant at claim (0)           |
 * | RELAY_FD         | process runtime: fd + 1 of the child's control pipe, 0 none (control-line.ts) | the supervisor (open, retire); registrant at claim (0) |
 * | RELAY_USERS      | process runtime: threads writing to that pipe now      | the writers, by Atomics.add/sub (balanced: never reset) |
 * | STARTED_AT (f64) | ms since epoch when the entry started loading, 0 before| the worker, before its commit; registrant at claim (0) |
 * | OS_TID (f64)     | thread runtime: the worker's OS thread id, 0 unknown   | the worker, before its commit; registrant at claim (0) |
 * | ELU (f64)        | event-loop utilisation since the run started, NaN unknown | the supervisor's sampler; registrant at claim (NaN) |
 * | CPU_MS (f64)     | CPU time of the run's thread or process, NaN unknown   | the supervisor's sampler; registrant at claim (NaN) |
 *
 * ELU and CPU_MS are samples (supervisor/usage-sampler.ts, every USAGE_SAMPLE_MS): plain f64 stores read by the
 * registrant without a lock. An aligned 8-byte access does not tear on the 64-bit platforms Node supports.
 *
 * Publication order (invariant 1): the registrant claims a slot by CAS on CTRL (FREE → PENDING with a new
 * generation), fills every other field, and only then posts the request that makes the supervisor act on it.
 * Nobody but the registrant reads a PENDING slot's fields before that message, so the CAS is the claim and the
 * message is the publication.
 *
 * ## Thread words (one small SharedArrayBuffer per registrant thread; a worker uses its slot's words)
 *
 * | field          | meaning                                | writer                          |
 * |----------------|----------------------------------------|---------------------------------|
 * | T_LATCH        | the thread's latch (myLatch())          | setters (set), the owner (reset) |
 * | T_SLEEPERS     | threads asleep on T_LATCH               | sleepers                         |
 * | T_INTERRUPT    | interrupt counter: bumped (Atomics.add) by whoever makes an interrupt pending for the thread | any thread |
 */

/** Marks a slot table made by this version of the library; a mismatch means a foreign buffer. */
export const MAGIC = 0x62677731; // 'bgw1'
export const HEADER_INTS = 4;
export const H_MAGIC = 0;
export const H_SLOT_COUNT = 1;

/**
 * A latch's sleeper count is the word right after the latch, in a slot (LATCH, LATCH_SLEEPERS) and in thread
 * words (T_LATCH, T_SLEEPERS): latch.ts is given only the latch's index and finds the count by this offset.
 */
export const SLEEPERS_OFFSET = 1;

export const SLOT_INTS = 8;
export const CTRL = 0;
export const LATCH = 1;
export const LATCH_SLEEPERS = LATCH + SLEEPERS_OFFSET;
export const INTERRUPT = 3;
export const THREAD_ID = 4;
export const PID = 5;
export const RELAY_FD = 6;
export const RELAY_USERS = 7;

export const SLOT_F64S = 4;
export const STARTED_AT = 0;
export const OS_TID = 1;
export const ELU = 2;
export const CPU_MS = 3;

export const THREAD_INTS = 4;
export const T_LATCH = 0;
export const T_SLEEPERS = T_LATCH + SLEEPERS_OFFSET;
export const T_INTERRUPT = 2;

/** Upper bound on slots, so a typo like 1e9 fails validation instead of allocating gigabytes. */
export const MAX_SLOTS = 4096;

/** A view of one supervisor's slot table. Cheap to construct; every thread builds its own over the same buffer. */
export class SlotTable {
  readonly buffer: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly size: number;
  readonly #f64Base: number;

  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer);
    if (this.i32.length < HEADER_INTS || this.i32[H_MAGIC] !== MAGIC) {
      throw new Error('internal: not a bgworkers slot table');
    }
    this.size = this.i32[H_SLOT_COUNT]!;
    this.#f64Base = f64Base(this.size);
    this.f64 = new Float64Array(buffer);
  }

  static create(size: number): SlotTable {
    const ints = f64Base(size) * 2;
    const buffer = new SharedArrayBuffer((ints + size * SLOT_F64S) * 8);
    const i32 = new Int32Array(buffer);
    i32[H_MAGIC] = MAGIC;
    i32[H_SLOT_COUNT] = size;
    return new SlotTable(buffer);
  }

  /** Index into i32 of a slot's field. Throws on a slot number that is out of range (data is validated, never trusted). */
  at(slot: number, field: number): number {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.size) throw new RangeError(`internal: slot ${slot} out of range`);
    return HEADER_INTS + slot * SLOT_INTS + field;
  }

  /** Index into f64 of a slot's timestamp field. */
  atF64(slot: number, field: number): number {
    return this.#f64Base + slot * SLOT_F64S + field;
  }
}

/** Index in Float64 units where the timestamp area starts (after header and slots, rounded to 8 bytes). */
function f64Base(size: number): number {
  return Math.ceil((HEADER_INTS + size * SLOT_INTS) / 2);
}

/** A thread's words: the buffer plus the indexes of its latch and interrupt counter. */
export interface ThreadWords {
  readonly i32: Int32Array;
  readonly latch: number;
  readonly interrupt: number;
}

/**
 * A thread's words as they travel to other threads: the buffer and the indexes of the latch and the interrupt
 * counter. A registrant thread's words have their own small buffer; a worker thread's are its slot's words in
 * the slot table, so the indexes are never assumed (a worker may start a supervisor of its own).
 */
export interface WordsRef {
  buffer: SharedArrayBuffer;
  latch: number;
  interrupt: number;
}

export const wordsRef = (w: ThreadWords): WordsRef => ({ buffer: w.i32.buffer as SharedArrayBuffer, latch: w.latch, interrupt: w.interrupt });
export const wordsOf = (r: WordsRef): ThreadWords => ({ i32: new Int32Array(r.buffer), latch: r.latch, interrupt: r.interrupt });

export function createThreadWords(): ThreadWords {
  const i32 = new Int32Array(new SharedArrayBuffer(THREAD_INTS * 4));
  return { i32, latch: T_LATCH, interrupt: T_INTERRUPT };
}
