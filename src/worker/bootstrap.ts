/**
 * The bootstrap: the module every worker thread starts with. It imports the user's entry only after winning the
 * commit CAS (slots.ts invariant 2), so a worker terminated before it started runs no user code at all, and it
 * reports its own outcome — to the supervisor always, and for a precious worker straight to the registrant
 * (death report on the control port, then the registrant's interrupt word and latch) before the thread exits, so
 * a failure is visible to checkForInterrupts() in a busy registrant without waiting for the thread's 'exit'.
 *
 * Sequence: [spare: wait for an assignment] → install this thread as the worker (latch, interrupt word) →
 * write threadId and start time → commit (or exit as never-started) → import entry → RUNNING → report
 * 'running' → main(ctx) → outcome → process.exit.
 *
 * Exit codes: 0 completed or never-started, 1 failed or terminated by a throw; a crash keeps its own code.
 */
import { createRequire } from 'node:module';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import { invalidOption } from '../errors.js';
import { CTRL, INTERRUPT, LATCH, STARTED_AT, SlotTable, THREAD_ID, T_INTERRUPT, T_LATCH } from '../shared/layout.js';
import { SharedLatch } from '../shared/latch.js';
import type { Assignment, DeathReport, SpareInit, WorkerReport } from '../shared/protocol.js';
import { serializeError, type SerializedError } from '../shared/protocol.js';
import { O_COMPLETED, O_CRASHED, O_FAILED, O_NONE, RUNNING, STARTING, commit, reportOutcome, transition, type Outcome } from '../shared/slots.js';
import { checkForInterrupts, deliverInterrupt, installWorker, interruptPending, myLatch } from '../scope/interrupts.js';
import { isWorkerDefinition, type WorkerContext } from './context.js';

const port = parentPort!;
const init = workerData as Assignment | SpareInit;
if (init.t === 'spare') port.once('message', (a: Assignment) => void run(a));
else void run(init);

async function run(a: Assignment): Promise<void> {
  const table = new SlotTable(a.table);
  const i32 = table.i32;
  const ctrlAt = table.at(a.slot, CTRL);
  const registrant = new Int32Array(a.registrantWords);
  const controller = new AbortController();
  let exiting = false;
  let uncaught: unknown;

  installWorker({ i32, latch: table.at(a.slot, LATCH), interrupt: table.at(a.slot, INTERRUPT) }, { ctrl: i32, ctrlAt, gen: a.gen, name: a.name, controller });
  Atomics.store(i32, table.at(a.slot, THREAD_ID), threadId);
  table.f64[table.atF64(a.slot, STARTED_AT)] = Date.now(); // published by the commit CAS below
  if (!commit(i32, ctrlAt, a.gen)) {
    // Terminated before it started: import nothing (G2). The supervisor classifies this as never-started.
    a.userPort.close();
    a.controlPort?.close();
    exiting = true;
    process.exit(0);
  }

  /** Records the outcome (against TERM, in one CAS), reports it, and for a precious death tells the registrant first. */
  const end = (outcome: Outcome, code: number, report: Omit<Extract<WorkerReport, { t: 'outcome' }>, 't' | 'reason' | 'code'>): void => {
    const decided = reportOutcome(i32, ctrlAt, a.gen, outcome);
    if (decided === O_NONE) return;
    const reason = decided === O_COMPLETED ? 'completed' : decided === O_FAILED ? 'failed' : decided === O_CRASHED ? 'crashed' : 'terminated';
    if (a.precious && (reason === 'failed' || reason === 'crashed')) {
      const death: DeathReport = { t: 'death', reason, code, ...(report.error ? { error: report.error } : {}) };
      a.controlPort?.postMessage(death);
      deliverInterrupt(registrant, T_INTERRUPT, T_LATCH);
    }
    port.postMessage({ t: 'outcome', reason, code, ...report } satisfies WorkerReport);
  };
  const fail = (err: unknown): never => {
    end(O_FAILED, 1, { error: serializeError(err) });
    exiting = true;
    process.exit(1);
  };

  // A stop that is not the bootstrap's own (process.exit in user code, an uncaught exception): report a crash.
  process.on('uncaughtExceptionMonitor', (err) => (uncaught = err));
  process.on('exit', (code) => {
    if (exiting) return;
    const error: SerializedError | undefined = uncaught === undefined ? undefined : serializeError(uncaught);
    end(O_CRASHED, code, error ? { error } : {});
  });

  let main: (ctx: WorkerContext) => unknown;
  try {
    const mod = (await import(a.entry)) as { default?: unknown };
    if (!isWorkerDefinition(mod.default)) {
      throw invalidOption('entry', 'a module whose default export is defineWorker(...)', a.entry);
    }
    main = mod.default.main;
  } catch (err) {
    return fail(err);
  }
  transition(i32, ctrlAt, a.gen, [STARTING], RUNNING, 'entry loaded');
  port.postMessage({ t: 'running' } satisfies WorkerReport);

  let logger: Logger | undefined;
  const ctx: WorkerContext = {
    id: a.id,
    name: a.name,
    data: a.data,
    latch: myLatch(),
    registrantLatch: new SharedLatch(registrant, T_LATCH, { interrupted: interruptPending }),
    port: a.userPort,
    signal: controller.signal,
    get logger(): Logger {
      logger ??= createLogger(a);
      return logger;
    },
    checkForInterrupts,
  };

  let result: unknown;
  try {
    result = await main(ctx);
  } catch (err) {
    return fail(err);
  }
  try {
    // Post first: an uncloneable result makes the run failed, and the outcome word must say so.
    port.postMessage({ t: 'outcome', reason: 'completed', code: 0, result } satisfies WorkerReport);
  } catch (err) {
    return fail(err);
  }
  reportOutcome(i32, ctrlAt, a.gen, O_COMPLETED);
  exiting = true;
  process.exit(0);
}

/** pino is loaded on first use of ctx.logger only, to keep it off the start-up path. */
function createLogger(a: Assignment): Logger {
  const pino = createRequire(import.meta.url)('pino') as typeof import('pino');
  return pino.pino({ level: a.logLevel, base: { worker: a.id, name: a.name } }, pino.destination({ fd: 2, sync: true }));
}
