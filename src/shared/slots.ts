/**
 * The slot control word (CTRL in layout.ts) and its state machine: the one place where registrant, supervisor
 * and worker agree, without messages, on what a worker is allowed to do next.
 *
 * ## The word
 *
 * ```
 * bits 0-2   state       FREE | PENDING | STARTING | RUNNING
 * bit  3     TERM        termination requested (sticky until the slot is freed)
 * bits 4-6   outcome     what the worker reported of itself: NONE | COMPLETED | FAILED | CRASHED | TERMINATED
 * bits 8-29  generation  bumped at every claim; a handle is (slot, generation)
 * ```
 *
 * Every change is a compare-and-swap of the whole word, so a TERM request and a state change can never both
 * win against the same old value: that is what makes "terminate before start ⇒ entry never imported" exact.
 *
 * ## States
 *
 * | state    | meaning                                                                      |
 * |----------|------------------------------------------------------------------------------|
 * | FREE     | no worker; a handle whose generation matches sees its worker as stopped      |
 * | PENDING  | registered; no user code has run in this run, and none will if TERM is set   |
 * | STARTING | the bootstrap committed: the entry module is being imported                   |
 * | RUNNING  | the entry loaded and main(ctx) was called                                     |
 *
 * ## Transitions (the table `TRANSITIONS` below is checked by `transition()`)
 *
 * | from               | to       | thread      | when                                                            |
 * |--------------------|----------|-------------|-----------------------------------------------------------------|
 * | FREE               | PENDING  | registrant  | claim (generation + 1, all flags clear)                          |
 * | PENDING            | FREE     | registrant  | rollback: the request could not be posted (uncloneable data)     |
 * | PENDING            | STARTING | worker*     | commit; only from PENDING with TERM clear (invariant 2)           |
 * | STARTING           | RUNNING  | worker*     | entry imported, TERM clear, main about to be called               |
 * | STARTING, RUNNING  | PENDING  | supervisor  | restart of a failed/crashed restartable run (TERM clear, outcome cleared) |
 * | PENDING, STARTING, RUNNING | FREE | supervisor | the run is over and classified; before the exit is posted   |
 *
 * (*) For a process worker the supervisor makes these CASes, and the outcome's, on the child's behalf.
 *
 * Orthogonal to the state: TERM is or-ed in by the registrant (terminate) or the supervisor (shutdown) in
 * any non-FREE state; an outcome is written once per run by the worker in STARTING or RUNNING.
 *
 * ## Invariants
 *
 * 1. Only the registrant claims; only the supervisor frees (except the registrant's rollback of its own claim
 *    before anyone else learnt of it, and its takeover of the table once the supervisor thread has died).
 * 2. A worker commits (PENDING → STARTING) only if TERM is clear in the same CAS; a worker that fails to commit
 *    imports nothing and its run ends as `never-started`.
 * 3. The worker decides its outcome against TERM in one CAS: a main that throws before TERM is set is FAILED,
 *    after it TERMINATED; a main that returns is COMPLETED either way.
 * 4. The generation changes only at claim, so a stale handle never matches a reused slot.
 */

import { Atomics } from './intrinsics.js';
import type { ExitReason } from './exit.js';
import { assertTransition, type TransitionTable } from './transitions.js';

export const FREE = 0;
export const PENDING = 1;
export const STARTING = 2;
export const RUNNING = 3;
export type SlotState = typeof FREE | typeof PENDING | typeof STARTING | typeof RUNNING;

export const STATE_MASK = 0x7;
export const TERM = 0x8;
export const OUTCOME_SHIFT = 4;
export const OUTCOME_MASK = 0x70;
export const GEN_SHIFT = 8;
export const GEN_MASK = 0x3fffff;

export const O_NONE = 0;
export const O_COMPLETED = 1;
export const O_FAILED = 2;
export const O_CRASHED = 3;
export const O_TERMINATED = 4;
export type Outcome = typeof O_NONE | typeof O_COMPLETED | typeof O_FAILED | typeof O_CRASHED | typeof O_TERMINATED;

const REASONS = [undefined, 'completed', 'failed', 'crashed', 'terminated'] as const;

/** The exit reason a recorded outcome stands for (the one outcome → reason mapping; O_NONE records none). */
export const reasonOf = (outcome: Exclude<Outcome, typeof O_NONE>): Exclude<ExitReason, 'never-started'> => REASONS[outcome];

const STATE_NAMES = ['FREE', 'PENDING', 'STARTING', 'RUNNING'] as const;

export const stateOf = (w: number): SlotState => (w & STATE_MASK) as SlotState;
export const genOf = (w: number): number => (w >>> GEN_SHIFT) & GEN_MASK;
export const outcomeOf = (w: number): Outcome => ((w & OUTCOME_MASK) >>> OUTCOME_SHIFT) as Outcome;
export const termRequested = (w: number): boolean => (w & TERM) !== 0;
export const pack = (state: SlotState, gen: number, bits = 0): number => state | (bits & ~STATE_MASK & ~(GEN_MASK << GEN_SHIFT)) | ((gen & GEN_MASK) << GEN_SHIFT);

/** Legal state changes: TRANSITIONS[from] lists the allowed `to`. Same-state changes (flags) are not transitions. */
const TRANSITIONS: TransitionTable<SlotState> = {
  [FREE]: [PENDING],
  [PENDING]: [STARTING, FREE],
  [STARTING]: [RUNNING, PENDING, FREE],
  [RUNNING]: [PENDING, FREE],
};

const stateName = (s: SlotState): string => STATE_NAMES[s];

/** Throws IllegalTransitionError (transitions.ts) unless the table allows the slot move `from` → `to`. */
export function checkTransition(event: string, from: SlotState, to: SlotState): void {
  assertTransition('slot', TRANSITIONS, event, from, to, stateName);
}

/**
 * Registrant: claims a FREE slot, bumping its generation. Returns the new generation, or -1 if the slot is taken.
 */
export function claim(i32: Int32Array, at: number): number {
  const w = Atomics.load(i32, at);
  if (stateOf(w) !== FREE) return -1;
  const gen = (genOf(w) + 1) & GEN_MASK;
  return Atomics.compareExchange(i32, at, w, pack(PENDING, gen)) === w ? gen : -1;
}

/**
 * Moves the slot of generation `gen` from one of `from` to `to`, keeping TERM and (unless `clearOutcome`) the
 * outcome. Returns the word written, or undefined if the slot is no longer of that generation or in none of
 * `from` — the caller lost a race and must re-read.
 */
export function transition(i32: Int32Array, at: number, gen: number, from: readonly SlotState[], to: SlotState, event: string, clearOutcome = false): number | undefined {
  for (;;) {
    const w = Atomics.load(i32, at);
    const s = stateOf(w);
    if (genOf(w) !== gen || !from.includes(s)) return undefined;
    checkTransition(event, s, to);
    let bits = w & (TERM | OUTCOME_MASK);
    if (clearOutcome) bits &= ~OUTCOME_MASK;
    const next = to === FREE ? pack(FREE, gen) : pack(to, gen, bits);
    if (Atomics.compareExchange(i32, at, w, next) === w) return next;
  }
}

/**
 * Worker: commits to running user code (invariant 2). True when it may import the entry; false when termination
 * was requested first (or the slot is no longer this run's), in which case it must import nothing.
 */
export function commit(i32: Int32Array, at: number, gen: number): boolean {
  const expected = pack(PENDING, gen);
  return Atomics.compareExchange(i32, at, expected, pack(STARTING, gen)) === expected;
}

/**
 * Sets TERM on the slot if it still holds generation `gen` and is not FREE. Returns the word before the change,
 * or undefined when there was nothing to do (stale generation, free slot, TERM already set).
 */
export function requestTermination(i32: Int32Array, at: number, gen: number): number | undefined {
  for (;;) {
    const w = Atomics.load(i32, at);
    if (genOf(w) !== gen || stateOf(w) === FREE || termRequested(w)) return undefined;
    if (Atomics.compareExchange(i32, at, w, w | TERM) === w) return w;
  }
}

/**
 * Worker: records its own outcome once per run (invariant 3). `failure` is the outcome when TERM is clear; with
 * TERM set any failure becomes TERMINATED, while COMPLETED stays COMPLETED. Returns the outcome recorded, or
 * O_NONE if an outcome was already there or the run is no longer current.
 */
export function reportOutcome(i32: Int32Array, at: number, gen: number, outcome: Outcome): Outcome {
  for (;;) {
    const w = Atomics.load(i32, at);
    const s = stateOf(w);
    if (genOf(w) !== gen || (s !== STARTING && s !== RUNNING) || outcomeOf(w) !== O_NONE) return O_NONE;
    const o = outcome !== O_COMPLETED && termRequested(w) ? O_TERMINATED : outcome;
    if (Atomics.compareExchange(i32, at, w, w | (o << OUTCOME_SHIFT)) === w) return o;
  }
}
