/**
 * The supervisor thread ("postmaster"): the only code that starts or stops a worker. One single-threaded loop
 * reads the registrant's requests, checks the slot's TERM bit before every start, watches every worker's
 * 'exit', runs grace timers and forced stops, schedules restarts, and reports each stop to the registrant —
 * writing shared memory first and setting the registrant's interrupt word and latch for precious deaths, so a
 * registrant busy in synchronous code sees the death without yielding (G4).
 *
 * It runs in its own worker thread so that a registrant that never yields cannot delay a start, a stop or the
 * detection of a death. Per-run state machine: lifecycle.ts.
 */
import { MessageChannel, parentPort, workerData, type Transferable } from 'node:worker_threads';
import { CTRL, INTERRUPT, LATCH, STARTED_AT, SlotTable, wordsOf } from '../shared/layout.js';
import type { MailboxMessage, RegisterRequest, SerializedExit, SupervisorInit, SupervisorRequest, WorkerReport } from '../shared/protocol.js';
import { serializeError } from '../shared/protocol.js';
import { FREE, O_NONE, PENDING, RUNNING, STARTING, genOf, outcomeOf, requestTermination, stateOf, termRequested, transition } from '../shared/slots.js';
import { deliverInterrupt } from '../shared/latch.js';
import { Run, classify } from './lifecycle.js';
import type { RunnerEvents, StartInfo } from './runner.js';
import { startProcess } from './runtimes/process.js';
import { ThreadRuntime } from './runtimes/thread.js';

const init = workerData as SupervisorInit;
const table = new SlotTable(init.table);
const registrant = wordsOf(init.registrant);
const mailbox = init.mailbox;
const threads = new ThreadRuntime(init.spareWorkers);
const runs = new Map<number, Run>(); // by slot
let shuttingDown = false;
let shutdownGraceMs = Infinity;

function post(msg: MailboxMessage, transfer?: Transferable[]): void {
  mailbox.postMessage(msg, transfer);
}

function ctrlAt(slot: number): number {
  return table.at(slot, CTRL);
}

function onRequest(req: SupervisorRequest): void {
  switch (req.t) {
    case 'register':
      return onRegister(req);
    case 'terminate':
      return onTerminate(req.slot, req.gen);
    case 'shutdown':
      return onShutdown(req.timeoutMs);
  }
}

function onRegister(req: RegisterRequest): void {
  const run = new Run(req);
  runs.set(req.slot, run);
  if (shuttingDown) requestTermination(table.i32, ctrlAt(req.slot), req.gen);
  startRun(run, 'register');
}

/** Starts a thread for the run unless TERM is set (invariant 1); with TERM set the run ends `never-started` or `terminated`. */
function startRun(run: Run, event: string): void {
  const { slot, gen } = run.request;
  const w = Atomics.load(table.i32, ctrlAt(slot));
  if (termRequested(w)) {
    finish(run, { reason: 'never-started', code: null, signal: null }, event); // `terminated` if it ran before
    return;
  }
  const req = run.request;
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
  run.forced = false;
  run.stopping = false;
  run.graceDeadline = Infinity;
  const info: StartInfo = { request: req, table, registrant, logLevel: init.logLevel, userPort, controlPort, resourceLimits: req.resourceLimits };
  const token = {};
  run.token = token;
  const events: RunnerEvents = {
    report: (m) => run.token === token && onReport(run, m),
    error: (e) => {
      if (run.token === token) run.reports.threadError = e;
    },
    exit: (code, signal) => run.token === token && onExit(run, code, signal),
  };
  try {
    run.runner = req.runtime === 'process' ? startProcess(info, events) : threads.start(info, events);
  } catch (err) {
    // The runtime itself threw (e.g. resource limits new Worker() rejects): the run never started. A failure to start.
    userPort.close();
    controlPort?.close();
    run.token = undefined;
    finish(run, { reason: 'failed', code: null, signal: null, error: serializeError(err) }, 'spawn failed');
    return;
  }
  if (run.phase === 'restart-wait') run.move('spawning', event);
}

function onReport(run: Run, m: WorkerReport): void {
  if (m.t === 'running') {
    if (run.phase === 'spawning') run.move('running', 'bootstrap running');
    const { slot, gen } = run.request;
    post({ t: 'started', slot, gen, threadId: run.runner!.threadId, pid: run.runner!.pid, startedAt: table.f64[table.atF64(slot, STARTED_AT)]! });
  } else if (m.t === 'outcome') {
    if (m.result !== undefined) run.reports.result = m.result;
    if (m.error !== undefined) run.reports.error = m.error;
  }
}

function onTerminate(slot: number, gen: number): void {
  const run = runs.get(slot);
  if (run === undefined || run.request.gen !== gen) return;
  const w = Atomics.load(table.i32, ctrlAt(slot));
  if (!termRequested(w) || genOf(w) !== gen) return;
  if (run.phase === 'restart-wait') {
    clearTimeout(run.restartTimer);
    startRun(run, 'terminate while waiting for restart');
    return;
  }
  beginStopping(run);
}

/** A termination request was seen for a run with a thread: arm the grace timer (the worker already has its interrupt). */
function beginStopping(run: Run): void {
  const runner = run.runner;
  if (runner === undefined) return;
  const now = performance.now();
  const deadline = now + Math.min(run.request.gracefulTimeoutMs, shutdownGraceMs);
  if (run.stopping) {
    // Already stopping: a shutdown with a shorter timeout brings the forced stop forward, never back.
    if (deadline >= run.graceDeadline) return;
    clearTimeout(run.graceTimer);
  } else {
    run.stopping = true;
    runner.requestStop();
  }
  run.graceDeadline = deadline;
  run.graceTimer = setTimeout(() => {
    if (run.runner !== runner || run.phase === 'done') return;
    run.forced = true;
    runner.forceStop();
  }, deadline - now);
}

function onExit(run: Run, code: number | null, signal: string | null): void {
  run.runner = undefined;
  run.token = undefined;
  run.clearTimers();
  const { slot, gen } = run.request;
  const w = Atomics.load(table.i32, ctrlAt(slot));
  let exit = classify(w, code, signal, run.reports);
  const restartable = run.request.restartDelayMs >= 0 && (exit.reason === 'failed' || exit.reason === 'crashed');
  if (restartable && stateOf(w) !== FREE) {
    const back = shuttingDown ? undefined : stateOf(w) === PENDING ? w : transition(table.i32, ctrlAt(slot), gen, [STARTING, RUNNING], PENDING, 'restart', true);
    if (back !== undefined && !termRequested(Atomics.load(table.i32, ctrlAt(slot)))) {
      run.lastFailure = exit;
      run.move('restart-wait', 'exit (restartable)');
      post({ t: 'restarting', slot, gen, exit, delayMs: run.request.restartDelayMs });
      run.restartTimer = setTimeout(() => startRun(run, 'restart timer'), run.request.restartDelayMs);
      return;
    }
    // The request came after the failure, in what would have been the wait for a restart (G8): `terminated`,
    // with that failure as error.
    if (termRequested(Atomics.load(table.i32, ctrlAt(slot)))) exit = { reason: 'terminated', code: exit.code, signal: exit.signal, ...(exit.error ? { error: exit.error } : {}) };
  }
  finish(run, exit, 'exit');
}

/** Final stop: free the slot, then tell the registrant (and, for a precious death, interrupt it). */
function finish(run: Run, exit: SerializedExit, event: string): void {
  if (exit.reason === 'never-started' && run.lastFailure !== undefined) {
    // A restarted run stopped before it committed: the worker did run before, so per G8 it is `terminated`,
    // with its last failure as error.
    const { code, error } = run.lastFailure;
    exit = { reason: 'terminated', code, signal: null, ...(error ? { error } : {}) };
  }
  const { slot, gen } = run.request;
  const w = Atomics.load(table.i32, ctrlAt(slot));
  const requested = termRequested(w);
  run.clearTimers();
  run.move('done', event);
  run.request.userPort?.close();
  run.request.controlPort?.close();
  runs.delete(slot);
  transition(table.i32, ctrlAt(slot), gen, [PENDING, STARTING, RUNNING], FREE, event);
  post({ t: 'stopped', slot, gen, exit, forced: run.forced, requested });
  if (run.request.precious && (exit.reason === 'failed' || exit.reason === 'crashed')) {
    deliverInterrupt(registrant.i32, registrant.interrupt, registrant.latch);
  }
  if (shuttingDown) maybeFinishShutdown();
}

function onShutdown(timeoutMs: number): void {
  shuttingDown = true;
  shutdownGraceMs = timeoutMs;
  for (const run of [...runs.values()]) {
    const { slot, gen } = run.request;
    const before = requestTermination(table.i32, ctrlAt(slot), gen);
    // Not a worker that already reported its outcome: it is exiting (see record.ts requestTermination).
    if (before !== undefined && outcomeOf(before) === O_NONE) {
      deliverInterrupt(table.i32, table.at(slot, INTERRUPT), table.at(slot, LATCH));
    }
    if (run.phase === 'restart-wait') {
      clearTimeout(run.restartTimer);
      startRun(run, 'shutdown');
    } else {
      beginStopping(run);
    }
  }
  maybeFinishShutdown();
}

let finishing = false;
function maybeFinishShutdown(): void {
  if (runs.size > 0 || finishing) return;
  finishing = true;
  void threads.close().then(() => {
    post({ t: 'shutdown-done' });
    mailbox.close();
    parentPort!.close();
  });
}

parentPort!.on('message', onRequest);
post({ t: 'ready' });
