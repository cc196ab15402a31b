/**
 * The supervisor loop's restart and stop decisions, as pure functions: plain data in (a control word the loop
 * read, the run's phase and flags, the clock's time), a decision out. The loop (loop.ts) reads shared memory,
 * asks one of these, and carries the answer out; it decides nothing itself. Which reason a stop gets stays in
 * lifecycle.ts (`classify`); these decide what happens around it. All run on the supervisor thread only.
 *
 * ## Decisions, in the order a run meets them
 *
 * | decision        | loop event                                  | answers                                            |
 * |-----------------|---------------------------------------------|----------------------------------------------------|
 * | decideStart     | register; restart timer; TERM in restart-wait | start, or finish `never-started`                  |
 * | decideTerminate | 'terminate' request                          | ignore, cancel-restart (then decideStart), stop   |
 * | decideShutdown  | 'shutdown' request, once per run             | interrupt the worker or not; cancel-restart, stop |
 * | decideGrace     | a stop begins (terminate, shutdown)          | none; arm (first time: relay the stop); re-arm earlier |
 * | decideForce     | the grace timer fires                        | force the stop, or not (the run moved on)          |
 * | decideExit      | the runner's 'exit', after classify          | finish; requeue (CAS back to PENDING or already there); settle |
 * | decideRequeued  | after requeue/settle, on the word re-read    | restart after the delay; finish (`terminated` under TERM) |
 * | decideFinish    | the final stop                               | the exit as posted, `requested`, interrupt the registrant or not |
 *
 * ## Invariants (lifecycle.ts's, where they are decided)
 *
 * 1. Start only on a word read with TERM clear (lifecycle invariant 1): decideStart.
 * 2. Only failed and crashed runs of a restartable worker (restartDelayMs >= 0) restart, never during a
 *    shutdown, never under TERM: decideExit, decideRequeued.
 * 3. A worker that ran before and is stopped in the wait for its restart ends `terminated`, with its last failure
 *    as error (G8): decideRequeued, decideFinish.
 * 4. A later stop request only ever brings the forced stop forward: decideGrace.
 */
import type { SerializedExit } from '../shared/protocol.js';
import { FREE, O_NONE, PENDING, genOf, outcomeOf, stateOf, termRequested } from '../shared/slots.js';
import type { Phase } from './lifecycle.js';

export type StartDecision = { kind: 'start' } | { kind: 'finish'; exit: SerializedExit };

/** Before every start, on the slot's word (invariant 1). A `never-started` becomes `terminated` in decideFinish if the worker ran before. */
export function decideStart(ctrl: number): StartDecision {
  if (termRequested(ctrl)) return { kind: 'finish', exit: { reason: 'never-started', code: null, signal: null } };
  return { kind: 'start' };
}

export type TerminateDecision = 'ignore' | 'cancel-restart' | 'stop';

/**
 * A 'terminate' request for (slot, gen): `run` is the slot's current run, if any, with its slot's word read now.
 * Stale requests (another generation, TERM not set by this generation) are ignored.
 */
export function decideTerminate(run: { gen: number; phase: Phase; ctrl: number } | undefined, gen: number): TerminateDecision {
  if (run === undefined || run.gen !== gen) return 'ignore';
  if (!termRequested(run.ctrl) || genOf(run.ctrl) !== gen) return 'ignore';
  return run.phase === 'restart-wait' ? 'cancel-restart' : 'stop';
}

export interface ShutdownDecision {
  /** Deliver the worker's interrupt (it gets no other word of the shutdown in synchronous code). */
  interruptWorker: boolean;
  action: 'cancel-restart' | 'stop';
}

/**
 * Shutdown, for one run: `before` is what requestTermination returned (the word before TERM, or undefined when
 * there was nothing to set). A worker that already reported its outcome is exiting: no interrupt.
 */
export function decideShutdown(before: number | undefined, phase: Phase): ShutdownDecision {
  return {
    interruptWorker: before !== undefined && outcomeOf(before) === O_NONE,
    action: phase === 'restart-wait' ? 'cancel-restart' : 'stop',
  };
}

export interface StopState {
  /** The run has a runner (a thread or process that has not exited). */
  hasRunner: boolean;
  /** A stop was begun before for this runner. */
  stopping: boolean;
  /** The clock time at which the armed grace timer forces the stop; Infinity when none is armed. */
  graceDeadline: number;
}

export type GraceDecision = { kind: 'none' } | { kind: 'arm'; requestStop: boolean; deadline: number; delayMs: number };

/**
 * A stop begins: the grace deadline is `now` plus the shorter of the worker's graceful timeout and the shutdown's.
 * The first time, the stop is relayed (requestStop) and the timer armed; later, the timer is re-armed only for an
 * earlier deadline (invariant 4).
 */
export function decideGrace(s: StopState, now: number, gracefulTimeoutMs: number, shutdownGraceMs: number): GraceDecision {
  if (!s.hasRunner) return { kind: 'none' };
  const deadline = now + Math.min(gracefulTimeoutMs, shutdownGraceMs);
  if (s.stopping && deadline >= s.graceDeadline) return { kind: 'none' };
  return { kind: 'arm', requestStop: !s.stopping, deadline, delayMs: deadline - now };
}

/** The grace timer fired: force the stop only if the runner it was armed for is still the run's, and the run is not over. */
export function decideForce(sameRunner: boolean, phase: Phase): boolean {
  return sameRunner && phase !== 'done';
}

/** The restart policy: a failed or crashed run of a restartable worker is restarted. */
export function wantsRestart(exit: SerializedExit, restartDelayMs: number): boolean {
  return restartDelayMs >= 0 && (exit.reason === 'failed' || exit.reason === 'crashed');
}

export type ExitDecision =
  | { kind: 'finish'; exit: SerializedExit }
  /** Move the slot back to PENDING (`cas`: from STARTING/RUNNING; otherwise it is PENDING already), then decideRequeued. */
  | { kind: 'requeue'; cas: boolean }
  /** Restartable, but shutting down: no requeue; decideRequeued on the word re-read. */
  | { kind: 'settle' };

/** The runner exited and the run was classified as `exit`, from `ctrl` read after the exit. */
export function decideExit(exit: SerializedExit, ctrl: number, restartDelayMs: number, shuttingDown: boolean): ExitDecision {
  if (!wantsRestart(exit, restartDelayMs) || stateOf(ctrl) === FREE) return { kind: 'finish', exit };
  if (shuttingDown) return { kind: 'settle' };
  return { kind: 'requeue', cas: stateOf(ctrl) !== PENDING };
}

export type RequeueDecision = { kind: 'restart'; delayMs: number } | { kind: 'finish'; exit: SerializedExit };

/**
 * After decideExit's requeue or settle: `requeued` says whether the slot is back in PENDING, `ctrl` is the word
 * re-read after that. TERM that came after the failure, in what would have been the wait for a restart, makes it
 * `terminated` with that failure as error (invariant 3).
 */
export function decideRequeued(exit: SerializedExit, requeued: boolean, ctrl: number, restartDelayMs: number): RequeueDecision {
  const term = termRequested(ctrl);
  if (requeued && !term) return { kind: 'restart', delayMs: restartDelayMs };
  if (term) return { kind: 'finish', exit: { reason: 'terminated', code: exit.code, signal: exit.signal, ...(exit.error ? { error: exit.error } : {}) } };
  return { kind: 'finish', exit };
}

export interface FinishDecision {
  /** The exit as posted in 'stopped'. */
  exit: SerializedExit;
  /** Termination was requested (TERM set in `ctrl`). */
  requested: boolean;
  /** A precious worker died: deliver the registrant's interrupt and set its latch (G4). */
  interruptRegistrant: boolean;
}

/**
 * The final stop of a run, before the slot is freed: `ctrl` read now, `lastFailure` the exit of this worker's
 * last failed run, if it was restarted. A restarted run stopped before it committed did run before: `terminated`,
 * with its last failure as error (invariant 3).
 */
export function decideFinish(exit: SerializedExit, lastFailure: SerializedExit | undefined, ctrl: number, precious: boolean): FinishDecision {
  let final = exit;
  if (exit.reason === 'never-started' && lastFailure !== undefined) {
    const { code, error } = lastFailure;
    final = { reason: 'terminated', code, signal: null, ...(error ? { error } : {}) };
  }
  return {
    exit: final,
    requested: termRequested(ctrl),
    interruptRegistrant: precious && (final.reason === 'failed' || final.reason === 'crashed'),
  };
}
