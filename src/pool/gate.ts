/**
 * The start gate of a thread pool worker: shared Int32 words by which the pool and the worker agree, without a
 * message, whether a task has started. It is what makes "an aborted task never starts" exact for a task waiting
 * in a worker's look-ahead batch, lets an idle worker steal back work queued behind a long task, and tells, after
 * a worker died, which of its tasks never started (they are retried) from the ones that did (they fail). Process
 * workers share no memory with the pool: their pool never sends work ahead (a task counts as started once sent)
 * — see pool.ts.
 *
 * A task sent to the worker gets a sequence number `seq` (per worker, counting up); its task word is
 * `words[seq % GATE_SIZE]`. A batch of a map also has a claim word, `words[GATE_SIZE + seq0 % GATE_SIZE]` where
 * `seq0` is the seq of its first task. The pool never has more than GATE_SIZE tasks outstanding on one worker
 * (invariant 1), so no word is shared by two live tasks or two live batches.
 *
 * Task word states and who moves them:
 *   (any)     no live task uses the word    pool: → QUEUED before it posts the batch holding the task
 *   QUEUED    sent, not started             run batch: worker → STARTED (CAS) before it calls the task;
 *                                                      pool → CANCELLED (CAS) to abort or steal it
 *                                           map batch: worker → STARTED (plain store, only for a task it
 *                                                      claimed) just before it calls the task;
 *                                                      pool → CANCELLED (store, only for a task it cut) below
 *   STARTED   the task function was called  (until the word is used again; whether it has ended, the pool
 *                                           learns from the worker's answer)
 *   CANCELLED will never start              (the worker answers for it as skipped)
 *
 * Why two protocols. A CAS per task was ~15% of a worker's time on a map of trivial tasks (`--cpu-prof`; an
 * Atomics call costs ~10 ns, a plain store ~1 ns). A batch of run()s can have any one task aborted (its own
 * signal), so it keeps a CAS per task. A map batch is only ever cut from some task to its end: the map's abort
 * (signal, timeout) or failure cancels all of it not yet claimed, a steal takes a tail, and taking back work from
 * a worker with an abandoned task takes all it has not claimed. So its tasks are claimed a run at a time, with
 * one CAS on the batch's claim word per run:
 *
 * Claim word of a map batch of n tasks: `F | L << 16` (n <= pool.ts MAX_SHARED_BATCH = 32,768 < 2^16; L << 16 may set the word's sign bit,
 * which nothing reads: L is always read as `>>> 16`), F <= L <= n:
 *   F, the frontier: tasks [0, F) are claimed by the worker (it will call them; nobody else can take them).
 *     Only the worker raises it (gateClaim: F → min(F + k, L), one CAS for a run of k tasks).
 *   L, the limit: tasks [L, n) are cancelled (never start on this worker). Only the pool lowers it (gateCut:
 *     L → max(F, t), CAS), then marks the task words of [new L, old L) CANCELLED.
 *   Initially F = 0, L = n (pool, gateOpen, before the post). A CAS that fails (the other side moved the word
 *   meanwhile) is retried with the value it found, so each side sees the other's last move: a task below the
 *   frontier is the worker's, one at or above the limit the pool's, never both (invariant 2), none in between
 *   once the batch has ended (the worker claims until F = L or it stops; what it never claimed it answers as
 *   skipped).
 * Claimed is not started: a claimed task's word stays QUEUED until the worker stores STARTED just before the
 * call. So stats (`queued` counts what has not started) and a worker's death (only what had started fails; the
 * rest is retried elsewhere, exactly: a dead thread's stores are all visible once its exit is known, and it
 * calls nothing more) read the task words as with run batches. What a run claim gives up: a claimed task can no
 * longer be cancelled or stolen before it starts. So the worker claims runs only where that cannot matter:
 * - a map whose tasks can be aborted one by one (a signal or a timeout: they get their own task.signal) is
 *   claimed one task at a time (run length 1: claim, store, call — as exact as the CAS per task);
 * - otherwise the pool gives the run length in the batch (pool.ts runFor): as many tasks as take RUN_MICROS of
 *   the measured time per task (1 until the map's task function has been measured), and the worker starts each
 *   batch at 1 and doubles up to it. So the work that may wait, claimed, behind a task that turns out long
 *   (where a steal cannot reach it) is at most one run less one task: under RUN_MICROS of measured work; and
 *   what is cancelled when a map fails or its scope ends may still start if it was claimed: one run per worker.
 * The worker's plain STARTED stores race only with the pool's reads for stats (a snapshot) and never with the
 * pool's CANCELLED stores (below F against at or above L). Writing the QUEUED words and the claim word of a batch
 * happens before the post that sends it, and the worker reads them only after it got that message (the port's
 * hand-off orders them). Words are not reset when their task is answered: the pool reads them only while the
 * task is pending, and writes them again before reuse.
 *
 * Invariants:
 * 1. A worker has at most GATE_SIZE tasks sent and not yet answered.
 * 2. Run batch: QUEUED → STARTED and QUEUED → CANCELLED are compare-and-swaps, exactly one wins per task. Map
 *    batch: F only rises (worker), L only falls (pool), F <= L always, both in one word moved by CAS: a task is
 *    claimed (< F) or cancelled (>= L), never both.
 */

/**
 * Task words (and claim words) per worker: more than any worker may have outstanding (pool.ts gives a worker a batch
 * only while it has at most GATE_SIZE - MAX_SHARED_BATCH outstanding: a worker holds up to two full batches).
 * 512 KiB a worker, allocated once when it is registered.
 */
export const GATE_SIZE = 65536;
/** Int32 words of a gate: the task words, then the claim words. */
export const GATE_WORDS = 2 * GATE_SIZE;

export const G_QUEUED = 1;
export const G_STARTED = 2;
export const G_CANCELLED = 3;

/** A map batch's run length when its tasks are measured: this much measured work claimed at once at most. */
export const RUN_MICROS = 20;
/** Longest run (a CAS per 128 trivial tasks is noise). */
export const MAX_RUN = 128;

export function newGate(): SharedArrayBuffer {
  return new SharedArrayBuffer(GATE_WORDS * Int32Array.BYTES_PER_ELEMENT);
}

const at = (seq: number): number => seq % GATE_SIZE;
const LIMIT = 16;
const FRONT = 0xffff;

/** Pool side: marks `count` tasks from `seq` on as sent (before the post). */
export function gateQueue(words: Int32Array, seq: number, count: number): void {
  const from = at(seq);
  const to = from + count;
  if (to <= GATE_SIZE) words.fill(G_QUEUED, from, to);
  else {
    words.fill(G_QUEUED, from, GATE_SIZE); // not into the claim words after the task words
    words.fill(G_QUEUED, 0, to - GATE_SIZE);
  }
  Atomics.store(words, from, G_QUEUED); // a fence after the plain writes, for good measure
}

/** Pool side: cancels a task of a run batch that has not started; false if it already had (invariant 2). */
export function gateCancel(words: Int32Array, seq: number): boolean {
  return Atomics.compareExchange(words, at(seq), G_QUEUED, G_CANCELLED) === G_QUEUED;
}

/** Pool side: the task word's state (after the worker died, or to count what has not started). */
export function gateState(words: Int32Array, seq: number): number {
  return Atomics.load(words, at(seq));
}

/** Worker side: claims a task of a run batch before calling it; false if the pool cancelled (or stole) it first. */
export function gateStart(words: Int32Array, seq: number): boolean {
  return Atomics.compareExchange(words, at(seq), G_QUEUED, G_STARTED) === G_QUEUED;
}

// ---- map batches: run claims --------------------------------------------------------------------------------

/** Pool side: queues the `count` tasks of a map batch from `seq0` and opens its claim word (F = 0, L = count), before the post. */
export function gateOpen(words: Int32Array, seq0: number, count: number): void {
  gateQueue(words, seq0, count);
  Atomics.store(words, GATE_SIZE + at(seq0), count << LIMIT);
}

/** The claim word's frontier F: tasks [0, F) of the batch are claimed. */
export function gateFrontier(words: Int32Array, seq0: number): number {
  return Atomics.load(words, GATE_SIZE + at(seq0)) & FRONT;
}

/** The claim word's limit L: tasks [L, count) of the batch are cancelled. */
export function gateLimit(words: Int32Array, seq0: number): number {
  return Atomics.load(words, GATE_SIZE + at(seq0)) >>> LIMIT;
}

/**
 * Worker side: claims tasks [from, from + k) of the batch at `seq0`, where `from` is the frontier it reached
 * (only the worker moves it) — fewer if the pool cut the batch below from + k. Returns the new frontier: the
 * worker may call the tasks below it (storing STARTED in each task word first, gateStarted); none at or above it
 * if it returned `from`.
 */
export function gateClaim(words: Int32Array, seq0: number, from: number, k: number): number {
  const w = GATE_SIZE + at(seq0);
  let seen = Atomics.load(words, w);
  for (;;) {
    const limit = seen >>> LIMIT;
    const to = Math.min(from + k, limit);
    if (to <= from) return from;
    const was = Atomics.compareExchange(words, w, seen, to | (limit << LIMIT));
    if (was === seen) return to;
    seen = was; // the pool lowered the limit meanwhile
  }
}

/**
 * Pool side: cancels the tasks of the map batch at `seq0` from task `t` on that the worker has not claimed
 * (L → max(F, t)), and marks their task words CANCELLED. Returns the new limit: every task at or above it is
 * cancelled (by this cut or an earlier one), every task below the frontier claimed.
 */
export function gateCut(words: Int32Array, seq0: number, t: number): number {
  const w = GATE_SIZE + at(seq0);
  let seen = Atomics.load(words, w);
  for (;;) {
    const front = seen & FRONT;
    const limit = seen >>> LIMIT;
    const cut = Math.max(front, t);
    if (cut >= limit) return limit;
    const was = Atomics.compareExchange(words, w, seen, front | (cut << LIMIT));
    if (was === seen) {
      for (let i = cut; i < limit; i++) Atomics.store(words, at(seq0 + i), G_CANCELLED);
      return cut;
    }
    seen = was; // the worker claimed more meanwhile
  }
}
