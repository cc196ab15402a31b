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
 * Warm death path: a worker dies once, in a fresh isolate, so the code of its death report would run cold —
 * compiled lazily on that one call, and the first stack ever formatted — on the path from the death to the
 * registrant's checkForInterrupts() (G12: 0.5 ms at the median; cold, that code alone took ~0.3 ms). So
 * `warmDeathPath()` runs that code — reportTo(), the one function every report goes through — once on scratch
 * words, a scratch channel and a dummy error (nothing it touches is shared), off the measured start: a spare
 * while it waits for its assignment; a precious worker right after it has posted `running`, before main is called
 * (a main that blocks at once, in waitSync(), would never let it run later). Only a precious worker reports its
 * death this way, so no other worker pays for the warm-up (0.3-0.6 ms of CPU before its main).
 *
 * Warm entry path (spares only, warmEntryPath()): in a fresh thread, importing an entry took 2.3-3.0 ms, ~1.6 ms
 * of it resolving the entry's `import 'bgworkers/worker'` with the ESM resolver still cold (measured with
 * timestamps in a patched copy). A spare does that work while it waits, so an assignment imports only the entry:
 * register → running with a warm spare went from 4.0-4.4 ms to 3.2-3.8 ms (`node bench/run.mjs spawn`, medians
 * of 25, three runs each).
 *
 * Stepping aside: once a precious worker has told the registrant of its death, what is left for its thread (the
 * outcome message, the 'exit' listeners, the isolate's teardown, ~1-3 ms of CPU) only competes with the threads
 * that act on that death: the registrant's slow path and the supervisor thread, on 2 cores here. So the thread
 * lowers its own scheduling priority (nice 19, Linux: its OS thread id) right after the interrupt delivery.
 * Measured with the precious-death figure's 'main throws' deaths, old and new builds alternating (40 deaths a
 * run, load 2-5): p50 0.76-2.4 ms before, 0.47-0.74 ms after; in the full runs of 2026-12-03 (load ~1-2) 0.616 →
 * 0.566 ms for a throw, 0.581 → 0.463 ms for a synchronous throw (docs/benchmarks.md). A thread lowers only
 * itself, never raises, and only on this path: a failed non-precious worker's exit (which restarts wait for)
 * keeps its priority.
 */
import { MessageChannel, parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import { constants as osConstants, setPriority } from 'node:os';
import { CTRL, INTERRUPT, LATCH, OS_TID, STARTED_AT, SlotTable, THREAD_ID, wordsOf, type ThreadWords } from '../shared/layout.js';
import { ownThreadId } from '../shared/usage.js';
import { SharedLatch, deliverInterrupt } from '../shared/latch.js';
import type { Assignment, DeathReport, SignedReport, SpareInit } from '../shared/protocol.js';
import { serializeError } from '../shared/protocol.js';
import { O_COMPLETED, O_CRASHED, O_FAILED, O_NONE, RUNNING, STARTING, commit, reasonOf, reportOutcome, termRequested, transition, type Outcome } from '../shared/slots.js';
import { installWorker, interruptPending, myLatch, releaseWaits } from '../scope/interrupts.js';
import { runWorker, type WorkerHost } from './run.js';
import { Atomics, exitProcess } from '../shared/intrinsics.js';
import { isDeath } from '../shared/exit.js';
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

let warm = false;

/** Where a thread worker's outcome goes (reportTo): its slot's control word, the registrant, the host's port. */
interface ReportTarget {
  readonly i32: Int32Array;
  readonly ctrlAt: number;
  readonly gen: number;
  /** The registrant's death-report path, for a precious worker only. */
  readonly precious: boolean;
  readonly controlPort: MessagePort | undefined;
  readonly registrant: ThreadWords;
  readonly port: MessagePort;
  readonly nonce: string;
}

type ReportDetail = { result?: unknown; error?: ReturnType<typeof serializeError> };

/**
 * Records the outcome against TERM in one CAS; for a precious death tells the registrant first (death report,
 * then its interrupt word and latch) and steps aside (`tid`: see the header); then reports it to the host.
 * Module-level, so that warmDeathPath() runs this very function before the one real death.
 */
function reportTo(t: ReportTarget, outcome: Outcome, code: number, detail: ReportDetail, tid: number): void {
  const decided = reportOutcome(t.i32, t.ctrlAt, t.gen, outcome);
  if (decided === O_NONE) return;
  const reason = reasonOf(decided);
  if (t.precious && isDeath(reason)) {
    const death: DeathReport = { t: 'death', reason, code, ...(detail.error ? { error: detail.error } : {}), at: performance.timeOrigin + performance.now() };
    t.controlPort?.postMessage(death);
    deliverInterrupt(t.registrant.i32, t.registrant.interrupt, t.registrant.latch);
    stepAside(tid);
  }
  t.port.postMessage({ t: 'outcome', reason, code, ...detail, nonce: t.nonce } satisfies SignedReport);
}

/** Lowers OS thread `tid`'s scheduling priority to the lowest (see the header); 0 (not known): nothing. */
function stepAside(tid: number): void {
  if (tid <= 0) return;
  try {
    setPriority(tid, osConstants.priority.PRIORITY_LOW);
  } catch {
    // Not permitted or not supported here: the thread keeps its priority, which costs only latency.
  }
}

/**
 * Runs reportTo() once for a precious failure on scratch memory and a scratch channel (see the header): the
 * outcome CAS, the error's serialisation with its stack formatted, both reports posted (to a port no one reads,
 * closed at once) and the interrupt delivery. No effect outside its own words and ports.
 */
function warmDeathPath(): void {
  if (warm) return;
  warm = true;
  const scratch = new Int32Array(new SharedArrayBuffer(16));
  scratch[0] = STARTING; // a live slot word of generation 0: the CAS succeeds, as in a real death
  const { port1, port2 } = new MessageChannel();
  const target: ReportTarget = { i32: scratch, ctrlAt: 0, gen: 0, precious: true, controlPort: port1, registrant: { i32: scratch, latch: 2, interrupt: 1 }, port: port1, nonce: '' };
  reportTo(target, O_FAILED, 1, { error: serializeError(new Error('warm-up', { cause: new Error('cause') })) }, 0);
  port1.close();
  port2.close();
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
  const report = (outcome: Outcome, code: number, detail: ReportDetail): void => reportTo(target, outcome, code, detail, tid);
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
