/**
 * The supervisor loop ("postmaster"): the only code that starts or stops a worker. It reads the registrant's
 * requests, checks the slot's TERM bit before every start, watches every worker's 'exit', runs grace timers and
 * forced stops, schedules restarts, and reports each stop to the registrant — writing shared memory first and
 * setting the registrant's interrupt word and latch for precious deaths, so a registrant busy in synchronous code
 * sees the death without yielding (G4).
 *
 * Everything it touches is injected (LoopDeps): the slot table and the registrant's words, `post` for the
 * mailbox, the runtimes that start workers and the clock; thread.ts wires the real ones on the supervisor
 * thread, the tests fake runtimes and clock. Each decision is a pure function of restart-policy.ts; this file reads
 * the words, asks, and carries the answer out. Per-run state machine: lifecycle.ts. (~260 lines: the table below
 * and one handler per request or runner event; the decisions are already out.)
 *
 * ## States of the loop
 *
 * | state         | meaning                                                                          |
 * |---------------|----------------------------------------------------------------------------------|
 * | serving       | requests start, stop and restart runs                                            |
 * | shutting-down | a shutdown came: every run has TERM and its grace timer; a new register gets TERM at once |
 * | finishing     | no run left: the runtimes are closing                                            |
 * | closed        | 'shutdown-done' posted, deps.close() called; nothing more happens               |
 *
 * ## Transitions (all on the supervisor thread)
 *
 * | from                   | to            | made by                                                  |
 * |------------------------|---------------|----------------------------------------------------------|
 * | serving, shutting-down | shutting-down | a 'shutdown' request (a second one may shorten the grace) |
 * | shutting-down          | finishing     | the last run finishes, or the shutdown found none         |
 * | finishing              | closed        | the runtimes' close() resolved                            |
 */
import { MessageChannel, type Transferable } from 'node:worker_threads';
import { CTRL, INTERRUPT, LATCH, STARTED_AT, type SlotTable, type ThreadWords } from '../shared/layout.js';
import type { MailboxMessage, RegisterRequest, SerializedExit, SupervisorRequest, WorkerReport } from '../shared/protocol.js';
import { serializeError } from '../shared/protocol.js';
import { FREE, PENDING, RUNNING, STARTING, requestTermination, stateOf, transition } from '../shared/slots.js';
import { deliverInterrupt } from '../shared/latch.js';
import type { Clock } from './clock.js';
import { decideBackoff, decideExit, decideFinish, decideForce, decideGrace, decideRequeued, decideShutdown, decideStart, decideTerminate } from './restart-policy.js';
import { Run, classify } from './lifecycle.js';
import type { Runner, RunnerEvents, Runtimes, StartInfo } from './runner.js';

export type LoopState = 'serving' | 'shutting-down' | 'finishing' | 'closed';

/** What the loop works with; thread.ts passes the real ones. */
export interface LoopDeps {
  table: SlotTable;
  /** The registrant thread's words: its interrupt and latch, for precious deaths. */
  registrant: ThreadWords;
  logLevel: string;
  /** Posts to the registrant's mailbox. */
  post(msg: MailboxMessage, transfer?: Transferable[]): void;
  runtimes: Runtimes;
  clock: Clock;
  /** Called once, after 'shutdown-done' was posted: close the mailbox and the thread's port. */
  close(): void;
}

export class SupervisorLoop {
  readonly #d: LoopDeps;
  readonly #runs = new Map<number, Run>(); // by slot
  #state: LoopState = 'serving';
  #shutdownGraceMs = Infinity;

  constructor(deps: LoopDeps) {
    this.#d = deps;
  }

  get state(): LoopState {
    return this.#state;
  }

  /** Tells the registrant the loop takes requests. */
  start(): void {
    this.#d.post({ t: 'ready' });
  }

  /** One request from the registrant. */
  handle(req: SupervisorRequest): void {
    switch (req.t) {
      case 'register':
        return this.#register(req);
      case 'terminate':
        return this.#terminate(req.slot, req.gen, req.graceMs);
      case 'shutdown':
        return this.#shutdown(req.timeoutMs);
      case 'relay':
        return this.#relay(req.signal);
    }
  }

  #ctrl(slot: number): number {
    return Atomics.load(this.#d.table.i32, this.#d.table.at(slot, CTRL));
  }

  #register(req: RegisterRequest): void {
    const run = new Run(req);
    this.#runs.set(req.slot, run);
    if (this.#state !== 'serving') requestTermination(this.#d.table.i32, this.#d.table.at(req.slot, CTRL), req.gen);
    this.#startRun(run, 'register');
  }

  /** Starts a worker for the run unless TERM is set (decideStart); with TERM set the run ends `never-started` or `terminated`. */
  #startRun(run: Run, event: string): void {
    const { table, post } = this.#d;
    const req = run.request;
    const { slot, gen } = req;
    const start = decideStart(this.#ctrl(slot));
    if (start.kind === 'finish') return this.#finish(run, start.exit, event);
    let userPort = req.userPort;
    if (userPort === undefined) {
      // A restartable worker: a fresh channel per run; the registrant's RelayChannel switches to the other end.
      const channel = new MessageChannel();
      userPort = channel.port1;
      post({ t: 'port', slot, gen, port: channel.port2 }, [channel.port2]);
    } else {
      req.userPort = undefined; // handed to this run; only restartable workers run again, and they get fresh ports
    }
    const controlPort = req.controlPort;
    req.controlPort = undefined;
    run.reports = {};
    run.startedAt = this.#d.clock.now();
    run.forced = false;
    run.stopping = false;
    run.graceDeadline = Infinity;
    const info: StartInfo = { request: req, table, registrant: this.#d.registrant, logLevel: this.#d.logLevel, userPort, controlPort, resourceLimits: req.resourceLimits };
    const token = {};
    run.token = token;
    const events: RunnerEvents = {
      report: (m) => run.token === token && this.#report(run, m),
      error: (e) => {
        if (run.token === token) run.reports.threadError = e;
      },
      exit: (code, signal) => run.token === token && this.#exit(run, code, signal),
    };
    try {
      run.runner = req.runtime === 'process' ? this.#d.runtimes.process(info, events) : this.#d.runtimes.thread(info, events);
    } catch (err) {
      // The runtime itself threw (e.g. resource limits new Worker() rejects): the run never started. A failure to start.
      userPort.close();
      controlPort?.close();
      run.token = undefined;
      return this.#finish(run, { reason: 'failed', code: null, signal: null, error: serializeError(err) }, 'spawn failed');
    }
    if (run.phase === 'restart-wait') run.move('spawning', event);
  }

  #report(run: Run, m: WorkerReport): void {
    if (m.t === 'running') {
      if (run.phase === 'spawning') run.move('running', 'bootstrap running');
      const { slot, gen } = run.request;
      const { table } = this.#d;
      this.#d.post({ t: 'started', slot, gen, threadId: run.runner!.threadId, pid: run.runner!.pid, startedAt: table.f64[table.atF64(slot, STARTED_AT)]! });
    } else if (m.t === 'outcome') {
      run.reports.reported = { reason: m.reason, code: m.code };
      if (m.result !== undefined) run.reports.result = m.result;
      if (m.error !== undefined) run.reports.error = m.error;
    } else {
      this.#d.post({ t: 'log', slot: run.request.slot, gen: run.request.gen, line: m.line }); // for the registrant's logger
    }
  }

  #terminate(slot: number, gen: number, graceMs = Infinity): void {
    const run = this.#runs.get(slot);
    const what = decideTerminate(run && { gen: run.request.gen, phase: run.phase, ctrl: this.#ctrl(slot) }, gen);
    if (what === 'ignore') return;
    if (what === 'cancel-restart') {
      this.#d.clock.clearTimeout(run!.restartTimer);
      return this.#startRun(run!, 'terminate while waiting for restart');
    }
    this.#beginStopping(run!, graceMs);
  }

  /**
   * relaySignal(): every run that has a live runner and is running gets the signal once. "Running" is read from
   * the slot's word, not only from the run's phase: a thread worker moves its own word to RUNNING before main, and
   * its 'running' report may reach this loop after a relay request the registrant sent on seeing main's first
   * message (two channels, no order between them). A process worker's word is written here, on its report, and its
   * messages to the registrant pass through here after that report, so its phase is already right.
   */
  /** Calls `fn` for every run with a live runner (the usage sampler's view; it reads, it decides nothing). */
  forEachRunner(fn: (slot: number, runner: Runner) => void): void {
    for (const [slot, run] of this.#runs) if (run.runner !== undefined) fn(slot, run.runner);
  }

  #relay(sig: NodeJS.Signals): void {
    for (const [slot, run] of this.#runs) {
      if (run.runner !== undefined && (run.phase === 'running' || stateOf(this.#ctrl(slot)) === RUNNING)) run.runner.signal(sig);
    }
  }

  /** A termination request was seen for a run with a worker: arm the grace timer (a thread already has its interrupt). */
  #beginStopping(run: Run, graceMs = Infinity): void {
    const runner = run.runner;
    const { clock } = this.#d;
    const now = clock.now();
    const grace = decideGrace({ hasRunner: runner !== undefined, stopping: run.stopping, graceDeadline: run.graceDeadline }, now, run.request.gracefulTimeoutMs, Math.min(this.#shutdownGraceMs, graceMs));
    if (grace.kind === 'none') return;
    if (grace.requestStop) {
      run.stopping = true;
      runner!.requestStop();
    } else {
      clock.clearTimeout(run.graceTimer); // a shorter shutdown timeout brings the forced stop forward
    }
    run.graceDeadline = grace.deadline;
    run.graceTimer = clock.setTimeout(() => {
      if (!decideForce(run.runner === runner, run.phase)) return;
      run.forced = true;
      runner!.forceStop();
    }, grace.delayMs);
  }

  #exit(run: Run, code: number | null, signal: string | null): void {
    const { table, clock } = this.#d;
    const threadId = run.runner?.threadId ?? 0;
    run.runner = undefined;
    run.token = undefined;
    run.clearTimers((t) => clock.clearTimeout(t));
    const { slot, gen } = run.request;
    const w = this.#ctrl(slot);
    const exit = classify(w, code, signal, run.reports);
    const next = decideExit(exit, w, run.request.restartDelayMs, this.#state !== 'serving');
    if (next.kind === 'finish') return this.#finish(run, exit, 'exit', threadId);
    let delayMs = run.request.restartDelayMs;
    if (next.kind === 'requeue') {
      const backoff = decideBackoff(run.restarts, clock.now(), run.startedAt, delayMs, run.request.restartBackoff);
      if (backoff.kind === 'give-up') return this.#finish(run, { ...exit, reason: 'failed' }, 'restart intensity', threadId, { restarts: backoff.restarts, withinMs: backoff.withinMs });
      run.restarts = backoff.history;
      delayMs = backoff.delayMs;
    }
    const requeued = next.kind === 'requeue' && (!next.cas || transition(table.i32, table.at(slot, CTRL), gen, [STARTING, RUNNING], PENDING, 'restart', true) !== undefined);
    const after = decideRequeued(exit, requeued, this.#ctrl(slot), delayMs);
    if (after.kind === 'finish') return this.#finish(run, after.exit, 'exit', threadId);
    run.lastFailure = exit;
    run.move('restart-wait', 'exit (restartable)');
    this.#d.post({ t: 'restarting', slot, gen, exit, delayMs: after.delayMs, threadId });
    run.restartTimer = clock.setTimeout(() => this.#startRun(run, 'restart timer'), after.delayMs);
  }

  /** Final stop: free the slot, then tell the registrant (and, for a precious death, interrupt it). `threadId`: the run's thread worker, if it had one. */
  #finish(run: Run, exit: SerializedExit, event: string, threadId = 0, gaveUp?: { restarts: number; withinMs: number }): void {
    const { table, registrant } = this.#d;
    const { slot, gen } = run.request;
    const end = decideFinish(exit, run.lastFailure, this.#ctrl(slot), run.request.precious);
    run.clearTimers((t) => this.#d.clock.clearTimeout(t));
    run.move('done', event);
    run.request.userPort?.close();
    run.request.controlPort?.close();
    this.#runs.delete(slot);
    transition(table.i32, table.at(slot, CTRL), gen, [PENDING, STARTING, RUNNING], FREE, event);
    const endedAt = performance.timeOrigin + performance.now(); // a timestamp for the registrant's histogram, not a decision
    this.#d.post({ t: 'stopped', slot, gen, exit: end.exit, forced: run.forced, requested: end.requested, threadId, endedAt, ...(gaveUp ? { gaveUp } : {}) });
    if (end.interruptRegistrant) deliverInterrupt(registrant.i32, registrant.interrupt, registrant.latch);
    if (this.#state === 'shutting-down') this.#maybeFinishShutdown();
  }

  #shutdown(timeoutMs: number): void {
    const { table } = this.#d;
    if (this.#state === 'serving') this.#state = 'shutting-down';
    this.#shutdownGraceMs = timeoutMs;
    for (const run of [...this.#runs.values()]) {
      const { slot, gen } = run.request;
      const before = requestTermination(table.i32, table.at(slot, CTRL), gen);
      const what = decideShutdown(before, run.phase);
      if (what.interruptWorker) deliverInterrupt(table.i32, table.at(slot, INTERRUPT), table.at(slot, LATCH));
      if (what.action === 'cancel-restart') {
        this.#d.clock.clearTimeout(run.restartTimer);
        this.#startRun(run, 'shutdown');
      } else {
        this.#beginStopping(run);
      }
    }
    if (this.#state === 'shutting-down') this.#maybeFinishShutdown();
  }

  #maybeFinishShutdown(): void {
    if (this.#runs.size > 0) return;
    this.#state = 'finishing';
    void this.#d.runtimes.close().then(() => {
      this.#state = 'closed';
      this.#d.post({ t: 'shutdown-done' });
      this.#d.close();
    });
  }
}
