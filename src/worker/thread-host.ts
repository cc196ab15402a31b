/**
 * A worker thread's host, started by bootstrap.ts (the main module of every worker thread). The thread maps the
 * slot table, so it commits and records its outcome itself, each by one CAS on the slot's control word, and for a precious worker
 * reports its death straight to the registrant (death report on the control port, then the registrant's
 * interrupt word and latch) before the thread exits: a failure is visible to checkForInterrupts() in a busy
 * registrant without waiting for the thread's 'exit'.
 *
 * Sequence: [spare: wait for an assignment] → install this thread as the worker (latch, interrupt word) →
 * write threadId and start time → runWorker (run.ts) → process.exit.
 *
 * Exit codes: 0 completed or never-started, 1 failed or terminated by a throw; a crash keeps its own code.
 *
 * The outcome report (report.ts reportTo): the details to the supervisor first, then the word's CAS, then for a
 * precious worker the death report to the registrant and a step aside; report.ts's header has the order's reasons,
 * the step aside and the warm death path (a spare and a precious worker run the death report once, off the
 * measured start).
 *
 * Warm entry path (spares only, warmEntryPath()): in a fresh thread, importing an entry took 2.3-3.0 ms, ~1.6 ms
 * of it resolving the entry's `import 'bgworkers/worker'` with the ESM resolver still cold (measured with
 * timestamps in a patched copy). A spare does that work while it waits, so an assignment imports only the entry:
 * register → running with a warm spare went from 4.0-4.4 ms to 3.2-3.8 ms (`node bench/run.mjs spawn`, medians
 * of 25, three runs each).
 */
import { parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import { CTRL, INTERRUPT, LATCH, OS_TID, STARTED_AT, SlotTable, THREAD_ID, wordsOf } from '../shared/layout.js';
import { ownThreadId } from '../shared/usage.js';
import { SharedLatch } from '../shared/latch.js';
import type { Assignment, SignedReport, SpareInit } from '../shared/protocol.js';
import { serializeError } from '../shared/protocol.js';
import { O_COMPLETED, O_CRASHED, O_FAILED, RUNNING, STARTING, commit, reportOutcome, termRequested, transition } from '../shared/slots.js';
import { reportTo, warmDeathPath, type ReportDetail, type ReportTarget } from './report.js';
import { installWorker, interruptPending, myLatch, releaseWaits } from '../scope/interrupts.js';
import { runWorker, type WorkerHost } from './run.js';
import { Atomics, exitProcess } from '../shared/intrinsics.js';
import { SignalListeners } from '../shared/relay.js';

/** Runs this thread as a worker: now, or for a spare once its assignment arrives. */
export function startThreadWorker(): void {
  const port = parentPort!;
  const init = workerData as Assignment | SpareInit;
  if (init.t === 'spare') {
    port.once('message', (a: Assignment) => void runWorker(threadHost(port, init, a)));
    warmDeathPath();
    warmEntryPath();
  } else void runWorker(threadHost(port, init, init));
}

/**
 * A spare, while it waits: what importing an entry costs beyond the entry itself, done ahead (see the header). The
 * ESM resolver's bare-specifier path is compiled by resolving the package's own `bgworkers/worker` (a failure, as
 * under another package name, changes nothing), and the public worker module, which every entry imports, is
 * loaded; an entry's import of it then finds it in the module map.
 */
function warmEntryPath(): void {
  try {
    import.meta.resolve('bgworkers/worker');
  } catch {
    // not resolvable by that name from here: the entry's own import pays for it
  }
  // A URL built at run time, so that the bundler leaves the import to Node: the module must be dist/worker.js itself.
  void import(new URL('../worker.js', import.meta.url).href).catch(() => undefined);
}

function threadHost(port: MessagePort, init: Assignment | SpareInit, a: Assignment): WorkerHost {
  // workerData is readable by user code: keep the run's nonce here and take it out of workerData before any
  // user code runs.
  const nonce = a.nonce;
  if (init.t === 'assign') delete (init as Partial<Assignment>).nonce;
  const table = new SlotTable(a.table);
  const i32 = table.i32;
  const ctrlAt = table.at(a.slot, CTRL);
  const registrant = wordsOf(a.registrant);
  const controller = new AbortController();
  const signals = new SignalListeners();
  port.on('message', (m: { t?: unknown; signal?: unknown }) => {
    if (m?.t === 'signal' && typeof m.signal === 'string') signals.deliver(m.signal as NodeJS.Signals);
  });
  let exiting = false;
  let uncaught: unknown;

  installWorker({ i32, latch: table.at(a.slot, LATCH), interrupt: table.at(a.slot, INTERRUPT) }, { ctrl: i32, ctrlAt, gen: a.gen, name: a.name, controller });
  Atomics.store(i32, table.at(a.slot, THREAD_ID), threadId);
  table.f64[table.atF64(a.slot, STARTED_AT)] = Date.now(); // published by the commit CAS
  const tid = ownThreadId();
  table.f64[table.atF64(a.slot, OS_TID)] = tid; // for the supervisor's CPU-time sampler

  const target: ReportTarget = { i32, ctrlAt, gen: a.gen, precious: a.precious, controlPort: a.controlPort, registrant, port, nonce };
  const report = (outcome: typeof O_FAILED | typeof O_CRASHED, code: number, detail: ReportDetail): void => void reportTo(target, outcome, code, detail, tid);
  const exit = (code: number): never => {
    exiting = true;
    exitProcess(code);
  };

  // A stop that is not the bootstrap's own (process.exit in user code, an uncaught exception): report a crash.
  process.on('uncaughtExceptionMonitor', (err) => (uncaught = err));
  process.on('exit', (code) => {
    if (!exiting) report(O_CRASHED, code, uncaught === undefined ? {} : { error: serializeError(uncaught) });
    releaseWaits(); // every exit passes here: leave no pending wait for another thread to notify
  });

  return {
    identity: a,
    signal: controller.signal,
    latch: myLatch(),
    registrantLatch: new SharedLatch(registrant.i32, registrant.latch, { interrupted: interruptPending }),
    port: a.userPort,
    commit: () => commit(i32, ctrlAt, a.gen),
    neverStarted: () => {
      a.userPort.close();
      a.controlPort?.close();
      return exit(0);
    },
    running: () => {
      if (termRequested(Atomics.load(i32, ctrlAt))) return false;
      transition(i32, ctrlAt, a.gen, [STARTING], RUNNING, 'entry loaded');
      port.postMessage({ t: 'running', nonce } satisfies SignedReport);
      if (a.precious) warmDeathPath(); // only a precious worker reports its death to the registrant
      return true;
    },
    complete: (result) => {
      // Post first: an uncloneable result throws here, and the run is then failed, not completed.
      port.postMessage({ t: 'outcome', reason: 'completed', code: 0, result, nonce } satisfies SignedReport);
      reportOutcome(i32, ctrlAt, a.gen, O_COMPLETED);
      return exit(0);
    },
    fail: (error) => {
      report(O_FAILED, 1, { error: serializeError(error) });
      return exit(1);
    },
    log: (line) => port.postMessage({ t: 'log', line, nonce } satisfies SignedReport),
    onSignal: (listener) => signals.add(listener),
  };
}
