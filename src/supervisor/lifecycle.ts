/**
 * The supervisor thread's view of one registered worker (a Run), from its request to its final stop. This state
 * machine lives only on the supervisor thread: it is the one place that starts and stops workers (G2). The
 * slot's control word (shared/slots.ts) is what the other threads see; a Run adds what only the supervisor
 * needs (the thread object, timers, the worker's reports).
 *
 * ## Phases
 *
 * | phase        | meaning                                                                      |
 * |--------------|------------------------------------------------------------------------------|
 * | spawning     | a thread was started (or a spare assigned) for this run; main not yet called |
 * | running      | the bootstrap reported main about to run; 'started' was posted                 |
 * | restart-wait | a failed/crashed run of a restartable worker ended; waiting `delayMs`           |
 * | done         | final: classified, slot freed, 'stopped' posted                                |
 *
 * Orthogonal to the phase: `stopping` (a termination request was seen; the grace timer runs) and `forced`
 * (the grace timer fired and the thread was terminated).
 *
 * ## Transitions (all on the supervisor thread)
 *
 * | from                 | to           | event                                                              |
 * |----------------------|--------------|--------------------------------------------------------------------|
 * | (new)                | spawning     | register request, TERM clear                                       |
 * | (new)                | done         | register request, TERM already set: `never-started`, no thread     |
 * | spawning             | running      | bootstrap reports 'running'                                        |
 * | spawning, running    | restart-wait | thread exit, failed/crashed, restartable, TERM clear              |
 * | spawning, running    | done         | thread exit otherwise                                             |
 * | restart-wait         | spawning     | restart timer, TERM clear                                          |
 * | restart-wait         | done         | TERM seen (terminate or shutdown): `terminated`, error = last failure |
 *
 * ## Invariants
 *
 * 1. A thread is started only from a request or the restart timer, and only after reading TERM clear; the
 *    worker's own commit CAS closes the remaining window (slots.ts invariant 2).
 * 2. Every run that got a thread reaches `done` or `restart-wait` only through that thread's 'exit' event: the
 *    slot is never freed while its thread may still run user code.
 * 3. A run is classified exactly once, from the control word (state, outcome, TERM) and, for details only, the
 *    worker's reports and 'error' event.
 */
import { lostWorkerError as lostThread, type RegisterRequest, type SerializedError, type SerializedExit } from '../shared/protocol.js';
import type { Runner } from './runner.js';
import { clearRealTimer, type Timer } from './clock.js';
import { NO_RESTARTS, type RestartHistory } from './restart-policy.js';
import { assertTransition, type TransitionTable } from '../shared/transitions.js';
import { O_COMPLETED, O_CRASHED, O_FAILED, O_NONE, O_TERMINATED, PENDING, outcomeOf, reasonOf, stateOf, termRequested } from '../shared/slots.js';
import type { ExitReason } from '../shared/exit.js';

export type Phase = 'spawning' | 'running' | 'restart-wait' | 'done';

const TRANSITIONS: TransitionTable<Phase> = {
  spawning: ['running', 'restart-wait', 'done'],
  running: ['restart-wait', 'done'],
  'restart-wait': ['spawning', 'done'],
  done: [],
};

/** What a run's thread told us about itself, for the exit's details. */
export interface RunReports {
  result?: unknown;
  error?: SerializedError;
  /** The runtime's own error: a Worker's 'error' event (uncaught exception, out of memory), a crash line. */
  threadError?: SerializedError;
  /** The outcome the worker reported and its exit code (a thread worker's `process.exit(7)`: crashed, 7). */
  reported?: { reason: Exclude<ExitReason, 'never-started'>; code: number };
}

export class Run {
  readonly request: RegisterRequest;
  phase: Phase = 'spawning';
  runner: Runner | undefined;
  /** Identifies the current run's runner; events from an earlier run's runner are ignored. */
  token: object | undefined;
  stopping = false;
  forced = false;
  graceTimer: Timer | undefined;
  /** The clock's now() at which the grace timer forces the stop. */
  graceDeadline = Infinity;
  restartTimer: Timer | undefined;
  reports: RunReports = {};
  /** The last failed/crashed run's exit, for a restartable worker. */
  lastFailure: SerializedExit | undefined;
  /** The clock time the current run was started at (for the restart backoff's reset). */
  startedAt = 0;
  /** Restarts so far (restart-policy.ts decideBackoff). */
  restarts: RestartHistory = NO_RESTARTS;

  constructor(request: RegisterRequest) {
    this.request = request;
  }

  move(to: Phase, event: string): void {
    assertTransition('run', TRANSITIONS, event, this.phase, to);
    this.phase = to;
  }

  /** Cancels both timers, with the clear function of the clock that set them. */
  clearTimers(clear: (timer: Timer | undefined) => void = clearRealTimer): void {
    clear(this.graceTimer);
    clear(this.restartTimer);
    this.graceTimer = undefined;
    this.restartTimer = undefined;
  }
}

/**
 * Classifies a run whose thread is gone (invariant 3), from the control word read after the 'exit' event.
 * G8: the worker's own outcome decides completed/failed/terminated; no outcome means a hard stop, which is
 * `terminated` if it was requested and `crashed` otherwise; a run that never committed is `never-started`.
 */
export function classify(ctrl: number, exitCode: number | null, signal: string | null, reports: RunReports): SerializedExit {
  const term = termRequested(ctrl);
  const outcome = outcomeOf(ctrl);
  // The code is the one the worker reported with the outcome the word holds, when it reported it: a thread that
  // reported its outcome and was then stopped by force (a precious death steps aside at the lowest priority, and
  // on a busy machine its grace can run out before it exits) has Node's code for a terminated thread, 1. Not for
  // a process killed by a signal: its exit says so.
  const reported = reports.reported;
  const code = signal === null && outcome !== O_NONE && reported !== undefined && reported.reason === reasonOf(outcome) ? reported.code : exitCode;
  const base = { code, signal };
  const how = signal !== null ? `by signal ${signal}` : `with code ${exitCode}`;
  if (stateOf(ctrl) === PENDING) {
    // No user code ran, so no exit code or signal means anything: the same exit whether or not a thread or
    // process had been started for it when the request came.
    if (term) return { reason: 'never-started', code: null, signal: null };
    return { reason: 'crashed', ...base, error: reports.threadError ?? lostThread('exited before its entry started loading') };
  }
  switch (outcome) {
    case O_COMPLETED:
      return { reason: 'completed', ...base, result: reports.result };
    case O_FAILED:
      return { reason: 'failed', ...base, error: reports.error ?? reports.threadError ?? lostThread('failed without a report') };
    case O_TERMINATED:
      return { reason: 'terminated', ...base };
    case O_CRASHED:
      return { reason: 'crashed', ...base, error: reports.threadError ?? reports.error ?? lostThread(`exited ${how}`) };
    case O_NONE:
      if (term) return { reason: 'terminated', ...base };
      return { reason: 'crashed', ...base, error: reports.threadError ?? lostThread(`stopped ${how} without reporting`) };
  }
}
