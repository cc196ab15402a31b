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
 *   (any)     no live task uses the word    pool: → QUEUED before it posts a batch with that task
 *   QUEUED    sent, not started             worker: → STARTED (CAS) before it calls the task
 *                                           pool: → CANCELLED (CAS) to abort or steal it
 *   STARTED   the task function was called  (until the word is used again; whether it has ended, the pool
 *                                           learns from the worker's answer: one store less per task)
 *   CANCELLED will never start              (the worker answers for it as skipped)
 * A word is not reset when its task is answered: its value is read only while its task is pending in the pool
 * (abort, steal, stats, a worker's death), and the pool writes QUEUED before the word is used again. Writing the
 * QUEUED words of a batch happens before the post that sends it, and the worker reads a word only after it got
 * that message (the port's hand-off orders them).
 *
 * Invariants:
 * 1. A worker has at most GATE_SIZE tasks sent and not yet answered.
 * 2. QUEUED → STARTED and QUEUED → CANCELLED are compare-and-swaps: exactly one of them wins for each task.
 */

/** Words per worker: more than any worker may have outstanding (MAX_BATCH x the batches a worker may hold, see pool.ts `forLookahead`). */
export const GATE_SIZE = 16384;

export const G_QUEUED = 1;
export const G_STARTED = 2;
export const G_CANCELLED = 3;

export function newGate(): SharedArrayBuffer {
  return new SharedArrayBuffer(GATE_SIZE * Int32Array.BYTES_PER_ELEMENT);
}

const at = (seq: number): number => seq % GATE_SIZE;

/** Pool side: marks `count` tasks from `seq` on as sent (before the post). */
export function gateQueue(words: Int32Array, seq: number, count: number): void {
  const from = at(seq);
  const to = from + count;
  if (to <= GATE_SIZE) words.fill(G_QUEUED, from, to);
  else {
    words.fill(G_QUEUED, from);
    words.fill(G_QUEUED, 0, to - GATE_SIZE);
  }
  Atomics.store(words, from, G_QUEUED); // a fence after the plain writes, for good measure
}

/** Pool side: cancels a task that has not started; false if it already had (invariant 2). */
export function gateCancel(words: Int32Array, seq: number): boolean {
  return Atomics.compareExchange(words, at(seq), G_QUEUED, G_CANCELLED) === G_QUEUED;
}

/** Pool side: the word's state (after the worker died, or to count what has not started). */
export function gateState(words: Int32Array, seq: number): number {
  return Atomics.load(words, at(seq));
}

/** Worker side: claims a task before calling it; false if the pool cancelled (or stole) it first. */
export function gateStart(words: Int32Array, seq: number): boolean {
  return Atomics.compareExchange(words, at(seq), G_QUEUED, G_STARTED) === G_QUEUED;
}
