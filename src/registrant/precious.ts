/**
 * Precious deaths (G4) on the registrant: detecting one, once, and acting on it by the lifecycle event stream.
 *
 * Detection has two paths (docs/architecture.md, "Precious death"), and whichever comes first wins:
 * 1. the worker's own death report on its control port, read synchronously by `poll()` (checkForInterrupts'
 *    slow path) once the slot's outcome shows failed or crashed;
 * 2. the supervisor's 'stopped' with a failed or crashed exit: core calls `died()` before it emits
 *    'worker-stopped', so on both paths 'precious-death' comes before the worker's 'worker-stopped'.
 *
 * `died()` emits 'precious-death' (invariant: once per record, guarded by `deathHandled`, which the takeover
 * also sets: workers that die with the supervisor are not precious deaths). Acting on it is subscribers' work:
 * the registry counts it, the lifecycle log logs it, and `abortScopeOnDeath` here aborts the worker's scope.
 *
 * The set of precious records to poll follows the stream too: added at 'worker-registered', removed at
 * 'worker-stopped'.
 */
import { receiveMessageOnPort } from 'node:worker_threads';
import { PreciousWorkerDiedError } from '../errors.js';
import type { WorkerRecord } from '../record.js';
import type { WorkerExit } from '../shared/exit.js';
import { reviveError, lostWorkerError, type DeathReport } from '../shared/protocol.js';
import { O_CRASHED, O_FAILED, outcomeOf } from '../shared/slots.js';
import type { LifecycleEvent, LifecycleEvents } from './events.js';

export class PreciousDeaths {
  readonly #events: LifecycleEvents;
  readonly #live = new Set<WorkerRecord>();

  constructor(events: LifecycleEvents) {
    this.#events = events;
    events.subscribe((e) => this.#track(e));
    events.subscribe(abortScopeOnDeath);
  }

  #track(e: LifecycleEvent): void {
    if (e.type === 'worker-registered' && e.worker.precious) this.#live.add(e.worker);
    else if (e.type === 'worker-stopped') this.#live.delete(e.worker);
  }

  /** Path 1: reads the death report of every precious worker whose slot shows a failed or crashed outcome. */
  poll(): void {
    for (const r of this.#live) {
      if (r.deathHandled || r.controlPort === undefined) continue;
      const w = r.ctrl();
      if (w === undefined) continue;
      const o = outcomeOf(w);
      if (o !== O_FAILED && o !== O_CRASHED) continue;
      const m = receiveMessageOnPort(r.controlPort);
      if (m === undefined) continue; // the report is posted before the counter moves again: next time
      const d = m.message as DeathReport;
      // A crash without an error of its own (process.exit) gets the error the supervisor's classification gives
      // it (lifecycle.ts classify), so the exit reads the same whichever path reports it first.
      const error = d.error ? reviveError(d.error) : reviveError(lostWorkerError(`exited with code ${d.code}`));
      this.died(r, { reason: d.reason, code: d.code, signal: null, error }, d.at);
    }
  }

  /**
   * A precious worker failed or crashed: emits 'precious-death' unless its death was already handled. `diedAt`:
   * when it died (its own report) or when the supervisor saw it end, ms since the epoch.
   */
  died(r: WorkerRecord, exit: WorkerExit, diedAt: number): void {
    if (r.deathHandled) return;
    r.deathHandled = true;
    this.#events.emit({ type: 'precious-death', worker: r, exit, error: new PreciousWorkerDiedError(r.ref, exit), diedAt });
  }
}

/** G4: the death aborts the worker's registering scope. */
function abortScopeOnDeath(e: LifecycleEvent): void {
  if (e.type === 'precious-death') e.worker.scope?.abort(e.error);
}
