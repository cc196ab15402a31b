/**
 * How a thread worker reports its outcome (reportTo), the one function every thread worker's failure, crash and
 * warm-up goes through. Three parties hear of an outcome: the slot's control word (what decides it, G8), the
 * supervisor thread (the details: the error, for the exit's `error`), and, for a precious death, the registrant
 * (death report, then its interrupt word and latch: G12).
 *
 * ## Order, and why
 *
 * 1. **The details to the supervisor** (`outcome` on the host port), before anything else. The supervisor may end
 *    this thread at any point after a termination request's grace (worker.terminate() stops JavaScript between any
 *    two statements), and a word that says `failed` must never be read without its error: posted first, the
 *    message is queued on the supervisor's side before the word can say anything, and the thread's 'exit' is
 *    emitted only after that queue is drained. The message is the worker's claim; the word decides (classify()
 *    reads the details only for the outcome the word holds: a failure the CAS turns into `terminated` shows none).
 *    Found by the fuzz suite in CI: a precious worker's rejection recorded, the thread stepped aside (3) before
 *    posting, starved by spinning workers, and forced after its 40 ms grace: "failed without a report".
 * 2. **The word**: one CAS against TERM (slots.ts reportOutcome); a failure under TERM becomes `terminated`.
 * 3. **A precious death**: the death report on the registrant's control port, its interrupt word and latch, and
 *    then the thread steps aside (below).
 *
 * Stepping aside: once a precious worker has told the registrant of its death, what is left for its thread (the
 * 'exit' listeners, the isolate's teardown, ~1-3 ms of CPU) only competes with the threads that act on that
 * death: the registrant's slow path and the supervisor thread, on 2 cores here. So the thread lowers its own
 * scheduling priority (nice 19, Linux: its OS thread id) right after the interrupt delivery. Measured with the
 * precious-death figure's 'main throws' deaths, old and new builds alternating (40 deaths a run, load 2-5): p50
 * 0.76-2.4 ms before, 0.47-0.74 ms after; in the full runs of 2026-12-03 (load ~1-2) 0.616 → 0.566 ms for a
 * throw, 0.581 → 0.463 ms for a synchronous throw (docs/benchmarks.md). A thread lowers only itself, never
 * raises, and only on this path: a failed non-precious worker's exit (which restarts wait for) keeps its priority.
 *
 * Warm death path: a worker dies once, in a fresh isolate, so the code of its death report would run cold —
 * compiled lazily on that one call, and the first stack ever formatted — on the path from the death to the
 * registrant's checkForInterrupts() (G12: 0.5 ms at the median; cold, that code alone took ~0.3 ms). So
 * `warmDeathPath()` runs reportTo() once on scratch words, a scratch channel and a dummy error (nothing it
 * touches is shared), off the measured start: a spare while it waits for its assignment; a precious worker right
 * after it has posted `running`, before main is called (a main that blocks at once, in waitSync(), would never
 * let it run later). Only a precious worker reports its death this way, so no other worker pays for the warm-up
 * (0.3-0.6 ms of CPU before its main).
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { ThreadWords } from '../shared/layout.js';
import { deliverInterrupt } from '../shared/latch.js';
import { serializeError, type DeathReport, type SignedReport } from '../shared/protocol.js';
import { O_FAILED, O_NONE, STARTING, reasonOf, reportOutcome, type Outcome } from '../shared/slots.js';
import { isDeath } from '../shared/exit.js';
import { os } from '../shared/builtins.js';

/** Where a thread worker's outcome goes (reportTo): its slot's control word, the registrant, the host's port. */
export interface ReportTarget {
  readonly i32: Int32Array;
  readonly ctrlAt: number;
  readonly gen: number;
  /** The registrant's death-report path, for a precious worker only. */
  readonly precious: boolean;
  readonly controlPort: Pick<MessagePort, 'postMessage'> | undefined;
  readonly registrant: ThreadWords;
  readonly port: Pick<MessagePort, 'postMessage'>;
  readonly nonce: string;
}

export type ReportDetail = { result?: unknown; error?: ReturnType<typeof serializeError> };

/**
 * Reports `outcome` in the header's order: the details to the host, the word's CAS, and for a precious death the
 * registrant, then a step aside (`tid`: this thread's OS id; 0 = do not). Returns the outcome recorded, or O_NONE
 * if the run already had one.
 */
export function reportTo(t: ReportTarget, outcome: Exclude<Outcome, typeof O_NONE>, code: number, detail: ReportDetail, tid: number): Outcome {
  t.port.postMessage({ t: 'outcome', reason: reasonOf(outcome), code, ...detail, nonce: t.nonce } satisfies SignedReport);
  const decided = reportOutcome(t.i32, t.ctrlAt, t.gen, outcome);
  if (decided === O_NONE) return decided;
  const reason = reasonOf(decided);
  if (t.precious && isDeath(reason)) {
    const death: DeathReport = { t: 'death', reason, code, ...(detail.error ? { error: detail.error } : {}), at: performance.timeOrigin + performance.now() };
    t.controlPort?.postMessage(death);
    deliverInterrupt(t.registrant.i32, t.registrant.interrupt, t.registrant.latch);
    stepAside(tid);
  }
  return decided;
}

/** Lowers OS thread `tid`'s scheduling priority to the lowest (see the header); 0 (not known): nothing. */
function stepAside(tid: number): void {
  if (tid <= 0) return;
  try {
    const { setPriority, constants } = os();
    setPriority(tid, constants.priority.PRIORITY_LOW);
  } catch {
    // Not permitted or not supported here: the thread keeps its priority, which costs only latency.
  }
}

let warm = false;

/**
 * Runs reportTo() once for a precious failure on scratch memory and a scratch channel (see the header): both
 * reports posted (to a port no one reads, closed at once), the outcome CAS, the error's serialisation with its
 * stack formatted, the interrupt delivery, and the loading of node:os for the step aside. No effect outside its
 * own words and ports; once per thread.
 */
export function warmDeathPath(): void {
  if (warm) return;
  warm = true;
  os(); // the step aside's module: loaded here, not on the death's path (shared/builtins.ts)
  const scratch = new Int32Array(new SharedArrayBuffer(16));
  scratch[0] = STARTING; // a live slot word of generation 0: the CAS succeeds, as in a real death
  const { port1, port2 } = new MessageChannel();
  const target: ReportTarget = { i32: scratch, ctrlAt: 0, gen: 0, precious: true, controlPort: port1, registrant: { i32: scratch, latch: 2, interrupt: 1 }, port: port1, nonce: '' };
  reportTo(target, O_FAILED, 1, { error: serializeError(new Error('warm-up', { cause: new Error('cause') })) }, 0);
  port1.close();
  port2.close();
}
