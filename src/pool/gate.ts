/**
 * The start gate of a thread pool worker: one shared Int32 word per task sent to it, so the pool and the worker
 * agree, without a message, whether a task has started. It is what makes "an aborted task never starts" exact
 * for a task waiting in a worker's look-ahead batch, lets an idle worker steal back work queued behind a long
 * task, and tells, after a worker died, which of its tasks never started (they are retried) from the ones that
 * did (they fail). Process workers share no memory with the pool: their pool never sends work ahead (a task
 * counts as started once sent) — see pool.ts.
 *
 * A task sent to the worker gets a sequence number `seq` (per worker, counting up); its word is
 * `words[seq % GATE_SIZE]`. The pool never has more than GATE_SIZE tasks outstanding on one worker (invariant 1
 * below), so a word is never shared by two live tasks.
 *
 * States of a word and who moves it:
 *   FREE      no task                       pool: → QUEUED before it posts the batch
 *   QUEUED    sent, not started             worker: → STARTED (CAS) before it calls the task
 *                                           pool: → CANCELLED (CAS) to abort or steal it
 *                                           pool: → FREE if posting the batch failed (nothing was sent)
 *   STARTED   the task function was called  worker: → DONE once it returned or settled
 *   CANCELLED will never start              pool: → FREE once the worker has answered for it, or died
 *   DONE      finished                      pool: → FREE once the worker has answered for it, or died
 *
 * Invariants:
 * 1. A worker has at most GATE_SIZE tasks sent and not yet answered.
 * 2. QUEUED → STARTED and QUEUED → CANCELLED are compare-and-swaps: exactly one of them wins for each task.
 */

/** Words per worker: more than any worker may have outstanding (MAX_BATCH x the batches a worker may hold, see pool.ts `forLookahead`). */
export const GATE_SIZE = 16384;

export const G_FREE = 0;
export const G_QUEUED = 1;
export const G_STARTED = 2;
export const G_CANCELLED = 3;
export const G_DONE = 4;

export function newGate(): SharedArrayBuffer {
  return new SharedArrayBuffer(GATE_SIZE * Int32Array.BYTES_PER_ELEMENT);
}

const at = (seq: number): number => seq % GATE_SIZE;

/** Pool side: marks a task sent (before the post). */
export function gateQueue(words: Int32Array, seq: number): void {
  Atomics.store(words, at(seq), G_QUEUED);
}

/** Pool side: cancels a task that has not started; false if it already had (invariant 2). */
export function gateCancel(words: Int32Array, seq: number): boolean {
  return Atomics.compareExchange(words, at(seq), G_QUEUED, G_CANCELLED) === G_QUEUED;
}

/** Pool side: the word's state (after the worker died, or to count what has not started). */
export function gateState(words: Int32Array, seq: number): number {
  return Atomics.load(words, at(seq));
}

/** Pool side: frees a task's word (it was answered, or its worker is gone, or its post failed). */
export function gateFree(words: Int32Array, seq: number): void {
  Atomics.store(words, at(seq), G_FREE);
}

/** Worker side: claims a task before calling it; false if the pool cancelled (or stole) it first. */
export function gateStart(words: Int32Array, seq: number): boolean {
  return Atomics.compareExchange(words, at(seq), G_QUEUED, G_STARTED) === G_QUEUED;
}

/** Worker side: the task has finished. */
export function gateDone(words: Int32Array, seq: number): void {
  Atomics.store(words, at(seq), G_DONE);
}
